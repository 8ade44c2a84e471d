"""Alert rules as code: build Prometheus/Alertmanager configs from the catalog and fleet profile, validate
them with promtool/amtool, and backtest them over a metrics history (pages per week, time to detect).

Public API::

    groups = build_rules(fleet=None)                      # catalog + SLO rules, validated (RuleError)
    groups.notes                                          # what was not built for which service, and why
    result = build("out/alerts", fleet=None)              # write, validate with promtool/amtool, move
    report = check("http://prometheus:9090", "out/alerts/rules")  # selectors that match no series
    report = backtest(demo.metrics, truth=demo.truth)     # firing intervals, notifications, detection
    text = agreement_test(metrics, groups, start, end)    # a promtool test file of holoops' predictions

Internals live in :mod:`holoops.alerting`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holoops.errors import RuleError

__all__ = ["build_rules", "build", "build_alerts", "BuildResult", "RuleSet", "backtest", "BacktestReport",
           "agreement_test", "check", "CheckReport"]

_log = logging.getLogger("holoops.alerting")


class RuleSet(list):
    """The rule groups (a list, as before) plus ``notes``: the rules left out for a service because it
    does not export what they read, and which histogram bucket stands for each latency threshold."""

    def __init__(self, groups=(), notes=None):
        from holoops.alerting.mapping import Notes

        super().__init__(groups)
        self.notes = notes if notes is not None else Notes()


def build_rules(fleet=None, catalog: list[str | Path] | None = None, runbook_base: str | None = None,
                validate: bool = True, promtool: bool = True) -> RuleSet:
    """Catalog rules expanded over the fleet, then SLO recording and burn-rate rules; validated.

    Selectors follow what each service exports (the profile's pinned signals, else the signal map's
    first candidate; see :mod:`holoops.alerting.mapping`). Rules a service cannot have are left out and
    listed in the result's ``notes`` (also logged). Raises RuleError naming the rule for invalid PromQL,
    unknown severity or duplicate names, and naming the service for a name that cannot be a label value.
    """
    from holoops.alerting.catalog import load_catalog
    from holoops.alerting.catalog import validate as check
    from holoops.alerting.mapping import Notes
    from holoops.alerting.slo_rules import build_slo_groups
    from holoops.fleet import load_fleet

    fleet = fleet if fleet is not None and not isinstance(fleet, (str, Path)) else load_fleet(fleet)
    notes = Notes()
    groups = load_catalog(fleet, catalog, runbook_base, notes=notes) + build_slo_groups(
        fleet, runbook_base_url=runbook_base, notes=notes)
    names = [g.name for g in groups]
    if dup := next((n for n in names if names.count(n) > 1), None):
        raise RuleError(f"rule group {dup!r} is defined twice")
    if validate:
        check(groups, promtool=promtool)
    for line in notes.lines():
        _log.info("%s", line)
    return RuleSet(groups, notes)


@dataclass
class BuildResult:
    out: Path
    files: list[Path]
    checks: dict[str, tuple[bool | None, str]] = field(default_factory=dict)
    notes: Any = None           # holoops.alerting.mapping.Notes

    @property
    def ok(self) -> bool:
        return all(ok is not False for ok, _ in self.checks.values())

    @property
    def summary(self) -> list[str]:
        """What was not built for which service and why, and each latency SLO's threshold bucket."""
        return self.notes.lines() if self.notes is not None else []

    def __str__(self) -> str:
        lines = [f"wrote {len(self.files)} files to {self.out}"]
        for name, (ok, msg) in self.checks.items():
            state = "skipped" if ok is None else ("ok" if ok else "FAILED")
            lines.append(f"  {name:<28} {state}" + (f"\n{msg}" if ok is False else f"  ({msg.splitlines()[-1]})"
                                                     if msg else ""))
        skipped = [ln for ln in self.summary if " not built: " in ln]
        buckets = [ln for ln in self.summary if ln not in skipped]
        if skipped:
            lines += ["not built (the fleet does not export what they read):", *(f"  {ln}" for ln in skipped)]
        if buckets:
            lines += ["latency SLO buckets (the smallest le bound >= the threshold stands for it):",
                      *(f"  {ln}" for ln in buckets)]
        return "\n".join(lines)


