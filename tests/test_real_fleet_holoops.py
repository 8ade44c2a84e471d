"""holoops on the REAL HolographicMemory service: discover, diagnose, judge health, alert, on what it exports.

Two replicas of the real API (``../shared/fleet/holographic-memory``), Debian's node_exporter, a real
Prometheus scraping them all and itself, and Alertmanager (tests/realfleet.py). The service exports per-route
request counters without status codes and no latency; its status codes are only in uvicorn's access logs,
which holoops reads directly and which ``holoops logs exporter`` serves to Prometheus. ``traffic.py`` drives
the load and prints the status counts it saw: the ground truth. Skipped only when the shared folder is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from promserver import free_port
from realfleet import fleet_dir_or_none, parse_access_log, real_fleet

pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.xdist_group("prometheus")]
ROOT = Path(__file__).resolve().parents[1]
HOLOOPS = [sys.executable, "-m", "holoops.cli"]
EXPORTER_JOB = "holoops-access-log-exporter"
SERVICE = "holographic-memory"
#: HighErrorRate holds for 2m over a 5m rate window: this much traffic lets it fire while traffic runs
TRAFFIC_S = 165


def _cli(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    p = subprocess.run([*HOLOOPS, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and p.returncode != 0:
        raise AssertionError(f"holoops {' '.join(args)} -> {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def _add(a: dict, b: dict) -> dict:
    status = dict(a["status"])
    for k, v in b["status"].items():
        status[k] = status.get(k, 0) + v
    return {"requests": a["requests"] + b["requests"], "status": status}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    if fleet_dir_or_none() is None:
        pytest.skip("../shared/fleet/holographic-memory is not here (set HOLOOPS_HM_FLEET)")
    work = tmp_path_factory.mktemp("real")
    with real_fleet(work / "fleet") as rf:
        rf.wait_for_scrapes()
        port = free_port()
        specs = [f"--log={SERVICE}@{inst}={log}" for inst, log in zip(rf.instances, rf.logs, strict=True)]
        exporter = subprocess.Popen([*HOLOOPS, "logs", "exporter", *specs, "--listen", f"127.0.0.1:{port}",
                                     "--from-start"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            rf.add_scrape_job(EXPORTER_JOB, [f"127.0.0.1:{port}"])
            warm = rf.traffic(8, seed=3)  # the series discover looks for exist once requests were served
            rf.wait_for(f'holoops_access_log_requests_total{{service="{SERVICE}",code="500"}}',
                        lambda r: len(r) > 0, what="the exporter's 5xx series")
            logs = [f"{SERVICE}={p}" for p in rf.logs]
            fleet = work / "fleet.yaml"
            disc = _cli("fleet", "discover", "--prometheus", rf.prometheus_url, *[f"--logs={x}" for x in logs],
                        "--out", str(fleet), "--json")
            rules = work / "rules"
            build = _cli("alerts", "build", "--fleet", str(fleet), "--out", str(rules))
            rf.set_rule_files(sorted((rules / "rules").glob("*.yml")))
            result: dict = {}
            runner = threading.Thread(target=lambda: result.update(rf.traffic(TRAFFIC_S, seed=7)))
            t0 = time.time()
            runner.start()
            fired_at = None
            while runner.is_alive():
                firing = rf.query(f'ALERTS{{alertname="HighErrorRate",alertstate="firing",service="{SERVICE}"}}')
                if firing and fired_at is None:
                    fired_at = time.time() - t0
                time.sleep(2)
            runner.join()
            truth = _add(warm, result)
            yield SimpleNamespace(rf=rf, fleet=fleet, logs=logs, discovery=json.loads(disc.stdout),
                                  discover_text=disc.stdout, build=build.stdout, rules=rules, truth=truth,
                                  fired_at=fired_at, work=work, alerts=rf.alertmanager_alerts())
        finally:
            exporter.terminate()
            exporter.wait(10)


def test_discover_finds_replicas_counters_process_node_and_log_signals(live):
    import yaml

    prof = yaml.safe_load(live.fleet.read_text())
    svc = prof["services"][SERVICE]
    assert list(prof["services"]) == [SERVICE]  # node_exporter, Prometheus and the exporter are not services
    assert svc["replicas"] == 2 and svc["match"] == {"job": SERVICE} and svc["health"] == "/healthz"
    cov = live.discovery["coverage"][SERVICE]
    notes = " ".join(live.discovery["notes"])
    # the per-route counters, the process collector, node_exporter on the same host
    assert "holographic_" in (cov["requests"] or "") + notes and "_requests_total" in (cov["requests"] or "") + notes
    assert cov["cpu"].startswith("process_cpu_seconds_total") and cov["memory"].startswith("process_resident")
    assert cov["disk"].startswith("node_filesystem_avail_bytes") and "same host" in cov["disk"]
    assert cov["up"].startswith("up")
    # status codes: from the access-log exporter's series (and the logs themselves); no latency anywhere
    assert "holoops_access_log_requests_total" in cov["errors"] or "access log" in cov["errors"]
    assert cov["latency"] is None, "uvicorn's default access log has no durations: latency must be missing"
    assert svc["signals"]["latency"] == "missing" and svc["signals"]["gpu_util"] == "missing"
    assert sorted(map(str, svc["logs"])) == sorted(str(p) for p in live.rf.logs)


def test_the_fleet_check_and_every_rule_match_real_series(live):
    check = _cli("fleet", "check", str(live.fleet), "--prometheus", live.rf.prometheus_url)
    assert "every selector of the profile matches" in check.stdout
    p = _cli("alerts", "check", "--prometheus", live.rf.prometheus_url, "--rules", str(live.rules), check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "every selector matches at least one series" in p.stdout
    loaded = live.rf.api("rules")["groups"]
    assert sum(len(g["rules"]) for g in loaded) >= 5 and all(r["health"] == "ok" for g in loaded for r in g["rules"])


def test_error_ratio_alert_fires_during_traffic(live):
    assert live.fired_at is not None, f"HighErrorRate never fired during {TRAFFIC_S}s of traffic; build:\n{live.build}"
    assert live.fired_at < TRAFFIC_S
    assert any(a["labels"].get("alertname") == "HighErrorRate" and a["labels"].get("service") == SERVICE
               for a in live.alerts)


def test_health_says_up_but_failing(live):
    p = _cli("health", "--fleet", str(live.fleet), "--prometheus", live.rf.prometheus_url,
             *[f"--logs={x}" for x in live.logs], "--window", "30m", "--json", check=False)
    assert p.returncode == 1, p.stdout + p.stderr  # not healthy
    doc = json.loads(p.stdout)
    assert all(r["ok"] for r in doc["probes"]) and doc["probes"]  # /healthz answers...
    (row,) = [r for r in doc["services"] if r["service"] == SERVICE]
    assert row["status"] == "failing" and row["up"] == "2/2"  # ...but the service is failing
    truth = live.truth["status"].get("500", 0) / live.truth["requests"]
    assert abs(row["5xx ratio"] - truth) < 0.05, (row, live.truth)
    human = _cli("health", "--fleet", str(live.fleet), "--prometheus", live.rf.prometheus_url,
                 *[f"--logs={x}" for x in live.logs], check=False).stdout
    assert "UP BUT FAILING" in human


def _run(live, nb: Path, engine: str, out: Path):
    from holoops.run import run_notebook

    return run_notebook(nb, {"source": "prometheus", "prometheus_url": live.rf.prometheus_url,
                             "fleet": str(live.fleet), "logs": live.logs, "engine": engine, "start": "-20m",
                             "end": "now"}, out_dir=out, record_history=False, timeout=600)


def test_diagnostics_states_each_routes_error_ratio(live, tmp_path):
    res = _run(live, ROOT / "notebooks" / "diagnostics.ipynb", "polars", tmp_path)
    assert res.ok, res.failure_text()
    routes = {r["route"]: r for r in res.records["routes"]}
    # every request traffic.py sent is counted once (probes and scrapes are not traffic)
    sent = sum(r["requests"] for r in routes.values())
    assert sent == live.truth["requests"], (routes, live.truth)
    ratio = sum(r["requests"] * r["error_ratio"] for r in routes.values()) / sent
    truth = live.truth["status"].get("500", 0) / live.truth["requests"]
    assert abs(ratio - truth) <= 0.02, (ratio, truth)
    # the service's known behaviour (its README): /search and /stats answer 500, /store 200, unknown routes 404
    assert routes["/search"]["error_ratio"] >= 0.98 and routes["/stats"]["error_ratio"] >= 0.98
    assert routes["/store"]["error_ratio"] <= 0.02 and routes["/no-such-route"]["error_ratio"] == 0
    findings = " ".join(f["title"] for f in res.records["findings"])
    assert "/search" in findings and "/stats" in findings
    # the access logs, read line by line here, agree route by route
    lines = [x for p in live.rf.logs for x in parse_access_log(p) if x[1] not in ("/metrics", "/healthz")]
    for route in ("/search", "/stats", "/store"):
        mine = [s for _, path, s in lines if path == route]
        assert routes[route]["requests"] == len(mine)
        assert abs(routes[route]["error_ratio"] - sum(s >= 500 for s in mine) / len(mine)) <= 0.02
    html = Path(res.html).read_text(encoding="utf-8") if res.html else ""
    assert "no latency signal" in html


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_every_notebook_and_runbook_runs_on_the_real_fleet(live, tmp_path, engine):
    from inprocess import notebooks

    failed = []
    for nb in notebooks():
        res = _run(live, nb, engine, tmp_path / nb.stem)
        if not res.ok:
            failed.append(res.failure_text())
    assert not failed, "\n\n".join(failed)
