"""Every analysis gives the same result whatever the row order of its input.

Real exports arrive unsorted: Prometheus ``query_range`` JSON comes series by series, CSV dumps and span
exports in any order. Each entry point of ``holoops.analyze`` runs here on three hours of the demo fleet
as simulated (sorted, the reference) and on shuffled copies: pandas with the shuffled index a slice of
such a frame keeps, and polars. The results must be equal once their rows are sorted by their keys
(floats to a tight tolerance; the critical path in its own walk order).

The window (15:30-18:30 of the simulated day) holds the math-core outage: targets down, 503s, a retry
storm on holographic-memory -> math-core, error log lines; a few samples are removed besides, so there
are scrape gaps to find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from holoops.fleet import load_fleet

ENGINES = ("pandas", "polars")
RTOL, ATOL = 1e-9, 1e-12


# --- data ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fleet():
    return load_fleet()


@pytest.fixture(scope="module")
def demo():
    from holoops.demo import simulate

    return simulate(days=1, seed=3, scrape_interval=60)


@pytest.fixture(scope="module")
def window(demo):
    day = pd.Timestamp(demo.window[0]).floor("D")
    return day + pd.Timedelta("15h30min"), day + pd.Timedelta("18h30min")


def _between(df: pd.DataFrame, col: str, a, b) -> pd.DataFrame:
    return df[(df[col] >= a) & (df[col] < b)].reset_index(drop=True)


@pytest.fixture(scope="module")
def given(demo, window):
    """The frames as the simulator sorts them (pandas, default index)."""
    a, b = window
    m = _between(demo.metrics, "ts", a, b)
    # scrape gaps: router-0 misses seven minutes, vault-1 one scrape
    inst = m["instance"].astype(str)
    cut = ((inst == "router-0:8001") & (m["ts"] >= a + pd.Timedelta("40min")) & (m["ts"] < a + pd.Timedelta("47min"))) \
        | ((inst == "vault-1:8002") & (m["ts"] == a + pd.Timedelta("70min")))
    return {"metrics": m[~cut].reset_index(drop=True), "logs": _between(demo.logs, "ts", a, b),
            "spans": _between(demo.spans, "start", a, b), "events": demo.events.reset_index(drop=True)}


def _shuffle(df: pd.DataFrame, engine: str, seed: int = 0):
    """``df`` in a random row order: pandas keeps the shuffled index (as a slice of a shuffled frame
    would), polars has none."""
    out = df.sample(frac=1, random_state=seed)
    return out if engine == "pandas" else pl.from_pandas(out.reset_index(drop=True))


@pytest.fixture(scope="module")
def shuffled(given):
    """``{engine: {frame: shuffled copy}}``."""
    return {e: {k: _shuffle(v, e, seed=i) for i, (k, v) in enumerate(given.items())} for e in ENGINES}


@pytest.fixture(scope="module")
def memo():
    """Reference results, computed once per module (the given frames are the same for each engine)."""
    return {}


def _ref(memo, key, fn):
    if key not in memo:
        memo[key] = fn()
    return memo[key]


# --- comparison ---------------------------------------------------------------------------------------
def _pandas(frame) -> pd.DataFrame:
    df = frame.to_pandas() if isinstance(frame, pl.DataFrame) else frame.copy()
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(object)
    return df.reset_index(drop=True)


def assert_same(got, want, keys: list[str] | None = None, *, sort: bool = True) -> None:
    """Equal frames once both are sorted by ``keys`` (unique in ``want``); floats to RTOL/ATOL."""
    got, want = _pandas(got), _pandas(want)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    if sort:
        keys = keys or [c for c in want.columns if not pd.api.types.is_float_dtype(want[c])]
        assert not want.duplicated(keys).any(), f"keys {keys} are not unique in the reference"
        got = got.sort_values(keys, kind="stable").reset_index(drop=True)
        want = want.sort_values(keys, kind="stable").reset_index(drop=True)
    for c in want.columns:  # engines differ in string dtypes (object, str, large_string): compare values
        if not (pd.api.types.is_numeric_dtype(want[c]) or pd.api.types.is_datetime64_any_dtype(want[c])):
            got[c] = got[c].astype(object)
            want[c] = want[c].astype(object)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=RTOL, atol=ATOL)


def _close(a, b) -> bool:
    """Nested results (dicts, lists, numbers, text) equal, floats to RTOL/ATOL."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return bool(np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True))
    return a == b


