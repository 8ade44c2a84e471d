"""The demo fleet simulator: shapes, determinism, incidents visible at their onsets, real export formats."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from holoops.frames import check_frame

DAYS = 2


@pytest.fixture(scope="session")
def demo():
    from holoops.demo import simulate

    return simulate(days=DAYS, seed=7)


@pytest.fixture(scope="session")
def quiet():
    from holoops.demo import simulate

    return simulate(days=DAYS, seed=7, incidents=None)


@pytest.fixture(scope="session")
def written(tmp_path_factory):
    from holoops.demo import simulate

    d = simulate(days=0.5, seed=11)
    folder = tmp_path_factory.mktemp("demo-out")
    files = d.write(folder)
    return d, folder, files


def _series(m: pd.DataFrame, metric: str, service: str, **labels) -> pd.DataFrame:
    q = m[(m["metric"] == metric) & (m["service"] == service)]
    for k, v in labels.items():
        q = q[q[k] == v]
    return q


def _code_ratio(m: pd.DataFrame, service: str, codes: tuple[str, ...], t0, t1) -> float:
    """Share of requests of ``service`` with a code in ``codes`` between t0 and t1 (counter increments)."""
    q = _series(m, "http_requests_total", service)
    q = q[(q["ts"] >= t0 - pd.Timedelta("1min")) & (q["ts"] <= t1)]
    piv = q.pivot_table(index="ts", columns=["instance", "route", "code"], values="value", observed=True)
    inc = piv.diff().clip(lower=0).iloc[1:]
    by_code = inc.T.groupby(level="code", observed=True).sum().T.sum()
    return float(by_code[[c for c in codes if c in by_code.index]].sum() / by_code.sum())


def _t(iso: str) -> pd.Timestamp:
    return pd.Timestamp(iso)


# --- shapes --------------------------------------------------------------------------------------------
def test_frames_are_canonical(demo):
    for kind in ("metrics", "logs", "spans", "events"):
        df = getattr(demo, kind)
        check_frame(df, kind)
        assert len(df) > 0, kind
    assert str(demo.metrics["ts"].dtype) == "datetime64[ns, UTC]"
    assert str(demo.logs["ts"].dtype) == "datetime64[ns, UTC]"
    assert str(demo.spans["start"].dtype) == "datetime64[ns, UTC]"
    assert str(demo.events["ts"].dtype) == "datetime64[ns, UTC]"
    for col in ("route", "code", "le", "gpu", "mountpoint"):
        assert col in demo.metrics.columns
    for col in ("status", "latency_ms", "route", "trace_id", "instance"):
        assert col in demo.logs.columns
    for col in ("peer", "attempt", "payload_bytes"):
        assert col in demo.spans.columns
    assert set(demo.spans["status"].astype(str)) <= {"ok", "error"}
    assert set(demo.events["kind"]) <= {"deploy", "config", "restart"}
    a, b = demo.window
    assert b - a == pd.Timedelta(days=DAYS)
    assert demo.metrics["ts"].min() >= a and demo.metrics["ts"].max() < b


def test_metric_names_come_from_the_signal_catalog(demo):
    import yaml

    cat = yaml.safe_load((Path(__file__).parents[1] / "holoops/catalogs/signals.yaml").read_text())
    names = {cat["requests"]["metric"], *cat["api_counters"], cat["cpu"]["metric"], cat["memory"]["metric"],
             *cat["gpu"].values(), *cat["disk"].values(), cat["up"]["metric"]}
    names |= {cat["latency"]["histogram"] + s for s in ("_bucket", "_sum", "_count")}
    assert set(demo.metrics["metric"].astype(str)) == names
    les = set(_series(demo.metrics, "http_request_duration_seconds_bucket", "vault")["le"].astype(str))
    assert {float(x) for x in les} == {float(x) for x in cat["latency"]["buckets"]}


def test_same_seed_same_data_other_seed_differs():
    from holoops.demo import simulate

    a = simulate(days=0.5, seed=3)
    b = simulate(days=0.5, seed=3)
    c = simulate(days=0.5, seed=4)
    import pyarrow as pa

    for kind in ("metrics", "logs", "spans", "events"):
        ta, tb = (pa.Table.from_pandas(getattr(x, kind), preserve_index=False) for x in (a, b))
        assert ta.equals(tb), kind
    assert a.truth == b.truth
    assert not a.metrics["value"].equals(c.metrics["value"])


def test_truth_records(demo):
    kinds = [i["kind"] for i in demo.truth]
    assert kinds == ["latency_regression", "error_burst", "gpu_memory_exhaustion", "dependency_outage",
                     "disk_exhaustion"]
    for inc in demo.truth:
        assert {"id", "kind", "service", "onset", "end", "root_cause", "trigger", "affected"} <= set(inc)
        assert inc["onset"].endswith("Z")
        # onsets on scrape boundaries
        assert _t(inc["onset"]).second == 0
    assert demo.incident("error_burst")["service"] == "router"
    with pytest.raises(KeyError):
        demo.incident("nope")
    assert demo.truth["comms"]["batching_pair"] == ["holographic-memory", "math-core"]
    assert isinstance(demo.truth["gaps"], list) and demo.truth[0]["id"] == "INC-001"
    gt = demo.ground_truth()
    assert gt["comms"]["bottleneck_service"] == "math-core"
    assert gt["comms"]["retry_storm_edge"] == ["holographic-memory", "math-core"]
    assert {"window", "seed", "scrape_interval", "log_sample", "gaps"} <= set(gt)


def test_default_schedule_in_last_week():
    from holoops.demo.schedule import choose_kinds, make_schedule

    start = pd.Timestamp("2026-11-02T00:00:00Z").value
    s = make_schedule(start, 14, 60, choose_kinds("default"), {"vault", "router", "holographic-memory",
                                                                "math-core", "telemetry"})
    on = {p.kind: s.iso(p.onset) for p in s.placed}
    assert on["latency_regression"] == "2026-11-10T14:00:00Z"
    assert on["error_burst"] == "2026-11-11T09:30:00Z"
    assert on["gpu_memory_exhaustion"] == "2026-11-12T03:00:00Z"
    assert on["dependency_outage"] == "2026-11-13T16:00:00Z"
    assert on["disk_exhaustion"] == "2026-11-14T10:00:00Z"
    end = {p.kind: s.iso(p.end) for p in s.placed}
    assert end["latency_regression"] == "2026-11-10T17:10:00Z"
    assert end["dependency_outage"] == "2026-11-13T16:25:00Z"
    # a start off midnight keeps the wall-clock times
    s2 = make_schedule(pd.Timestamp("2026-11-02T06:30:00Z").value, 7, 60, choose_kinds(["error_burst"]),
                       {"router"})
    assert s2.iso(s2.placed[0].onset) == "2026-11-04T09:30:00Z"


def test_short_window_skips_what_does_not_fit():
    from holoops.demo import simulate

    d = simulate(days=0.25, seed=1)
    skipped = {s["kind"] for s in d.meta["skipped"]}
    assert "latency_regression" in skipped
    assert all(s["reason"] for s in d.meta["skipped"])
    assert not ({i["kind"] for i in d.truth} & skipped)


# --- incidents visible at their onsets --------------------------------------------------------------
def test_error_burst_router_5xx_jumps_at_onset(demo):
    inc = demo.incident("error_burst")
    on = _t(inc["onset"])
    before = _code_ratio(demo.metrics, "router", ("500", "503"), on - pd.Timedelta("30min"), on - pd.Timedelta("1min"))
    first = _code_ratio(demo.metrics, "router", ("500", "503"), on, on + pd.Timedelta("1min"))
    during = _code_ratio(demo.metrics, "router", ("500", "503"), on, _t(inc["end"]) - pd.Timedelta("1min"))
    assert before < 0.02
    assert first > 0.1
    assert 0.12 < during < 0.3
    assert _code_ratio(demo.metrics, "orchestrator", ("500", "503"), on, _t(inc["end"])) > 0.1
    ev = demo.events[(demo.events["kind"] == "config") & (demo.events["service"] == "router")]
    assert on in set(ev["ts"])


def test_dependency_outage_up_zero_and_retry_storm(demo):
    inc = demo.incident("dependency_outage")
    on, end = _t(inc["onset"]), _t(inc["end"])
    up = _series(demo.metrics, "up", "math-core")
    assert (up[(up["ts"] >= on) & (up["ts"] < end)]["value"] == 0).all()
    assert (up[(up["ts"] >= on) & (up["ts"] < on + pd.Timedelta("1min"))]["value"] == 0).any()
    assert (up[(up["ts"] < on) & (up["ts"] >= on - pd.Timedelta("1h"))]["value"] == 1).all()
    # no other math-core series while it is down
    mc = demo.metrics[(demo.metrics["service"] == "math-core") & (demo.metrics["metric"] != "up")]
    assert not ((mc["ts"] >= on) & (mc["ts"] < end)).any()
    assert _code_ratio(demo.metrics, "holographic-memory", ("503",), on, end - pd.Timedelta("1min")) > 0.8
    sp = demo.spans
    storm = sp[(sp["start"] >= on) & (sp["start"] < end) & (sp["service"] == "math-core")]
    assert len(storm) and set(storm["attempt"]) == {1, 2, 3}
    assert (storm["status"] == "error").all() and (storm["peer"] == "holographic-memory").all()
    # retry storm: calls per holographic-memory request to math-core triple during the outage
    hm = sp[sp["service"] == "holographic-memory"]
    mc = sp[(sp["service"] == "math-core") & (sp["peer"] == "holographic-memory")]

    def per_request(t0, t1):
        reqs = hm[(hm["start"] >= t0) & (hm["start"] < t1)]
        return mc["parent_id"].isin(set(reqs["span_id"])).sum() / max(1, len(reqs))

    normal = per_request(on - pd.Timedelta("3h"), on)
    assert per_request(on, end) == pytest.approx(3 * normal, rel=0.2)


def test_gpu_memory_climbs_to_limit_then_restart(demo):
    inc = demo.incident("gpu_memory_exhaustion")
    on, end = _t(inc["onset"]), _t(inc["end"])
    used = _series(demo.metrics, "DCGM_FI_DEV_FB_USED", "holographic-memory", instance=inc["instance"])
    free = _series(demo.metrics, "DCGM_FI_DEV_FB_FREE", "holographic-memory", instance=inc["instance"])
    total = 80 * 1024
    both = used.merge(free, on="ts")
    assert np.allclose(both["value_x"] + both["value_y"], total)
    u = used.set_index("ts")["value"]
    base = u[(u.index < on) & (u.index >= on - pd.Timedelta("30min"))]
    assert base.max() < 0.6 * total
    assert u[on] > base.max() + 0.02 * total  # deviation visible at the first scrape
    assert u[(u.index >= on) & (u.index < on + pd.Timedelta("25min"))].max() >= 0.99 * total
    assert u[(u.index > end) & (u.index < end + pd.Timedelta("5min"))].max() < 0.6 * total
    q = _series(demo.metrics, "http_requests_total", "holographic-memory", instance=inc["instance"],
                route="/api/v1/search", code="200").set_index("ts")["value"]
    assert q[end] < q[end - pd.Timedelta("1min")]  # counter reset at the restart
    oom_from = _t(inc["oom_from"])
    assert _code_ratio(demo.metrics, "holographic-memory", ("500",), oom_from, end - pd.Timedelta("1min")) > 0.05
    logs = demo.logs
    oom = logs[logs["message"].str.startswith("CUDA out of memory")]
    assert len(oom) and oom["ts"].min() >= oom_from - pd.Timedelta("1min") and oom["ts"].max() <= end
    assert set(oom["instance"].astype(str)) == {inc["instance"]}


def _share_below(m, service, le, t0, t1):
    b = _series(m, "http_request_duration_seconds_bucket", service)
    b = b[(b["ts"] >= t0) & (b["ts"] <= t1)]
    piv = b.pivot_table(index="ts", columns=["instance", "le"], values="value", observed=True)
    inc = piv.diff().clip(lower=0).iloc[1:].T.groupby(level="le", observed=True).sum().T.sum()
    return inc[le] / inc["+Inf"]


def test_latency_regression_shifts_vault_histogram(demo):
    inc = demo.incident("latency_regression")
    on = _t(inc["onset"])
    before = _share_below(demo.metrics, "vault", "0.01", on - pd.Timedelta("30min"), on - pd.Timedelta("1min"))
    after = _share_below(demo.metrics, "vault", "0.01", on + pd.Timedelta("2min"), on + pd.Timedelta("30min"))
    assert before > 0.7 and after < 0.3
    ev = demo.events[(demo.events["kind"] == "deploy") & (demo.events["service"] == "vault")]
    assert on in set(ev["ts"]) and inc["version"] in set(ev["version"])
    orch_before = _share_below(demo.metrics, "orchestrator", "0.05", on - pd.Timedelta("30min"), on - pd.Timedelta("1min"))
    orch_after = _share_below(demo.metrics, "orchestrator", "0.05", on + pd.Timedelta("2min"), on + pd.Timedelta("30min"))
    assert orch_after < orch_before - 0.03


def test_disk_exhaustion_fill_rate_jumps(demo):
    inc = demo.incident("disk_exhaustion")
    on = _t(inc["onset"])
    a = _series(demo.metrics, "node_filesystem_avail_bytes", "telemetry").set_index("ts")["value"]
    size = _series(demo.metrics, "node_filesystem_size_bytes", "telemetry")["value"].iloc[0]
    assert size == 200 * 2**30 and inc["mount"] == "/var/lib/telemetry"

    def slope(t0, t1):
        s = a[(a.index >= t0) & (a.index <= t1)]
        x = (s.index - s.index[0]).total_seconds()
        return -np.polyfit(x, s.values, 1)[0]

    before = slope(on - pd.Timedelta("3h"), on - pd.Timedelta("1min"))
    after = slope(on, on + pd.Timedelta("90min"))
    assert after > 8 * before
    # extrapolating the post-onset trend hits zero at exhausts_at (within a few hours)
    last = a.index.max()
    eta = last + pd.Timedelta(seconds=float(a[last] / after))
    exhausts = _t(inc["exhausts_at"])
    assert abs((eta - exhausts).total_seconds()) < 6 * 3600
    assert pd.Timedelta(days=9) <= exhausts - demo.window[1] <= pd.Timedelta(days=12)
    ev = demo.events[(demo.events["kind"] == "config") & (demo.events["service"] == "telemetry")]
    assert list(ev["ts"]) == [on]


def test_quiet_fleet_has_no_incidents(quiet):
    m = quiet.metrics
    assert quiet.truth == []
    assert (m[m["metric"] == "up"]["value"] == 1).all()
    used = m[m["metric"] == "DCGM_FI_DEV_FB_USED"]["value"]
    assert used.max() < 0.7 * 80 * 1024
    a, b = quiet.window
    for t0 in pd.date_range(a + pd.Timedelta("1h"), b - pd.Timedelta("1h"), freq="3h"):
        assert _code_ratio(m, "router", ("500", "503"), t0, t0 + pd.Timedelta("15min")) < 0.03
    assert set(quiet.events["kind"]) <= {"deploy"}  # harmless deploys only


def test_counter_resets_at_deploys_and_gaps_listed(demo):
    deploys = demo.events[demo.events["kind"] == "deploy"]
    assert len(deploys) >= 2
    m = demo.metrics
    for _, ev in deploys.iterrows():
        c = _series(m, "process_cpu_seconds_total", ev["service"]).sort_values("ts")
        drops = c.groupby("instance", observed=True)["value"].diff() < 0
        dropped_at = c[drops]["ts"]
        assert ((dropped_at >= ev["ts"]) & (dropped_at <= ev["ts"] + pd.Timedelta("5min"))).any(), ev["detail"]
    gaps = demo.meta["gaps"]
    assert gaps, "expected some scrape gaps"
    g = gaps[0]
    rows = m[(m["instance"] == g["instance"]) & (m["ts"] == _t(g["start"]))]
    assert rows.empty


def test_harmless_deploys_exist(demo):
    deploys = demo.events[demo.events["kind"] == "deploy"]
    onsets = {_t(i["onset"]) for i in demo.truth} | {_t(i["end"]) for i in demo.truth}
    assert (~deploys["ts"].isin(onsets)).sum() >= 1


def test_histogram_consistent_with_request_counts(demo):
    m = demo.metrics
    inst = "vault-0:8002"
    cnt = _series(m, "http_request_duration_seconds_count", "vault", instance=inst).set_index("ts")["value"]
    inf = _series(m, "http_request_duration_seconds_bucket", "vault", instance=inst, le="+Inf").set_index("ts")["value"]
    assert cnt.equals(inf)
    req = _series(m, "http_requests_total", "vault", instance=inst).groupby("ts")["value"].sum()
    d1 = cnt.diff().iloc[1:]
    d2 = req.diff().reindex(d1.index)
    ok = (d1 >= 0) & (d2 >= 0)
    assert (d1[ok] == d2[ok]).mean() > 0.99
    b = _series(m, "http_request_duration_seconds_bucket", "vault", instance=inst)
    piv = b.pivot_table(index="ts", columns="le", values="value", observed=True)
    order = sorted(piv.columns, key=lambda x: float(x))
    assert (np.diff(piv[order].to_numpy(), axis=1) >= 0).all()


def test_daily_seasonality(demo):
    r = _series(demo.metrics, "http_requests_total", "orchestrator")
    piv = r.pivot_table(index="ts", columns=["instance", "route", "code"], values="value", observed=True)
    tot = piv.diff().clip(lower=0).sum(axis=1).iloc[1:]
    by_hour = tot.groupby(tot.index.hour).mean()
    assert by_hour.idxmax() in range(12, 19)
    assert by_hour.max() > 2 * by_hour.min()


# --- traces and logs ---------------------------------------------------------------------------------
def test_span_tree_and_comms_facts(demo):
    sp = demo.spans
    ids = set(sp["span_id"])
    non_root = sp[sp["parent_id"] != ""]
    assert non_root["parent_id"].isin(ids).all()
    roots = sp[sp["parent_id"] == ""]
    assert set(roots["service"].astype(str)) == {"orchestrator"}
    # math-core dominates /api/v1/search end-to-end
    search_roots = roots[roots["operation"] == "/api/v1/search"]
    mc = sp[(sp["service"] == "math-core") & sp["trace_id"].isin(set(search_roots["trace_id"]))]
    share = mc.groupby("trace_id")["duration_ms"].sum() / search_roots.set_index("trace_id")["duration_ms"]
    assert share.median() > 0.4
    # several sequential small fft_correlate calls per search
    per = mc.groupby("trace_id").size()
    assert per.median() >= 3
    assert mc["payload_bytes"].median() < 64_000
    # store carries large payloads on router -> holographic-memory
    hm = sp[(sp["service"] == "holographic-memory") & (sp["peer"] == "router")]
    big = hm[hm["operation"] == "/api/v1/store"]["payload_bytes"].median()
    assert big > 1e6 and big > 20 * hm[hm["operation"] != "/api/v1/store"]["payload_bytes"].median()
    # telemetry overlaps router under the same orchestrator span
    tel = sp[sp["service"] == "telemetry"][["parent_id", "start", "duration_ms"]]
    rt = sp[(sp["service"] == "router")][["parent_id", "start", "duration_ms"]]
    j = tel.merge(rt, on="parent_id", suffixes=("_t", "_r"))
    overlap = (j["start_t"] < j["start_r"] + pd.to_timedelta(j["duration_ms_r"], unit="ms")) & \
              (j["start_r"] < j["start_t"] + pd.to_timedelta(j["duration_ms_t"], unit="ms"))
    assert overlap.mean() > 0.9


def test_logs_have_incident_lines_and_trace_links(demo):
    logs = demo.logs
    inc = demo.incident("dependency_outage")
    on, end = _t(inc["onset"]), _t(inc["end"])
    refused = logs[logs["message"].str.contains("ECONNREFUSED", regex=False)]
    assert len(refused) and refused["ts"].min() >= on and refused["ts"].max() <= end
    assert set(refused["service"].astype(str)) == {"holographic-memory"}
    eb = demo.incident("error_burst")
    rejected = logs[logs["message"].str.startswith("route config rejected")]
    assert len(rejected) and (rejected["ts"] >= _t(eb["onset"]) - pd.Timedelta("1min")).all()
    errs = logs[logs["level"] == "error"]
    assert errs["trace_id"].isin(set(demo.spans["trace_id"])).sum() > 10
    access = logs[logs["status"].notna() & logs["latency_ms"].notna()]
    assert len(access) > 0.8 * len(logs)
    # template mining has work to do: variable parts
    oom = logs[logs["message"].str.startswith("CUDA out of memory")]["message"]
    assert oom.nunique() > 0.8 * len(oom)
    warn = logs[logs["level"] == "warning"]["message"]
    assert warn.nunique() > 100 and warn.nunique() < len(warn)


def test_log_volume_per_week_in_range(demo):
    per_week = len(demo.logs) * 7 / DAYS
    assert 300_000 <= per_week <= 600_000


# --- writers ---------------------------------------------------------------------------------------------
def test_written_files(written):
    import orjson

    d, folder, files = written
    for name in ("ground_truth.json", "metrics.om", "logs.jsonl", "events.jsonl", "traces.jaeger.json",
                 "traces.otlp.json", "metrics.parquet", "logs.parquet", "spans.parquet", "events.parquet",
                 "metrics.csv", "logs.csv", "spans.csv", "events.csv"):
        assert (folder / name).is_file(), name
    gt = json.loads((folder / "ground_truth.json").read_text())
    assert gt["seed"] == 11 and len(gt["incidents"]) == len(d.truth) and "comms" in gt
    jg = orjson.loads((folder / "traces.jaeger.json").read_bytes())
    assert sum(len(t["spans"]) for t in jg["data"]) == len(d.spans)
    assert len(jg["data"]) == d.spans["trace_id"].nunique()
    s0 = jg["data"][0]
    assert set(s0["processes"]) >= {sp["processID"] for sp in s0["spans"]}
    child = next(sp for t in jg["data"] for sp in t["spans"] if sp["references"])
    assert child["references"][0]["refType"] == "CHILD_OF" and isinstance(child["startTime"], int)
    ot = orjson.loads((folder / "traces.otlp.json").read_bytes())
    spans = [s for r in ot["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]]
    assert len(spans) == len(d.spans)
    assert {"traceId", "spanId", "parentSpanId", "name", "startTimeUnixNano", "endTimeUnixNano", "status",
            "attributes"} <= set(spans[0])
    qr = orjson.loads((folder / "query_range" / "up.json").read_bytes())
    assert qr["status"] == "success" and qr["data"]["resultType"] == "matrix"
    r0 = qr["data"]["result"][0]
    assert r0["metric"]["__name__"] == "up" and isinstance(r0["values"][0][1], str)
    n_lines = sum(1 for _ in (folder / "logs.jsonl").open())
    assert n_lines == len(d.logs)
    first = json.loads((folder / "logs.jsonl").open().readline())
    assert {"ts", "service", "level", "message", "status", "latency_ms", "route", "trace_id"} <= set(first)
    assert first["ts"].endswith("Z")
    assert len(pd.read_parquet(folder / "spans.parquet")) == len(d.spans)
    om = (folder / "metrics.om").read_text()
    assert om.startswith("# TYPE") and om.endswith("# EOF\n")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_openmetrics_accepted_by_promtool(written, tmp_path):
    _, folder, _ = written
    out = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(folder / "metrics.om"),
                          str(tmp_path / "tsdb")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert any((tmp_path / "tsdb").iterdir())


# --- benchmark-size request logs ---------------------------------------------------------------------
def test_request_log_shape_and_bursts(tmp_path):
    import pyarrow.compute as pc

    from holoops.demo import request_log, write_request_log

    t = request_log(200_000, seed=7)
    assert t.num_rows == 200_000
    assert t.column_names == ["ts", "service", "route", "status", "latency_ms", "level", "message", "trace_id",
                              "instance"]
    df = t.to_pandas()
    assert df["ts"].is_monotonic_increasing
    router = df[df["service"] == "router"]
    frac = (router["ts"] - df["ts"].min()) / (df["ts"].max() - df["ts"].min())
    burst = router[(frac >= 0.35) & (frac < 0.36)]
    assert (burst["status"] >= 500).mean() > 0.1
    assert (router[frac < 0.3]["status"] >= 500).mean() < 0.02
    assert pc.all(pc.equal(pc.utf8_length(t["trace_id"]), 32)).as_py()
    assert request_log(1000, seed=1).equals(request_log(1000, seed=1))
    p = write_request_log(tmp_path / "r.jsonl", 5000, fmt="jsonl")
    assert sum(1 for _ in p.open()) == 5000
    p = write_request_log(tmp_path / "r.parquet", 5000)
    assert len(pd.read_parquet(p)) == 5000


# --- CLI -----------------------------------------------------------------------------------------------
def test_cli_help_and_small_run(tmp_path):
    out = subprocess.run([sys.executable, "-m", "holoops.cli", "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--days" in out.stdout and "--formats" in out.stdout
    out = subprocess.run([sys.executable, "-m", "holoops.cli", "demo", "--days", "1", "--out", str(tmp_path),
                          "--formats", "jsonl,parquet", "--data-only"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    dest = tmp_path / "demo-data"
    summary = (dest / "summary.md").read_text()
    assert "error_burst" in summary and "logs.jsonl" in summary
    assert (dest / "ground_truth.json").is_file()
    bad = subprocess.run([sys.executable, "-m", "holoops.cli", "demo", "--formats", "xml", "--out", str(dest)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "xml" in bad.stderr


def test_cached_simulate_equals_simulate(tmp_path, monkeypatch):
    """The on-disk cache gives back exactly what the simulator made, and misses on other arguments."""
    from holoops.demo import cached_simulate, simulate

    monkeypatch.setenv("HOLOOPS_CACHE_DIR", str(tmp_path))
    fresh = simulate(days=1, seed=5)
    first = cached_simulate(days=1, seed=5)
    again = cached_simulate(days=1, seed=5)
    assert len(list((tmp_path / "demo").iterdir())) == 1
    for name in ("metrics", "logs", "spans", "events"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(fresh, name), check_categorical=False)
    assert again.truth == json.loads(json.dumps(first.truth, default=str)) and again.meta["seed"] == 5
    assert again.window == fresh.window
    cached_simulate(days=1, seed=6)
    assert len(list((tmp_path / "demo").iterdir())) == 2
