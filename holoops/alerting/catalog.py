"""Load and validate alert rule catalogs (YAML data under ``holoops/catalogs/alerts/``).

Catalog rules are templated over the fleet profile's services (``for_each``) with Jinja2 using ``[[ ]]``
delimiters, so Prometheus' own ``{{ $labels.x }}`` templates pass through. Selectors come from what each
service exports (``[[ s.<signal>(...) ]]``, :mod:`holoops.alerting.mapping`); a rule reading something a
service does not export is left out for it and noted (:class:`~holoops.alerting.mapping.Notes`). Every
problem raises :class:`~holoops.errors.RuleError` naming the rule: invalid PromQL, unknown severity or
runbook, duplicate name, unknown key, a service name that cannot be a label value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holoops.errors import RuleError
from holoops.timeutil import format_duration

CATALOG_DIR = Path(__file__).resolve().parent.parent / "catalogs" / "alerts"
SEVERITIES = ("critical", "warning", "info")
RUNBOOKS = ("gpu_memory_pressure", "latency_regression", "disk_exhaustion", "error_burst", "dependency_outage")
DEFAULT_RUNBOOK_BASE = "http://localhost:8888/notebooks/runbooks"
_RULE_KEYS = {"alert", "record", "for_each", "expr", "for", "severity", "runbook", "runbook_params", "summary",
              "description", "labels", "test", "requires"}
_LABEL_TMPL = re.compile(r"\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass
class Rule:
    """One expanded rule, as written to a Prometheus rule file."""

    name: str
    expr: str
    kind: str = "alert"  # "alert" | "record"
    for_s: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    service: str | None = None
    source: str = ""
    fixture: dict[str, Any] | None = None

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def ident(self) -> str:
        """How errors name this rule: ``HighErrorRate (service vault)``."""
        return f"{self.name} (service {self.service})" if self.service else self.name

    def to_prometheus(self) -> dict[str, Any]:
        if self.kind == "record":
            out: dict[str, Any] = {"record": self.name, "expr": self.expr}
            if self.labels:
                out["labels"] = dict(self.labels)
            return out
        out = {"alert": self.name, "expr": self.expr}
        if self.for_s:
            out["for"] = format_duration(self.for_s)
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        return out


@dataclass
class RuleGroup:
    name: str
    rules: list[Rule]

    def to_prometheus(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [r.to_prometheus() for r in self.rules]}




def expand_labels(template: str, labels: dict[str, str]) -> str:
    """Render ``{{ $labels.x }}`` the way Prometheus does for the alert's labels."""
    return _LABEL_TMPL.sub(lambda m: labels.get(m.group(1), ""), template)


def signal_names() -> dict[str, str]:
    """Metric names from ``catalogs/signals.yaml`` under short keys for templates (``m.requests`` ...)."""
    from holoops.catalogs import signals

    s = signals()
    return {"requests": s["requests"]["metric"], "histogram": s["latency"]["histogram"],
            "cpu": s["cpu"]["metric"], "memory": s["memory"]["metric"], "up": s["up"]["metric"],
            "gpu_util": s["gpu"]["utilization"], "gpu_used": s["gpu"]["memory_used"],
            "gpu_free": s["gpu"]["memory_free"], "disk_avail": s["disk"]["available"],
            "disk_size": s["disk"]["size"], "buckets": s["latency"]["buckets"]}


def runbook_base(base: str | None = None) -> str:
    """The runbook URL base: argument, else ``HOLOOPS_RUNBOOK_BASE``, else the local Jupyter default."""
    return (base or os.environ.get("HOLOOPS_RUNBOOK_BASE") or DEFAULT_RUNBOOK_BASE).rstrip("/")


def runbook_url(base: str, runbook: str, params: list[str]) -> str:
    query = "&".join(f"{p}={{{{ $labels.{p} }}}}" for p in params)
    return f"{base}/{runbook}.ipynb" + (f"?{query}" if query else "")