# --- counters and golden signals ------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_golden_signals(engine, given, shuffled, fleet, memo):
    from holoops.analyze.signals import golden_signals

    want = _ref(memo, "golden", lambda: golden_signals(given["metrics"], fleet))
    assert len(want) > 1000 and want["gap"].any()
    assert_same(golden_signals(shuffled[engine]["metrics"], fleet), want, ["service", "ts"])


@pytest.mark.parametrize("engine", ENGINES)
def test_golden_signals_of_a_filtered_frame(engine, given, shuffled, fleet):
    """A row filter of a sorted pandas frame leaves a non-default index too (not only a shuffle)."""
    from holoops.analyze.signals import golden_signals

    m = given["metrics"]
    keep = m["service"].astype(str) != "dashboard"
    want = golden_signals(m[keep].reset_index(drop=True), fleet, by=("service", "route"))
    sub = m[keep] if engine == "pandas" else pl.from_pandas(m[keep].reset_index(drop=True))
    assert_same(golden_signals(sub, fleet, by=("service", "route")), want, ["service", "route", "ts"])


@pytest.mark.parametrize("engine", ENGINES)
def test_golden_signals_with_latency_from_logs(engine, given, shuffled, fleet, memo):
    """Metrics without the duration histogram: latency comes from the request logs."""
    from holoops.analyze.signals import golden_signals

    def no_hist(m):
        if isinstance(m, pl.DataFrame):
            return m.filter(pl.col("metric").cast(pl.String) != "http_request_duration_seconds_bucket").drop("le")
        return m[m["metric"].astype(str) != "http_request_duration_seconds_bucket"].drop(columns="le")

    want = _ref(memo, "golden_logs", lambda: golden_signals(no_hist(given["metrics"]), fleet, logs=given["logs"]))
    assert want["p99_ms"].notna().sum() > 500
    got = golden_signals(no_hist(shuffled[engine]["metrics"]), fleet, logs=shuffled[engine]["logs"])
    assert_same(got, want, ["service", "ts"])


@pytest.mark.parametrize("engine", ENGINES)
def test_saturation(engine, given, shuffled, fleet, memo):
    from holoops.analyze.signals import saturation

    want = _ref(memo, "saturation", lambda: saturation(given["metrics"], fleet))
    assert set(want["resource"]) >= {"cpu", "memory", "gpu_util", "gpu_memory", "disk"}
    assert_same(saturation(shuffled[engine]["metrics"], fleet), want, ["service", "resource", "ts"])


@pytest.mark.parametrize("engine", ENGINES)
def test_rate_and_increase(engine, given, shuffled, memo):
    from holoops.analyze.counters import increase, rate

    by = ("service", "code")
    for fn in (rate, increase):
        for extrapolate in (True, False):
            want = _ref(memo, (fn.__name__, extrapolate),
                        lambda fn=fn, x=extrapolate: fn(given["metrics"], "http_requests_total", by=by, extrapolate=x))
            got = fn(shuffled[engine]["metrics"], "http_requests_total", by=by, extrapolate=extrapolate)
            assert_same(got, want, [*by, "ts"])


@pytest.mark.parametrize("engine", ENGINES)
def test_scrape_gaps(engine, given, shuffled, memo):
    from holoops.analyze.counters import scrape_gaps

    want = _ref(memo, "gaps", lambda: scrape_gaps(given["metrics"]))
    assert set(want["reason"]) == {"up=0", "no samples"}
    assert_same(scrape_gaps(shuffled[engine]["metrics"]), want, ["service", "instance", "start"])


def test_duplicate_samples_do_not_depend_on_row_order(given, fleet):
    """Two samples of one series at one time (a doubled scrape) resolve the same way in any order."""
    from holoops.analyze.counters import rate
    from holoops.analyze.signals import saturation

    m = given["metrics"]
    twin = m.iloc[::97].copy()
    twin["value"] = twin["value"] * 0.999  # a counter that "drops" at the same timestamp
    doubled = pd.concat([m, twin], ignore_index=True)
    want_r = rate(doubled, "http_requests_total", by=("service", "code"))
    want_s = saturation(doubled, fleet)
    for seed in (1, 2):
        for engine in ENGINES:
            d = _shuffle(doubled, engine, seed)
            assert_same(rate(d, "http_requests_total", by=("service", "code")), want_r, ["service", "code", "ts"])
            assert_same(saturation(d, fleet), want_s, ["service", "resource", "ts"])


