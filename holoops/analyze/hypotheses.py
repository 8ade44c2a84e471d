"""Hypotheses for an incident window: the catalog's checks evaluated against the frames, scored and ranked.

The candidate causes and their evidence checks are data (``holoops/catalogs/hypotheses.yaml``). For a
window ``[start, end]`` this module computes, per service, a handful of signals (5xx ratio, p50/p99 and
their ratio to a baseline, share of targets down, GPU/CPU/memory/disk saturation, disk fill rate against
its baseline and days left, share of retried calls), then evaluates every hypothesis on every service.
Each check returns ``(ok, evidence text with numbers)``; the score is the weighted share of supporting
checks that hold, reduced when a required check fails or a refuting check holds. Ranking is across ALL
incident kinds, so a runbook opened for the wrong kind still shows the true cause first, and a quiet window
scores nothing at or above the catalog's ``threshold``.

Pure functions over pandas frames (other engines are converted); nothing is displayed here.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holoops.timeutil import utc as _ts

CATALOG = Path(__file__).resolve().parents[1] / "catalogs" / "hypotheses.yaml"
OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
#: signals whose summary over the window is the minimum (the rest: maximum)
MIN_SIGNALS = {"disk_days_left", "suspect_rank"}
#: a change this long before the symptom is taken as the onset
ONSET_LEAD = "30min"
SIGNALS = ("error_ratio", "error_ratio_up", "p50_ms", "p99_ms", "p50_x", "p99_x", "down_share",
           "gpu_memory_share", "gpu_util_share", "cpu_share", "memory_share", "disk_share", "disk_fill_x",
           "disk_days_left", "retry_share",
           # from the root-cause ranking (holoops.analyze.rca) of the incident's onset
           "suspect_rank", "suspect_share", "cpu_evidence", "error_evidence", "break_evidence",
           "network_evidence", "latency_evidence")
#: the rca signals: each the strongest evidence of that kind (-log10 p, or log2 excess for metrics)
RCA_SIGNALS = {"cpu_evidence": ("cpu",), "error_evidence": ("errors",), "break_evidence": ("structure",),
               "network_evidence": ("network",), "latency_evidence": ("latency",)}
_CHECK_KEYS = {"signal", "op", "value", "of", "log_pattern", "min", "from", "level", "event", "weight",
               "required", "refutes", "label"}

__all__ = ["CATALOG", "CheckResult", "Scored", "WindowData", "load_catalog", "window_data", "evaluate_check",
           "evaluate", "incident_found"]


# --- the catalog --------------------------------------------------------------------------------
def load_catalog(path: str | Path | None = None) -> dict[str, Any]:
    """The hypothesis catalog, checked: every hypothesis has id, kind, cause, checks of a known shape."""
    import yaml

    from holoops.errors import RuleError

    src = Path(path or CATALOG)
    data = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
    seen: set[str] = set()
    for i, h in enumerate(data.get("hypotheses") or []):
        where = f"{src}: hypotheses[{i}]"
        for key in ("id", "kind", "cause", "checks"):
            if key not in h:
                raise RuleError(f"{where}: missing {key!r}")
        if h["id"] in seen:
            raise RuleError(f"{where}: duplicate id {h['id']!r}")
        seen.add(h["id"])
        for j, c in enumerate(h["checks"]):
            unknown = set(c) - _CHECK_KEYS
            if unknown:
                raise RuleError(f"{where}.checks[{j}] ({h['id']}): unknown keys {sorted(unknown)}")
            if "signal" in c:
                if c["signal"] not in SIGNALS:
                    raise RuleError(f"{where}.checks[{j}] ({h['id']}): unknown signal {c['signal']!r}; "
                                    f"known: {', '.join(SIGNALS)}")
                if c.get("op") not in OPS:
                    raise RuleError(f"{where}.checks[{j}] ({h['id']}): op must be one of {', '.join(OPS)}")
            elif "log_pattern" in c:
                try:
                    re.compile(str(c["log_pattern"]).replace("{service}", "x"))
                except re.error as exc:
                    raise RuleError(f"{where}.checks[{j}] ({h['id']}): bad regex: {exc}") from None
            elif "event" not in c:
                raise RuleError(f"{where}.checks[{j}] ({h['id']}): needs signal, log_pattern or event")
    data.setdefault("threshold", 0.5)
    data.setdefault("required_penalty", 0.3)
    data.setdefault("refute_factor", 0.4)
    data.setdefault("baseline", "24h")
    return data


# --- the window's data ----------------------------------------------------------------------------
@dataclass
class WindowData:
    """What the checks look at: per (service, signal) a time series over the window, plus the window's
    logs, spans and events, and each signal's baseline (for the text)."""

    start: Any
    end: Any
    series: dict[tuple[str, str], Any] = field(default_factory=dict)
    baselines: dict[tuple[str, str], float] = field(default_factory=dict)
    logs: Any = None
    events: Any = None
    services: list[str] = field(default_factory=list)
    #: the root-cause ranking of the incident (:class:`holoops.analyze.rca.Diagnosis`), when computed
    diagnosis: Any = None

    def summary(self, service: str, signal: str) -> float:
        """The window's max of a signal (min for ``disk_days_left``); NaN when there is no data."""
        s = self.series.get((service, signal))
        if s is None or len(s.dropna()) == 0:
            return float("nan")
        return float(s.min() if signal in MIN_SIGNALS else s.max())