def _jinja():
    import jinja2

    return jinja2.Environment(variable_start_string="[[", variable_end_string="]]", block_start_string="[%",
                              block_end_string="%]", comment_start_string="[#", comment_end_string="#]",
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def _render(env, text: str, ctx: dict[str, Any], where: str) -> str:
    import jinja2

    try:
        return env.from_string(str(text)).render(**ctx)
    except jinja2.TemplateError as exc:
        raise RuleError(f"{where}: template error: {exc}") from None


def _services_for(fleet, for_each: str | None, where: str) -> list[str | None]:
    if for_each in (None, "none"):
        return [None]
    if for_each == "service":
        return list(fleet.services)
    if for_each == "gpu_service":
        return list(fleet.gpu_services)
    if for_each == "disk_service":
        return [n for n, s in fleet.services.items() if s.resources.disk is not None]
    raise RuleError(f"{where}: unknown for_each {for_each!r}; use service, gpu_service, disk_service or none")


def _context(fleet, name: str | None, m: dict[str, Any], sigs: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = {"m": m, "fleet": fleet, "service": name}
    if name is not None:
        svc = fleet.services[name]
        ctx.update(svc=svc, s=sigs[name], cpu_limit=svc.resources.cpu.limit,
                   threshold_s=(svc.slo.latency.threshold_ms / 1000 if svc.slo.latency else None),
                   mount=(svc.resources.disk.mount if svc.resources.disk else None))
    return ctx


def load_catalog(fleet=None, paths: list[str | Path] | None = None, runbook_base_url: str | None = None,
                 notes=None) -> list[RuleGroup]:
    """Expand the rule catalog(s) over ``fleet`` (default: the bundled profile). Validates names/keys.

    Rules a service cannot have (see :mod:`holoops.alerting.mapping`) are left out and recorded in
    ``notes`` (a :class:`~holoops.alerting.mapping.Notes`) when given."""
    import yaml

    from holoops.alerting.mapping import Notes, fleet_signals
    from holoops.fleet import load_fleet

    fleet = fleet if fleet is not None and not isinstance(fleet, (str, Path)) else load_fleet(fleet)
    notes = notes if notes is not None else Notes()
    sigs = fleet_signals(fleet)
    files = [Path(p) for p in paths] if paths else [CATALOG_DIR / "rules.yaml"]
    base = runbook_base(runbook_base_url)
    m = signal_names()
    env = _jinja()
    groups: list[RuleGroup] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RuleError(f"{path}: cannot read the alert catalog: {exc}") from None
        for gi, g in enumerate(doc.get("groups") or []):
            gname = g.get("name") or f"group-{gi}"
            out = RuleGroup(gname, [])
            for ri, entry in enumerate(g.get("rules") or []):
                name = entry.get("alert") or entry.get("record")
                where = f"{path.name}: rule {name!r}" if name else f"{path.name}: group {gname!r} rule #{ri + 1}"
                if not name:
                    raise RuleError(f"{where}: needs 'alert' or 'record' (the rule name)")
                unknown = set(entry) - _RULE_KEYS
                if unknown:
                    raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
                if name in seen:
                    raise RuleError(f"{where}: duplicate rule name {name!r} (first defined in {seen[name]})")
                seen[name] = f"{path.name} group {gname!r}"
                out.rules += _expand(entry, name, where, fleet, m, env, base, sigs, notes)
            groups.append(out)
    return groups


def _expand(entry: dict, name: str, where: str, fleet, m, env, base: str, sigs, notes) -> list[Rule]:
    from holoops.alerting.mapping import NotBuilt
    from holoops.timeutil import parse_duration

    kind = "alert" if "alert" in entry else "record"
    severity = entry.get("severity")
    if kind == "alert" and severity not in SEVERITIES:
        raise RuleError(f"{where}: unknown severity {severity!r}; use one of {', '.join(SEVERITIES)}")
    runbook = entry.get("runbook")
    if kind == "alert" and runbook not in RUNBOOKS:
        raise RuleError(f"{where}: unknown runbook {runbook!r}; use one of {', '.join(RUNBOOKS)}")
    if "expr" not in entry:
        raise RuleError(f"{where}: 'expr' is missing")
    try:
        for_s = parse_duration(str(entry.get("for", "0s"))) if str(entry.get("for", "0s")) not in ("0", "0m", "0s") else 0
    except ValueError as exc:
        raise RuleError(f"{where}: bad 'for': {exc}") from None
    rules = []
    for svc in _services_for(fleet, entry.get("for_each"), where):
        if entry.get("requires") == "latency_slo" and svc and fleet.services[svc].slo.latency is None:
            continue
        ctx = _context(fleet, svc, m, sigs)
        try:
            expr = " ".join(_render(env, entry["expr"], ctx, where).split())
            labels = {k: _render(env, v, ctx, where) for k, v in (entry.get("labels") or {}).items()}
            annotations: dict[str, str] = {}
            if kind == "alert":
                for key in ("summary", "description"):
                    if entry.get(key):
                        annotations[key] = _render(env, entry[key], ctx, where)
                annotations["runbook_url"] = runbook_url(base, runbook,
                                                         list(entry.get("runbook_params") or ["service"]))
        except NotBuilt as exc:
            notes.skip(exc, name)
            continue
        # rules are per service: a static service label, whatever labels the selected series carry
        if kind == "alert":
            labels = {"severity": severity, **({"service": svc} if svc else {}), **labels}
        elif svc:
            labels = {"service": svc, **labels}
        fixture = None
        if entry.get("test"):
            t = entry["test"]
            fixture = {k: v for k, v in t.items() if k != "series"}
            try:
                if "series" in t:
                    fixture["series"] = [(_render(env, s, ctx, where), _render(env, v, ctx, where))
                                         for s, v in t["series"]]
                elif "scenario" in t and svc:
                    from holoops.alerting.slo_rules import scenario_series

                    fixture["series"] = scenario_series(t["scenario"], sigs[svc])
            except NotBuilt as exc:
                notes.skip(exc, f"{name} unit test")
                fixture = None
        rules.append(Rule(name, expr, kind, for_s, labels, annotations, svc, where, fixture))
    return rules


def validate(groups: list[RuleGroup], promtool: str | None | bool = True) -> None:
    """Raise RuleError naming the rule for bad PromQL (own parser, then ``promtool check rules``),
    duplicate rules, unknown severities and annotation templates the unit tests cannot render."""
    from holoops.alerting.promql_eval import PromQLSyntaxError, parse

    seen: set[tuple] = set()
    for g in groups:
        for r in g.rules:
            try:
                parse(r.expr)
            except PromQLSyntaxError as exc:
                raise RuleError(f"rule {r.ident} ({r.source}): invalid or unsupported PromQL: {exc}") from None
            if r.kind == "alert" and r.severity not in SEVERITIES:
                raise RuleError(f"rule {r.ident}: unknown severity {r.severity!r}; use one of {', '.join(SEVERITIES)}")
            key = (r.kind, r.name, tuple(sorted(r.labels.items())), r.expr)
            if key in seen:
                raise RuleError(f"rule {r.ident}: duplicate rule (same name, labels and expression)")
            seen.add(key)
            for k, v in r.annotations.items():
                if "{{" in _LABEL_TMPL.sub("", v):
                    raise RuleError(f"rule {r.ident}: annotation {k!r} may only use {{{{ $labels.<name> }}}} templates")
    exe = find_tool("promtool") if promtool is True else (promtool or None)
    if exe:
        promtool_check(groups, exe)


def find_tool(name: str) -> str | None:
    import shutil

    return shutil.which(name)


def promtool_check(groups: list[RuleGroup], exe: str) -> None:
    """``promtool check rules`` on a temporary file; RuleError names the failing rule."""
    import subprocess
    import tempfile

    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "rules.yml"
        p.write_text(yaml.safe_dump({"groups": [g.to_prometheus() for g in groups]}, sort_keys=False))
        res = subprocess.run([exe, "check", "rules", str(p)], capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        msg = (res.stderr + res.stdout).strip()
        m = re.search(r'group "([^"]+)", rule (\d+), "?([^":]*)"?', msg)
        if m:
            g = next((g for g in groups if g.name == m.group(1)), None)
            r = g.rules[int(m.group(2)) - 1] if g and int(m.group(2)) <= len(g.rules) else None
            name = r.ident if r else m.group(3)
            raise RuleError(f"rule {name}: promtool check rules failed: {msg.splitlines()[-1]}")
        raise RuleError(f"promtool check rules failed: {msg}")
