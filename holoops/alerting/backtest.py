"""Backtest alert rules over a metrics history, then simulate Alertmanager's notifications.

1. ``evaluate_groups`` runs every rule at every evaluation step (recording rules feed later rules, as in
   a Prometheus rule group) and applies ``for`` holds: an alert fires at step t when its expression has
   returned the label set at every step since t0 and ``t - t0 >= for``.
2. ``firing_intervals`` turns that into (rule, labels, start, end) intervals.
3. ``simulate_notifications`` routes each alert (Alertmanager routing tree), groups by ``group_by``,
   applies inhibition and mute time intervals, and emits a notification at ``group_wait`` after a group
   appears, then at each ``group_interval`` when new alerts joined, or after ``repeat_interval``.
4. ``backtest`` adds the report: per rule firing time, pages per week, time to detect each incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from holoops.alerting.catalog import Rule, RuleGroup, expand_labels


@dataclass
class AlertSeries:
    """An alert rule's label sets and, per step, whether each is firing."""

    rule: Rule
    labels: list[dict[str, str]]          # alert labels (expression labels + rule labels + alertname)
    expr_labels: list[dict[str, str]]     # what $labels sees in annotations
    firing: np.ndarray                    # bool (n_labelsets, n_steps)


def evaluate_groups(groups: list[RuleGroup], store, steps: np.ndarray) -> list[AlertSeries]:
    """Evaluate all rules at every step; recording rules are stored for the rules after them."""
    from holoops.alerting.promql_eval import Evaluator, Vector, parse

    ev = Evaluator(store, steps)
    out: list[AlertSeries] = []
    for g in groups:
        for r in g.rules:
            res = ev.eval(parse(r.expr))
            if not isinstance(res, Vector):
                res = Vector([{}], np.asarray(res, float)[None, :])
            res = _merge_identities(res)
            if r.kind == "record":
                labels = [{**{k: v for k, v in lb.items() if k != "__name__"}, **r.labels, "__name__": r.name}
                          for lb in res.labels]
                prev = store.recorded.get(r.name)
                store.recorded[r.name] = Vector(labels, res.values) if prev is None else \
                    Vector(prev.labels + labels, np.vstack([prev.values, res.values]))
                continue
            present = ~np.isnan(res.values)
            firing = _hold(present, steps, r.for_s)
            labels = [{**{k: v for k, v in lb.items() if k != "__name__"}, **r.labels, "alertname": r.name}
                      for lb in res.labels]
            out.append(AlertSeries(r, labels, [dict(lb) for lb in res.labels], firing))
    return out


def _merge_identities(vec):
    """Rows whose labels differ only in ``__name__`` are one series once the rule drops the name."""
    from holoops.alerting.promql_eval import Vector

    keys: dict[tuple, int] = {}
    labels, rows = [], []
    for lb, row in zip(vec.labels, vec.values, strict=False):
        k = tuple(sorted((a, b) for a, b in lb.items() if a != "__name__"))
        if k in keys:
            j = keys[k]
            rows[j] = np.where(np.isnan(rows[j]), row, rows[j])
        else:
            keys[k] = len(rows)
            labels.append({a: b for a, b in lb.items() if a != "__name__"})
            rows.append(row)
    if len(rows) == len(vec.labels):
        return vec
    return Vector(labels, np.array(rows))


def _hold(present: np.ndarray, steps: np.ndarray, for_s: float) -> np.ndarray:
    """Firing mask: present at every step of the current run and run age >= ``for``."""
    if for_s <= 0 or present.size == 0:
        return present.copy()
    n = present.shape[1]
    idx = np.arange(n)
    # index of the step where the current run started (last step that was not present, + 1)
    last_absent = np.where(~present, idx[None, :], -1)
    last_absent = np.maximum.accumulate(last_absent, axis=1)
    start = np.clip(last_absent + 1, 0, n - 1)
    age = steps[None, :] - steps[start]
    return present & (age >= for_s - 1e-9)