def _pd(frame: Any) -> Any:
    if frame is None:
        return None
    from holoops.frames import to_pandas

    return to_pandas(frame)


def _slice(df: Any, col: str, a: Any, b: Any) -> Any:
    if df is None or len(df) == 0:
        return df
    return df[(df[col] >= a) & (df[col] <= b)]


def window_data(metrics: Any, fleet: Any, start: Any, end: Any, *, logs: Any = None, spans: Any = None,
                events: Any = None, baseline: str = "24h", step: str = "1m", diagnosis: Any = None) -> WindowData:
    """Compute every signal per service over ``[start, end]`` (baseline: ``baseline`` before ``start``;
    the window itself when the data begins later). ``diagnosis`` (:func:`holoops.analyze.rca.diagnose`
    of the incident) gives the ``suspect_*`` and ``*_evidence`` signals: the hypotheses rank services as
    the root-cause analysis does."""
    import numpy as np
    import pandas as pd

    from holoops.analyze.signals import golden_signals, saturation
    from holoops.timeutil import parse_timedelta

    start, end = _ts(start), _ts(end)
    base = pd.Timedelta(parse_timedelta(baseline))
    m = _slice(_pd(metrics), "ts", start - base, end)
    wd = WindowData(start, end, services=list(fleet.services))
    wd.logs = _slice(_pd(logs), "ts", start, end)
    wd.events = _slice(_pd(events), "ts", start, end)
    if diagnosis is not None:
        _rca_signals(wd, diagnosis)
    if m is None or len(m) == 0:
        return wd

    def put(svc: str, name: str, s: pd.Series, base_value: float | None = None) -> None:
        win = s[(s.index >= start) & (s.index <= end)]
        wd.series[(svc, name)] = win
        if base_value is not None:
            wd.baselines[(svc, name)] = base_value

    def base_of(s: pd.Series) -> float:
        b = s[s.index < start].dropna()
        if len(b) < 60:  # no history before the window: its own median
            b = s[(s.index >= start) & (s.index <= end)].dropna()
        return float(b.median()) if len(b) else float("nan")

    from holoops.analyze.signals import rate_window
    from holoops.analyze.timeline import MIN_TAIL

    win = rate_window(m)
    gs = _pd(golden_signals(m, fleet, step=step, window=win))
    win_s = pd.Timedelta(win).total_seconds()
    for svc, g in gs.groupby("service", sort=False):
        g = g.set_index("ts").sort_index()
        er = g["error_ratio"].rolling(3, min_periods=1).mean()
        put(svc, "error_ratio", er)
        er_base = base_of(er)
        put(svc, "error_ratio_up", er - (er_base if er_base == er_base else 0.0), er_base)
        n_req = g["rps"] * win_s
        for q in ("p50", "p99"):
            # a quantile of fewer than MIN_TAIL requests beyond it moves a bucket on one request
            qv = 0.5 if q == "p50" else 0.99
            raw = g[f"{q}_ms"].where(n_req.isna() | (n_req * (1 - qv) >= MIN_TAIL))
            lat = raw.rolling(5, min_periods=1).median()
            b = base_of(lat)
            put(svc, f"{q}_ms", lat, b)
            put(svc, f"{q}_x", lat / b if b and b > 0 else lat * np.nan, b)

    up = m[m["metric"] == "up"]
    if len(up):
        down = (up.assign(d=(up["value"] == 0).astype(float)).groupby(["service", "ts"])["d"].mean())
        for svc, s in down.groupby(level=0):
            put(svc, "down_share", s.droplevel(0).sort_index())

    sat = _pd(saturation(m, fleet, step=step))
    for (svc, res), g in sat.groupby(["service", "resource"], sort=False):
        g = g.set_index("ts").sort_index()
        name = {"gpu_util": "gpu_util_share", "gpu_memory": "gpu_memory_share", "cpu": "cpu_share",
                "memory": "memory_share", "disk": "disk_share"}.get(res)
        if name is None:
            continue
        put(svc, name, g["value"])
        if res == "disk":
            used = g["used"].astype(float)
            limit = float(g["limit"].astype(float).iloc[-1])
            # fill rate over 2 hours (scrape noise cancels), bytes/s; a cleanup counts as 0
            dt = used.index.to_series().diff(120).dt.total_seconds()
            rate = (used.diff(120) / dt).clip(lower=0)
            b = base_of(rate)
            # a rate that would fill the disk within a year is the least that counts as "filling"
            floor = max(b if b == b else 0.0, limit / (365 * 86400.0), 1.0)
            put(svc, "disk_fill_x", rate / floor, b)
            left = (limit - used) / rate.where(rate > limit / (365 * 86400.0)) / 86400.0
            left = left.fillna(float("inf"))
            put(svc, "disk_days_left", left)

    sp = _slice(_pd(spans), "start", start, end)
    if sp is not None and len(sp) and "attempt" in sp.columns:
        sp = sp.assign(retry=(sp["attempt"].fillna(1) > 1).astype(float))
        for svc, g in sp.groupby("service", sort=False):
            s = g.set_index("start")["retry"].sort_index().resample("10min").mean()
            put(svc, "retry_share", s)
    return wd


