"""Request tables: same numbers on every engine/backend; sketch within 1 % of exact; lazy Parquet input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from holoops.analyze.requests import request_table, top_errors

Q = ["p50_ms", "p95_ms", "p99_ms"]


@pytest.fixture(scope="module")
def logs():
    from holoops.demo import request_log

    return request_log(60_000, seed=3)


def reference(tbl) -> pd.DataFrame:
    """Plain pandas, written independently."""
    df = tbl.select(["ts", "service", "status", "latency_ms"]).to_pandas()
    df["service"] = df["service"].astype(str)
    df["minute"] = df["ts"].dt.floor("min")
    df["e"] = df["status"] >= 500
    g = df.groupby(["service", "minute"])
    out = pd.DataFrame({"requests": g.size(), "errors_5xx": g["e"].sum()})
    for q, c in zip((0.5, 0.95, 0.99), Q, strict=True):
        out[c] = g["latency_ms"].quantile(q)
    return out.reset_index().rename(columns={"minute": "ts"})


def test_exact_matches_pandas_reference_on_every_backend(logs):
    ref = reference(logs).sort_values(["service", "ts"]).reset_index(drop=True)
    for backend in ("polars", "duckdb"):
        got = request_table(logs, engine="pandas", backend=backend)
        assert list(got.columns) == ["ts", "service", "requests", "errors_5xx", "error_ratio", *Q]
        assert str(got["ts"].dtype) == "datetime64[ns, UTC]"
        assert got["ts"].tolist() == ref["ts"].tolist()
        assert got["service"].tolist() == ref["service"].tolist()
        assert got["requests"].tolist() == ref["requests"].tolist()
        assert got["errors_5xx"].tolist() == ref["errors_5xx"].tolist()
        np.testing.assert_allclose(got["error_ratio"], ref["errors_5xx"] / ref["requests"], rtol=1e-12)
        for c in Q:
            np.testing.assert_allclose(got[c], ref[c], rtol=1e-9)


@pytest.mark.parametrize("as_", ["pandas", "polars", "lazy", "parquet"])
def test_inputs_give_the_same_table(logs, as_, tmp_path):
    want = request_table(logs, by=("service", "route"), engine="polars")
    if as_ == "pandas":
        src = logs.to_pandas()
    elif as_ == "polars":
        src = pl.from_arrow(logs)
    elif as_ == "lazy":
        src = pl.from_arrow(logs).lazy()
    else:
        src = tmp_path / "logs.parquet"
        pq.write_table(logs, src)
    for backend in ("polars", "duckdb"):
        got = request_table(src, by=("service", "route"), engine="polars", backend=backend)
        assert got.select("ts", "service", "route", "requests", "errors_5xx").equals(
            want.select("ts", "service", "route", "requests", "errors_5xx"))
        for c in Q:
            np.testing.assert_allclose(got[c].to_numpy(), want[c].to_numpy(), rtol=1e-9)


def test_sketch_within_one_percent_of_exact_and_same_on_every_backend(logs):
    exact = request_table(logs, engine="polars")
    sk = {b: request_table(logs, method="sketch", engine="polars", backend=b) for b in ("polars", "duckdb")}
    assert sk["polars"].equals(sk["duckdb"])
    s = sk["polars"]
    assert s.select("ts", "service", "requests", "errors_5xx").equals(exact.select("ts", "service", "requests", "errors_5xx"))
    for c in Q:
        rel = np.abs(s[c].to_numpy() - exact[c].to_numpy()) / exact[c].to_numpy()
        assert rel.max() <= 0.01 + 1e-12, (c, rel.max())


def test_freq_quantiles_and_nulls():
    ts = pd.to_datetime(["2026-01-01T00:00:10Z", "2026-01-01T00:04:59Z", "2026-01-01T00:05:00Z",
                         "2026-01-01T00:05:01Z"])
    df = pd.DataFrame({"ts": ts, "service": ["a"] * 4, "status": [200, 503, 500, 200],
                       "latency_ms": [10.0, 20.0, np.nan, 30.0]})
    for backend in ("polars", "duckdb"):
        for method in ("exact", "sketch"):
            t = request_table(df, freq="5min", quantiles=(0.5,), method=method, backend=backend)
            assert t["ts"].tolist() == [pd.Timestamp("2026-01-01T00:00:00Z"), pd.Timestamp("2026-01-01T00:05:00Z")]
            assert t["requests"].tolist() == [2, 2] and t["errors_5xx"].tolist() == [1, 1]
            assert t["error_ratio"].tolist() == [0.5, 0.5]
            np.testing.assert_allclose(t["p50_ms"], [15.0, 30.0], rtol=0.01)


def test_top_errors(logs):
    ref = logs.select(["service", "route", "status"]).to_pandas().astype({"service": str, "route": str})
    ref["e"] = ref["status"] >= 500
    agg = ref.groupby(["service", "route"]).agg(requests=("e", "size"), errors_5xx=("e", "sum")).reset_index()
    agg = agg[agg["errors_5xx"] > 0]
    agg["error_ratio"] = agg["errors_5xx"] / agg["requests"]
    agg = agg.sort_values(["errors_5xx", "error_ratio", "service", "route"],
                          ascending=[False, False, True, True]).head(5).reset_index(drop=True)
    for backend in ("polars", "duckdb"):
        got = top_errors(logs, n=5, engine="pandas", backend=backend)
        assert got[["service", "route", "requests", "errors_5xx"]].values.tolist() == \
            agg[["service", "route", "requests", "errors_5xx"]].values.tolist()


def test_bad_input_names_the_problem(logs, tmp_path):
    from holoops.errors import InputFileError, SchemaError

    with pytest.raises(SchemaError, match="latency_ms"):
        request_table(pd.DataFrame({"ts": [], "service": [], "status": []}))
    with pytest.raises(InputFileError):
        request_table(tmp_path / "nope.parquet")
    with pytest.raises(ValueError, match="method"):
        request_table(logs, method="median")