@dataclass
class Interval:
    rule: Rule
    labels: dict[str, str]
    start: float
    end: float                 # first step it is no longer firing (or the last step + interval)

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def firing_intervals(alerts: list[AlertSeries], steps: np.ndarray, interval_s: float) -> list[Interval]:
    out = []
    for a in alerts:
        for i, lb in enumerate(a.labels):
            f = a.firing[i].astype(np.int8)
            edges = np.diff(np.concatenate([[0], f, [0]]))
            for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=False):
                end = steps[e] if e < len(steps) else steps[-1] + interval_s
                out.append(Interval(a.rule, lb, float(steps[s]), float(end)))
    return sorted(out, key=lambda x: x.start)


def alerts_at(alerts: list[AlertSeries], step_index: int, alertname: str) -> list[dict[str, Any]]:
    """Firing alerts of ``alertname`` at a step, as promtool's ``exp_alerts`` entries."""
    out = []
    for a in alerts:
        if a.rule.name != alertname:
            continue
        for i, lb in enumerate(a.labels):
            if a.firing[i, step_index]:
                exp = {k: v for k, v in lb.items() if k != "alertname"}
                ann = {k: expand_labels(v, a.expr_labels[i]) for k, v in a.rule.annotations.items()}
                out.append({"exp_labels": exp, "exp_annotations": ann})
    return sorted(out, key=lambda d: sorted(d["exp_labels"].items()))


# --- Alertmanager simulation ---------------------------------------------------------------------
@dataclass
class Notification:
    time: float
    receiver: str
    group_key: str
    alerts: list[dict[str, str]]
    page: bool = False


@dataclass
class _Route:
    matchers: list[tuple[str, str, str]]
    receiver: str
    group_by: list[str]
    group_wait: float
    group_interval: float
    repeat_interval: float
    cont: bool
    mute: list[str]
    routes: list[_Route] = field(default_factory=list)
    path: str = "0"


def _matchers(spec: dict) -> list[tuple[str, str, str]]:
    """Alertmanager matchers (``name="value"``, ``name=~"re"``; quoted values unescaped as Alertmanager
    does: ``\\"`` is a quote, ``\\\\`` a backslash, ``\\n`` a newline)."""
    import re

    out = []
    for m in spec.get("matchers") or []:
        mm = re.match(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$', m)
        if mm:
            value = mm.group(3)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r'\\(.)', lambda x: "\n" if x.group(1) == "n" else x.group(1), value[1:-1])
            out.append((mm.group(1), mm.group(2), value))
    return out


def parse_routes(config: dict) -> _Route:
    """The Alertmanager routing tree of a config dict, with inherited settings resolved."""
    from holoops.timeutil import parse_duration

    def build(spec: dict, parent: _Route | None, path: str) -> _Route:
        def get(key, default):
            return spec.get(key, getattr(parent, key) if parent else default)

        r = _Route(_matchers(spec), spec.get("receiver", parent.receiver if parent else ""),
                   list(spec.get("group_by", parent.group_by if parent else [])),
                   parse_duration(spec["group_wait"]) if "group_wait" in spec else get("group_wait", 30),
                   parse_duration(spec["group_interval"]) if "group_interval" in spec else get("group_interval", 300),
                   parse_duration(spec["repeat_interval"]) if "repeat_interval" in spec else get("repeat_interval", 14400),
                   bool(spec.get("continue", False)), list(spec.get("mute_time_intervals", [])), path=path)
        r.routes = [build(s, r, f"{path}.{i}") for i, s in enumerate(spec.get("routes") or [])]
        return r

    return build(config["route"], None, "0")