def _rca_signals(wd: WindowData, diagnosis: Any) -> None:
    """``suspect_rank`` (1 = first; none when the diagnosis abstains), ``suspect_share`` (the service's
    score over the top one's) and the strongest evidence of each kind, as one-point series at the
    diagnosis's start."""
    import pandas as pd

    wd.diagnosis = diagnosis
    at = pd.Timestamp(diagnosis.start)
    top = diagnosis.suspects[0].score if diagnosis.suspects else 0.0
    for i, s in enumerate(diagnosis.suspects, 1):
        def put(name: str, v: float, svc: str = s.service) -> None:
            wd.series[(svc, name)] = pd.Series([float(v)], index=[at])

        if not diagnosis.abstain:
            put("suspect_rank", i)
        put("suspect_share", s.score / top if top > 0 else 0.0)
        for name, kinds in RCA_SIGNALS.items():
            put(name, max((e.score for e in s.evidence if e.kind in kinds), default=0.0))


# --- checks ---------------------------------------------------------------------------------------
@dataclass
class CheckResult:
    """One check of one hypothesis on one service: whether it held and the evidence, in words and numbers."""

    check: dict[str, Any]
    ok: bool
    text: str
    first_at: Any = None
    last_at: Any = None

    @property
    def refutes(self) -> bool:
        return bool(self.check.get("refutes"))

    @property
    def required(self) -> bool:
        return bool(self.check.get("required"))

    @property
    def weight(self) -> float:
        return float(self.check.get("weight", 1))


def _closure(fleet: Any, service: str) -> list[str]:
    out: list[str] = []
    todo = list(fleet.service(service).depends_on) if service in fleet.services else []
    while todo:
        s = todo.pop(0)
        if s not in out:
            out.append(s)
            todo.extend(fleet.service(s).depends_on)
    return out


def _fmt(signal: str, v: float) -> str:
    if v != v:
        return "no data"
    if signal == "suspect_rank":
        return f"#{v:.0f}"
    if signal.endswith("_evidence"):
        return f"{v:.1f}"
    if signal.endswith("_share") or signal in ("error_ratio", "error_ratio_up"):
        return f"{v:.1%}"
    if signal.endswith("_x"):
        return f"x{v:.1f}"
    if signal.endswith("_ms"):
        return f"{v:.0f} ms"
    if signal == "disk_days_left":
        return "never" if v == float("inf") else f"{v:.1f} days"
    return f"{v:.3g}"


def _crossing(s: Any, op: str, value: float) -> tuple[Any, Any]:
    hit = OPS[op](s, value) & s.notna()
    if not hit.any():
        return None, None
    idx = s.index[hit.to_numpy()]
    return idx[0], idx[-1]