# --- SLOs, anomalies, capacity ---------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_slo_report(engine, given, shuffled, fleet, memo):
    from holoops.analyze.slo import slo_report

    want = _ref(memo, "slo", lambda: slo_report(given["metrics"], fleet))
    got = slo_report(shuffled[engine]["metrics"], fleet)
    assert_same(got.summary, want.summary, ["service", "sli"])
    assert_same(got.burn, want.burn, ["service", "sli", "window", "ts"])
    assert_same(got.alerts, want.alerts, ["service", "sli", "rule", "start"])
    assert got.window_note == want.window_note
    assert _close(got.rows, want.rows)


@pytest.mark.parametrize("engine", ENGINES)
def test_anomalies_and_change_points(engine, given, fleet, memo):
    from holoops.analyze.anomalies import change_points, detect_anomalies
    from holoops.analyze.signals import golden_signals

    gs = _ref(memo, "golden", lambda: golden_signals(given["metrics"], fleet))
    want_a = detect_anomalies(gs, ["error_ratio", "p99_ms"])
    want_c = change_points(gs, "rps", events=given["events"])
    assert len(want_a) and len(want_c)
    ev = _shuffle(given["events"], engine, 5)
    for seed in (1, 2):
        g = _shuffle(gs, engine, seed)
        assert_same(detect_anomalies(g, ["error_ratio", "p99_ms"]), want_a, ["service", "signal", "onset"])
        assert_same(change_points(g, "rps", events=ev), want_c, ["service", "onset", "direction"])


@pytest.mark.parametrize("engine", ENGINES)
def test_capacity_usage_series_and_forecast(engine, demo, fleet, memo):
    """Hourly usage needs more than three hours: twelve of the day, and one forecast of them."""
    from holoops.analyze.capacity import forecast_resource, usage_series

    day = pd.Timestamp(demo.window[0]).floor("D")
    m = _between(demo.metrics, "ts", day + pd.Timedelta("3h"), day + pd.Timedelta("15h"))
    want = _ref(memo, "usage", lambda: usage_series(m, fleet))
    got = usage_series(_shuffle(m, engine, 3), fleet)
    assert [(i["service"], i["resource"]) for i in got] == [(i["service"], i["resource"]) for i in want]
    for a, b in zip(got, want, strict=True):
        assert a["limit"] == b["limit"] and a["unit"] == b["unit"]
        pd.testing.assert_series_equal(a["series"], b["series"], check_exact=False, rtol=RTOL, atol=ATOL)
    item = next(i for i in want if i["resource"] == "disk")
    f_want = forecast_resource(item, horizon_days=3, holdout_hours=3)
    f_got = forecast_resource(next(i for i in got if (i["service"], i["resource"]) == (item["service"], "disk")),
                              horizon_days=3, holdout_hours=3)
    pd.testing.assert_series_equal(f_got.mean, f_want.mean, check_exact=False, rtol=1e-7)
    assert f_got.model == f_want.model


# --- incidents and hypotheses -----------------------------------------------------------------------------
def _finding(f) -> dict:
    return {"severity": f.severity, "service": f.service, "kind": f.kind, "onset": f.onset,
            "summary": f.summary, "evidence": f.evidence, "runbook": f.runbook}


@pytest.mark.parametrize("engine", ENGINES)
def test_detect_incidents_and_suspects(engine, given, shuffled, fleet, memo):
    from holoops.analyze.timeline import detect_incidents, suspects

    data = {"metrics": given["metrics"], "events": given["events"]}
    want = _ref(memo, "incidents", lambda: [_finding(f) for f in detect_incidents(data, fleet)])
    assert any(f["service"] == "math-core" for f in want)
    sh = {"metrics": shuffled[engine]["metrics"], "events": shuffled[engine]["events"]}
    assert _close([_finding(f) for f in detect_incidents(sh, fleet)], want)
    want_s = _ref(memo, "suspects", lambda: suspects(data, fleet))
    assert_same(suspects(sh, fleet), want_s, ["incident", "rank"])


