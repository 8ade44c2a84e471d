"""Alertmanager config from ``catalogs/alerts/routing.yaml``: routes by severity and service, inhibition,
receivers (email, Slack, PagerDuty, webhook) whose secrets are ``*_file`` paths, maintenance windows as
``time_intervals``; plus ``amtool config routes test`` cases generated from holoops' own route matcher.

Services are routed with one exact matcher each (``service="hm.v2|x"``, the value escaped), never a regex
built from names: a name with regex characters routes only its own alerts.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

from holoops.alerting.catalog import CATALOG_DIR, SEVERITIES

ROUTING = CATALOG_DIR / "routing.yaml"


def load_routing(path: str | Path | None = None) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path or ROUTING).read_text(encoding="utf-8"))


def service_matcher(name: str) -> str:
    """``service="<name>"``: an Alertmanager equality matcher with the value escaped."""
    from holoops.alerting.mapping import check_label_value, matcher

    return matcher("service", "=", check_label_value(name, name))


def build_config(fleet, routing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The alertmanager.yml content as a dict."""
    r = routing or load_routing()
    for name in fleet.services:
        service_matcher(name)  # RuleError naming a service whose name cannot be a label value
    sec = r["secrets_dir"].rstrip("/")
    teams = {t: [s for s in svcs if s in fleet.services] for t, svcs in r["teams"].items()}
    covered = {s for svcs in teams.values() for s in svcs}
    if missing := [s for s in fleet.services if s not in covered]:
        teams.setdefault("platform", []).extend(missing)
    receivers: list[dict[str, Any]] = [
        {"name": "email", "email_configs": [{"to": r["email_to"], "send_resolved": True,
                                             "auth_password_file": f"{sec}/smtp-password"}]},
        {"name": "webhook", "webhook_configs": [{"url": r["webhook_url"], "send_resolved": True,
                                                 "http_config": {"authorization": {
                                                     "credentials_file": f"{sec}/webhook-token"}}}]},
    ]
    for team in teams:
        receivers.append({"name": _pd(team), "pagerduty_configs": [
            {"routing_key_file": f"{sec}/pagerduty-{team}-routing-key", "severity": "critical",
             "description": '{{ .CommonLabels.alertname }} on {{ .CommonLabels.service }}'}]})
        receivers.append({"name": f"slack-{team}", "slack_configs": [
            {"api_url_file": f"{sec}/slack-{team}-webhook-url", "channel": r["slack_channels"][team],
             "send_resolved": True, "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}',
             "text": '{{ range .Alerts }}{{ .Annotations.summary }} <{{ .Annotations.runbook_url }}|runbook>\n{{ end }}'}]})
    maint = [m["name"] for m in r.get("maintenance") or []]

    routes: list[dict[str, Any]] = [
        {"matchers": ['severity="critical"'], "receiver": _pd(next(iter(teams))), "group_wait": "30s",
         "repeat_interval": "1h", "routes": [{"matchers": [service_matcher(s)], "receiver": _pd(t)}
                                             for t in teams for s in teams[t]]},
        {"matchers": ['severity="warning"'], "receiver": "email", "mute_time_intervals": maint,
         "routes": [{"matchers": [service_matcher(s)], "receiver": f"slack-{t}", "continue": True}
                    for t in teams for s in teams[t]] + [{"matchers": ['severity="warning"'], "receiver": "email"}]},
        {"matchers": ['severity="info"'], "receiver": "webhook", "mute_time_intervals": maint,
         "group_interval": "30m", "repeat_interval": "24h"},
    ]
    inhibit = []
    for rule in r.get("inhibit") or []:
        src = [f'{k}="{v}"' for k, v in (rule.get("source") or {}).items()]
        src += [f'{k}=~"{v}"' for k, v in (rule.get("source_re") or {}).items()]
        tgt = [f'{k}="{v}"' for k, v in (rule.get("target") or {}).items()]
        tgt += [f'{k}=~"{v}"' for k, v in (rule.get("target_re") or {}).items()]
        inhibit.append({"source_matchers": src, "target_matchers": tgt, "equal": list(rule["equal"])})
    t = r["timing"]
    return {
        "global": {"resolve_timeout": "5m", "smtp_smarthost": r["smtp"]["smarthost"],
                   "smtp_from": r["smtp"]["from"], "smtp_auth_username": r["smtp"]["username"],
                   "smtp_auth_password_file": f"{sec}/smtp-password"},
        "route": {"receiver": "email", "group_by": list(r["group_by"]), "group_wait": t["group_wait"],
                  "group_interval": t["group_interval"], "repeat_interval": t["repeat_interval"],
                  "routes": routes},
        "inhibit_rules": inhibit,
        "receivers": receivers,
        "time_intervals": list(r.get("maintenance") or []),
    }


def _pd(team: str) -> str:
    return "pagerduty" if team == "platform" else f"pagerduty-{team}"


def route_cases(config: dict[str, Any], fleet) -> list[tuple[dict[str, str], list[str]]]:
    """(labels, expected receivers) for every service x severity, from holoops' route matcher."""
    from holoops.alerting.backtest import parse_routes, route_alert

    root = parse_routes(config)
    cases = []
    for svc in fleet.services:
        for sev in SEVERITIES:
            labels = {"alertname": "HighErrorRate", "service": svc, "severity": sev}
            cases.append((labels, [r.receiver for r in route_alert(root, labels)]))
    cases.append(({"alertname": "Watchdog", "severity": "none"}, ["email"]))
    return cases


def routes_test_script(cases: list[tuple[dict[str, str], list[str]]], config_name: str = "alertmanager.yml") -> str:
    lines = ["#!/bin/sh", "# amtool routing tests generated by holoops: label set -> expected receivers.",
             "set -e", 'cd "$(dirname "$0")"']
    for labels, receivers in cases:
        lab = " ".join(shlex.quote(_label_arg(k, v)) for k, v in labels.items())
        lines.append(f"amtool config routes test --config.file={config_name} "
                     f"--verify.receivers={shlex.quote(','.join(receivers))} {lab}")
    lines.append('echo "all routing tests passed"')
    return "\n".join(lines) + "\n"


def _label_arg(key: str, value: str) -> str:
    """A label for ``amtool config routes test``: quoted and escaped, so ``"`` and ``,`` pass."""
    from holoops.alerting.mapping import escape

    return f'{key}="{escape(value)}"'


def amtool_check(config_path: Path, exe: str = "amtool") -> tuple[bool, str]:
    res = subprocess.run([exe, "check-config", str(config_path)], capture_output=True, text=True, timeout=60)
    return res.returncode == 0, (res.stdout + res.stderr).strip()


def amtool_routes_test(config_path: Path, cases, exe: str = "amtool") -> tuple[bool, str]:
    """Run every case through ``amtool config routes test --verify.receivers``."""
    bad = []
    for labels, receivers in cases:
        res = subprocess.run([exe, "config", "routes", "test", f"--config.file={config_path}",
                              f"--verify.receivers={','.join(receivers)}",
                              *[_label_arg(k, v) for k, v in labels.items()]], capture_output=True, text=True,
                             timeout=60)
        if res.returncode != 0:
            bad.append(f"{labels} -> expected {receivers}, amtool: {res.stdout.strip()}")
    return not bad, ("\n".join(bad) if bad else f"{len(cases)} routing cases pass")