def _signal_check(c: dict[str, Any], wd: WindowData, service: str, fleet: Any) -> CheckResult:
    sig, op, value = c["signal"], c["op"], float(c["value"])
    targets = _closure(fleet, service) if c.get("of") == "dependency" else [service]
    best: tuple[bool, str, float, Any, Any] | None = None
    for t in targets:
        v = wd.summary(t, sig)
        ok = v == v and OPS[op](v, value)
        first = last = None
        if ok:
            first, last = _crossing(wd.series[(t, sig)], op, value)
        b = wd.baselines.get((t, sig))
        extra = f" (baseline {_fmt(sig.replace('_x', '_ms') if sig.endswith('_x') else sig, b)})" \
            if b is not None and b == b and not sig.endswith("fill_x") else ""
        if sig == "disk_fill_x" and b is not None and b == b:
            extra = f" (baseline {b / 2**20:.3f} MiB/s)"
        agg = "min" if sig in MIN_SIGNALS else "max"
        text = f"{t}: {sig} {agg} {_fmt(sig, v)}{extra} {op} {_fmt(sig, value)}"
        if best is None or (ok and not best[0]):
            best = (ok, text, v, first, last)
        if ok:
            break
    if best is None:
        return CheckResult(c, False, f"{sig}: {service} has no dependencies")
    ok, text, _v, first, last = best
    if c.get("of") == "dependency":
        text = f"dependency {text}"
    return CheckResult(c, bool(ok), text, first, last)


def _log_check(c: dict[str, Any], wd: WindowData, service: str) -> CheckResult:
    pattern = str(c["log_pattern"]).replace("{service}", re.escape(service))
    need = int(c.get("min", 1))
    logs = wd.logs
    if logs is None or len(logs) == 0:
        return CheckResult(c, False, f"no logs in the window for /{pattern}/")
    if c.get("from") != "any":
        logs = logs[logs["service"] == service]
    if c.get("level"):
        logs = logs[logs["level"] == c["level"]]
    with warnings.catch_warnings():  # groups in the pattern are fine: only the match matters
        warnings.simplefilter("ignore", UserWarning)
        hit = logs["message"].astype(str).str.contains(pattern, case=False, regex=True, na=False)
    n = int(hit.sum())
    where = "all services" if c.get("from") == "any" else service
    text = f"{n} log lines of {where}{' at ' + c['level'] if c.get('level') else ''} match /{pattern}/ (need {need})"
    if n:
        import pandas as pd

        first_line = pd.DataFrame({"ts": logs["ts"][hit], "message": logs["message"][hit].astype(str)})
        sample = first_line.sort_values(["ts", "message"], kind="stable")["message"].iloc[0][:90]
        text += f", e.g. \"{sample}\""
    first = logs["ts"][hit].min() if n else None
    return CheckResult(c, n >= need, text, first, logs["ts"][hit].max() if n else None)


def _event_check(c: dict[str, Any], wd: WindowData, service: str) -> CheckResult:
    kinds = c["event"] if isinstance(c["event"], list) else [c["event"]]
    ev = wd.events
    if ev is None or len(ev) == 0:
        return CheckResult(c, False, f"no {'/'.join(kinds)} event of {service} in the window")
    ev = ev[(ev["service"] == service) & ev["kind"].isin(kinds)]
    if not len(ev):
        return CheckResult(c, False, f"no {'/'.join(kinds)} event of {service} in the window")
    e = ev.sort_values(["ts", "detail"], kind="stable").iloc[0]
    return CheckResult(c, True, f"{e['kind']} at {e['ts']:%Y-%m-%d %H:%M}: {e['detail']}", e["ts"], e["ts"])


def evaluate_check(check: dict[str, Any], wd: WindowData, service: str, fleet: Any) -> CheckResult:
    """One check on one service: ``CheckResult`` (``ok``, ``text`` with the numbers)."""
    if "signal" in check:
        return _signal_check(check, wd, service, fleet)
    if "log_pattern" in check:
        return _log_check(check, wd, service)
    return _event_check(check, wd, service)


