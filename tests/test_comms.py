"""Service communication: graph, critical path with overlapping siblings, retries, advice."""

from __future__ import annotations

import numpy as np
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


# --- the vectorised walk against the span-by-span one --------------------------------------------------
def _span_order(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` sorted by trace and start; spans of a trace starting together longest first, then by the
    hashes of span id, parent id, service and operation (the order critical_path documents)."""
    def h(col, seed, fill=False):
        s = pl.Series(df[col].astype(object).where(df[col].notna(), "" if fill else None).tolist(), dtype=pl.String)
        return s.hash(seed=seed).to_numpy()

    keys = pd.DataFrame({"t": df["trace_id"].astype(str).to_numpy(),
                         "s": df["start"].astype("datetime64[ns, UTC]").to_numpy(),
                         "d": -df["duration_ms"].to_numpy(dtype=float),
                         "h0": h("span_id", 7), "h1": h("span_id", 1_000_003),
                         "p0": h("parent_id", 7, True), "p1": h("parent_id", 1_000_003, True),
                         "sv": h("service", 11, True), "op": h("operation", 13, True)})
    return df.iloc[keys.sort_values(list(keys.columns), kind="stable").index].reset_index(drop=True)


def _reference_path(df: pd.DataFrame) -> pd.DataFrame:
    """The span-by-span CRISP walk (holoops' implementation before it was vectorised), kept as the oracle;
    cycles of parent ids are cut at their earliest-starting span (the first in span order on ties)."""
    import numpy as np

    df = _span_order(df[["trace_id", "span_id", "parent_id", "service", "operation", "start", "duration_ms"]])
    start = df["start"].astype("datetime64[ns, UTC]").astype("int64").to_numpy() / 1e6
    end = start + df["duration_ms"].to_numpy(dtype=float)
    parent = df["parent_id"].fillna("").astype(str).to_numpy()
    trace = df["trace_id"].astype(str).to_numpy()
    span_id = df["span_id"].astype(str).to_numpy()
    bounds = np.flatnonzero(np.r_[True, trace[1:] != trace[:-1], True])
    out_idx, out_ms, out_total = [], [], []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        index = {span_id[i]: i for i in range(lo, hi)}
        par = {i: index.get(parent[i]) for i in range(lo, hi)}
        for i in range(lo, hi):  # climb from each span; a climb that comes back to itself is a cycle
            seen, x = [], i
            while x is not None and x not in seen:
                seen.append(x)
                x = par[x]
            if x is not None:
                ring = seen[seen.index(x):]
                par[min(ring, key=lambda k: (start[k], k))] = None
        children: dict[int, list[int]] = {}
        roots = []
        for i in range(lo, hi):
            p = par[i]
            if p is None:
                roots.append(i)
            else:
                children.setdefault(p, []).append(i)
        if not roots:
            continue
        root = max(roots, key=lambda i: end[i] - start[i])
        segments: dict[int, float] = {}
        stack = [(root, min(end[root], end[root]))]
        while stack:
            node, point = stack.pop()
            self_ms = 0.0
            for k in sorted(children.get(node, ()), key=lambda k: end[k], reverse=True):
                if start[k] >= point:
                    continue
                k_end = min(end[k], point)
                self_ms += point - k_end
                stack.append((k, k_end))
                point = max(start[k], start[node])
            self_ms += max(point - start[node], 0.0)
            segments[node] = segments.get(node, 0.0) + self_ms
        for i, ms in segments.items():
            out_idx.append(i)
            out_ms.append(ms)
            out_total.append(end[root] - start[root])
    res = df.loc[out_idx, ["trace_id", "span_id", "service", "operation"]].reset_index(drop=True)
    res["critical_ms"] = out_ms
    res["trace_ms"] = out_total
    return res[res["critical_ms"] > 0].reset_index(drop=True)


def _random_spans(rng, n_traces: int) -> pd.DataFrame:
    """Trees with overlapping and equal-ending siblings, children outside their parent, zero durations,
    orphans (unknown or null parent ids), several roots and duplicated span ids; rows shuffled."""
    rows = []
    for t in range(n_traces):
        n = int(rng.integers(1, 12))
        ids = [f"s{j}" for j in range(n)]
        if rng.random() < 0.1 and n > 2:
            ids[2] = ids[1]
        for j in range(n):
            if j == 0 or rng.random() < 0.08:
                parent = "" if rng.random() < 0.7 else ("zz" if rng.random() < 0.5 else None)
            else:
                parent = ids[int(rng.integers(0, j))]
            start = float(rng.choice([0, 1, 2, 5, 10, 10, 20])) + (rng.random() * 30 if rng.random() < 0.5 else 0)
            dur = float(rng.choice([0, 1, 5, 10, 10, 40])) + (rng.random() * 20 if rng.random() < 0.5 else 0)
            rows.append(_span(f"t{t:03d}", ids[j], parent, f"svc{j % 4}", f"op{j % 3}", start, dur))
    rng.shuffle(rows)
    return pd.DataFrame(rows)


@pytest.mark.filterwarnings("ignore::holoops.analyze.comms.MalformedTraceWarning")  # duplicated ids loop
@pytest.mark.parametrize("seed", range(6))
def test_critical_path_equals_the_span_by_span_walk(seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    for _ in range(25):
        df = _random_spans(rng, int(rng.integers(1, 40)))
        ref = _reference_path(df)
        pd.testing.assert_frame_equal(comms.critical_path(df), ref, check_exact=True)  # rows, order, values
        got_pl = comms.critical_path(pl.from_pandas(df))
        pd.testing.assert_frame_equal(got_pl, ref, check_exact=True, check_dtype=False)
        for by in ("service", "operation"):
            # the summary: as the groupby over the reference path gave it, to the bit
            g = ref.groupby(by, observed=True)
            per_trace = ref.groupby(["trace_id", by], observed=True)["critical_ms"].sum().reset_index()
            want = g["critical_ms"].sum().rename("critical_ms_total").to_frame()
            want["share"] = want["critical_ms_total"] / max(want["critical_ms_total"].sum(), 1e-12)
            want["traces"] = per_trace.groupby(by, observed=True)["trace_id"].nunique()
            want["median_ms_per_trace"] = per_trace.groupby(by, observed=True)["critical_ms"].median()
            want = want.sort_values("critical_ms_total", ascending=False).reset_index()
            pd.testing.assert_frame_equal(comms.critical_path_summary(df, by=by), want, check_exact=True)
            pd.testing.assert_frame_equal(comms.critical_path_summary(df, by=by, path=ref), want, check_exact=True)


def test_critical_path_edge_cases():
    empty = pd.DataFrame(_trace("x")).iloc[:0]
    assert list(comms.critical_path(empty).columns) == ["trace_id", "span_id", "service", "operation",
                                                        "critical_ms", "trace_ms"]
    assert comms.critical_path_summary(empty).empty
    for frame in (empty, pl.from_pandas(empty)):  # every function takes a window without spans
        assert comms.dependency_graph(frame).empty and comms.retry_storms(frame).empty
        assert comms.fan_out(frame).empty and comms.naive_latency_share(frame).empty
        assert not comms.recommendations(frame)
    # a cycle of parent ids (no root): cut at its earliest span, which is walked as the root
    loop = pd.DataFrame([_span("c", "a", "b", "s", "o", 0, 5), _span("c", "b", "a", "s", "o", 1, 2)])
    with pytest.warns(comms.MalformedTraceWarning, match=r"1 trace\(s\) have a cycle of parent span ids \(c\)"):
        path = comms.critical_path(loop)
    assert path[["span_id", "critical_ms", "trace_ms"]].values.tolist() == [["a", 3.0, 5.0], ["b", 2.0, 5.0]]


def test_parent_lookup_survives_hash_collisions():
    """Ids are matched by hash; where the key bits collide, the exact per-span lookup decides."""
    import numpy as np

    rng = np.random.default_rng(3)
    n = 400
    trace = np.sort(rng.integers(0, 40, n))
    trace = np.cumsum(np.r_[True, trace[1:] != trace[:-1]]) - 1
    ids = rng.integers(0, 6, n).astype(np.uint64)  # few distinct ids per trace: duplicates too
    # hashes whose high bits (the key) are equal for every id, low bits tell ids apart
    h_span = np.column_stack([ids, ids * np.uint64(7919)])
    par_ids = rng.integers(0, 8, n).astype(np.uint64)  # 6 and 7 name no span
    h_par = np.column_stack([par_ids, par_ids * np.uint64(7919)])
    got = comms._parents(trace, h_span, h_par)
    for j in range(n):
        same = np.flatnonzero((trace == trace[j]) & (ids == par_ids[j]))
        assert got[j] == (same[-1] if len(same) else -1)


# --- malformed traces: cycles, duplicate ids, orphans ---------------------------------------------------
def _malformed() -> pd.DataFrame:
    """One trace per way parent ids go wrong, each next to a well-formed part."""
    rows = [
        # x1: a span that is its own parent, beside a proper root and child
        _span("x1", "r", "", "api", "GET", 0, 100), _span("x1", "c", "r", "db", "q", 10, 50),
        _span("x1", "s", "s", "cache", "get", 5, 20),
        # x2: A's parent is B and B's parent is A, no root at all
        _span("x2", "a", "b", "api", "GET", 0, 80), _span("x2", "b", "a", "db", "q", 10, 30),
        # x3: a ring of three hanging off nothing, below it a child; and a real root, shorter
        _span("x3", "p", "r", "auth", "verify", 3, 40), _span("x3", "q", "p", "db", "q", 5, 30),
        _span("x3", "r", "q", "api", "GET", 1, 90), _span("x3", "k", "q", "disk", "read", 8, 10),
        _span("x3", "root", "", "lb", "route", 0, 20),
        # x4: a duplicated span id and an orphan (parent not in the trace)
        _span("x4", "r", "", "api", "GET", 0, 100), _span("x4", "d", "r", "db", "q", 10, 30),
        _span("x4", "d", "r", "db", "q", 50, 30), _span("x4", "e", "d", "disk", "read", 55, 10),
        _span("x4", "o", "gone", "audit", "log", 20, 200),
    ]
    return pd.DataFrame(rows)


def test_cycles_are_cut_at_their_earliest_span():
    df = _malformed()
    with pytest.warns(comms.MalformedTraceWarning, match=r"3 trace\(s\).*\(x1, x2, x3\)"):
        path = comms.critical_path(df)
    got = {t: dict(zip(g["span_id"], g["critical_ms"], strict=True)) for t, g in path.groupby("trace_id")}
    assert got["x1"] == {"r": 50.0, "c": 50.0}  # the self-parent span is a root of its own, shorter
    assert got["x2"] == {"a": 50.0, "b": 30.0}  # cut at a (earliest): a -> b
    assert got["x3"] == {"r": 50.0, "p": 10.0, "q": 20.0, "k": 10.0}  # ring cut at r (starts first): r > p > q > k
    assert got["x4"] == {"o": 200.0}  # the orphan is parentless and the longest: it is walked
    assert path.groupby("trace_id")["trace_ms"].first().to_dict() == {"x1": 100.0, "x2": 80.0, "x3": 90.0,
                                                                     "x4": 200.0}
    pd.testing.assert_frame_equal(path, _reference_path(df), check_exact=True)


@pytest.mark.filterwarnings("ignore::holoops.analyze.comms.MalformedTraceWarning")
def test_malformed_traces_in_any_row_order():
    import numpy as np

    df = _malformed()
    want = comms.critical_path(df)
    want_s = comms.critical_path_summary(df)
    rng = np.random.default_rng(0)
    for _ in range(10):
        sh = df.iloc[rng.permutation(len(df))]
        pd.testing.assert_frame_equal(comms.critical_path(sh), want)
        pd.testing.assert_frame_equal(comms.critical_path(pl.from_pandas(sh.reset_index(drop=True))), want,
                                      check_dtype=False)
        pd.testing.assert_frame_equal(comms.critical_path_summary(sh), want_s)


@pytest.mark.filterwarnings("ignore::holoops.analyze.comms.MalformedTraceWarning")
def test_long_rings_and_chains_end_quickly():
    """A 20,000-span ring and a 20,000-span chain: no recursion, no endless walk, memory as the spans."""
    import time

    n = 20_000
    ring = pd.DataFrame({"trace_id": "ring", "span_id": [f"s{i}" for i in range(n)],
                         "parent_id": [f"s{(i - 1) % n}" for i in range(n)], "service": "svc", "operation": "op",
                         "start": T0 + pd.to_timedelta(np.arange(n), unit="ms"),
                         "duration_ms": np.arange(n, 0, -1, dtype=float) + 1, "status": "ok"})
    chain = ring.assign(trace_id="chain", parent_id=[""] + [f"s{i - 1}" for i in range(1, n)])
    t = time.perf_counter()
    path = comms.critical_path(pd.concat([ring, chain], ignore_index=True))
    assert time.perf_counter() - t < 20
    for tr in ("ring", "chain"):  # the ring is cut at s0 (the earliest): both are the same chain
        p = path[path.trace_id == tr]
        assert p["span_id"].tolist() == [f"s{i}" for i in range(n)]
        assert p["critical_ms"].sum() == pytest.approx(n + 1)


def test_services_calling_each_other_in_a_loop():
    """api -> auth -> api (a callback): the timeout sizing follows the service graph and must end."""
    rows = []
    for n in range(30):
        t, o = f"t{n}", n * 1000.0
        rows += [_span(t, f"{t}a", "", "api", "GET", o, 100), _span(t, f"{t}b", f"{t}a", "auth", "verify", o + 5, 60),
                 _span(t, f"{t}c", f"{t}b", "api", "callback", o + 10, 20, attempt=1 + n % 2),
                 _span(t, f"{t}d", f"{t}c", "auth", "introspect", o + 12, 5, attempt=1 + n % 2)]
    recs = comms.recommendations(pd.DataFrame(rows))
    timeouts = {(r.caller, r.callee): r.evidence["timeout_ms"] for r in recs.of_kind("timeout")}
    assert set(timeouts) == {("api", "auth"), ("auth", "api")}
    assert timeouts[("api", "auth")] > timeouts[("auth", "api")]  # cut where the loop closes
    assert {(r.caller, r.callee) for r in recs.of_kind("retry_budget")} == {("api", "auth"), ("auth", "api")}


def test_fan_out_ties_in_any_row_order():
    """Calls of one parent that start together: 'one after another' does not depend on the row order."""
    import numpy as np

    rows = []
    for n in range(20):
        t = f"t{n}"
        rows += [_span(t, f"{t}a", "", "api", "GET", 0, 100)]
        rows += [_span(t, f"{t}m{k}", f"{t}a", "math", "fft", 10 * (k // 2), (0, 5)[k % 2]) for k in range(6)]
    df = pd.DataFrame(rows)
    want = comms.fan_out(df)
    rng = np.random.default_rng(1)
    for _ in range(5):
        pd.testing.assert_frame_equal(comms.fan_out(df.iloc[rng.permutation(len(df))]), want)
