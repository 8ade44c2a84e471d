"""Root-cause analysis (holoops.analyze.rca): the faulty service first from metrics, traces and logs, on a
synthetic three-service fleet, on the demo fleet's labelled incidents, and abstention on quiet windows;
``discover_exports`` on a folder in the Nezha layout; one real case through a runbook when the development
data is present (skipped otherwise)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from holoops.analyze import rca
from holoops.dataset import Dataset
from holoops.timeutil import Window

ROOT = Path(__file__).resolve().parents[1]
RCA_DEV = Path("/work/shared/data/rca-dev")
T0 = pd.Timestamp("2026-03-02T10:00:00Z")


def _fleet():
    from holoops.fleet import parse_fleet

    res = {"cpu": {"request": 0.1, "limit": 1.0}, "memory": {"request": "128Mi", "limit": "1Gi"}}
    svc = lambda deps: {"port": 8080, "health": "/healthz", "depends_on": deps,  # noqa: E731
                        "slo": {"availability": 0.99}, "resources": res}
    return parse_fleet({"name": "shop", "namespace": "shop",
                        "services": {"front": svc(["cart"]), "cart": svc(["price"]), "price": svc([]),
                                     "mail": svc([])}})


def _synthetic(fault: str | None, minutes: int = 120, at: int = 100, seed: int = 3) -> Dataset:
    """Minute gauges and one trace every ~3 s through front -> cart -> price (and mail on its own);
    ``fault`` in price from minute ``at`` for 2 minutes: ``exception`` (price stops logging its second
    step and logs an error, cart and front log the failure they get), ``cpu`` (price's CPU saturates and
    its spans get slow)."""
    rng = np.random.default_rng(seed)
    metrics, spans, logs = [], [], []
    for m in range(minutes):
        ts = T0 + pd.Timedelta(minutes=m)
        bad = fault is not None and at <= m < at + 2
        for svc in ("front", "cart", "price", "mail"):
            cpu = rng.uniform(2, 6)
            if bad and fault == "cpu" and svc == "price":
                cpu = 97.0
            metrics += [(ts, "cpu_usage_rate_percent", svc, f"{svc}-0", cpu),
                        (ts, "holoops_request_rate", svc, f"{svc}-0", rng.uniform(15, 25)),
                        (ts, "memory_usage_mebibytes", svc, f"{svc}-0", rng.uniform(300, 320))]
        for k in range(20):
            t = ts + pd.Timedelta(seconds=3 * k + rng.uniform(0, 1))
            tid = f"{m:04d}{k:02d}"
            slow = 8.0 if bad and fault == "cpu" else 1.0
            d_price = rng.uniform(4, 6) * slow
            d_cart = d_price + rng.uniform(2, 3)
            d_front = d_cart + rng.uniform(2, 3)
            spans += [(tid, f"{tid}a", "", "front", "GET /checkout", t, d_front),
                      (tid, f"{tid}b", f"{tid}a", "cart", "POST /cart/total", t + pd.Timedelta(milliseconds=1), d_cart),
                      (tid, f"{tid}c", f"{tid}b", "price", "GET /price", t + pd.Timedelta(milliseconds=2), d_price)]
            logs += [(t, "front", "info", f"checkout started for user {rng.integers(1000)}", tid),
                     (t, "cart", "info", f"cart total requested items={rng.integers(1, 9)}", tid),
                     (t, "price", "info", f"price lookup for sku {rng.integers(10**5)}", tid)]
            if bad and fault == "exception":
                logs += [(t, "price", "error", f"NullPointerException in PriceRule.apply sku {rng.integers(10**5)}", tid),
                         (t, "cart", "error", "upstream price returned 500", tid),
                         (t, "front", "error", "checkout failed: cart returned 500", tid)]
            else:
                logs += [(t, "price", "info", f"price computed {rng.uniform(1, 99):.2f} EUR", tid),
                         (t, "front", "info", "checkout done", tid)]
            t2 = t + pd.Timedelta(seconds=1)
            spans.append((f"m{tid}", f"m{tid}a", "", "mail", "POST /send", t2, rng.uniform(3, 5)))
            logs.append((t2, "mail", "info", f"mail queued id={rng.integers(10**6)}", f"m{tid}"))
    mdf = pd.DataFrame(metrics, columns=["ts", "metric", "service", "instance", "value"])
    sdf = pd.DataFrame(spans, columns=["trace_id", "span_id", "parent_id", "service", "operation", "start", "duration_ms"])
    sdf["status"] = "ok"
    ldf = pd.DataFrame(logs, columns=["ts", "service", "level", "message", "trace_id"])
    ev = pd.DataFrame({"ts": pd.Series([], dtype="datetime64[ns, UTC]"), "kind": [], "service": [], "detail": []})
    from holoops import signalmap

    fleet = _fleet()
    norm = signalmap.normalise(mdf, fleet)
    window = Window(T0.to_pydatetime(), (T0 + pd.Timedelta(minutes=minutes)).to_pydatetime())
    return Dataset(metrics=norm.metrics, logs=ldf, spans=sdf, events=ev, window=window, fleet=fleet)


def test_event_key_collapses_printed_lists():
    one = "INFO [getSoldTickets][info is: Ticket(seat=<*>), Ticket(seat=<*>), Ticket(seat=<*>)]"
    two = "INFO [getSoldTickets][info is: Ticket(seat=<*>), Ticket(seat=<*>)]"
    assert rca.event_key(one) == rca.event_key(two)
    assert rca.event_key("RouteId: [<*>, <*>, <*>]]") != rca.event_key("RouteId: <*>")
    assert rca.event_key("a <*> <*> <*> b") == "a <*> b"


@pytest.mark.parametrize("fault,kind", [("exception", "code_exception"), ("cpu", "cpu_contention")])
def test_faulty_service_first_and_its_callers_are_victims(fault, kind):
    ds = _synthetic(fault)
    d = rca.diagnose(ds, at=T0 + pd.Timedelta(minutes=100))
    assert not d.abstain, d.reason
    assert d.ranking[0] == "price", d.frame(4)
    top = d.top
    assert top.kind == kind
    assert top.evidence and any(ch.isdigit() for ch in d.summary())
    if fault == "exception":
        # cart and front failed in the same traces as price: their errors are price's, passed up
        for caller in ("cart", "front"):
            s = next((x for x in d.suspects if x.service == caller), None)
            assert s is None or s.score < top.score / 2


def test_quiet_window_abstains():
    ds = _synthetic(None)
    d = rca.diagnose(ds, at=T0 + pd.Timedelta(minutes=100))
    assert d.abstain and d.top is None, d.frame(3)
    assert "below" in d.reason or "no service" in d.reason


def test_pattern_break_is_conditional_on_the_first_event():
    """Half as much traffic is no evidence; a step missing after the one that always precedes it is."""
    rows = []
    for i in range(400):
        ts = T0 + pd.Timedelta(seconds=10 * i)
        in_w = i >= 300
        if in_w and i % 2:  # the window: half the traffic, and every other request skips "saved"
            continue
        rows += [(f"t{i}", "db", "loaded", "log", "info", ts), (f"t{i}", "db", "checked", "log", "info", ts)]
        if not (in_w and i % 4 == 0):
            rows.append((f"t{i}", "db", "saved", "log", "info", ts))
    ev = pd.DataFrame(rows, columns=["trace_id", "service", "event", "kind", "level", "ts"]).assign(complete=True)
    start = T0 + pd.Timedelta(seconds=3000)
    out = rca.pattern_breaks(ev, start, start + pd.Timedelta("20min"), rca.RCAConfig())
    assert len(out) == 1 and out[0].service == "db" and "saved" in out[0].text and out[0].score > 5


@pytest.fixture(scope="module")
def demo_source():
    from holoops.fleet import load_fleet
    from holoops.sources.demo import DemoSource

    return DemoSource(load_fleet(), days=7, seed=7)


def _demo_at(src, at, after="10m"):
    on = pd.Timestamp(at)
    ds = src.read(Window((on - pd.Timedelta("6h")).to_pydatetime(), (on + pd.Timedelta("30m")).to_pydatetime()))
    return rca.diagnose(ds, at=on, config=rca.RCAConfig(after=after))


@pytest.mark.parametrize("kind", ["latency_regression", "error_burst", "gpu_memory_exhaustion",
                                  "dependency_outage", "disk_exhaustion"])
def test_demo_incidents_root_first(demo_source, kind):
    inc = next(i for i in demo_source.truth if i["kind"] == kind)
    d = _demo_at(demo_source, pd.Timestamp(inc["onset"]) - pd.Timedelta("1min"))
    assert d.ranking[0] == inc["service"] and not d.abstain, d.frame(3)


@pytest.mark.parametrize("at", ["2026-11-02T03:00:00Z", "2026-11-03T09:00:00Z"])
def test_demo_quiet_windows_abstain(demo_source, at):
    d = _demo_at(demo_source, at)
    assert d.abstain, d.frame(3)


# --- discover_exports on the Nezha layout ---------------------------------------------------------
def _nezha_folder(root: Path) -> Path:
    day = root / "2023-01-29"
    (day / "metric").mkdir(parents=True)
    (day / "trace").mkdir()
    (day / "log").mkdir()
    t = 1674981669
    hdr = "Time,TimeStamp,PodName,CpuUsage(m),CpuUsageRate(%),PodServerLatencyP99(s),PodWorkload(Ops),PodSuccessRate(%)\n"
    for pod in ("ts-a-service-5d8f9c7b6-xkq2z", "ts-b-service-6c7d8f9b5-qwzr8"):
        rows = "".join(f"{pd.Timestamp(t + 60 * i, unit='s'):%Y-%m-%d %H:%M:%S}.1 +0000 UTC m=+{i}.1,{t + 60 * i},"
                       f"{pod},3,0.6,0.02,1,100\n" for i in range(5))
        (day / "metric" / f"{pod}_metric.csv").write_text(hdr + rows)
    s0 = (t + 60) * 10**9
    (day / "trace" / "08_42_trace.csv").write_text(
        "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
        f"tr1,s1,root,ts-a-service-5d8f9c7b6-xkq2z,GET /a,{s0},{s0 + 9_000_000},9000\n"
        f"tr1,s2,s1,ts-b-service-6c7d8f9b5-qwzr8,GET /b,{s0 + 1_000_000},{s0 + 5_000_000},4000\n")
    (day / "2023-01-29-fault_list.json").write_text(json.dumps({"08": [
        {"inject_time": "2023-01-29 08:42:30", "inject_timestamp": "0", "inject_pod": "ts-b-service-6c7d8f9b5-qwzr8",
         "inject_type": "cpu_contention"}]}))
    return day


def test_discover_exports_builds_a_profile_from_the_data(tmp_path):
    from holoops.discover import discover_exports

    day = _nezha_folder(tmp_path)
    disc = discover_exports(day)
    fleet = disc.fleet
    assert set(fleet.services) == {"ts-a-service", "ts-b-service"}
    assert fleet.service("ts-a-service").depends_on == ["ts-b-service"]
    assert fleet.service("ts-b-service").depends_on == []
    assert fleet.service("ts-a-service").slo.availability == pytest.approx(0.99)
    assert disc.coverage.has("ts-a-service", "latency") and disc.coverage.has("ts-b-service", "cpu")
    path = disc.write(tmp_path / "fleet.yaml")
    from holoops.fleet import load_fleet

    assert set(load_fleet(path).services) == set(fleet.services)


def test_bench_reads_a_folder_in_the_nezha_layout(tmp_path, capsys):
    """The case runner finds the labels, discovers the fleet and scores every case (tiny synthetic day)."""
    import importlib.util

    _nezha_folder(tmp_path)
    spec = importlib.util.spec_from_file_location("bench_rca", ROOT / "benchmarks" / "bench_rca.py")
    mod = importlib.util.module_from_spec(spec)
    import sys

    sys.modules["bench_rca"] = mod
    spec.loader.exec_module(mod)
    assert mod.main(["--data", str(tmp_path), "--out", str(tmp_path / "rca.md")]) == 0
    out = (tmp_path / "rca.md").read_text()
    assert "| cpu_contention | 1 |" in out and "| all | 1 |" in out


# --- one real case through a runbook ------------------------------------------------------------
def _case_minutes(tgz: Path, dest: Path, hhmm: list[str], at: pd.Timestamp) -> Path:
    """The day's metric files cut to the 6 hours before ``at`` and 5 minutes after, and the trace and log
    files of the case's minutes, written from the archive into ``dest`` (nothing is kept)."""
    import io

    day = dest / "case"
    lo, hi = (at - pd.Timedelta("6h")).timestamp(), (at + pd.Timedelta("5min")).timestamp()
    with tarfile.open(tgz) as tf:
        for member in tf:
            if not member.isfile():
                continue
            name = Path(member.name)
            kind = name.parent.name
            keep = (kind == "metric" or name.name.endswith("fault_list.json")
                    or (kind in ("trace", "log") and name.name[:5] in hhmm))
            if not keep:
                continue
            target = day / (kind if kind in ("metric", "trace", "log") else "") / name.name
            target.parent.mkdir(parents=True, exist_ok=True)
            data = tf.extractfile(member).read()
            if kind == "metric":
                lines = data.decode().splitlines(keepends=True)
                head, rows = lines[0], lines[1:]
                keep_rows = [r for r in rows if r.split(",")[1].isdigit() and lo <= int(r.split(",")[1]) <= hi]
                data = (head + "".join(keep_rows)).encode()
            target.write_bytes(io.BytesIO(data).getvalue())
    return day