# --- scoring --------------------------------------------------------------------------------------
@dataclass
class Scored:
    """A hypothesis evaluated on one service: its score, and the checks for and against."""

    id: str
    kind: str
    service: str
    cause: str
    score: float
    checks: list[CheckResult]
    remediation: str | None = None

    @property
    def supporting(self) -> list[str]:
        """Evidence for: supporting checks that hold."""
        return [c.text for c in self.checks if c.ok and not c.refutes]

    @property
    def against(self) -> list[str]:
        """Evidence against: supporting checks that fail and refuting checks that hold."""
        return [c.text for c in self.checks if (c.ok and c.refutes) or (not c.ok and not c.refutes)]

    @property
    def detected(self) -> Any:
        """When the required symptom first crossed its threshold (None when no required check holds)."""
        times = [c.first_at for c in self.checks if c.ok and c.required and c.first_at is not None
                 and "event" not in c.check]
        return min(times) if times else None

    @property
    def onset(self) -> Any:
        """When it began: the symptom's first crossing, or a change (event check) of the service up to
        ``ONSET_LEAD`` before it."""
        import pandas as pd

        det = self.detected
        events = [c.first_at for c in self.checks if c.ok and "event" in c.check and c.first_at is not None]
        if det is None:
            return min(events) if events else None
        lead = [t for t in events if det - pd.Timedelta(ONSET_LEAD) <= t <= det]
        return min(lead) if lead else det

    @property
    def last_seen(self) -> Any:
        """The last time a required symptom held."""
        times = [c.last_at for c in self.checks if c.ok and c.required and c.last_at is not None]
        return max(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "service": self.service, "score": round(self.score, 3),
                "cause": self.cause, "for": self.supporting, "against": self.against}

    def to_hypothesis(self):
        """As a :class:`holoops.runbook.Hypothesis` (for ``runbook.rank`` and the record)."""
        from holoops.runbook import Hypothesis

        return Hypothesis(name=self.id, score=round(self.score, 3), service=self.service, cause=self.cause,
                          evidence=[f"for: {t}" for t in self.supporting] + [f"against: {t}" for t in self.against],
                          runbook=self.kind)


def score(results: list[CheckResult], required_penalty: float = 0.3, refute_factor: float = 0.4) -> float:
    """Weighted share of supporting checks that hold, x ``required_penalty`` when a required check fails,
    x ``refute_factor`` per refuting check that holds."""
    support = [r for r in results if not r.refutes]
    total = sum(r.weight for r in support)
    s = sum(r.weight for r in support if r.ok) / total if total else 0.0
    if any(r.required and not r.ok for r in support):
        s *= required_penalty
    for r in results:
        if r.refutes and r.ok:
            s *= refute_factor
    return float(s)


def evaluate(wd: WindowData, fleet: Any, catalog: dict[str, Any] | str | Path | None = None,
             services: list[str] | None = None) -> list[Scored]:
    """Every hypothesis of the catalog on every service (or ``services``), best first (ties: catalog order)."""
    cat = catalog if isinstance(catalog, dict) else load_catalog(catalog)
    out: list[Scored] = []
    for h in cat.get("hypotheses") or []:
        for svc in services or list(fleet.services):
            results = [evaluate_check(c, wd, svc, fleet) for c in h["checks"]]
            out.append(Scored(h["id"], h["kind"], svc, h["cause"],
                              score(results, cat["required_penalty"], cat["refute_factor"]), results,
                              h.get("remediation", h["kind"])))
    rank_of = {}
    if getattr(wd, "diagnosis", None) is not None and not wd.diagnosis.abstain:
        rank_of = {s.service: i for i, s in enumerate(wd.diagnosis.suspects)}
    # ties (and near-ties: within 0.01) go to the service the root-cause ranking puts first
    out.sort(key=lambda s: (-round(s.score, 2), rank_of.get(s.service, len(rank_of))))
    return out


def incident_found(ranked: list[Scored], threshold: float | None = None) -> bool:
    """True when the best hypothesis reaches ``threshold`` (default: the catalog's)."""
    if threshold is None:
        threshold = load_catalog()["threshold"]
    return bool(ranked) and ranked[0].score >= threshold


def rank_window(metrics: Any, fleet: Any, start: Any, end: Any, *, logs: Any = None, spans: Any = None,
                events: Any = None, catalog: dict[str, Any] | str | Path | None = None,
                diagnosis: Any = None) -> list[Scored]:
    """:func:`window_data` then :func:`evaluate`: the ranked hypotheses of one window."""
    cat = catalog if isinstance(catalog, dict) else load_catalog(catalog)
    wd = window_data(metrics, fleet, start, end, logs=logs, spans=spans, events=events,
                     baseline=cat["baseline"], diagnosis=diagnosis)
    return evaluate(wd, fleet, cat)