@pytest.mark.parametrize("engine", ENGINES)
def test_timeline(engine, given, shuffled, fleet, memo):
    from holoops.analyze.timeline import timeline

    data = {k: given[k] for k in ("metrics", "logs", "events")}
    want = _ref(memo, "timeline", lambda: timeline(data, fleet))
    assert set(want["source"]) >= {"event", "anomaly"}
    got = timeline({k: shuffled[engine][k] for k in ("metrics", "logs", "events")}, fleet)
    assert_same(got, want, ["ts", "end", "service", "source", "kind", "detail"])


def _ranked(frames, fleet, window):
    """The hypotheses as ``holoops.reports.incident.state`` ranks them: window_data, then evaluate."""
    from holoops.analyze import hypotheses as H

    cat = H.load_catalog()
    start, end = window[0] + pd.Timedelta("60min"), window[0] + pd.Timedelta("120min")
    wd = H.window_data(frames["metrics"], fleet, start, end, logs=frames["logs"], spans=frames["spans"],
                       events=frames["events"], baseline=cat["baseline"])
    return [dict(s.to_dict(), detected=s.detected, onset=s.onset, last_seen=s.last_seen)
            for s in H.evaluate(wd, fleet, cat)]


def _without_sample_lines(ranked: list[dict]) -> list[dict]:
    import re

    def strip(texts):
        return [re.sub(r', e\.g\. ".*"$', "", t) for t in texts]

    return [dict(r, **{"for": strip(r["for"]), "against": strip(r["against"])}) for r in ranked]


@pytest.mark.parametrize("engine", ENGINES)
def test_hypotheses_as_the_incident_report_ranks_them(engine, given, shuffled, fleet, window, memo):
    """Scores, ranking, onsets and evidence (but the example log line each log check quotes)."""
    want = _ref(memo, "hypotheses", lambda: _ranked(given, fleet, window))
    assert want[0]["service"] == "math-core" and want[0]["score"] == 1.0
    assert _close(_without_sample_lines(_ranked(shuffled[engine], fleet, window)), _without_sample_lines(want))


def test_hypotheses_quote_the_same_log_line(given, shuffled, fleet, window, memo):
    want = _ref(memo, "hypotheses", lambda: _ranked(given, fleet, window))
    assert _close(_ranked(shuffled["pandas"], fleet, window), want)


# --- spans ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_critical_path(engine, given, shuffled, memo):
    from holoops.analyze import comms

    want = _ref(memo, "path", lambda: comms.critical_path(given["spans"]))
    assert len(want) > 1000
    # the rows come in the walk's order, which depends on the traces, not on the row order
    assert_same(comms.critical_path(shuffled[engine]["spans"]), want, sort=False)
    for by in ("service", "operation"):
        want_s = _ref(memo, ("summary", by), lambda by=by: comms.critical_path_summary(given["spans"], by=by))
        assert_same(comms.critical_path_summary(shuffled[engine]["spans"], by=by), want_s, [by])


def test_critical_path_with_tied_starts_and_ends():
    """Siblings that start (and end) at the same instant, equally long roots, duplicated span ids: the
    walk picks the same spans in any row order."""
    from holoops.analyze import comms

    t0 = pd.Timestamp("2026-11-02T12:00:00Z")
    rows = []
    for t in range(30):
        tr = f"t{t:02d}"
        rows += [(tr, "r", "", "api", "GET", 0, 100), (tr, "r2", "", "api", "GET", 0, 100),
                 (tr, "a", "r", "db", "q1", 10, 50), (tr, "b", "r", "db", "q2", 10, 50),
                 (tr, "c", "r", "cache", "get", 10, 50), (tr, "d", "a", "disk", "read", 20, 10),
                 (tr, "d", "b", "disk", "read", 20, 10), (tr, "e", "d", "nfs", "io", 22, 5)]
    df = pd.DataFrame(rows, columns=["trace_id", "span_id", "parent_id", "service", "operation", "start",
                                     "duration_ms"])
    df["start"] = t0 + pd.to_timedelta(df["start"], unit="ms")
    df["duration_ms"] = df["duration_ms"].astype(float)
    df["status"] = "ok"
    want = comms.critical_path(df)
    want_s = comms.critical_path_summary(df)
    for seed in range(4):
        for engine in ENGINES:
            sh = _shuffle(df, engine, seed)
            assert_same(comms.critical_path(sh), want, sort=False)
            assert_same(comms.critical_path_summary(sh), want_s, ["service"])


