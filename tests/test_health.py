"""Health probes against local HTTP servers, scrape targets, reconciliation, and `holoops health`."""

from __future__ import annotations

import json
import time

import pytest
from faultserver import FaultServer, free_port

from holoops.fleet import load_fleet
from holoops.sources.health import probe_fleet, probes_frame, reconcile_targets, scrape_targets
from holoops.sources.prometheus import PrometheusSource


def _target(job: str, instance: str, health: str = "up", error: str = "", **labels: str) -> dict:
    return {"discoveredLabels": {"job": job}, "labels": {"job": job, "instance": instance, **labels},
            "scrapePool": job, "scrapeUrl": f"http://{instance}/metrics", "globalUrl": f"http://{instance}/metrics",
            "lastError": error, "lastScrape": "2026-11-26T09:00:00.123456789Z", "lastScrapeDuration": 0.01,
            "health": health, "scrapeInterval": "15s", "scrapeTimeout": "10s"}


@pytest.fixture
def servers():
    healthy, failing, slow = FaultServer(), FaultServer(default=("status", 500)), FaultServer(default=("slow", 5))
    for s in (healthy, failing, slow):
        s.start()
    yield {"healthy": healthy, "failing": failing, "slow": slow, "closed": f"http://127.0.0.1:{free_port()}"}
    for s in (healthy, failing, slow):
        s.stop()


@pytest.mark.timeout(30)
def test_probe_fleet_mixed(servers):
    fleet = load_fleet()
    base = {name: servers["healthy"].url for name in ("orchestrator", "router", "vault", "telemetry")}
    base.update({"math-core": servers["failing"].url, "dashboard": servers["slow"].url,
                 "holographic-memory": servers["closed"]})
    t0 = time.monotonic()
    results = probe_fleet(fleet, base, timeout=0.5, retries=1)
    took = time.monotonic() - t0
    assert took < 2 * (0.5 + 0.2) + 1.5, took  # parallel and bounded despite the slow one
    by = {r.service: r for r in results}
    assert list(by) == list(fleet.services)
    for name in ("orchestrator", "router", "vault", "telemetry"):
        r = by[name]
        assert r.ok and r.status == 200 and r.error is None and r.latency_ms is not None and r.attempts == 1
        assert r.url == f"{servers['healthy'].url}/healthz"
    assert not by["math-core"].ok and by["math-core"].status == 500 and by["math-core"].attempts == 2
    assert by["math-core"].error == "HTTP 500"
    assert not by["dashboard"].ok and "timeout" in by["dashboard"].error and by["dashboard"].status is None
    assert not by["holographic-memory"].ok and by["holographic-memory"].error == "Connection refused"
    assert {r["path"] for r in servers["healthy"].requests} == {"/healthz"}
    df = probes_frame(results)
    assert list(df.columns) == ["service", "url", "ok", "status", "latency_ms", "error", "attempts"]
    assert int(df["ok"].sum()) == 4


@pytest.mark.timeout(30)
def test_probe_defaults_and_replicas(servers):
    fleet = load_fleet()
    port = servers["healthy"].port
    # default base URL is scheme://host:PORT from the profile: point one service's port at our server
    from holoops.sources.health import _base_urls

    urls = _base_urls(fleet, None, "127.0.0.1", "http")
    assert urls["vault"] == ["http://127.0.0.1:8002"] and urls["orchestrator"] == ["http://127.0.0.1:8080"]
    res = probe_fleet(fleet, {"vault": [servers["healthy"].url, f"http://127.0.0.1:{port}/"]},
                      services=["vault"], timeout=0.5, retries=0)
    assert [r.ok for r in res] == [True, True] and all(r.url.endswith(f":{port}/healthz") for r in res)


def test_reconcile_targets():
    fleet = load_fleet()
    targets = [_target("orchestrator", "orch-0:8080"), _target("router", "router-0:8001"),
               _target("router", "router-1:8001", health="down", error="connection refused"),
               _target("billing-api", "billing-0:9000"), _target("kubelet", "node-1:10250"),
               _target("node", "node-1:9100"), _target("prometheus", "localhost:9090"),
               _target("scrape-all", "vault-0:8002", service="vault")]
    with FaultServer(targets=targets) as fs:
        df = scrape_targets(PrometheusSource(fs.url, auth=False, timeout=2, retries=0))
    assert len(df) == 8 and str(df["last_scrape"].dtype) == "datetime64[ns, UTC]"
    assert df.loc[df["instance"] == "vault-0:8002", "service"].item() == "vault"
    rec = reconcile_targets(fleet, df)
    assert rec.missing_targets == ["telemetry", "math-core", "dashboard", "holographic-memory"]
    # a service the profile lacks is reported; exporters (kubelet, node_exporter) and Prometheus are not services
    assert rec.unknown_targets == ["billing-api"]
    assert rec.down_targets == ["router"]
    assert not rec.ok and any("billing-api" in line for line in rec.lines())
    all_up = [_target(n, f"{n}-0:{s.port}") for n, s in fleet.services.items()]
    assert reconcile_targets(fleet, scrape_targets({"activeTargets": all_up})).ok


@pytest.mark.timeout(60)
def test_cli_health(servers, capsys, monkeypatch):
    from holoops.cli import main

    fleet = load_fleet()
    ok_args = [a for n in fleet.services for a in ("--base-url", f"{n}={servers['healthy'].url}")]
    assert main(["health", *ok_args, "--timeout", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "7/7 health endpoints ok" in out
    bad = [*ok_args, "--base-url", f"math-core={servers['failing'].url}", "--service", "math-core",
           "--timeout", "0.5", "--retries", "0", "--json"]
    assert main(["health", *bad]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["ok"] and any(p["status"] == 500 for p in doc["probes"])
    targets = [_target(n, f"{n}-0:{s.port}") for n, s in fleet.services.items()]
    token = "cli-token-" + "Q" * 20
    monkeypatch.setenv("HOLOOPS_PROM_TOKEN", token)
    with FaultServer(targets=targets) as fs:
        assert main(["health", *ok_args, "--timeout", "0.5", "--prometheus", fs.url]) == 0
        assert fs.requests[-1]["headers"]["Authorization"] == f"Bearer {token}"
    out = capsys.readouterr().out
    assert "all profile services scraped and up" in out and token not in out
    # an unreachable Prometheus is reported, not a hang or a traceback
    assert main(["health", *ok_args, "--timeout", "0.3", "--prometheus", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "targets:" in capsys.readouterr().out
    assert main(["health", "--base-url", "nope=http://x"]) == 2
    assert main(["health", "--base-url", "vault"]) == 2