@pytest.mark.skipif(not (RCA_DEV / "nezha-trainticket-2023-01-29.tgz").exists(),
                    reason="the Nezha development split (/work/shared/data/rca-dev) is not on this machine")
def test_real_case_through_the_runbook(tmp_path):
    """CPU contention on ts-contacts-service at 13:31:54: a runbook over just that case's minutes (its trace
    and log files, six hours of metrics) names the service and the kind. (Faults seen only in logs and
    traces need more than the minute of log/trace baseline such a folder holds: see benchmarks/RESULTS.md.)"""
    from holoops.discover import discover_exports
    from holoops.run import run_notebook

    at = pd.Timestamp("2023-01-29T13:31:54Z")
    day = _case_minutes(RCA_DEV / "nezha-trainticket-2023-01-29.tgz", tmp_path, ["13_31", "13_32", "13_33"], at)
    fleet = discover_exports(day).write(tmp_path / "fleet.yaml")
    res = run_notebook(ROOT / "runbooks" / "latency_regression.ipynb",
                       {"source": "exports", "exports_path": str(day), "fleet": str(fleet),
                        "around": at.isoformat()},
                       out_dir=tmp_path / "out", html=False, record_history=False, timeout=600)
    assert res.ok, res.failure_text()
    top = res.records["top_hypothesis"]
    assert top is not None and top["service"] == "ts-contacts-service", res.records.get("hypotheses")
    assert top["kind"] == "cpu_contention"
    assert res.records["rca"]["ranking"][0] == "ts-contacts-service"
    # nothing was deployed: the dry-run remediation looks and scales, it never rolls back
    assert res.records["actions"] and not any("rollout undo" in a["command"] for a in res.records["actions"])


