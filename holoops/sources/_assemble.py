"""What every source does after reading its frames: reject samples far outside the window, map the
metrics to canonical signals, work out coverage (metrics and logs), cut to the window and services, and
apply the engine, once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from holoops.dataset import Dataset, empty_frames, restrict
from holoops.timeutil import Window

#: samples further than this outside the window (or in the future) are rejected, not kept: one bad
#: timestamp must not stretch a time grid over years
FAR_S = 86400.0
_TS_COL = {"metrics": "ts", "logs": "ts", "spans": "start", "events": "ts"}


def assemble(frames: dict[str, Any], window: Window, fleet: Any, *, source: str, engine: str,
             services: Sequence[str] | None = None, notes: list[str] | None = None,
             truth: list[dict[str, Any]] | None = None, meta: dict[str, Any] | None = None,
             dead_letter: Any = None, rejected: int = 0, stale_s: float | None = None,
             log_origin: dict[str, str] | None = None) -> Dataset:
    """A :class:`Dataset` from raw canonical frames (any engine) of one source."""
    from holoops import signalmap
    from holoops.frames import resolve_engine, to_engine

    engine = resolve_engine(engine)
    notes = list(notes or [])
    empty = None
    for kind in ("metrics", "logs", "spans", "events"):
        if frames.get(kind) is None:
            empty = empty or empty_frames("pandas")
            frames[kind] = empty[kind]
    far = _reject_far(frames, window, dead_letter)
    if far:
        rejected += sum(far.values())
        where = f" (dead letter: {dead_letter.path})" if dead_letter is not None and dead_letter.path else ""
        notes.append("rejected on read, stamped far from the rest of the data or in the future: "
                     + ", ".join(f"{n:,} {k} rows" for k, n in far.items()) + where)
    ds = Dataset(metrics=frames["metrics"], logs=frames["logs"], spans=frames["spans"], events=frames["events"],
                 window=window, fleet=fleet, engine=engine, source=source, notes=notes, truth=truth,
                 meta=meta or {}, rejected=rejected, stale_s=stale_s,
                 dead_letter=str(dead_letter.path) if dead_letter is not None and dead_letter.path else None)
    ds = restrict(ds, window, list(services) if services else None)
    from holoops.analyze.logmetrics import template_routes

    ds.logs = template_routes(ds.logs)
    # map the window's metrics to canonical signals; where a service's request counter carries no status
    # code (or it has none), its access log's lines become that counter; coverage says where each came from
    norm = signalmap.normalise(ds.metrics, fleet)
    log_signals = _log_signals(ds.logs, fleet, log_origin or {})
    derived = _derive_from_logs(ds, norm, log_signals)
    if derived:
        from holoops.analyze.logmetrics import COUNTER

        spec = {"name": COUNTER, "kind": "counter", "convention": "derived from the access log",
                "labels": {"route": ["route"], "code": ["code"]}}
        norm = signalmap.normalise(ds.metrics, fleet, prefer={s: {"requests": spec} for s in derived})
    ds.metrics = norm.metrics
    ds.coverage = signalmap.coverage_of(norm.choices, fleet, log_signals)
    for svc, what in derived.items():
        ds.coverage.set(svc, "requests", what)
        ds.coverage.set(svc, "errors", what)
    ds.meta["choices"] = {f"{s}/{sig}": ch.describe() for (s, sig), ch in norm.choices.items()}
    conv = {k: to_engine(v, engine) for k, v in ds.frames().items()}
    earlier = None if ds.earlier_logs is None else to_engine(ds.earlier_logs, engine)
    from dataclasses import replace

    return replace(ds, **conv, earlier_logs=earlier)


def bulk_extent(frames: dict[str, Any]) -> tuple[float, float] | None:
    """(lo, hi) epoch seconds outside which a sample is far from the rest of the data: the 0.1 % and
    99.9 % quantiles of every timestamp, widened by their span (at least :data:`FAR_S`), never past a day
    from now. One sample stamped years off lands outside; a week of data and its window never do."""
    import narwhals as nw

    from holoops.timeutil import now_utc

    qs = []
    for kind, col in _TS_COL.items():
        df = frames.get(kind)
        if df is None or not len(df) or col not in df.columns:
            continue
        f = nw.from_native(df, eager_only=True)
        t = f.select((nw.col(col).dt.timestamp("us") / 1e6).alias("t"))["t"]
        qs.append((t.quantile(0.001, "lower"), t.quantile(0.999, "higher"), len(t)))
    if not qs:
        return None
    lo = min(q[0] for q in qs if q[0] is not None)
    hi = max(q[1] for q in qs if q[1] is not None)
    pad = max(FAR_S, hi - lo)
    return lo - pad, min(hi + pad, now_utc().timestamp() + FAR_S)


def _reject_far(frames: dict[str, Any], window: Window, dead_letter: Any) -> dict[str, int]:
    """Drop (into ``dead_letter``) rows stamped far from the rest of the data (:func:`bulk_extent`), or in
    the future: such a sample is a broken clock, and must not stretch a time grid over years."""
    import datetime as dt

    import narwhals as nw

    ext = bulk_extent(frames)
    if ext is None:
        return {}
    a = dt.datetime.fromtimestamp(ext[0], dt.timezone.utc)
    b = dt.datetime.fromtimestamp(ext[1], dt.timezone.utc)
    out: dict[str, int] = {}
    for kind, col in _TS_COL.items():
        df = frames.get(kind)
        if df is None or not len(df) or col not in df.columns:
            continue
        f = nw.from_native(df, eager_only=True)
        bad = (nw.col(col) < a) | (nw.col(col) > b)
        n = int(f.select(bad.sum()).item())
        if not n:
            continue
        if dead_letter is not None:
            for r in f.filter(bad).head(10_000).rows(named=True):
                dead_letter.reject(None, col, "outside_window", {k: str(v) for k, v in r.items()},
                                   detail=f"{r.get(col)} is far from the rest of the data "
                                          f"({a:%Y-%m-%d %H:%M} … {b:%Y-%m-%d %H:%M} UTC) or in the future")
        frames[kind] = f.filter(~bad).to_native()
        out[kind] = n
    return out


def _derive_from_logs(ds: Dataset, norm: Any, log_signals: dict[str, dict[str, str]]) -> dict[str, str]:
    """Append request counters derived from access logs (:mod:`holoops.analyze.logmetrics`) to
    ``ds.metrics`` for services whose own carry no status code; returns service -> where from."""
    import narwhals as nw

    from holoops.analyze.logmetrics import access_log_counters
    from holoops.frames import to_engine

    need = [s for s in ds.fleet.services if "status" in log_signals.get(s, {})
            and ((s, "requests") not in norm.choices or norm.choices[(s, "requests")].no_code)]
    if not need:
        return {}
    counters = access_log_counters(ds.logs, services=need, end=ds.window.end)
    if counters is None or not counters.height:
        return {}
    if ds.metrics is None or not len(ds.metrics):
        ds.metrics = to_engine(counters, _engine_name(ds.logs))
    else:
        engine = _engine_name(ds.metrics)
        if engine == "pandas":
            import pandas as pd

            ds.metrics = pd.concat([ds.metrics, to_engine(counters, "pandas")], ignore_index=True)
        else:
            ds.metrics = nw.concat([nw.from_native(ds.metrics, eager_only=True),
                                    nw.from_native(to_engine(counters, engine), eager_only=True)],
                                   how="diagonal").to_native()
    return {s: log_signals[s]["status"] for s in need if s in set(counters["service"].to_list())}


def _engine_name(frame: Any) -> str:
    import narwhals as nw

    impl = nw.from_native(frame, eager_only=True).implementation
    return "pandas" if impl.is_pandas() else "polars" if impl.is_polars() else str(impl).lower()


def _log_signals(logs: Any, fleet: Any, origin: dict[str, str]) -> dict[str, dict[str, str]]:
    """service -> {"status": where from, "latency_ms": where from} for services whose logs carry them."""
    import narwhals as nw

    if logs is None or not len(logs) or "service" not in logs.columns:
        return {}
    f = nw.from_native(logs, eager_only=True)
    cols = [c for c in ("status", "latency_ms") if c in f.columns]
    if not cols:
        return {}
    g = f.group_by(nw.col("service").cast(nw.String)).agg([nw.col(c).count().alias(c) for c in cols])
    out: dict[str, dict[str, str]] = {}
    for row in g.rows(named=True):
        svc = row["service"]
        if svc not in fleet.services:
            continue
        what = origin.get(svc, "logs")
        out[svc] = {c: f"{what} ({row[c]:,} lines)" for c in cols if row[c]}
    return out