@pytest.mark.parametrize("engine", ENGINES)
def test_dependency_graph_retry_storms_and_fan_out(engine, given, shuffled, memo):
    from holoops.analyze import comms

    sp = shuffled[engine]["spans"]
    want_g = _ref(memo, "graph", lambda: comms.dependency_graph(given["spans"]))
    assert_same(comms.dependency_graph(sp), want_g, ["caller", "callee"])
    want_r = _ref(memo, "storms", lambda: comms.retry_storms(given["spans"]))
    assert want_r["storm"].any()
    assert_same(comms.retry_storms(sp), want_r, ["caller", "callee", "ts"])
    want_f = _ref(memo, "fan_out", lambda: comms.fan_out(given["spans"]))
    assert_same(comms.fan_out(sp), want_f, ["caller", "caller_operation", "callee", "operation"])


@pytest.mark.parametrize("engine", ENGINES)
def test_recommendations(engine, given, shuffled, fleet, memo):
    from holoops.analyze import comms

    want = _ref(memo, "recs", lambda: comms.recommendations(given["spans"], fleet).frame())
    assert set(want["kind"]) >= {"pool", "timeout", "retry_budget", "critical_path"}
    assert_same(comms.recommendations(shuffled[engine]["spans"], fleet).frame(), want,
                ["priority", "kind", "edge", "advice"])


# --- logs -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_error_patterns(engine, given, shuffled, memo):
    from holoops.analyze.patterns import error_patterns

    want = _ref(memo, "patterns", lambda: error_patterns(given["logs"]))
    got = error_patterns(shuffled[engine]["logs"])
    # template ids number the templates most frequent first; equally frequent ones in any order
    assert_same(_pandas(got).drop(columns="template_id"), _pandas(want).drop(columns="template_id"), ["template"])


@pytest.mark.parametrize("engine", ENGINES)
def test_classify_errors_and_summary(engine, given, shuffled, memo):
    from holoops.analyze.errors import classify_errors, error_class_summary

    cols = ["ts", "service", "level", "message", "error_category"]
    want = _ref(memo, "classes", lambda: _pandas(classify_errors(given["logs"]))[cols])
    got = _pandas(classify_errors(shuffled[engine]["logs"]))[cols]
    assert set(want["error_category"].dropna()) > {"unclassified"} or want["error_category"].notna().any()
    for d in (got, want):
        d["error_category"] = d["error_category"].fillna("<none>")
    key = ["ts", "service", "level", "message"]
    got, want = (d.sort_values([*key, "error_category"], kind="stable").reset_index(drop=True) for d in (got, want))
    pd.testing.assert_frame_equal(got.astype({"error_category": object}), want.astype({"error_category": object}),
                                  check_dtype=False)
    want_s = _ref(memo, "class_summary", lambda: error_class_summary(given["logs"]))
    assert_same(error_class_summary(shuffled[engine]["logs"]), want_s, ["ts", "service", "error_category"])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method", ["exact", "sketch"])
def test_request_tables(engine, method, given, shuffled, memo):
    from holoops.analyze.requests import request_table, top_errors

    for backend in ("polars", "duckdb"):
        want = _ref(memo, ("requests", method, backend),
                    lambda b=backend: request_table(given["logs"], method=method, backend=b, engine="pandas"))
        assert want["errors_5xx"].sum() > 0
        got = request_table(shuffled[engine]["logs"], method=method, backend=backend, engine="pandas")
        assert_same(got, want, sort=False)  # sorted by service, then ts, by contract
        want_t = _ref(memo, ("top", backend),
                      lambda b=backend: top_errors(given["logs"], backend=b, engine="pandas"))
        assert_same(top_errors(shuffled[engine]["logs"], backend=backend, engine="pandas"), want_t, sort=False)