# --- the runbook hypotheses use the same ranking ---------------------------------------------------
@pytest.mark.parametrize("fault,kind", [("exception", "code_exception"), ("cpu", "cpu_contention")])
def test_hypotheses_follow_the_ranking_and_never_blame_a_deploy(fault, kind):
    from holoops.analyze import hypotheses as H
    from holoops.runbook import actions_for

    ds = _synthetic(fault)
    at = T0 + pd.Timedelta(minutes=100)
    d = rca.diagnose(ds, at=at)
    ranked = H.rank_window(ds.metrics, ds.fleet, at - pd.Timedelta("30min"), at + pd.Timedelta("10min"),
                           logs=ds.logs, spans=ds.spans, events=ds.events, diagnosis=d)
    top = ranked[0]
    assert (top.service, top.kind) == ("price", kind), [h.to_dict() for h in ranked[:3]]
    assert H.incident_found(ranked)
    assert any("suspect_rank" in t for t in top.supporting)
    # no deploy in the data: no deploy hypothesis reaches the threshold, and nothing rolls back
    deploys = [h for h in ranked if h.id in ("slow_deploy", "bad_deploy_errors")]
    assert all(h.score < 0.5 for h in deploys)
    for platform in ("kubernetes", "systemd", "docker"):
        cmds = [a.command for a in actions_for(top.remediation, top.service, ds.fleet, platform)]
        assert cmds and not any("rollout undo" in c for c in cmds), cmds


def test_hypotheses_without_evidence_name_nothing():
    from holoops.analyze import hypotheses as H

    ds = _synthetic(None)
    at = T0 + pd.Timedelta(minutes=100)
    d = rca.diagnose(ds, at=at)
    ranked = H.rank_window(ds.metrics, ds.fleet, at - pd.Timedelta("30min"), at + pd.Timedelta("10min"),
                           logs=ds.logs, spans=ds.spans, events=ds.events, diagnosis=d)
    assert not H.incident_found(ranked), ranked[0].to_dict()
