"""``Dataset``: what every analysis, report and runbook works on, whatever the source.

A :class:`~holoops.sources.Source` (demo fleet, export folder, live Prometheus; see
:func:`holoops.sources.open_source`) reads a :class:`~holoops.timeutil.Window` into a ``Dataset``: the four
canonical frames in one engine, the metrics already mapped to canonical signals
(:mod:`holoops.signalmap`), the :class:`~holoops.signalmap.Coverage` that says where each signal came from
(or that it is missing), and the notes a report shows at its top (rejected records, stale cache, estimated
log times). The window is resolved once, before the read; the engine is applied once, at the read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from holoops.signalmap import Coverage
from holoops.timeutil import Window


@dataclass
class Dataset:
    """The canonical frames of one window of one fleet (see docs/architecture.md for the columns)."""

    metrics: Any
    logs: Any
    spans: Any
    events: Any
    window: Window
    fleet: Any
    engine: str = "pandas"
    source: str = "demo"
    coverage: Coverage | None = None
    notes: list[str] = field(default_factory=list)
    #: ground truth of labelled incidents (the demo fleet only)
    truth: list[dict[str, Any]] | None = None
    #: log lines before the window (same service filter): the baseline of "new" and "surging" patterns
    earlier_logs: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: records dropped on read (with the dead-letter file that holds them, when there is one)
    rejected: int = 0
    dead_letter: str | None = None
    #: age of cached data used because the source was unreachable (None: fresh)
    stale_s: float | None = None
    services: tuple[str, ...] | None = None

    # --- views ---------------------------------------------------------------------------------
    @property
    def step(self) -> str:
        """Step of per-service series shown in figures: about 1500 points over the window, at least 1m."""
        return self.window.step()

    @property
    def span_text(self) -> str:
        return self.window.describe()

    @property
    def start(self):
        return self.window.pandas[0]

    @property
    def end(self):
        return self.window.pandas[1]

    def frames(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "logs": self.logs, "spans": self.spans, "events": self.events}

    def to_engine(self, engine: str) -> Dataset:
        """The same data in another engine (cached per engine on this object)."""
        from holoops.frames import resolve_engine, to_engine

        engine = resolve_engine(engine)
        if engine == self.engine:
            return self
        cache = self.__dict__.setdefault("_engines", {})
        if engine not in cache:
            conv = {k: (None if v is None else to_engine(v, engine)) for k, v in self.frames().items()}
            earlier = None if self.earlier_logs is None else to_engine(self.earlier_logs, engine)
            cache[engine] = replace(self, **conv, earlier_logs=earlier, engine=engine)
        return cache[engine]

    def pandas(self) -> Dataset:
        """This dataset as pandas frames (for figures and step-by-step runbook work)."""
        return self.to_engine("pandas")

    def has(self, service: str, question: str) -> bool:
        """Whether ``service``'s ``question`` (requests, errors, latency, cpu, ...) has a signal."""
        return self.coverage is not None and self.coverage.has(service, question)

    def incident(self, kind: str) -> dict[str, Any]:
        """The labelled incident of ``kind`` (demo only); LookupError otherwise."""
        for inc in self.truth or []:
            if inc["kind"] == kind:
                return inc
        raise LookupError(f"no labelled {kind!r} incident in this {self.source} data")

    def coverage_notes(self, questions: tuple[str, ...] = ("requests", "errors", "latency")) -> list[str]:
        """One short line per service lacking a signal, and where errors/latency come from logs."""
        if self.coverage is None:
            return []
        wanted = set(self.services or self.fleet.services)
        return [ln for ln in self.coverage.lines(questions) if ln.split(":")[0] in wanted or ":" not in ln]

    def header(self) -> str:
        """The line a report shows first: source, window, staleness and read notes."""
        text = f"**Data**: {self.source}, {self.span_text}."
        if self.stale_s is not None:
            from holoops.timeutil import human_duration

            text = (f"⚠ **Stale data**: Prometheus was unreachable; these results come from a cached copy "
                    f"{human_duration(self.stale_s)} old. " + text)
        return text

    def restrict(self, window: Window | None = None, service: str | None = None) -> Dataset:
        """Rows inside ``window`` (default: this one) and of ``service`` (and traces touching it)."""
        return restrict(self, window or self.window, [service] if service and service != "all" else None)

    def _repr_markdown_(self) -> str:
        lines = [self.header()]
        lines += [f"- {n}" for n in self.notes]
        lines += [f"- {n}" for n in self.coverage_notes()]
        return "\n".join(lines)


def restrict(ds: Dataset, window: Window, services: list[str] | None) -> Dataset:
    """``ds`` cut to ``window`` and ``services`` (spans: whole traces touching the services)."""
    import narwhals as nw

    a, b = window.start, window.end

    def cut(df: Any, col: str = "ts", by_service: bool = True) -> Any:
        if df is None or not len(df):
            return df
        f = nw.from_native(df, eager_only=True)
        if col not in f.columns:
            return df
        f = f.filter((nw.col(col) >= a) & (nw.col(col) <= b))
        if services and by_service and "service" in f.columns:
            f = f.filter(nw.col("service").cast(nw.String).is_in(services))
        return f.to_native()

    earlier = None
    if ds.logs is not None and len(ds.logs) and "ts" in ds.logs.columns:
        f = nw.from_native(ds.logs, eager_only=True).filter(nw.col("ts") < a)
        if services:
            f = f.filter(nw.col("service").cast(nw.String).is_in(services))
        earlier = f.to_native()
    spans = cut(ds.spans, "start", by_service=False)
    if services and spans is not None and len(spans):
        f = nw.from_native(spans, eager_only=True)
        ids = f.filter(nw.col("service").cast(nw.String).is_in(services)).select("trace_id").unique()
        spans = f.filter(nw.col("trace_id").is_in(ids["trace_id"].to_list())).to_native()
    truth = ds.truth
    if truth is not None:
        from holoops.timeutil import utc

        truth = [i for i in truth if utc(i["onset"]) <= utc(b) and utc(i.get("end") or i["onset"]) >= utc(a)
                 and (not services or set(services) & set(i.get("affected") or [i["service"]]))]
    return replace(ds, metrics=cut(ds.metrics), logs=cut(ds.logs), events=cut(ds.events), spans=spans,
                   window=window, truth=truth, earlier_logs=earlier,
                   services=tuple(services) if services else ds.services)


def empty_frames(engine: str = "pandas") -> dict[str, Any]:
    """Empty canonical frames for kinds a source does not hold (Prometheus has no logs or spans)."""
    import pandas as pd

    from holoops.frames import to_engine

    ts = pd.Series([], dtype="datetime64[ns, UTC]")
    s = pd.Series([], dtype=object)
    frames = {
        "metrics": pd.DataFrame({"ts": ts, "metric": s, "service": s, "instance": s,
                                 "value": pd.Series([], dtype=float)}),
        "logs": pd.DataFrame({"ts": ts, "service": s, "level": s, "message": s}),
        "spans": pd.DataFrame({"trace_id": s, "span_id": s, "parent_id": s, "service": s, "operation": s,
                               "start": ts, "duration_ms": pd.Series([], dtype=float), "status": s}),
        "events": pd.DataFrame({"ts": ts, "kind": s, "service": s, "detail": s}),
    }
    return {k: to_engine(v, engine) for k, v in frames.items()}
