"""Coverage, never a crash: every notebook and runbook runs to the end with each signal removed in turn.

The demo fleet is read through a source registered here ("stripped") that drops one signal before the
read: request counters, status codes, latency histograms, CPU, memory, up, GPU, disk, logs, traces,
events, or every metric. Each notebook and runbook then runs in this process (tests/inprocess.py), on
pandas and polars in turn, and must finish; the reports must say the signal is missing where they use it
(coverage notes) instead of raising. The same is checked through the exports source (files written
without the signal), and on a live Prometheus by the real-fleet test (tests/test_real_fleet.py), whose
fleet has no latency, GPU or status-code metrics at all.
"""

from __future__ import annotations

from functools import cached_property
from types import SimpleNamespace

import pytest
from inprocess import notebooks, run_inprocess

pytestmark = pytest.mark.slow

REQUESTS = {"http_requests_total", "holographic_store_requests_total", "holographic_retrieve_requests_total",
            "holographic_search_requests_total"}
LATENCY = {"http_request_duration_seconds_bucket", "http_request_duration_seconds_sum",
           "http_request_duration_seconds_count"}
METRICS = {"requests": REQUESTS, "latency": LATENCY, "cpu": {"process_cpu_seconds_total"},
           "memory": {"process_resident_memory_bytes"}, "up": {"up"},
           "gpu": {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"},
           "disk": {"node_filesystem_avail_bytes", "node_filesystem_size_bytes"}}
STRIPS = [*METRICS, "errors", "logs", "spans", "events", "all_metrics"]
CURRENT: dict[str, str] = {"drop": ""}


def strip(frames: dict, what: str) -> dict:
    """The demo's frames without ``what``."""
    import pandas as pd

    out = dict(frames)
    if not what:
        return out
    m = frames["metrics"]
    if what in METRICS:
        out["metrics"] = m[~m["metric"].astype(str).isin(METRICS[what])].reset_index(drop=True)
        if what == "latency":  # nor in the logs: no duration anywhere (uvicorn's default access log)
            out["logs"] = frames["logs"].drop(columns=["latency_ms"])
    elif what == "errors":  # the request counter keeps its series, but no status code
        m = m.copy()
        m["code"] = pd.Series([None] * len(m), dtype=object)
        out["metrics"] = m
        out["logs"] = frames["logs"].drop(columns=["status"])
    elif what == "all_metrics":
        out["metrics"] = m.iloc[:0]
    else:
        out[what] = frames[what].iloc[:0]
    return out


def _register():
    from holoops.sources import SOURCES, register_source
    from holoops.sources.demo import DemoSource

    if "stripped" in SOURCES:
        return

    class StrippedDemo(DemoSource):
        name = "demo"

        @cached_property
        def fleet_data(self):
            from holoops.demo import cached_simulate

            d = cached_simulate(days=self.days, seed=self.seed, fleet=self.profile)
            frames = strip({"metrics": d.metrics, "logs": d.logs, "spans": d.spans, "events": d.events},
                           CURRENT["drop"])
            return SimpleNamespace(**frames, truth=d.truth, window=d.window, meta=d.meta)

    register_source("stripped")(lambda params, fleet: StrippedDemo(fleet, days=params.demo_days,
                                                                   seed=params.demo_seed, profile=params.fleet))


CASES = [(nb, what, "polars" if i % 2 else "pandas")
         for i, what in enumerate(STRIPS) for nb in notebooks()]


@pytest.mark.parametrize("nb,what,engine", CASES, ids=[f"{n.stem}-no_{w}-{e}" for n, w, e in CASES])
def test_every_notebook_runs_without_each_signal(nb, what, engine):
    _register()
    CURRENT["drop"] = what
    params = {"source": "stripped", "demo_days": 1, "engine": engine}
    if nb.parent.name == "notebooks" and nb.stem != "capacity_planning":
        params["window"] = "12h"
    g = run_inprocess(nb, params)
    hx = g["hx"]
    if nb.stem == "diagnostics" and what in ("latency", "requests", "errors", "all_metrics"):
        notes = hx.dataset.coverage_notes()
        assert notes and all("no " in n or "from" in n for n in notes), notes


def test_a_missing_signal_is_a_coverage_note_not_zero():
    """Without status codes the error ratio is unknown (NaN and a note), never 0 %."""
    import numpy as np

    _register()
    from holoops import params as P
    from holoops.analyze.signals import golden_signals
    from holoops.frames import to_pandas
    from holoops.sources import load_dataset

    CURRENT["drop"] = "errors"
    p = P.validate(P.DiagnosticsParams, {"source": "stripped", "demo_days": 1, "window": "6h"})
    ds = load_dataset(p, engine="pandas")
    assert all("no errors signal" in n for n in ds.coverage_notes() if n.startswith("vault"))
    gs = to_pandas(golden_signals(ds.metrics, ds.fleet, step=ds.step))
    assert len(gs) and gs["rps"].notna().any() and np.isnan(gs["error_ratio"]).all()
    assert set(gs["errors_from"]) == {"none"}


@pytest.mark.parametrize("what", ["latency", "errors", "logs"])
def test_exports_without_a_signal(tmp_path, what):
    """The same through the exports source: files written without the signal, read back, every report."""
    _register()
    from holoops.demo import cached_simulate

    d = cached_simulate(days=1, seed=7)
    frames = strip({"metrics": d.metrics, "logs": d.logs, "spans": d.spans, "events": d.events}, what)
    folder = tmp_path / "exports"
    folder.mkdir()
    for kind, df in frames.items():
        if len(df):
            df.to_parquet(folder / f"{kind}.parquet", index=False)
    for nb in notebooks():
        if nb.parent.name == "runbooks" and nb.stem not in ("error_burst", "latency_regression"):
            continue
        run_inprocess(nb, {"source": "exports", "exports_path": str(folder), "engine": "polars", "window": "12h"})


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.stem)
def test_every_notebook_on_a_twenty_minute_window(nb):
    """Too little history for forecasts, baselines or SLO windows: said, not raised."""
    _register()
    CURRENT["drop"] = ""
    run_inprocess(nb, {"source": "stripped", "demo_days": 1, "engine": "polars", "window": "20m"})
