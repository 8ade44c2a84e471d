"""Alert catalog, SLO rules, Prometheus/Alertmanager outputs validated by promtool/amtool, bad input."""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import numpy as np
import pytest
import yaml

from holoops.errors import RuleError

TOOLS_MISSING = "promtool/amtool not installed (the CI script installs prometheus and prometheus-alertmanager)"


def test_catalog_templated_over_services_with_runbook_urls(monkeypatch):
    from holoops.analyze.alerts import build_rules

    monkeypatch.setenv("HOLOOPS_RUNBOOK_BASE", "https://jupyter.example.org/runbooks/")
    groups = build_rules(promtool=False)
    rules = [r for g in groups for r in g.rules]
    alerts = [r for r in rules if r.kind == "alert"]
    assert {r.severity for r in alerts} == {"critical", "warning", "info"}
    gpu = [r for r in alerts if r.name == "GPUMemoryPressure"]
    assert [r.service for r in gpu] == ["holographic-memory"]
    assert gpu[0].annotations["runbook_url"] == (
        "https://jupyter.example.org/runbooks/gpu_memory_pressure.ipynb?service={{ $labels.service }}"
        "&instance={{ $labels.instance }}")
    lat = next(r for r in alerts if r.name == "HighLatency" and r.service == "vault")
    assert "histogram_quantile(0.99" in lat.expr and "> 0.05" in lat.expr
    disk = {r.service for r in alerts if r.name == "DiskWillFillIn14d"}
    assert disk == {"vault", "telemetry", "holographic-memory"}
    assert all(r.annotations.get("summary") and r.annotations.get("description") for r in alerts)


def test_every_rule_is_per_service_with_a_static_service_label_and_exact_le():
    from holoops.analyze.alerts import build_rules

    groups = build_rules(promtool=False)
    rules = [r for g in groups for r in g.rules]
    assert all(r.labels.get("service") == r.service for r in rules if r.service)
    records = [r for r in rules if r.kind == "record"]
    assert records and all(r.labels == {"service": r.service} for r in records)
    assert not any("le=~" in r.expr for r in rules)
    burn = next(r for r in rules if r.name == "LatencyBudgetBurn" and r.service == "orchestrator")
    assert burn.annotations["slo_bucket"].startswith('le="0.5" (500 ms) stands for the 400 ms threshold')


def test_slo_rules_windows_and_burn_rates():
    from holoops.alerting.slo_rules import build_slo_groups
    from holoops.fleet import load_fleet

    fleet = load_fleet()
    groups = {g.name: g for g in build_slo_groups(fleet)}
    vault = groups["slo:vault"].rules
    records = [r.name for r in vault if r.kind == "record"]
    for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"slo:sli_error:ratio_rate{w}" in records and f"slo:sli_latency:ratio_rate{w}" in records
    page = next(r for r in vault if r.name == "ErrorBudgetBurn" and r.severity == "critical")
    assert "ratio_rate1h" in page.expr and "ratio_rate5m" in page.expr and "(14.4 * 0.0005)" in page.expr
    assert "ratio_rate6h" in page.expr and "(6 * 0.0005)" in page.expr
    ticket = next(r for r in vault if r.name == "ErrorBudgetBurn" and r.severity == "warning")
    assert "(3 * 0.0005)" in ticket.expr and "ratio_rate3d" in ticket.expr and "(1 * 0.0005)" in ticket.expr
    lat = next(r for r in vault if r.name == "LatencyBudgetBurn" and r.severity == "critical")
    assert "(14.4 * 0.01)" in lat.expr


def _tools():
    if not (shutil.which("promtool") and shutil.which("amtool")):
        pytest.skip(TOOLS_MISSING)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from holoops.analyze.alerts import build

    out = tmp_path_factory.mktemp("alerts")
    return build(out, run_tools=bool(shutil.which("promtool") and shutil.which("amtool")))


