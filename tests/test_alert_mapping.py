"""Alert rules built for what each service exports (holoops/alerting/mapping.py): mapped metric and label
names, the service's matchers, units, exact ``le`` buckets, rules left out with a reason, escaping of
service names, and ``holoops alerts check`` against a real Prometheus."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from holoops.errors import RuleError

OTEL_BUCKETS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000, "+Inf"]
GENERIC = r"^(?:[a-zA-Z0-9]+_)*?(?P<route>[a-zA-Z0-9]+)_requests_total$"


def _tools() -> bool:
    return bool(shutil.which("promtool") and shutil.which("amtool"))


def _service(**extra):
    svc = {"port": 8000, "health": "/healthz", "replicas": 2,
           "slo": {"availability": 0.999, "latency": {"quantile": 0.99, "threshold_ms": 300}},
           "resources": {"cpu": {"request": 0.5, "limit": 2}, "memory": {"request": "256Mi", "limit": "1Gi"}}}
    svc.update(extra)
    return svc


def _fleet(services: dict):
    from holoops.fleet import parse_fleet

    doc = {"name": "t", "namespace": "t", "services": copy.deepcopy(services)}
    return parse_fleet(doc, "test profile")


def _otel_api(threshold_ms: float = 300, buckets=OTEL_BUCKETS):
    latency = {"name": "http_server_duration_milliseconds", "kind": "histogram", "scale": 0.001,
               "labels": {"route": ["http_route"]}, "convention": "OpenTelemetry HTTP semconv (pre-1.23)"}
    if buckets is not None:
        latency["buckets"] = buckets
    return _service(
        match={"job": "api"},
        slo={"availability": 0.999, "latency": {"quantile": 0.99, "threshold_ms": threshold_ms}},
        signals={"requests": {"name": "http_server_duration_milliseconds_count", "kind": "counter",
                              "labels": {"route": ["http_route"], "code": ["http_status_code"]}},
                 "latency": latency})


def _rules(groups):
    return [r for g in groups for r in g.rules]


# --- mapped names, matchers, units and buckets ---------------------------------------------------
def test_otel_ms_histogram_le_in_ms_and_the_threshold_bucket(tmp_path):
    from holoops.analyze.alerts import build, build_rules

    fleet = _fleet({"api": _otel_api(300)})
    groups = build_rules(fleet, promtool=False)
    rules = _rules(groups)
    # every selector carries the service's matchers, not a service label; every rule a static service label
    assert all('service="' not in r.expr.replace('{service="api"}', "") for r in rules if r.kind == "alert"
               and not r.name.endswith("BudgetBurn"))
    assert all(r.labels.get("service") == "api" for r in rules)
    hl = next(r for r in rules if r.name == "HighLatency")
    assert 'http_server_duration_milliseconds_bucket{job="api"}' in hl.expr and hl.expr.endswith("> 300.0")
    her = next(r for r in rules if r.name == "HighErrorRate")
    assert 'http_server_duration_milliseconds_count{job="api",http_status_code=~"5.."}' in her.expr
    sli = next(r for r in rules if r.name == "slo:sli_latency:ratio_rate5m")
    # 300 ms is no bound: the smallest bound above it, 500 (ms), stands for it; matched exactly
    assert 'http_server_duration_milliseconds_bucket{job="api",le="500"}' in sli.expr
    assert "le=~" not in sli.expr
    assert 'http_server_duration_milliseconds_count{job="api"}' in sli.expr
    burn = next(r for r in rules if r.name == "LatencyBudgetBurn")
    assert 'le="500"' in burn.annotations["slo_bucket"] and "300 ms" in burn.annotations["slo_bucket"]
    assert 'slo:sli_latency:ratio_rate1h{service="api"}' in burn.expr
    line = groups.notes.buckets["api"]
    assert 'le="500"' in line and "no bound at 300 ms" in line and "pinned" in line
    # a threshold that is a bound reads that bound
    exact = _rules(build_rules(_fleet({"api": _otel_api(250)}), promtool=False))
    assert 'le="250"' in next(r for r in exact if r.name == "slo:sli_latency:ratio_rate1h").expr
    # the generated unit tests feed ms buckets; promtool agrees with holoops' evaluator on them
    res = build(tmp_path / "out", fleet=fleet, run_tools=_tools())
    assert res.ok, str(res)
    test_text = "\n".join(p.read_text() for p in (tmp_path / "out" / "rules" / "tests").glob("*.yml"))
    assert 'http_server_duration_milliseconds_bucket{job="api",instance="api-0",le="500"}' in test_text
    assert 'le="500"' in str(res) and "smallest le bound >= the threshold" in str(res)


def test_unpinned_ms_buckets_are_a_stated_guess_and_threshold_above_all_bounds_is_not_built():
    from holoops.analyze.alerts import build_rules

    groups = build_rules(_fleet({"api": _otel_api(300, buckets=None)}), promtool=False)
    sli = next(r for r in _rules(groups) if r.name == "slo:sli_latency:ratio_rate5m")
    assert 'le="500"' in sli.expr            # signals.yaml's 0.5 s, in ms
    assert "a guess" in groups.notes.buckets["api"]
    high = build_rules(_fleet({"api": _otel_api(20000)}), promtool=False)
    names = {r.name for r in _rules(high)}
    assert "HighLatency" not in names and "LatencyBudgetBurn" not in names
    assert "HighErrorRate" in names
    text = "\n".join(high.notes.lines())
    assert "api: the latency threshold (20000.0 ms)" in text and "HighLatency" in text
    assert "every finite bucket bound is below the latency threshold" in text


def test_bundled_profile_keeps_canonical_selectors_with_exact_le():
    from holoops.analyze.alerts import build_rules

    groups = build_rules(promtool=False)
    rules = _rules(groups)
    assert not groups.notes.skipped
    assert all("le=~" not in r.expr for r in rules)
    vault = next(r for r in rules if r.name == "slo:sli_latency:ratio_rate1h" and r.service == "vault")
    assert 'http_request_duration_seconds_bucket{service="vault",le="0.05"}' in vault.expr
    dash = next(r for r in rules if r.name == "slo:sli_latency:ratio_rate1h" and r.service == "dashboard")
    assert 'le="1.0"' in dash.expr               # as the demo (Python client) writes the bound
    her = next(r for r in rules if r.name == "HighErrorRate" and r.service == "router")
    assert 'http_requests_total{service="router",code=~"5.."}' in her.expr


# --- generic per-route counters without status codes ---------------------------------------------
def _generic_fleet():
    """The bundled profile, with holographic-memory as a real deployment exports it: selected by its
    Prometheus job, requests from its per-route counters (no status code)."""
    from holoops.fleet import DEFAULT_PROFILE, parse_fleet

    doc = yaml.safe_load(DEFAULT_PROFILE.read_text())
    hm = doc["services"]["holographic-memory"]
    hm["match"] = {"job": "holographic-memory"}
    hm["signals"] = {"requests": {"regex": GENERIC, "kind": "counter", "route_from_name": True,
                                  "convention": "generic per-route counter without status code"}}
    return parse_fleet(doc, "generic")


def test_generic_counters_build_no_error_ratio_rule_and_say_why(tmp_path, caplog):
    import logging

    from holoops.analyze.alerts import build

    fleet = _generic_fleet()
    with caplog.at_level(logging.INFO, logger="holoops.alerting"):
        res = build(tmp_path / "out", fleet=fleet, run_tools=_tools())
    assert res.ok, str(res)
    text = str(res)
    want = ("holographic-memory: requests carry no status code; error-ratio alerts not built: HighErrorRate, "
            "ErrorBudgetBurn, slo:sli_error:* (export them, or run holoops's access-log exporter)")
    assert want in text
    assert want in caplog.text
    rules = yaml.safe_load((tmp_path / "out" / "rules" / "errors-latency.yml").read_text())["groups"][0]["rules"]
    her = {r["labels"]["service"] for r in rules if r["alert"] == "HighErrorRate"}
    assert "holographic-memory" not in her and "vault" in her
    slo = yaml.safe_load((tmp_path / "out" / "rules" / "slo-holographic-memory.yml").read_text())
    names = {r.get("alert") or r.get("record") for r in slo["groups"][0]["rules"]}
    assert not any("error" in n or "Error" in n for n in names) and "LatencyBudgetBurn" in names
    # node_exporter disk is per host and does not carry job="holographic-memory": not built, said so
    assert "holographic-memory: disk_avail comes from node_filesystem_avail_bytes" in text
    # the rest selects by the service's matchers
    health = (tmp_path / "out" / "rules" / "service-health.yml").read_text()
    assert 'up{job="holographic-memory"}' in health


def test_generic_counters_serve_traffic_rules(tmp_path):
    """A catalog rule reading requests without a status code renders the service's counters by name
    (profile ``counters``) and the evaluator sees the traffic."""
    import pandas as pd

    from holoops.alerting.backtest import evaluate_groups
    from holoops.alerting.promql_eval import Store
    from holoops.analyze.alerts import build_rules

    catalog = tmp_path / "traffic.yaml"
    catalog.write_text(yaml.safe_dump({"groups": [{"name": "traffic", "rules": [
        {"alert": "NoTraffic", "for_each": "service", "expr": "sum by (service) (rate([[ s.requests() ]][5m])) == 0",
         "severity": "warning", "runbook": "dependency_outage", "summary": "no traffic"},
        {"alert": "Errors", "for_each": "service",
         "expr": '[[ s.requests(regex={"code": "5.."}) ]] > 0', "severity": "info", "runbook": "error_burst"}]}]}))
    groups = build_rules(_generic_fleet(), catalog=[catalog], promtool=False)
    rules = {(r.name, r.service): r for r in _rules(groups)}
    sel = rules[("NoTraffic", "holographic-memory")].expr
    assert ('{__name__=~"holographic_store_requests_total|holographic_retrieve_requests_total|'
            'holographic_search_requests_total",job="holographic-memory"}') in sel
    assert ("Errors", "holographic-memory") not in rules and ("Errors", "vault") in rules
    ts = pd.date_range("2026-11-02", periods=30, freq="1min", tz="UTC")
    frames = [pd.DataFrame({"ts": ts, "metric": m, "service": None, "instance": "hm-0", "job": "holographic-memory",
                            "value": np.arange(30) * 60.0 * k}) for k, m in enumerate(
        ["holographic_store_requests_total", "holographic_search_requests_total"], start=1)]
    metrics = pd.concat(frames, ignore_index=True)
    steps = np.array([ts[-1].timestamp()])
    out = evaluate_groups([type(groups[0])("t", [rules[("NoTraffic", "holographic-memory")]])], Store(metrics), steps)
    assert out and not out[0].firing.any()     # 3 req/s summed over the two counters: traffic seen
    from holoops.alerting.promql_eval import Evaluator, parse

    got = Evaluator(Store(metrics), steps).eval(parse(sel.split(" == ")[0]))
    assert np.isclose(got.values[0][0], 3.0)


# --- escaping ----------------------------------------------------------------------------------
def test_regex_characters_in_a_name_route_only_that_service():
    from holoops.alerting.alertmanager import build_config, load_routing, route_cases
    from holoops.alerting.backtest import parse_routes, route_alert
    from holoops.analyze.alerts import build_rules

    fleet = _fleet({"hm.v2|x": _service(), "x": _service()})
    routing = load_routing()
    routing["teams"] = {"gpu": ["hm.v2|x"], "platform": ["x"]}
    cfg = build_config(fleet, routing)
    text = yaml.safe_dump(cfg)
    assert "=~" not in "".join(m for r in cfg["route"]["routes"] for c in r.get("routes", [])
                                for m in c["matchers"])
    assert 'service="hm.v2|x"' in text
    root = parse_routes(cfg)
    rx = [r.receiver for r in route_alert(root, {"service": "x", "severity": "critical"})]
    rh = [r.receiver for r in route_alert(root, {"service": "hm.v2|x", "severity": "critical"})]
    assert rx == ["pagerduty"] and rh == ["pagerduty-gpu"]
    assert dict((c[0]["service"], c[1]) for c in route_cases(cfg, fleet) if c[0].get("severity") == "critical") == {
        "hm.v2|x": ["pagerduty-gpu"], "x": ["pagerduty"]}
    rules = _rules(build_rules(fleet, promtool=False))
    down = {r.service: r.expr for r in rules if r.name == "ServiceDown"}
    assert down["hm.v2|x"] == 'max by (service) (up{service="hm.v2|x"}) == 0'


def test_quote_and_backslash_in_a_name_build_and_validate(tmp_path):
    from holoops.alerting.promql_eval import parse
    from holoops.analyze.alerts import build

    name = 'we"ird\\name'
    fleet = _fleet({name: _service(resources={"cpu": {"request": 0.5, "limit": 2},
                                              "memory": {"request": "256Mi", "limit": "1Gi"},
                                              "disk": {"mount": "/var/lib/x", "size": "10Gi"}}),
                    "x": _service()})
    res = build(tmp_path / "out", fleet=fleet, run_tools=_tools())
    assert res.ok, str(res)
    if _tools():
        assert all(ok for ok, _ in res.checks.values()), str(res)
    health = yaml.safe_load((tmp_path / "out" / "rules" / "service-health.yml").read_text())["groups"][0]["rules"]
    down = next(r for r in health if r["alert"] == "ServiceDown" and r["labels"]["service"] == name)
    assert down["expr"] == 'max by (service) (up{service="we\\"ird\\\\name"}) == 0'
    sel = parse(down["expr"]).lhs.expr
    assert sel.matchers == [("service", "=", name)]
    am = yaml.safe_load((tmp_path / "out" / "alertmanager.yml").read_text())
    routed = [m for r in am["route"]["routes"] for c in r.get("routes", []) for m in c["matchers"]]
    assert 'service="we\\"ird\\\\name"' in routed
    assert sorted(p.name for p in (tmp_path / "out" / "rules").glob("slo-*.yml")) == ["slo-we-ird-name.yml",
                                                                                     "slo-x.yml"]


@pytest.mark.parametrize("bad", ["two\nlines", "tab\there", "lone\udcffsurrogate"])
def test_a_name_that_cannot_be_a_label_value_is_a_rule_error_naming_it(tmp_path, bad):
    from holoops.analyze.alerts import build

    fleet = _fleet({bad: _service(), "ok": _service()})
    with pytest.raises(RuleError, match="service " + __import__("re").escape(repr(bad))):
        build(tmp_path / "out", fleet=fleet, run_tools=False)
    assert not (tmp_path / "out").exists()


def test_alertmanager_matchers_unescaped_like_alertmanager():
    from holoops.alerting.backtest import _matchers

    assert _matchers({"matchers": ['service="we\\"ird\\\\name"', 'a=~"x|y"', "b=plain"]}) == [
        ("service", "=", 'we"ird\\name'), ("a", "=~", "x|y"), ("b", "=", "plain")]


def test_selector_scan_outside_the_subset_and_selector_text():
    from holoops.alerting.promql_eval import parse, scan_selectors

    found = scan_selectors('sum by (job) (rate(a{job="x"}[5m] offset 1h)) / on(job) group_left '
                           'max_over_time(b{le="0.5"}[1h:5m]) @ 1700000000')
    assert [s.text() for s in found] == ['a{job="x"}', 'b{le="0.5"}']
    sel = parse('up{service="we\\"ird\\\\name",le=~"0\\\\.25"}')
    assert sel.text() == 'up{service="we\\"ird\\\\name",le=~"0\\\\.25"}' and parse(sel.text()) == sel
    assert parse('up{service="é"}').matchers == [("service", "=", "é")]


# --- holoops alerts check against a real Prometheus ------------------------------------------------
END = 1793613600  # 2026-11-02T10:00:00Z


def _check_openmetrics(path: Path) -> Path:
    """Two hours of job="api": up, process CPU/memory, an OpenTelemetry ms histogram with status codes."""
    t0, step = END - 7200, 60
    bounds = [str(b) for b in OTEL_BUCKETS]
    shares = [0.0, 0.05, 0.1, 0.3, 0.6, 0.7, 0.8, 0.95, 0.99, 0.995, 0.998, 1, 1, 1, 1, 1]
    lines = ["# TYPE up gauge"]
    times = list(range(t0, END + 1, step))
    for inst in ("api-0:8000", "api-1:8000"):
        lines += [f'up{{job="api",instance="{inst}"}} 1 {t}' for t in times]
    lines.append("# TYPE process_cpu_seconds counter")
    for inst in ("api-0:8000", "api-1:8000"):
        lines += [f'process_cpu_seconds_total{{job="api",instance="{inst}"}} {0.5 * (t - t0):.1f} {t}' for t in times]
    lines.append("# TYPE http_server_duration_milliseconds histogram")
    for code, rate in (("200", 20.0), ("500", 0.1)):
        for t in times:
            n = rate * (t - t0)
            lab = f'job="api",instance="api-0:8000",http_route="/v1/x",http_status_code="{code}"'
            for b, sh in zip(bounds, shares, strict=True):
                lines.append(f'http_server_duration_milliseconds_bucket{{{lab},le="{b}"}} {n * sh:.1f} {t}')
            lines.append(f"http_server_duration_milliseconds_count{{{lab}}} {n:.1f} {t}")
            lines.append(f"http_server_duration_milliseconds_sum{{{lab}}} {n * 40:.1f} {t}")
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")
    return path


def _check_profile(path: Path) -> Path:
    doc = {"name": "t", "namespace": "t", "services": {"api": _otel_api(300)}}
    doc["services"]["api"]["signals"]["memory"] = "missing"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    from promserver import have_prometheus, prometheus_from_openmetrics

    if not have_prometheus():
        pytest.skip("prometheus/promtool not installed (apt install prometheus)")
    work = tmp_path_factory.mktemp("check-prom")
    with prometheus_from_openmetrics(_check_openmetrics(work / "data.om"), work) as url:
        yield {"url": url, "work": work}


@pytest.mark.prometheus
@pytest.mark.xdist_group("prometheus")
@pytest.mark.timeout(300)
def test_check_passes_when_every_selector_matches(prom, capsys):
    from holoops.cli import main

    profile = _check_profile(prom["work"] / "api.yaml")
    code = main(["alerts", "check", "--prometheus", prom["url"], "--fleet", str(profile), "--since", "2h",
                 "--until", str(END)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "every selector matches at least one series" in out
    assert "read series these rules record" in out


@pytest.mark.prometheus
@pytest.mark.xdist_group("prometheus")
@pytest.mark.timeout(300)
def test_check_lists_rules_selecting_nothing_and_fails(prom, capsys, tmp_path):
    from holoops.analyze.alerts import build_rules, check
    from holoops.cli import main

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "extra.yml").write_text(yaml.safe_dump({"groups": [{"name": "extra", "rules": [
        {"alert": "TooManyFds", "expr": 'process_open_fds{job="api"} > 1000', "labels": {"service": "api"}},
        {"alert": "Fine", "expr": 'up{job="api"} == 0'},
        {"alert": "OutsideSubset", "expr": 'max_over_time(rate(up{job="api"}[5m])[1h:5m]) > 0'},
    ]}]}))
    (rules / "tests").mkdir()
    (rules / "tests" / "x.test.yml").write_text("rule_files: [../extra.yml]\ntests: []\n")
    code = main(["alerts", "check", "--prometheus", prom["url"], "--rules", str(rules), "--since", "2h",
                 "--until", str(END)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "1 rule selectors match no series" in out
    row = next(ln for ln in out.splitlines() if ln.startswith("TooManyFds"))
    assert "extra" in row and 'process_open_fds{job="api"}' in row and "api" in row
    assert "OutsideSubset" in out and "token scan" in out
    # the bundled profile's rules (service="..." labels, canonical names) mostly select nothing here
    report = check(prom["url"], fleet=None, since="2h", until=END)
    assert not report.ok
    assert any(r["selector"] == 'up{service="vault"}' and r["rule"] == "ServiceDown" for r in report.empty)
    # and the mapped profile's rules, written as files, pass
    from holoops.alerting.promrules import write_rules

    built = write_rules(build_rules(_check_profile(tmp_path / "api.yaml"), promtool=False), tmp_path / "built")
    assert check(prom["url"], rules=built, since="2h", until=END).ok
