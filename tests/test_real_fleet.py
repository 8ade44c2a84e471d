"""End to end against the REAL HolographicMemory service (two replicas) under a real Prometheus,
node_exporter and Alertmanager (tests/realfleet.py). Skipped only when the shared service folder is absent;
any other failure (build, start-up, a mismatch) fails."""

from __future__ import annotations

import socket
import time
from collections import Counter

import pytest
from realfleet import HM_JOB, NODE_JOB, PROM_JOB, fleet_dir, fleet_dir_or_none, parse_access_log, real_fleet

RULES = """\
groups:
  - name: holoops-e2e
    rules:
      - record: job:holographic_store_requests:sum
        expr: sum by (job) (holographic_store_requests_total)
      - alert: HoloopsE2ESearchTraffic
        expr: sum(increase(holographic_search_requests_total[1m])) > 0
        labels: {severity: info}
        annotations: {summary: searches reached the fleet}
"""


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.xdist_group("prometheus")
def test_real_fleet_metrics_and_logs_match_the_traffic_truth(tmp_path):
    if fleet_dir_or_none() is None:
        pytest.skip(f"the real HolographicMemory service folder is absent: {fleet_dir()}")
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES, encoding="utf-8")
    with real_fleet(tmp_path / "fleet", replicas=2) as f:
        assert len(f.ports) == 2 and f.instances == [f"127.0.0.1:{p}" for p in f.ports]
        f.wait_for_scrapes(min_samples=2)  # every target scraped (counters at 0) before the traffic
        f.set_rule_files([rules])
        t0 = time.time()
        truth = f.traffic(20, rate=20, seed=1)

        # the access logs hold exactly what traffic.py saw (its status counts are the ground truth)
        per_replica = {inst: [r for r in parse_access_log(log) if r[1] not in ("/metrics", "/healthz")]
                       for inst, log in zip(f.instances, f.logs, strict=True)}
        lines = [r for rs in per_replica.values() for r in rs]
        assert all(code.isdigit() for code in truth["status"]), truth  # no connection errors
        assert truth["requests"] > 100, truth
        seen = dict(Counter(str(r[2]) for r in lines))
        assert (len(lines), seen) == (truth["requests"], truth["status"]), f"logs {seen} vs truth {truth}"
        assert sum(r[2] == 500 for r in lines) == truth["status"].get("500", 0) > 0
        assert all(rs for rs in per_replica.values()), "traffic reached every replica"

        # Prometheus scraped the counters: at t0 they were 0, now each equals its replica's log lines
        def counts(method: str, prefix: str) -> dict[str, float]:
            return {inst: float(sum(r[0] == method and r[1].startswith(prefix) for r in rs))
                    for inst, rs in per_replica.items()}

        for metric, method, prefix in [("holographic_store_requests_total", "POST", "/store"),
                                       ("holographic_retrieve_requests_total", "GET", "/download/"),
                                       ("holographic_search_requests_total", "POST", "/search")]:
            want = counts(method, prefix)
            sel = f'{metric}{{job="{HM_JOB}"}}'
            got = f.wait_for(sel, lambda res, want=want: {r["metric"]["instance"]: float(r["value"][1])
                                                            for r in res} == want,
                             timeout=30, what=f"{sel} == {want}")
            assert len(got) == 2
            before = {r["metric"]["instance"]: float(r["value"][1]) for r in f.query(sel, at=t0)}
            assert before == dict.fromkeys(f.instances, 0.0), (sel, before)
        stores = counts("POST", "/store")
        assert all(v > 0 for v in stores.values())
        total = f.wait_for('job:holographic_store_requests:sum{job="holographic-memory"}',
                           lambda res: bool(res) and float(res[0]["value"][1]) == sum(stores.values()),
                           timeout=30)
        assert float(total[0]["value"][1]) == sum(stores.values())

        # every target is up: both replicas, node_exporter (with its collectors) and Prometheus itself
        up = {(r["metric"]["job"], r["metric"]["instance"]): float(r["value"][1]) for r in f.query("up")}
        assert up == dict.fromkeys(f.targets, 1.0), up
        assert {(HM_JOB, i) for i in f.instances} | {(NODE_JOB, f.node_instance)} <= set(up)
        assert (PROM_JOB, f.prometheus_url.removeprefix("http://")) in up
        for m in ("node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_filesystem_size_bytes"):
            assert f.query(f'{m}{{job="{NODE_JOB}"}}'), m

        # the alert rule fires in Prometheus and reaches the Alertmanager
        f.wait_for('ALERTS{alertname="HoloopsE2ESearchTraffic",alertstate="firing"}', bool, timeout=30)
        deadline = time.monotonic() + 30
        while not any(a["labels"].get("alertname") == "HoloopsE2ESearchTraffic" for a in f.alertmanager_alerts()):
            assert time.monotonic() < deadline, f"no alert in the Alertmanager: {f.alerts()}{f.dead()}"
            time.sleep(0.5)
        logs = list(f.logs)

    # after exit: the access logs were kept under the workdir, nothing of ours is left running
    assert all(p.is_file() and p.parent == tmp_path / "fleet" / "hm" for p in f.logs), f.logs
    assert [p.name for p in f.logs] == [p.name for p in logs]
    for port in f.ports:
        assert not (logs[0].parent / f"replica-{port}.pid").exists()
    addrs = [*f.instances, f.node_instance, f.prometheus_url, f.alertmanager_url]
    for addr in addrs:
        host, port = addr.removeprefix("http://").rsplit(":", 1)
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect((host, int(port)))
