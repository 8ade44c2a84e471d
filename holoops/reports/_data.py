"""One view of the data every report works on: ``fleet_data(hx)`` -> :class:`FleetData`.

It normalises the three sources (demo fleet, export folder, live Prometheus) to the four canonical
frames, restricted to the requested window (``hx.time_range()``) and service, and caches the result on
``hx`` (keyed on the parameters, so a changed widget value reloads). :func:`memo` caches any derived
result the same way, so a notebook never computes the same analysis twice.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from holoops.timeutil import utc as _ts

_CACHE_ATTR = "_holoops_report_cache"


@dataclass
class FleetData:
    """The canonical frames of one analysis window (``truth`` only for the demo fleet)."""

    metrics: Any
    logs: Any
    spans: Any
    events: Any
    truth: list[dict[str, Any]] | None
    window: tuple[Any, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "demo"
    notes: list[str] = field(default_factory=list)
    #: log lines before the window (same service filter): the baseline of "new" and "surging" patterns
    earlier_logs: Any = None

    @property
    def step(self) -> str:
        """Step of per-service series shown in figures: about 1500 points over the window, at least 1m."""
        minutes = (self.window[1] - self.window[0]).total_seconds() / 60 / 1500
        return f"{max(1, round(minutes))}m"

    @property
    def span_text(self) -> str:
        a, b = self.window
        return f"{a:%Y-%m-%d %H:%M} → {b:%Y-%m-%d %H:%M} UTC ({(b - a).total_seconds() / 86400:.1f} days)"


def quiet_warnings() -> None:
    """Library FutureWarnings/DeprecationWarnings are noise in a report; real errors still raise."""
    for cat in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=cat)
    warnings.filterwarnings("ignore", message=".*(DataFrameGroupBy.apply|observed=False|Downcasting).*")


def _store(hx: Any) -> dict[str, Any]:
    key = hx.params.model_dump_json()
    store = getattr(hx, _CACHE_ATTR, None)
    if store is None or store.get("__key__") != key:
        store = {"__key__": key}
        setattr(hx, _CACHE_ATTR, store)
    return store


def memo(hx: Any, name: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per notebook run (and per parameter set), cached on ``hx`` under ``name``."""
    store = _store(hx)
    if name not in store:
        store[name] = compute()
    return store[name]


def fleet_data(hx: Any) -> FleetData:
    """The frames of ``hx.params``' source over ``hx.time_range()`` and ``service`` (cached on hx)."""
    return memo(hx, "fleet_data", lambda: _load(hx))


def _load(hx: Any) -> FleetData:
    quiet_warnings()
    p = hx.params
    if p.source == "prometheus":
        return _restrict(_from_prometheus(hx), hx)
    raw = hx.data
    truth = getattr(raw, "truth", None) if p.source == "demo" else None
    meta = dict(getattr(raw, "meta", {}) or {})
    data_start, data_end = (getattr(raw, "window", None) or
                            (_max_ts(raw.metrics, raw.logs, how="min"), _max_ts(raw.metrics, raw.logs)))
    start, end = hx.time_range(data_end)
    if data_start is not None:  # the window never reports time before the data begins
        start = max(_ts(start), _ts(data_start))
    fd = FleetData(raw.metrics, raw.logs, raw.spans, raw.events, truth, (_ts(start), _ts(end)), meta, p.source)
    if p.source == "exports" and getattr(raw, "rejected", 0):
        fd.notes.append(f"{raw.rejected:,} exported records were rejected on read (see the dead-letter file)")
    return _restrict(fd, hx)


def _from_prometheus(hx: Any) -> FleetData:
    """Metrics the analyses need over the window; Prometheus holds no logs, spans or events."""
    from holoops.analyze.signals import signal_names

    src = hx.data
    start, end = hx.time_range()
    n = signal_names()
    names = [n["requests"]["metric"], n["latency"]["histogram"] + "_bucket", n["cpu"]["metric"],
             n["memory"]["metric"], n["gpu"]["utilization"], n["gpu"]["memory_used"], n["gpu"]["memory_free"],
             n["disk"]["available"], n["disk"]["size"], n["up"]["metric"]]
    metrics = src.metrics(names, start, end, engine=hx.engine)
    empty = _empty_frames()
    fd = FleetData(metrics, empty["logs"], empty["spans"], empty["events"], None, (_ts(start), _ts(end)),
                   {"prometheus": True}, "prometheus")
    fd.notes.append("source=prometheus: logs and traces are not in Prometheus, so log patterns, error classes "
                    "and service communication need an export folder (source=exports)")
    return fd


def _empty_frames() -> dict[str, Any]:
    import pandas as pd

    ts = pd.Series([], dtype="datetime64[ns, UTC]")
    s = pd.Series([], dtype=object)
    return {
        "logs": pd.DataFrame({"ts": ts, "service": s, "level": s, "message": s}),
        "spans": pd.DataFrame({"trace_id": s, "span_id": s, "parent_id": s, "service": s, "operation": s,
                               "start": ts, "duration_ms": pd.Series([], dtype=float), "status": s}),
        "events": pd.DataFrame({"ts": ts, "kind": s, "service": s, "detail": s}),
    }


def _max_ts(*frames: Any, how: str = "max"):
    import narwhals as nw

    ends = []
    for f in frames:
        if f is not None and len(f):
            ends.append(nw.from_native(f).select(getattr(nw.col("ts"), how)()).item())
    return (max if how == "max" else min)(ends) if ends else None


def _restrict(fd: FleetData, hx: Any) -> FleetData:
    """Keep rows inside the window; with ``service`` set, that service's rows (and traces touching it)."""
    import narwhals as nw

    a, b = fd.window
    a, b = a.to_pydatetime(), b.to_pydatetime()
    svc = hx.params.service

    def cut(df: Any, col: str = "ts") -> Any:
        if df is None or not len(df):
            return df
        f = nw.from_native(df)
        f = f.filter((nw.col(col) >= a) & (nw.col(col) <= b))
        if svc != "all" and col == "ts":
            f = f.filter(nw.col("service") == svc)
        return f.to_native()

    if fd.logs is not None and len(fd.logs):
        f = nw.from_native(fd.logs).filter(nw.col("ts") < a)
        fd.earlier_logs = (f if svc == "all" else f.filter(nw.col("service") == svc)).to_native()
    fd.metrics, fd.logs, fd.events = cut(fd.metrics), cut(fd.logs), cut(fd.events)
    spans = cut(fd.spans, "start")
    if svc != "all" and spans is not None and len(spans):
        f = nw.from_native(spans)
        ids = f.filter(nw.col("service") == svc).select("trace_id").unique()["trace_id"].to_list()
        spans = f.filter(nw.col("trace_id").is_in(ids)).to_native()
    fd.spans = spans
    if fd.truth is not None:
        fd.truth = [i for i in fd.truth if _ts(i["onset"]) <= fd.window[1] and _ts(i.get("end") or i["onset"])
                    >= fd.window[0] and (svc == "all" or svc in (i.get("affected") or [i["service"]]))]
    return fd