def test_build_writes_and_tools_pass(built):
    _tools()
    out = built.out
    assert (out / "alertmanager.yml").exists() and (out / "alertmanager-tests.sh").exists()
    rules = sorted((out / "rules").glob("*.yml"))
    tests = sorted((out / "rules" / "tests").glob("*.test.yml"))
    assert len(rules) >= 4 and len(tests) == len(rules)
    for name, (ok, msg) in built.checks.items():
        assert ok is True, f"{name}: {msg}"
    # re-run the tools on the written files, as an operator would
    res = subprocess.run(["promtool", "check", "rules", *map(str, rules)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(["promtool", "test", "rules", *[t.name for t in tests]], cwd=out / "rules" / "tests",
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    res = subprocess.run(["amtool", "check-config", str(out / "alertmanager.yml")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(["sh", str(out / "alertmanager-tests.sh")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_unit_tests_have_firing_and_quiet_case_per_rule(built):
    tests = [t for p in (built.out / "rules" / "tests").glob("*.yml") for t in yaml.safe_load(p.read_text())["tests"]]
    rules = [r for p in (built.out / "rules").glob("*.yml")
             for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"] if "alert" in r]
    assert len(tests) == len(rules)
    for t in tests:
        quiet, firing = t["alert_rule_test"]
        assert firing["exp_alerts"], t["name"]
        assert not [a for a in quiet["exp_alerts"] if a["exp_labels"]["service"] in t["name"]]


def test_alertmanager_config_secrets_by_file_routes_inhibition(built):
    cfg = yaml.safe_load((built.out / "alertmanager.yml").read_text())
    text = (built.out / "alertmanager.yml").read_text()
    for inline in ("api_url:", "routing_key:", "service_key:", "auth_password:", "smtp_auth_password:"):
        assert inline not in text
    kinds = {k for r in cfg["receivers"] for k in r if k.endswith("_configs")}
    assert kinds == {"email_configs", "slack_configs", "pagerduty_configs", "webhook_configs"}
    assert all("routing_key_file" in c for r in cfg["receivers"] for c in r.get("pagerduty_configs", []))
    assert all("api_url_file" in c for r in cfg["receivers"] for c in r.get("slack_configs", []))
    assert all(rule["equal"] for rule in cfg["inhibit_rules"])
    assert any('alertname="ServiceDown"' in rule["source_matchers"] for rule in cfg["inhibit_rules"])
    assert cfg["time_intervals"] and any(r.get("mute_time_intervals") for r in cfg["route"]["routes"])
    cases = yaml.safe_load((built.out / "alertmanager-tests.yml").read_text())
    crit = next(c for c in cases if c["labels"].get("service") == "holographic-memory"
                and c["labels"]["severity"] == "critical")
    assert crit["receivers"] == ["pagerduty-gpu"]


BAD = {
    "invalid PromQL": {"alert": "BadExpr", "expr": "sum(rate(http_requests_total[5m]) >", "severity": "critical"},
    "unknown severity": {"alert": "BadSeverity", "expr": "up == 0", "severity": "sev1"},
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rule_raises_rule_error_naming_rule_and_writes_nothing(tmp_path, case):
    from holoops.analyze.alerts import build

    catalog = tmp_path / "bad.yaml"
    good = {"alert": "Fine", "expr": "up == 0", "severity": "info", "runbook": "error_burst"}
    catalog.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [
        good, {**BAD[case], "runbook": "error_burst"}]}]}))
    out = tmp_path / "out"
    with pytest.raises(RuleError, match=BAD[case]["alert"]):
        build(out, catalog=[catalog], run_tools=False)
    assert not out.exists()


def test_duplicate_rule_name_and_promtool_rejection(tmp_path):
    from holoops.analyze.alerts import build

    catalog = tmp_path / "dup.yaml"
    catalog.write_text(textwrap.dedent("""\
        groups:
          - name: a
            rules:
              - {alert: Twice, expr: 'up == 0', severity: warning, runbook: error_burst}
          - name: b
            rules:
              - {alert: Twice, expr: 'up == 1', severity: warning, runbook: error_burst}
        """))
    out = tmp_path / "out"
    with pytest.raises(RuleError, match="Twice.*duplicate"):
        build(out, catalog=[catalog], run_tools=False)
    assert not out.exists()
    # an expression outside the evaluable subset is refused by name too
    catalog.write_text("groups:\n  - name: a\n    rules:\n      - {alert: Sub, expr: 'max_over_time(rate(up[5m])[1h:])', "
                       "severity: info, runbook: error_burst}\n")
    with pytest.raises(RuleError, match="Sub"):
        build(out, catalog=[catalog], run_tools=False)
    if shutil.which("promtool"):
        from holoops.alerting.catalog import Rule, RuleGroup, promtool_check

        with pytest.raises(RuleError, match="Broken"):
            promtool_check([RuleGroup("g", [Rule("Broken", "up ==", labels={"severity": "info"})])], "promtool")


def test_promql_eval_rate_reset_and_histogram():
    from holoops.alerting.promql_eval import Evaluator, store_from_series

    store = store_from_series([
        ('c{job="a"}', "0+60x10 0+60x10"),                       # 1/s, reset at minute 11
        ('h_bucket{le="0.1"}', "0+50x20"), ('h_bucket{le="1"}', "0+100x20"), ('h_bucket{le="+Inf"}', "0+100x20"),
    ])
    ev = Evaluator(store, np.arange(0, 21) * 60.0)
    rate = ev.eval("rate(c[5m])").values[0]
    assert np.allclose(rate[5:11], 1.0) and np.allclose(rate[16:], 1.0) and np.isnan(rate[0])
    assert np.allclose(rate[11:16], 0.8)    # the increase into the reset sample is lost, as in Prometheus
    assert ev.eval("resets(c[5m])").values[0][12] == 1
    q = ev.eval("histogram_quantile(0.75, rate(h_bucket[5m]))").values[0]
    assert np.isclose(q[10], 0.1 + 0.9 * 0.5)
    absent = ev.eval('absent(c{job="zzz"})')
    assert absent.labels == [{"job": "zzz"}] and np.all(absent.values == 1)
    assert np.isnan(ev.eval('absent(c{job="a"})').values[0][5])


def test_cli_build_no_tools(tmp_path, capsys):
    from holoops.cli import main

    assert main(["alerts", "build", "--out", str(tmp_path / "o"), "--no-tools"]) == 0
    assert "skipped" in capsys.readouterr().out
    assert (tmp_path / "o" / "rules" / "slo-vault.yml").exists()