def build(out: str | Path, fleet=None, catalog: list[str | Path] | None = None, runbook_base: str | None = None,
          run_tools: bool = True) -> BuildResult:
    """Write ``rules/*.yml``, ``rules/tests/*.test.yml``, ``alertmanager.yml`` and ``alertmanager-tests.sh``.

    Everything is written to a temporary folder and validated first (RuleError on a bad rule, nothing
    written); promtool/amtool run when present, and a failing tool raises RuleError before the move.
    """
    import yaml

    from holoops.alerting.alertmanager import (
        amtool_check,
        amtool_routes_test,
        build_config,
        route_cases,
        routes_test_script,
    )
    from holoops.alerting.catalog import find_tool
    from holoops.alerting.promrules import promtool_check_rules, promtool_test_rules, write_rules
    from holoops.fleet import load_fleet

    fleet = fleet if fleet is not None and not isinstance(fleet, (str, Path)) else load_fleet(fleet)
    out = Path(out)
    groups = build_rules(fleet, catalog, runbook_base, promtool=run_tools)
    checks: dict[str, tuple[bool | None, str]] = {}
    with tempfile.TemporaryDirectory(prefix="holoops-alerts-") as tmp:
        stage = Path(tmp) / "out"
        rule_files = write_rules(groups, stage / "rules")
        config = build_config(fleet)
        am = stage / "alertmanager.yml"
        am.write_text(yaml.safe_dump(config, sort_keys=False, width=200), encoding="utf-8")
        cases = route_cases(config, fleet)
        script = stage / "alertmanager-tests.sh"
        script.write_text(routes_test_script(cases), encoding="utf-8")
        script.chmod(0o755)
        (stage / "alertmanager-tests.yml").write_text(
            yaml.safe_dump([{"labels": lb, "receivers": rc} for lb, rc in cases], sort_keys=False), encoding="utf-8")
        promtool, amtool = (find_tool("promtool"), find_tool("amtool")) if run_tools else (None, None)
        tests = sorted((stage / "rules" / "tests").glob("*.yml"))
        checks["promtool check rules"] = promtool_check_rules(rule_files, promtool) if promtool else (None, "")
        checks["promtool test rules"] = promtool_test_rules(tests, promtool) if promtool else (None, "")
        checks["amtool check-config"] = amtool_check(am, amtool) if amtool else (None, "")
        checks["amtool config routes test"] = amtool_routes_test(am, cases, amtool) if amtool else (None, "")
        bad = [f"{k}: {m}" for k, (ok, m) in checks.items() if ok is False]
        if bad:
            raise RuleError("generated files failed validation (nothing written):\n" + "\n".join(bad))
        out.mkdir(parents=True, exist_ok=True)
        for sub in ("rules", "alertmanager.yml", "alertmanager-tests.sh", "alertmanager-tests.yml"):
            target = out / sub
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            shutil.move(str(stage / sub), str(target))
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return BuildResult(out, files, checks, groups.notes)


def build_alerts(fleet=None, runbook_base: str | None = None) -> dict[str, str]:
    """The rule files and Alertmanager config as ``{relative path: text}``, for deployment guides.

    Same content as :func:`build` writes (without the unit-test files); validated in memory, so a bad
    rule raises RuleError before any guide is written.
    """
    import yaml

    from holoops.alerting.alertmanager import build_config
    from holoops.alerting.promrules import group_file_names, rule_file_text
    from holoops.fleet import load_fleet

    fleet = fleet if fleet is not None and not isinstance(fleet, (str, Path)) else load_fleet(fleet)
    groups = build_rules(fleet, runbook_base=runbook_base, promtool=False)
    files = {f"rules/{f}": rule_file_text([g]) for g, f in zip(groups, group_file_names(groups), strict=True)}
    files["alertmanager.yml"] = yaml.safe_dump(build_config(fleet), sort_keys=False, width=200)
    return files


