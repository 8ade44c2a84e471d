"""Write Prometheus rule files and ``promtool test rules`` unit tests, and run promtool on them.

Each rule with a fixture gets a test group: the fixture's input series, then ``exp_alerts`` at a quiet
and a firing eval time. The expected alerts come from holoops' own evaluator, so a passing promtool run
also shows the evaluator agrees with Prometheus' rule engine on that fixture.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from holoops.alerting.catalog import RuleGroup
from holoops.errors import RuleError


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def group_file_names(groups: list[RuleGroup]) -> list[str]:
    """``<slug of the group name>.yml`` per group; names that slug alike (``a"b``, ``a-b``) get ``-2``, ..."""
    out: list[str] = []
    for g in groups:
        stem = slug(g.name.replace(":", "-")) or "group"
        name, n = f"{stem}.yml", 1
        while name in out:
            n += 1
            name = f"{stem}-{n}.yml"
        out.append(name)
    return out


def _dump(data: Any) -> str:
    import yaml

    class _D(yaml.SafeDumper):
        pass

    _D.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s,
                                                            style="'" if ("{{" in s or s[:1] in "*&!%@`") else None))
    return yaml.dump(data, Dumper=_D, sort_keys=False, width=200, allow_unicode=True)


def rule_file_text(groups: list[RuleGroup]) -> str:
    return _dump({"groups": [g.to_prometheus() for g in groups]})


def _seconds(text: str | int | float) -> int:
    from holoops.timeutil import parse_duration

    return int(parse_duration(text))


def fixture_series(rule) -> list[tuple[str, str]]:
    from holoops.alerting.slo_rules import scenario_series

    fx = rule.fixture or {}
    if "series" in fx:
        return list(fx["series"])
    if "scenario" in fx:
        return scenario_series(fx["scenario"], rule.service)
    return []


def unit_tests(group: RuleGroup, interval_s: int = 60) -> list[dict[str, Any]]:
    """One promtool test group per alert rule with a fixture: a quiet and a firing eval time."""
    from holoops.alerting.backtest import alerts_at, evaluate_groups
    from holoops.alerting.promql_eval import store_from_series
    from holoops.timeutil import format_duration

    tests = []
    for rule in group.rules:
        if rule.kind != "alert" or not rule.fixture:
            continue
        series = fixture_series(rule)
        quiet, firing = _seconds(rule.fixture["quiet_at"]), _seconds(rule.fixture["firing_at"])
        store = store_from_series(series, interval_s)
        steps = np.arange(0, max(quiet, firing) + interval_s, interval_s, dtype=float)
        # only this alert name and the recording rules (which it may read) need evaluating
        sub = [RuleGroup(group.name, [r for r in group.rules if r.kind == "record" or r.name == rule.name])]
        alerts = evaluate_groups(sub, store, steps)
        cases = []
        for t, want in ((quiet, False), (firing, True)):
            exp = alerts_at(alerts, int(t // interval_s), rule.name)
            mine = [e for e in exp if e["exp_labels"].get("service") == rule.service
                    and e["exp_labels"].get("severity") == rule.severity]
            if bool(mine) != want:
                raise RuleError(f"rule {rule.ident}: its test fixture does not {'fire' if want else 'stay quiet'} "
                                f"at {format_duration(t)} (fix 'test' in {rule.source})")
            cases.append({"eval_time": format_duration(t), "alertname": rule.name, "exp_alerts": exp})
        tests.append({"name": f"{rule.ident} [{rule.severity}]: quiet at {rule.fixture['quiet_at']}, "
                              f"firing at {rule.fixture['firing_at']}",
                      "interval": format_duration(interval_s),
                      "input_series": [{"series": s, "values": v} for s, v in series],
                      "alert_rule_test": cases})
    return tests


def write_rules(groups: list[RuleGroup], folder: Path, with_tests: bool = True) -> list[Path]:
    """``folder/<group>.yml`` per group and ``folder/tests/<group>.test.yml``; returns the rule files."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for g, fname in zip(groups, group_file_names(groups), strict=True):
        p = folder / fname
        p.write_text(rule_file_text([g]), encoding="utf-8")
        files.append(p)
        if with_tests:
            tests = unit_tests(g)
            if tests:
                (folder / "tests").mkdir(exist_ok=True)
                (folder / "tests" / f"{p.stem}.test.yml").write_text(
                    _dump({"rule_files": [f"../{p.name}"], "evaluation_interval": "1m", "tests": tests}),
                    encoding="utf-8")
    return files


def promtool_check_rules(files: list[Path], exe: str = "promtool") -> tuple[bool, str]:
    res = subprocess.run([exe, "check", "rules", *map(str, files)], capture_output=True, text=True, timeout=300)
    return res.returncode == 0, (res.stdout + res.stderr).strip()


def promtool_test_rules(files: list[Path], exe: str = "promtool", jobs: int = 2) -> tuple[bool, str]:
    """Run ``promtool test rules`` over test files, ``jobs`` processes at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def one(f: Path):
        r = subprocess.run([exe, "test", "rules", f.name], cwd=f.parent, capture_output=True, text=True,
                           timeout=600)
        return r.returncode == 0, f"{f.name}: " + (r.stdout + r.stderr).strip()

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, files))
    return all(ok for ok, _ in results), "\n".join(msg for _, msg in results)
