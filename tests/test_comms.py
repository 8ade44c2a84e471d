"""Service communication: graph, critical path with overlapping siblings, retries, advice."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from holoops.analyze import comms

T0 = pd.Timestamp("2026-11-02T12:00:00Z")


def _span(trace, sid, parent, service, op, start_ms, dur_ms, status="ok", attempt=1, payload=100.0):
    return dict(trace_id=trace, span_id=sid, parent_id=parent, service=service, operation=op,
                start=T0 + pd.Timedelta(milliseconds=start_ms), duration_ms=float(dur_ms), status=status,
                attempt=attempt, payload_bytes=payload)


def _trace(t: str, offset: float = 0.0) -> list[dict]:
    """api (0-100): auth (0-10), then search (12-95) and, in parallel, audit (12-60, overlapping).

    search runs 4 sequential math calls of 18 ms each. A timing-only view blames audit (48 ms, the
    biggest single child self-time); the critical path runs through search → math.
    """
    o = offset
    spans = [
        _span(t, f"{t}a", "", "api", "GET /search", o + 0, 100),
        _span(t, f"{t}b", f"{t}a", "auth", "verify", o + 0, 10),
        _span(t, f"{t}c", f"{t}a", "search", "search", o + 12, 83),
        _span(t, f"{t}d", f"{t}a", "audit", "log", o + 12, 48, payload=2e6),
    ]
    for i in range(4):
        spans.append(_span(t, f"{t}m{i}", f"{t}c", "math", "fft", o + 14 + i * 20, 18))
    return spans


@pytest.fixture(scope="module")
def spans() -> pd.DataFrame:
    rows = []
    for n in range(40):
        rows += _trace(f"t{n}", offset=n * 1500.0)
    # a retry storm on search → math in the last traces
    for n in range(40, 70):
        t = f"t{n}"
        rows += [_span(t, f"{t}a", "", "api", "GET /search", n * 1500.0, 300),
                 _span(t, f"{t}c", f"{t}a", "search", "search", n * 1500.0 + 1, 290, status="error")]
        rows += [_span(t, f"{t}r{k}", f"{t}c", "math", "fft", n * 1500.0 + 2 + 95 * k, 90, status="error",
                       attempt=k + 1) for k in range(3)]
    return pd.DataFrame(rows)


def test_dependency_graph(spans):
    g = comms.dependency_graph(spans).set_index(["caller", "callee"])
    assert set(g.index) == {("api", "auth"), ("api", "search"), ("api", "audit"), ("search", "math")}
    assert g.loc[("search", "math"), "calls"] == 40 * 4 + 30 * 3
    assert g.loc[("search", "math"), "error_ratio"] == pytest.approx(90 / 250)
    assert g.loc[("api", "auth"), "p50_ms"] == pytest.approx(10.0)
    assert g.loc[("search", "math"), "max_attempt"] == 3


def test_graph_same_on_polars(spans):
    a = comms.dependency_graph(spans)
    b = comms.dependency_graph(pl.from_pandas(spans))
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_critical_path_skips_overlapping_sibling():
    one = pd.DataFrame(_trace("x"))
    cp = comms.critical_path(one).groupby("service")["critical_ms"].sum()
    assert cp.sum() == pytest.approx(100.0)  # the path covers the whole trace exactly
    assert "audit" not in cp.index  # audit ran in parallel and finished before search
    assert cp["math"] == pytest.approx(72.0)
    assert cp["auth"] == pytest.approx(10.0)
    naive = comms.naive_latency_share(one).set_index("service")
    assert naive.loc["audit", "self_ms_total"] > naive.loc["auth", "self_ms_total"]  # the heuristic is misled
    summary = comms.critical_path_summary(one)
    assert summary.iloc[0]["service"] == "math"


def test_retry_storm_and_fan_out(spans):
    storms = comms.retry_storms(spans, min_calls=10)
    hit = storms[storms.storm]
    assert set(zip(hit.caller, hit.callee, strict=True)) == {("search", "math")}
    assert hit.amplification.max() == pytest.approx(3.0)
    fo = comms.fan_out(spans).set_index(["caller", "callee"])
    assert fo.loc[("search", "math"), "sequential_share"] == pytest.approx(1.0)


def test_recommendations_carry_evidence(spans):
    from holoops.fleet import load_fleet

    recs = comms.recommendations(spans)
    batching = recs.of_kind("batching")
    assert [(r.caller, r.callee) for r in batching] == [("search", "math")]
    assert batching[0].evidence["median_calls_per_parent"] == 4
    assert [(r.caller, r.callee) for r in recs.of_kind("compression")] == [("api", "audit")]
    assert [(r.caller, r.callee) for r in recs.of_kind("retry_budget")] == [("search", "math")]
    pools = {(r.caller, r.callee): r for r in recs.of_kind("pool")}
    r = pools[("search", "math")]
    assert r.evidence["in_flight_at_peak"] == pytest.approx(r.evidence["peak_rate_per_s"] * r.evidence["p99_ms"] / 1000)
    timeouts = {(r.caller, r.callee): r.evidence["timeout_ms"] for r in recs.of_kind("timeout")}
    assert timeouts[("api", "search")] > timeouts[("search", "math")]  # shrinks down the chain
    assert "<table" in recs._repr_html_()
    assert load_fleet()  # the fleet-aware path needs a profile that loads


def test_demo_traces_name_the_injected_bottleneck(demo_week):
    """On the demo fleet, the critical path and the advice point at what the simulator injected."""
    truth = demo_week.meta["comms"]
    sample = demo_week.meta["trace_sample"]
    summary = comms.critical_path_summary(demo_week.spans)
    assert summary.iloc[0]["service"] == truth["bottleneck_service"]
    recs = comms.recommendations(demo_week.spans, trace_sample=sample)
    assert [[r.caller, r.callee] for r in recs.of_kind("batching")] == [truth["batching_pair"]]
    assert [r.callee for r in recs.of_kind("critical_path")] == [truth["bottleneck_service"]]
    assert [[r.caller, r.callee] for r in recs.of_kind("compression")] == [truth["large_payload_edge"]]
    assert [[r.caller, r.callee] for r in recs.of_kind("retry_budget")] == [truth["retry_storm_edge"]]
    storms = comms.retry_storms(demo_week.spans, min_calls=3)
    outage = demo_week.incident("dependency_outage")
    hit = storms[storms.storm]
    assert set(zip(hit.caller, hit.callee, strict=True)) == {tuple(truth["retry_storm_edge"])}
    onset = pd.Timestamp(outage["onset"])
    assert (hit.ts >= onset - pd.Timedelta("1min")).all() and (hit.ts <= pd.Timestamp(outage["end"])).all()
    # rates are scaled back from the trace sample to real traffic
    graph = comms.dependency_graph(demo_week.spans, trace_sample=sample).set_index(["caller", "callee"])
    assert graph.loc[("orchestrator", "router"), "rate_per_s"] > 10