# --- check against a live Prometheus -------------------------------------------------------------
@dataclass
class CheckReport:
    """Which rule selectors match no series in a Prometheus (``holoops alerts check``)."""

    url: str
    start: Any                          # pandas Timestamps (UTC)
    end: Any
    files: list[Path]
    rules: int                          # rules read
    selectors: int                      # distinct selectors asked about
    empty: list[dict[str, str]]         # rule, group, service, selector, file: selectors matching nothing
    errors: list[dict[str, str]] = field(default_factory=list)   # rule, group, selector, error
    recorded: int = 0                   # selectors of series recorded by these files (not asked about)
    scanned: list[str] = field(default_factory=list)   # rules outside the evaluable subset (token scan)

    @property
    def ok(self) -> bool:
        return not self.empty and not self.errors

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.empty, columns=["rule", "group", "service", "selector", "file"])

    def to_text(self) -> str:
        head = (f"{self.rules} rules in {len(self.files)} files; {self.selectors} distinct selectors asked of "
                f"{self.url} over {self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M} UTC")
        if self.recorded:
            head += f"; {self.recorded} read series these rules record (checked through their own selectors)"
        lines = [head]
        if self.scanned:
            lines.append(f"{len(self.scanned)} rules use PromQL outside holoops's evaluator; their selectors "
                         f"were found by a token scan: {', '.join(self.scanned[:5])}"
                         + (" ..." if len(self.scanned) > 5 else ""))
        if self.empty:
            lines += ["", f"{len(self.empty)} rule selectors match no series (the rule cannot see its data):",
                      _table(self.empty, ["rule", "group", "service", "selector"])]
        if self.errors:
            lines += ["", f"{len(self.errors)} selectors Prometheus refused:",
                      _table(self.errors, ["rule", "group", "selector", "error"])]
        if self.ok:
            lines.append("every selector matches at least one series")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _table(rows: list[dict[str, str]], cols: list[str]) -> str:
    width = {c: min(max(len(c), *(len(str(r.get(c, ""))) for r in rows)), 90) for c in cols}
    out = ["  ".join(c.upper().ljust(width[c]) for c in cols)]
    out += ["  ".join(str(r.get(c, "")).ljust(width[c]) for c in cols) for r in rows]
    return "\n".join(ln.rstrip() for ln in out)


def load_rule_files(paths: str | Path | list[str | Path]) -> list[tuple[Path, str, dict[str, Any]]]:
    """``(file, group name, rule)`` of every rule in Prometheus rule files: files, or folders searched
    for ``*.yml``/``*.yaml`` (promtool test files, which have no ``groups``, are passed over)."""
    import yaml

    files: list[Path] = []
    for p in [paths] if isinstance(paths, (str, Path)) else list(paths):
        p = Path(p)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".yml", ".yaml") and f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise RuleError(f"{p}: no such rule file or folder")
    out = []
    for f in files:
        try:
            doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise RuleError(f"{f}: cannot read the rule file: {exc}") from None
        if not isinstance(doc, dict) or "groups" not in doc:
            continue
        for g in doc.get("groups") or []:
            for r in g.get("rules") or []:
                if isinstance(r, dict) and "expr" in r:
                    out.append((f, str(g.get("name", "")), r))
    if not out:
        raise RuleError(f"no Prometheus rules found in {', '.join(map(str, files)) or paths}")
    return out