def _match(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    from holoops.alerting.promql_eval import _matches

    return _matches(labels, matchers)


def route_alert(root: _Route, labels: dict[str, str]) -> list[_Route]:
    """The routes an alert lands on (Alertmanager's depth-first match with ``continue``)."""
    def walk(node: _Route) -> list[_Route]:
        if not _match(labels, node.matchers):
            return []
        out: list[_Route] = []
        for child in node.routes:
            got = walk(child)
            out += got
            if got and not child.cont:
                break
        return out or [node]

    return walk(root)


def _muted(t: float, names: list[str], intervals: dict[str, list[dict]]) -> bool:
    import pandas as pd

    if not names:
        return False
    ts = pd.Timestamp(t, unit="s", tz="UTC")
    day = ts.day_name().lower()
    minute = ts.hour * 60 + ts.minute
    for name in names:
        for ti in intervals.get(name, []):
            if ti.get("weekdays") and not any(day == w or (":" in w and _in_weekday_range(day, w))
                                              for w in ti["weekdays"]):
                continue
            times = ti.get("times") or [{"start_time": "00:00", "end_time": "24:00"}]
            for tr in times:
                a = _minutes(tr["start_time"])
                b = _minutes(tr["end_time"])
                if a <= minute < b:
                    return True
    return False


_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _in_weekday_range(day: str, rng: str) -> bool:
    a, b = rng.split(":")
    return _DAYS.index(a) <= _DAYS.index(day) <= _DAYS.index(b)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _inhibited(iv: Interval, t: float, active: list[Interval], rules: list[dict]) -> bool:
    for rule in rules:
        if not _match(iv.labels, _matchers({"matchers": rule.get("target_matchers", [])})):
            continue
        src = _matchers({"matchers": rule.get("source_matchers", [])})
        for other in active:
            if other is iv or not (other.start <= t < other.end):
                continue
            if _match(other.labels, src) and all(other.labels.get(k, "") == iv.labels.get(k, "")
                                                 for k in rule.get("equal", [])):
                return True
    return False


def simulate_notifications(intervals: list[Interval], config: dict, page_receivers: list[str] | None = None,
                           ) -> list[Notification]:
    """Notifications a human would get from ``intervals`` under Alertmanager config ``config``."""
    root = parse_routes(config)
    inhibit = config.get("inhibit_rules") or []
    mutes = {ti["name"]: ti["time_intervals"] for ti in config.get("time_intervals") or []}
    pages = set(page_receivers or [])
    groups: dict[tuple, list[Interval]] = {}
    routes: dict[tuple, _Route] = {}
    for iv in intervals:
        for r in route_alert(root, iv.labels):
            key = (r.path, r.receiver, tuple((k, iv.labels.get(k, "")) for k in r.group_by))
            groups.setdefault(key, []).append(iv)
            routes[key] = r
    out: list[Notification] = []
    for key, ivs in groups.items():
        r = routes[key]
        ivs = sorted(ivs, key=lambda x: x.start)
        i = 0
        while i < len(ivs):
            t = ivs[i].start + r.group_wait        # a new aggregation group appears
            sent: set[int] = set()
            last_sent = -np.inf
            while True:
                alive = [x for x in ivs if x.start <= t]
                firing = [x for x in alive if x.start <= t < x.end]
                show = [x for x in firing if not _inhibited(x, t, intervals, inhibit)
                        and not _muted(t, r.mute, mutes)]
                ids = {id(x) for x in show}
                if show and (not ids <= sent or t - last_sent >= r.repeat_interval):
                    out.append(Notification(t, r.receiver, f"{key[0]}:{dict(key[2])}",
                                            [x.labels for x in show], r.receiver in pages))
                    sent, last_sent = ids, t
                elif not show:
                    sent = set()
                if not firing and not any(x.start > t - r.group_interval and x.start <= t for x in ivs):
                    break                           # every alert resolved: the group is deleted
                t += r.group_interval
            i = next((j for j, x in enumerate(ivs) if x.start > t), len(ivs))
    return sorted(out, key=lambda n: n.time)
