"""Dask: a 2-worker LocalCluster on a partitioned Parquet export of the demo request log gives the
single-machine request table (counts exact, quantiles within the sketch bound)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

pytestmark = pytest.mark.xdist_group("dask")

Q = ["p50_ms", "p95_ms", "p99_ms"]


@pytest.fixture(scope="module")
def logs():
    from holoops.demo import request_log

    return request_log(200_000, seed=11)


@pytest.fixture(scope="module")
def export(logs, tmp_path_factory):
    from holoops.distributed import write_partitioned

    return write_partitioned(logs, tmp_path_factory.mktemp("dask") / "logs", partition_on=("date", "service"))


@pytest.fixture(scope="module")
def dask_client():
    from holoops.distributed import client

    c = client(n_workers=2, threads_per_worker=1, processes=True)
    try:
        yield c
    finally:
        c.close()


def test_partitioned_export_layout(export):
    dirs = sorted(p.name for p in export.iterdir())
    assert dirs and all(d.startswith("date=") for d in dirs)
    assert any(p.name.startswith("service=") for p in next(iter(export.iterdir())).iterdir())


def test_request_table_on_dask_matches_single_machine(logs, export, dask_client):
    import pandas as pd

    from holoops.analyze.requests import request_table, top_errors
    from holoops.distributed import read_partitioned

    assert len(dask_client.scheduler_info()["workers"]) == 2
    ddf = read_partitioned(export)
    assert ddf.npartitions > 1
    got = request_table(ddf, method="sketch")
    exact = request_table(logs, engine="pandas")
    sketch = request_table(logs, method="sketch", engine="pandas")
    assert isinstance(got, pd.DataFrame)
    for c in ("ts", "service", "requests", "errors_5xx"):
        assert got[c].tolist() == exact[c].tolist(), c
    pd.testing.assert_frame_equal(got, sketch)
    for c in Q:
        rel = np.abs(got[c].to_numpy() - exact[c].to_numpy()) / exact[c].to_numpy()
        assert rel.max() <= 0.01 + 1e-12
    te = top_errors(ddf, n=5)
    want = top_errors(logs, n=5, engine="pandas")
    assert te.values.tolist() == want.values.tolist()


def test_client_uses_address_from_environment(dask_client, monkeypatch):
    from holoops.distributed import client

    monkeypatch.setenv("HOLOOPS_DASK_ADDRESS", dask_client.scheduler.address)
    c = client()
    try:
        assert c.scheduler.address == dask_client.scheduler.address
    finally:
        c.close()
