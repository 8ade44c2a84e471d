"""Prometheus config (scrape per service with its metrics_path, rule_files, alerting) and rule files.

Alert rules and the Alertmanager config belong to ``holoops.analyze.alerts`` (``holoops alerts build``).
When that module exists and offers ``build_alerts(fleet) -> dict[path, text]`` its files are included
under ``monitoring/``; otherwise a minimal valid rules file (one ``<service>Down`` alert per service) is
generated so that ``promtool check config`` passes, and the guide links the command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from holoops.guides.artifacts import to_yaml

if TYPE_CHECKING:
    from holoops.fleet import Environment, FleetProfile

FALLBACK_RULES = "rules/holoops-fallback.rules.yml"


ALERT_MODULES = ("holoops.analyze.alerts", "holoops.alerting")


def alerts_module():
    """The alerts module offering ``build_alerts(fleet) -> {relative path: text}``, or None."""
    for name in ALERT_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if callable(getattr(mod, "build_alerts", None)):
            return mod
    return None


def _fallback_rules(fleet: FleetProfile) -> str:
    rules = []
    for name in fleet.services:
        rules.append({
            "alert": "ServiceDown",
            "expr": f'up{{job="{name}"}} == 0',
            "for": "2m",
            "labels": {"severity": "page", "service": name},
            "annotations": {"summary": f"{name} is not answering scrapes",
                            "runbook": "runbooks/dependency_outage.ipynb"},
        })
    return to_yaml({"groups": [{"name": f"{fleet.name}-availability", "rules": rules}]})


def _targets(fleet: FleetProfile, platform: str, name: str) -> list[str]:
    svc = fleet.services[name]
    host = name if platform == "compose" else "127.0.0.1"
    return [f"{host}:{svc.port}"]


def config(fleet: FleetProfile, platform: str, rule_files: list[str]) -> dict:
    """``prometheus.yml`` as a dict. Kubernetes uses endpoints discovery; Compose/systemd static targets."""
    scrape: list[dict] = []
    for name, svc in fleet.services.items():
        job: dict = {"job_name": name, "metrics_path": svc.metrics_path, "scrape_interval": "15s"}
        if platform == "kubernetes":
            job["kubernetes_sd_configs"] = [{"role": "endpoints", "namespaces": {"names": [fleet.namespace]}}]
            job["relabel_configs"] = [
                {"source_labels": ["__meta_kubernetes_service_name"], "regex": name, "action": "keep"},
                {"source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": "http", "action": "keep"},
                {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "instance"},
                {"target_label": "service", "replacement": name},
            ]
        else:
            job["static_configs"] = [{"targets": _targets(fleet, platform, name), "labels": {"service": name}}]
        scrape.append(job)
    exporter_host = {"compose": "dcgm-exporter", "kubernetes": "dcgm-exporter.monitoring.svc", "systemd": "127.0.0.1"}
    if fleet.gpu_services:
        scrape.append({"job_name": "dcgm-exporter",
                       "static_configs": [{"targets": [f"{exporter_host[platform]}:9400"]}]})
    node_host = {"compose": "node-exporter", "kubernetes": "node-exporter.monitoring.svc", "systemd": "127.0.0.1"}
    scrape.append({"job_name": "node-exporter", "static_configs": [{"targets": [f"{node_host[platform]}:9100"]}]})
    am = {"compose": "alertmanager:9093", "kubernetes": "alertmanager.monitoring.svc:9093",
          "systemd": "127.0.0.1:9093"}[platform]
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "30s",
                   "external_labels": {"fleet": fleet.name}},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am]}]}]},
        "scrape_configs": scrape,
    }


def build(fleet: FleetProfile, env_name: str, env: Environment, platform: str) -> dict[str, str]:
    """``monitoring/prometheus.yml`` plus rule files (from the alerts module, or a fallback)."""
    files: dict[str, str] = {}
    mod = alerts_module()
    if mod is not None:
        for rel, text in mod.build_alerts(fleet).items():
            files[f"monitoring/{rel}"] = text
        rule_files = sorted(r[len("monitoring/"):] for r in files if r.startswith("monitoring/rules/"))
    else:
        files[f"monitoring/{FALLBACK_RULES}"] = _fallback_rules(fleet)
        rule_files = [FALLBACK_RULES]
    files["monitoring/prometheus.yml"] = to_yaml(config(fleet, platform, rule_files))
    return files