def check(prometheus: Any, rules: str | Path | list[str | Path] | None = None, fleet=None,
          since: str = "1h", until: Any = None, workers: int = 4) -> CheckReport:
    """Ask Prometheus whether every selector of every rule matches a series (``/api/v1/series`` over
    ``[until - since, until]``, default the last hour).

    ``prometheus``: a URL or a :class:`~holoops.sources.prometheus.PrometheusSource`. ``rules``: rule files
    or folders; default: the rules :func:`build_rules` makes for ``fleet``, written to a temporary folder.
    Selectors of series that a loaded recording rule writes are not asked about (Prometheus has them only
    once the rules run; their own selectors are). A rejected selector is reported with Prometheus's
    message; an unreachable Prometheus raises PrometheusError.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    from holoops.alerting.promql_eval import PromQLSyntaxError, parse, scan_selectors, selectors
    from holoops.alerting.promrules import write_rules
    from holoops.errors import PrometheusError
    from holoops.sources.prometheus import PrometheusSource, to_epoch
    from holoops.timeutil import parse_duration

    src = prometheus if isinstance(prometheus, PrometheusSource) else PrometheusSource(str(prometheus))
    t1 = to_epoch(until if until is not None else "now")
    t0 = t1 - float(parse_duration(since))
    with tempfile.TemporaryDirectory(prefix="holoops-alerts-check-") as tmp:
        if rules is None:
            rules = write_rules(build_rules(fleet, promtool=False), Path(tmp), with_tests=False)
        loaded = load_rule_files(rules)
    recorded = {str(r["record"]) for _, _, r in loaded if "record" in r}
    uses: dict[str, list[dict[str, str]]] = {}
    scanned, n_recorded = [], 0
    for f, group, r in loaded:
        name = str(r.get("alert") or r.get("record") or "")
        try:
            sels = selectors(parse(str(r["expr"])))
        except PromQLSyntaxError:
            try:
                sels = scan_selectors(str(r["expr"]))
            except PromQLSyntaxError as exc:
                raise RuleError(f"{f}: group {group!r} rule {name!r}: cannot read its selectors: {exc}") from None
            scanned.append(name)
        for sel in sels:
            if sel.name in recorded:
                n_recorded += 1
                continue
            row = {"rule": name, "group": group, "service": str((r.get("labels") or {}).get("service", "")),
                   "file": str(f)}
            uses.setdefault(sel.text(), []).append(row)

    def ask(text: str) -> tuple[str, bool | None, str]:
        try:
            found = src.series(text, start=t0, end=t1)
        except PrometheusError as exc:
            if getattr(exc, "unreachable", False):
                raise
            return text, None, str(exc)
        return text, bool(len(found)), ""

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        answers = list(pool.map(ask, sorted(uses)))
    empty, errors = [], []
    for text, found, err in answers:
        seen: set[tuple[str, str, str]] = set()
        for row in uses[text]:
            key = (row["rule"], row["group"], row["service"])
            if key in seen:
                continue
            seen.add(key)
            if found is None:
                errors.append({**row, "selector": text, "error": err})
            elif not found:
                empty.append({**row, "selector": text})
    order = lambda d: (d["group"], d["rule"], d["service"], d["selector"])  # noqa: E731
    return CheckReport(src.url, pd.Timestamp(t0, unit="s", tz="UTC"), pd.Timestamp(t1, unit="s", tz="UTC"),
                       sorted({f for f, _, _ in loaded}), len(loaded), len(uses), sorted(empty, key=order),
                       sorted(errors, key=order), n_recorded, scanned)


# --- backtest --------------------------------------------------------------------------------------
@dataclass
class BacktestReport:
    """What the rules would have done over a history."""

    start: Any
    end: Any
    interval_s: float
    intervals: list                     # holoops.alerting.backtest.Interval
    notifications: list                 # holoops.alerting.backtest.Notification
    detections: list[dict[str, Any]]
    quiet: tuple[Any, Any] | None
    quiet_pages: int = 0
    quiet_notifications: int = 0

    @property
    def quiet_weeks(self) -> float:
        return (self.quiet[1] - self.quiet[0]).total_seconds() / 604800 if self.quiet else 0.0

    @property
    def pages_per_week_quiet(self) -> float | None:
        return self.quiet_pages / self.quiet_weeks if self.quiet_weeks else None

    @property
    def weeks(self) -> float:
        return (self.end - self.start).total_seconds() / 604800

    def per_rule(self):
        """One row per (rule, severity): times fired, total firing time, notifications, pages per week."""
        import pandas as pd

        rows: dict[tuple, dict[str, Any]] = {}
        for iv in self.intervals:
            k = (iv.rule.name, iv.rule.severity)
            r = rows.setdefault(k, {"rule": k[0], "severity": k[1], "fired": 0, "firing_min": 0.0,
                                    "first": None, "notifications": 0, "pages": 0})
            r["fired"] += 1
            r["firing_min"] += iv.duration_s / 60
            r["first"] = r["first"] or pd.Timestamp(iv.start, unit="s", tz="UTC")
        for n in self.notifications:
            for name, sev in {(a["alertname"], a.get("severity", "")) for a in n.alerts}:
                r = rows.get((name, sev))
                if r:
                    r["notifications"] += 1
                    r["pages"] += int(n.page)
        df = pd.DataFrame(list(rows.values()), columns=["rule", "severity", "fired", "firing_min", "first",
                                                         "notifications", "pages"])
        df["pages_per_week"] = df["pages"] / max(self.weeks, 1e-9)
        return df.sort_values(["severity", "rule"]).reset_index(drop=True)

    def firing(self):
        """Every firing interval: rule, labels, start, end, minutes."""
        import pandas as pd

        return pd.DataFrame([{"rule": iv.rule.name, "severity": iv.rule.severity,
                              "service": iv.labels.get("service"), "instance": iv.labels.get("instance"),
                              "start": pd.Timestamp(iv.start, unit="s", tz="UTC"),
                              "end": pd.Timestamp(iv.end, unit="s", tz="UTC"), "minutes": iv.duration_s / 60}
                             for iv in self.intervals])

    def to_text(self) -> str:
        import pandas as pd

        pages = sum(n.page for n in self.notifications)
        lines = [f"backtest {self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M} UTC "
                 f"({self.weeks:.1f} weeks, evaluated every {self.interval_s:g}s)",
                 f"firing intervals: {len(self.intervals)}; notifications: {len(self.notifications)}; "
                 f"pages: {pages} ({pages / max(self.weeks, 1e-9):.1f}/week overall)"]
        if self.quiet:
            lines.append(f"quiet period {self.quiet[0]:%Y-%m-%d} .. {self.quiet[1]:%Y-%m-%d %H:%M} "
                         f"({self.quiet_weeks:.1f} weeks): {self.quiet_pages} pages "
                         f"= {self.pages_per_week_quiet:.2f} pages/week, {self.quiet_notifications} notifications")
        if self.detections:
            lines += ["", "incident detection:"]
            for d in self.detections:
                ttd = "MISSED" if d["detected_at"] is None else f"{d['time_to_detect_min']:.1f} min"
                lines.append(f"  {d['id']:<8} {d['kind']:<22} {d['service']:<19} onset {d['onset']:%m-%d %H:%M}  "
                             f"detect {ttd:<10} via {d['via'] or '-':<40} budget {d['budget']:<18} "
                             f"{'OK' if d['within_budget'] else 'OVER BUDGET'}")
        lines += ["", "per rule:"]
        with pd.option_context("display.width", 160, "display.max_rows", 200):
            lines.append(self.per_rule().to_string(index=False, float_format=lambda x: f"{x:.2f}"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def backtest(metrics: Any, truth: list[dict[str, Any]] | None = None, fleet=None, groups: list | None = None,
             interval: str = "1m", start: Any = None, end: Any = None, quiet_until: Any = None,
             config: dict[str, Any] | None = None) -> BacktestReport:
    """Evaluate every rule over ``metrics`` at each ``interval`` step, simulate Alertmanager, judge detection.

    ``truth`` is the demo's labelled incidents (or ``[]``); the quiet period runs from the start to the
    first incident's onset (floored to a day) unless ``quiet_until`` is given.
    """
    import numpy as np
    import pandas as pd
    import yaml

    from holoops.alerting.alertmanager import build_config
    from holoops.alerting.backtest import evaluate_groups, firing_intervals, simulate_notifications
    from holoops.alerting.catalog import CATALOG_DIR
    from holoops.alerting.promql_eval import Store, selectors
    from holoops.fleet import load_fleet
    from holoops.timeutil import parse_duration

    fleet = fleet if fleet is not None and not isinstance(fleet, (str, Path)) else load_fleet(fleet)
    groups = groups if groups is not None else build_rules(fleet, promtool=False)
    policy = yaml.safe_load((CATALOG_DIR / "backtest.yaml").read_text(encoding="utf-8"))
    config = config or build_config(fleet)
    step = float(parse_duration(interval))
    from holoops.alerting.promql_eval import parse

    names = {s.name for g in groups for r in g.rules for s in selectors(parse(r.expr)) if s.name}
    store = Store(metrics, names)
    t0, t1 = store.time_range()
    s0 = float(pd.Timestamp(start).timestamp()) if start is not None else np.ceil(t0 / step) * step
    s1 = float(pd.Timestamp(end).timestamp()) if end is not None else np.floor(t1 / step) * step
    steps = np.arange(s0, s1 + step / 2, step)
    alerts = evaluate_groups(groups, store, steps)
    intervals = firing_intervals(alerts, steps, step)
    notes = simulate_notifications(intervals, config, policy["page_receivers"])
    start_ts, end_ts = pd.Timestamp(s0, unit="s", tz="UTC"), pd.Timestamp(s1, unit="s", tz="UTC")
    truth = list(truth or [])
    if quiet_until is not None:
        quiet = (start_ts, pd.Timestamp(quiet_until))
    elif truth:
        quiet = (start_ts, min(pd.Timestamp(i["onset"]) for i in truth).floor("D"))
    else:
        quiet = (start_ts, end_ts)
    if quiet[1] <= quiet[0]:
        quiet = None
    q0, q1 = (quiet[0].timestamp(), quiet[1].timestamp()) if quiet else (0.0, 0.0)
    in_quiet = [n for n in notes if q0 <= n.time < q1]
    detections = [_detect(inc, notes, policy) for inc in truth]
    return BacktestReport(start_ts, end_ts, step, intervals, notes, detections, quiet,
                          sum(n.page for n in in_quiet), len(in_quiet))


def _detect(inc: dict[str, Any], notes: list, policy: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    from holoops.timeutil import parse_duration

    onset = pd.Timestamp(inc["onset"])
    end = pd.Timestamp(inc["end"]) if inc.get("end") else None
    budget_spec = policy["detection_budget"].get(inc["kind"], policy["detection_budget"]["default"])
    mine = [n for n in notes if n.time >= onset.timestamp() and (end is None or n.time <= end.timestamp())
            and any(a.get("service") == inc["service"] for a in n.alerts)]
    if budget_spec == "before_exhaustion":
        hit = mine[0] if mine else None
        deadline = pd.Timestamp(inc.get("exhausts_at") or inc["end"])
        budget_text = f"before {deadline:%m-%d %H:%M}"
    else:
        hit = next((n for n in mine if n.page), None)
        deadline = onset + pd.Timedelta(seconds=parse_duration(str(budget_spec)))
        budget_text = f"page <= {budget_spec}"
    at = pd.Timestamp(hit.time, unit="s", tz="UTC") if hit else None
    via = ", ".join(sorted({a["alertname"] for a in hit.alerts if a.get("service") == inc["service"]})) if hit else None
    return {"id": inc.get("id", ""), "kind": inc["kind"], "service": inc["service"], "onset": onset,
            "detected_at": at, "time_to_detect_min": (at - onset).total_seconds() / 60 if at is not None else None,
            "via": via, "receiver": hit.receiver if hit else None, "budget": budget_text,
            "within_budget": at is not None and at <= deadline}


def agreement_test(metrics: Any, groups: list, start: Any, end: Any, alertnames: list[str] | None = None,
                   rule_file: str = "rules.yml", interval: str = "1m", every: int = 5) -> tuple[str, str, int]:
    """A promtool unit test of holoops' backtest over ``[start, end]`` of ``metrics``.

    Returns ``(rules_yaml, test_yaml, n_firing_cases)``: the metrics the rules read become
    ``input_series`` (snapped to the ``interval`` grid, time shifted to 0), and holoops' predicted alerts
    (firing or none) become ``exp_alerts`` every ``every`` steps. promtool passing = agreement.
    """
    import numpy as np
    import pandas as pd

    from holoops.alerting.backtest import alerts_at, evaluate_groups
    from holoops.alerting.catalog import RuleGroup
    from holoops.alerting.promql_eval import Series, Store, parse, selectors
    from holoops.alerting.promrules import _dump, rule_file_text
    from holoops.timeutil import format_duration, parse_duration

    step = float(parse_duration(interval))
    names = {s.name for g in groups for r in g.rules for s in selectors(parse(r.expr)) if s.name}
    s0, s1 = pd.Timestamp(start).timestamp(), pd.Timestamp(end).timestamp()
    full = Store(metrics, names)
    n = int((s1 - s0) // step) + 1
    grid = Store()
    input_series = []
    for series_list in full.series.values():
        for s in series_list:
            keep = (s.t >= s0) & (s.t <= s1)
            if not keep.any():
                continue
            idx = np.round((s.t[keep] - s0) / step).astype(int)
            vals = np.full(n, np.nan)
            vals[idx] = s.v[keep]                      # snap to the grid (last sample wins)
            ok = ~np.isnan(vals)
            grid.series.setdefault(s.labels["__name__"], []).append(
                Series(dict(s.labels), np.flatnonzero(ok) * step, vals[ok]))
            text = " ".join("_" if np.isnan(v) else repr(float(v)) for v in vals)
            lab = ",".join(f'{k}="{v}"' for k, v in s.labels.items() if k != "__name__")
            input_series.append({"series": f"{s.labels['__name__']}{{{lab}}}", "values": text})
    steps = np.arange(0, n) * step
    alerts = evaluate_groups(groups, grid, steps)
    wanted = alertnames or sorted({r.name for g in groups for r in g.rules if r.kind == "alert"})
    cases, firing = [], 0
    for i in range(0, n, every):
        for name in wanted:
            exp = alerts_at(alerts, i, name)
            firing += bool(exp)
            cases.append({"eval_time": format_duration(i * step), "alertname": name, "exp_alerts": exp})
    test = {"rule_files": [rule_file], "evaluation_interval": format_duration(step),
            "tests": [{"name": f"holoops backtest {pd.Timestamp(start)} .. {pd.Timestamp(end)}",
                       "interval": format_duration(step), "input_series": input_series,
                       "alert_rule_test": cases}]}
    return rule_file_text([RuleGroup(g.name, g.rules) for g in groups]), _dump(test), firing
