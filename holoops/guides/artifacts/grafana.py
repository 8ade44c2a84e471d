"""Grafana dashboard JSON: golden signals per service plus saturation (CPU, memory, GPU, disk).

Metric names come from ``holoops/catalogs/signals.yaml`` so the dashboard reads what the fleet exports.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from holoops.fleet import FleetProfile

def signals() -> dict:
    from holoops.catalogs import signals as catalog

    return catalog()


def _panel(pid: int, title: str, targets: list[tuple[str, str]], x: int, y: int, unit: str) -> dict:
    return {
        "id": pid, "type": "timeseries", "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 7, "w": 6, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
    }


def dashboard(fleet: FleetProfile) -> dict:
    """The dashboard as a dict; one row per service."""
    sig = signals()
    req, hist = sig["requests"]["metric"], sig["latency"]["histogram"]
    cpu, mem = sig["cpu"]["metric"], sig["memory"]["metric"]
    gpu_util, gpu_mem = sig["gpu"]["utilization"], sig["gpu"]["memory_used"]
    avail, size = sig["disk"]["available"], sig["disk"]["size"]
    panels: list[dict] = []
    pid, y = 1, 0
    for name, svc in fleet.services.items():
        sel = f'service="{name}"'
        panels.append({"id": pid, "type": "row", "title": f"{name} (:{svc.port})", "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y = pid + 1, y + 1
        row = [
            ("Request rate", [(f"sum(rate({req}{{{sel}}}[5m]))", "req/s")], "reqps"),
            ("Error ratio (5xx)", [(f'sum(rate({req}{{{sel},code=~"5.."}}[5m])) / '
                                    f"sum(rate({req}{{{sel}}}[5m]))", "errors")], "percentunit"),
            ("Latency p50/p95/p99", [
                (f"histogram_quantile({q}, sum by (le) (rate({hist}_bucket{{{sel}}}[5m])))", f"p{round(q * 100)}")
                for q in (0.5, 0.95, 0.99)], "s"),
            ("CPU cores / memory", [(f"sum(rate({cpu}{{{sel}}}[5m]))", "cores"),
                                    (f"sum({mem}{{{sel}}})", "resident bytes")], "short"),
        ]
        for i, (title, targets, unit) in enumerate(row):
            panels.append(_panel(pid, f"{name}: {title}", targets, 6 * i, y, unit))
            pid += 1
        y += 7
        extra = []
        if svc.uses_gpu:
            extra.append(("GPU utilization", [(f"avg({gpu_util})", "util %")], "percent"))
            extra.append(("GPU memory used", [(f"sum({gpu_mem})", "MiB")], "decmbytes"))
        if svc.resources.disk:
            mp = svc.resources.disk.mount
            extra.append((f"Disk used {mp}", [(f'1 - max({avail}{{mountpoint="{mp}"}}) / '
                                               f'max({size}{{mountpoint="{mp}"}})', "used")], "percentunit"))
        for i, (title, targets, unit) in enumerate(extra):
            panels.append(_panel(pid, f"{name}: {title}", targets, 6 * i, y, unit))
            pid += 1
        if extra:
            y += 7
    return {
        "uid": f"{fleet.namespace}-golden"[:40], "title": f"{fleet.name}: golden signals & saturation",
        "tags": ["holoops", fleet.name], "timezone": "utc", "schemaVersion": 39, "version": 1,
        "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}]},
        "panels": panels,
    }


def expressions(dash: dict) -> list[str]:
    """Every PromQL expression in a dashboard (for validation)."""
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def build(fleet: FleetProfile) -> dict[str, str]:
    return {"monitoring/grafana-dashboard.json": json.dumps(dashboard(fleet), indent=2) + "\n"}
