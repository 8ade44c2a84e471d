"""Signal mapping: from what a fleet exports to the canonical signals the analyses read.

Real fleets name things their own way: ``http_requests_total{code}`` (Prometheus clients),
``http_server_request_duration_seconds`` (OpenTelemetry), ``http_server_requests_seconds`` (Micrometer),
per-route counters without status codes (``holographic_store_requests_total``), node_exporter's host-level
disk, DCGM's GPU gauges, or pre-computed gauges (a p99, a success rate). The candidates for each signal
are data (``holoops/catalogs/signal_map.yaml``); a fleet profile may pin its own (``services.<name>.signals``,
written by ``holoops fleet discover``).

:func:`normalise` picks, per service and signal, the first candidate the data holds and rewrites those
series into the canonical shape (metric name, label names, units) of ``holoops/catalogs/signals.yaml``; the
:class:`Coverage` it returns says, per service, where each signal came from or that it is missing.
Nothing here names a particular fleet.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

#: the questions a coverage table answers, in display order
QUESTIONS = ("requests", "errors", "latency", "cpu", "memory", "up", "restarts", "gpu", "disk")
_HIST_SUFFIXES = ("_bucket", "_sum", "_count")


def catalog() -> dict[str, Any]:
    from holoops.catalogs import signal_map

    return signal_map()


@dataclass(frozen=True)
class Candidate:
    """One way a signal can be exported (a row of ``signal_map.yaml``)."""

    signal: str
    canonical: str
    kind: str = "gauge"
    name: str | None = None
    glob: str | None = None
    regex: str | None = None
    labels: tuple[tuple[str, tuple[str, ...]], ...] = ()
    scale: float = 1.0
    transform: str | None = None
    scope: str = "service"
    convention: str = ""
    route_from_name: bool = False
    #: histograms: the exported ``le`` bounds, as text exactly as Prometheus shows them ("0.25", "1.0",
    #: "250", "+Inf"; source units, before ``scale``). Optional; alert rules match ``le`` with them.
    buckets: tuple[str, ...] | None = None
    #: label matchers selecting these series in Prometheus when they differ from the service's own (a
    #: sidecar exporter's series carry ``service="x"`` but the exporter's ``job``); alert rules use them
    match: tuple[tuple[str, str], ...] = ()
    #: names this candidate never reads although its pattern matches them (a regex)
    exclude: str | None = None

    @classmethod
    def from_spec(cls, signal: str, spec: Mapping[str, Any], canonical: str | None = None) -> Candidate:
        from holoops.errors import CatalogError

        known = {"name", "glob", "regex", "kind", "labels", "scale", "transform", "scope", "convention",
                 "route_from_name", "metric", "buckets", "match", "exclude"}
        bad = set(spec) - known
        if bad:
            raise CatalogError(f"signal {signal!r}: unknown key(s) {', '.join(sorted(bad))}; allowed: "
                               f"{', '.join(sorted(known))}")
        name = spec.get("name") or spec.get("metric")
        if sum(bool(x) for x in (name, spec.get("glob"), spec.get("regex"))) != 1:
            raise CatalogError(f"signal {signal!r}: a candidate needs exactly one of name, glob, regex: {dict(spec)}")
        if name and "*" in str(name):
            name, glob = None, str(name)
        else:
            glob = spec.get("glob")
        kind = str(spec.get("kind", "gauge"))
        if kind not in ("counter", "histogram", "summary", "gauge"):
            raise CatalogError(f"signal {signal!r}: kind {kind!r}; allowed: counter, histogram, summary, gauge")
        if spec.get("regex"):
            try:
                re.compile(spec["regex"])
            except re.error as exc:
                raise CatalogError(f"signal {signal!r}: bad regex {spec['regex']!r}: {exc}") from None
        labels = tuple((k, tuple(v if isinstance(v, (list, tuple)) else [v]))
                       for k, v in (spec.get("labels") or {}).items())
        return cls(signal=signal, canonical=canonical or _canonical(signal), kind=kind, name=name, glob=glob,
                   regex=spec.get("regex"), labels=labels, scale=float(spec.get("scale", 1.0)),
                   transform=spec.get("transform"), scope=str(spec.get("scope", "service")),
                   convention=str(spec.get("convention", "")), route_from_name=bool(spec.get("route_from_name")),
                   buckets=_bucket_texts(signal, spec.get("buckets")),
                   match=tuple((str(k), str(v)) for k, v in (spec.get("match") or {}).items()),
                   exclude=spec.get("exclude"))

    def to_spec(self) -> dict[str, Any]:
        """The fleet-profile form of this candidate (what ``fleet discover`` writes)."""
        out: dict[str, Any] = {}
        for k in ("name", "glob", "regex"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        out["kind"] = self.kind
        if self.labels:
            out["labels"] = {k: list(v) for k, v in self.labels}
        if self.scale != 1.0:
            out["scale"] = self.scale
        for k in ("transform", "convention"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        if self.scope != "service":
            out["scope"] = self.scope
        if self.route_from_name:
            out["route_from_name"] = True
        if self.buckets is not None:
            out["buckets"] = list(self.buckets)
        if self.match:
            out["match"] = dict(self.match)
        if self.exclude:
            out["exclude"] = self.exclude
        return out

    @cached_property
    def _pattern(self) -> re.Pattern:
        if self.regex:
            return re.compile(self.regex)
        if self.glob:
            return re.compile(fnmatch.translate(self.glob))
        return re.compile(re.escape(str(self.name)) + r"\Z")

    def base(self, metric: str) -> str | None:
        """The exported base name if ``metric`` belongs to this candidate (histograms: NAME_bucket/_sum/
        _count belong to NAME), else None."""
        if self.exclude and re.search(self.exclude, metric):
            return None
        if self.kind in ("histogram", "summary"):
            for suf in _HIST_SUFFIXES:
                if metric.endswith(suf) and self._pattern.match(metric[: -len(suf)]):
                    return metric[: -len(suf)]
            if self.kind == "summary" and self._pattern.match(metric):
                return metric
            return None
        return metric if self._pattern.match(metric) else None

    def present(self, metrics: Iterable[str], labelled: Mapping[str, set[str]] | None = None) -> list[str]:
        """The exported metric names (as in the data) this candidate reads, in sorted order; empty when
        the data does not hold it (a histogram needs its ``_bucket`` series, a summary its quantiles)."""
        metrics = set(metrics)
        hits = sorted(m for m in metrics if self.base(m) is not None)
        if self.kind == "histogram":
            bases = {self.base(m) for m in hits if m.endswith("_bucket")}
            return sorted(m for m in hits if self.base(m) in bases)
        if self.kind == "summary":
            labelled = labelled or {}
            bases = {m for m in hits if m == self.base(m) and "quantile" in labelled.get(m, set())}
            return sorted(m for m in hits if self.base(m) in bases)
        return hits

    def selector(self) -> str:
        """A PromQL ``__name__`` regex matching every series this candidate reads."""
        if self.regex:
            body = self.regex.lstrip("^").rstrip("$")
            body = re.sub(r"\(\?P<\w+>", "(", body)
        elif self.glob:
            body = ".*".join(re.escape(p) for p in self.glob.split("*"))
        else:
            body = re.escape(str(self.name))
        if self.kind in ("histogram", "summary"):
            body = f"(?:{body})(?:_bucket|_sum|_count)" + ("?" if self.kind == "summary" else "")
        return body

    def describe(self, metrics: Sequence[str] = ()) -> str:
        shown = self.name or self.glob or self.regex or ""
        if metrics:
            bases = sorted({self.base(m) or m for m in metrics})
            shown = bases[0] + (f" (+{len(bases) - 1} more)" if len(bases) > 1 else "")
        return f"{shown} ({self.convention})" if self.convention else shown


def _bucket_texts(signal: str, buckets: Any) -> tuple[str, ...] | None:
    """A spec's ``buckets`` as ``le`` texts: strings as written, floats as Python writes them (``1.0``,
    ``0.25``), integers without a point (``250``); each must be a number or +Inf."""
    from holoops.errors import CatalogError

    if buckets is None:
        return None
    if not isinstance(buckets, (list, tuple)) or not buckets:
        raise CatalogError(f"signal {signal!r}: buckets must be a non-empty list of le bounds, got {buckets!r}")
    out = []
    for b in buckets:
        text = repr(b) if isinstance(b, float) else str(b)
        try:
            if float(text) != float(text):  # NaN
                raise ValueError
        except ValueError:
            raise CatalogError(f"signal {signal!r}: bucket bound {b!r} is not a number or +Inf") from None
        if isinstance(b, bool) or text.strip() != text or not text:
            raise CatalogError(f"signal {signal!r}: bucket bound {b!r} is not a number or +Inf")
        out.append(text)
    return tuple(out)


def _canonical(signal: str) -> str:
    try:
        return catalog()["signals"][signal]["canonical"]
    except KeyError:
        from holoops.errors import CatalogError

        raise CatalogError(f"unknown signal {signal!r}; known: {', '.join(catalog()['signals'])}") from None


def candidates(signal: str, overrides: Mapping[str, Any] | None = None) -> list[Candidate]:
    """The candidates of ``signal``: a fleet profile's own spec (``overrides[signal]``) first, then the
    catalog's. ``"missing"`` in the profile means: do not look."""
    spec = (overrides or {}).get(signal)
    if spec == "missing":
        return []
    canonical = catalog()["signals"][signal]["canonical"]
    own = [Candidate.from_spec(signal, s, canonical) for s in (spec if isinstance(spec, list) else
                                                              [spec] if spec else [])]
    return own + list(_catalog_candidates(signal))


@cache
def _catalog_candidates(signal: str) -> tuple[Candidate, ...]:
    entry = catalog()["signals"][signal]
    return tuple(Candidate.from_spec(signal, c, entry["canonical"]) for c in entry["candidates"])


def signal_names() -> list[str]:
    return list(catalog()["signals"])


def probe_routes(fleet: Any = None) -> set[str]:
    """Routes that are health checks or scrapes, not user traffic (left out of error ratios)."""
    out = set(catalog().get("probe_routes", []))
    if fleet is not None:
        for svc in fleet.services.values():
            out.update({svc.health, svc.metrics_path})
    return out


# --- choices and coverage ----------------------------------------------------------------------
@dataclass
class Choice:
    service: str
    signal: str
    candidate: Candidate
    metrics: list[str]
    host: bool = False
    no_code: bool = False  # a requests counter whose series carry no status code

    @property
    def identity(self) -> bool:
        """True when the chosen series already have the canonical shape (nothing to rewrite)."""
        c = self.candidate
        if self.host or c.scale != 1.0 or c.transform or c.route_from_name or c.kind == "gauge" and c.regex:
            return False
        canon = {c.canonical} | {c.canonical + s for s in _HIST_SUFFIXES}
        if not set(self.metrics) <= canon:
            return False
        return all(not src or src[0] == k for k, src in c.labels)

    def describe(self) -> str:
        text = self.candidate.describe(self.metrics)
        return text + (" on the same host" if self.host else "")


@dataclass
class Coverage:
    """Per service: which signal answers each question (requests, errors, latency, ...), or that none does."""

    services: list[str]
    sources: dict[tuple[str, str], str] = field(default_factory=dict)  # (service, question) -> source text
    notes: list[str] = field(default_factory=list)                     # dataset-wide remarks

    def set(self, service: str, question: str, source: str | None) -> None:
        if source:
            self.sources[(service, question)] = source
        else:
            self.sources.pop((service, question), None)

    def source(self, service: str, question: str) -> str | None:
        return self.sources.get((service, question))

    def has(self, service: str, question: str) -> bool:
        return (service, question) in self.sources

    def missing(self, service: str) -> list[str]:
        return [q for q in QUESTIONS if not self.has(service, q)]

    def any(self, question: str) -> bool:
        return any(q == question for _, q in self.sources)

    def lines(self, questions: Sequence[str] = ("requests", "errors", "latency")) -> list[str]:
        """Short notes for a report: ``holographic-memory: no latency signal; errors from the access log``."""
        out = []
        for s in self.services:
            parts = []
            for q in questions:
                src = self.source(s, q)
                if src is None:
                    parts.append(f"no {q} signal")
                elif "log" in src and q in ("errors", "latency"):
                    parts.append(f"{q} from {src}")
            if parts:
                out.append(f"{s}: " + "; ".join(parts))
        return out + list(self.notes)

    def frame(self):
        import pandas as pd

        rows = [{"service": s, **{q: self.source(s, q) or "missing" for q in QUESTIONS}} for s in self.services]
        return pd.DataFrame(rows, columns=["service", *QUESTIONS])

    def to_dict(self) -> dict[str, dict[str, str | None]]:
        return {s: {q: self.source(s, q) for q in QUESTIONS} for s in self.services}

    def _repr_html_(self) -> str:
        return "<h4>Signal coverage</h4>" + self.frame().to_html(index=False, border=0, classes="holoops-table")

    def text(self) -> str:
        df = self.frame()
        widths = {c: max(len(c), *(len(str(v)) for v in df[c])) for c in df.columns}
        head = "  ".join(c.ljust(widths[c]) for c in df.columns)
        rows = ["  ".join(str(v).ljust(widths[c]) for c, v in zip(df.columns, r, strict=True))
                for r in df.itertuples(index=False)]
        return "\n".join([head, *rows])


# --- normalisation -----------------------------------------------------------------------------
def _host(instance: Any) -> str | None:
    if instance is None:
        return None
    text = str(instance)
    if text.startswith("["):  # [::1]:9100
        return text[1: text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _to_polars(frame: Any):
    import polars as pl

    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    import narwhals as nw

    native = nw.from_native(frame, eager_only=True)
    if native.implementation.is_pandas():
        import pyarrow as pa

        return pl.from_arrow(pa.Table.from_pandas(frame, preserve_index=False))
    return pl.from_arrow(native.to_arrow())


def _str(col: str):
    import polars as pl

    return pl.col(col).cast(pl.Utf8)


@dataclass
class Normalised:
    metrics: Any                      # canonical metrics, in the input's engine
    choices: dict[tuple[str, str], Choice]
    coverage: Coverage


def choose(pairs: Iterable[tuple[str, str]], fleet: Any, *, labelled: Mapping[str, set[str]] | None = None,
           hosts: Mapping[str, set[str]] | None = None, host_metrics: Mapping[str, set[str]] | None = None,
           prefer: Mapping[str, Mapping[str, Any]] | None = None) -> dict[tuple[str, str], Choice]:
    """For every fleet service and signal, the first candidate the data holds.

    ``pairs``: the (metric, service) pairs present; ``labelled``: metric -> its non-null label names
    (summaries need ``quantile``); ``hosts``: service -> hosts of its instances; ``host_metrics``: host ->
    metrics exported on it (for host-scoped candidates, e.g. node_exporter's disk); ``prefer``: service ->
    {signal: spec} tried before the profile's and the catalog's (counters derived from access logs)."""
    by_service: dict[str, set[str]] = {}
    for metric, service in pairs:
        if service is not None and metric is not None:
            by_service.setdefault(str(service), set()).add(str(metric))
    out: dict[tuple[str, str], Choice] = {}
    for name, svc in fleet.services.items():
        own = by_service.get(name, set())
        overrides = getattr(svc, "signals", None) or {}
        first = (prefer or {}).get(name, {})
        for signal in signal_names():
            preferred = [Candidate.from_spec(signal, first[signal])] if signal in first else []
            for cand in preferred + candidates(signal, overrides):
                hit = cand.present(own, labelled)
                if hit:
                    out[(name, signal)] = Choice(name, signal, cand, hit)
                    break
                if cand.scope == "host" and hosts and host_metrics:
                    on_host = set().union(*(host_metrics.get(h, set()) for h in hosts.get(name, set())))
                    hit = cand.present(on_host, labelled)
                    if hit:
                        out[(name, signal)] = Choice(name, signal, cand, hit, host=True)
                        break
    return out


def coverage_of(choices: Mapping[tuple[str, str], Choice], fleet: Any,
                log_signals: Mapping[str, Mapping[str, str]] | None = None) -> Coverage:
    """The coverage table from the chosen candidates and what the logs hold per service
    (``log_signals[service] = {"status": "access log x.log", "latency_ms": ...}``)."""
    cov = Coverage(list(fleet.services))
    rules = catalog().get("coverage", {})
    logs = log_signals or {}
    for s in fleet.services:
        for q in QUESTIONS:
            for src in rules.get(q, []):
                if src.startswith("logs:"):
                    text = (logs.get(s) or {}).get(src[5:])
                elif src.endswith("+code"):
                    ch = choices.get((s, src[:-5]))
                    text = ch.describe() + ", by status code" if ch and not ch.no_code else None
                else:
                    ch = choices.get((s, src))
                    text = ch.describe() if ch else None
                if text:
                    cov.set(s, q, text)
                    break
    return cov


def normalise(metrics: Any, fleet: Any, *, engine: str | None = None,
              prefer: Mapping[str, Mapping[str, Any]] | None = None) -> Normalised:
    """``metrics`` rewritten to canonical signals (see the module docstring), with the choices made and
    the coverage. Series no candidate reads are kept as they are. Service names a fleet profile lists in
    ``aliases`` become the profile's name first. Already-canonical data is returned as it is (no copy)."""
    import polars as pl

    from holoops.frames import to_engine

    if metrics is None or not len(metrics) or "metric" not in metrics.columns:
        return Normalised(metrics, {}, coverage_of({}, fleet))
    engine = engine or _engine_of(metrics)
    aliases = {str(a): name for name, svc in fleet.services.items() for a in svc.names if a != name}
    triples = _triples(metrics, aliases)
    pairs = {(m, s) for m, s, _ in triples}
    hosts: dict[str, set[str]] = {}
    host_metrics: dict[str, set[str]] = {}
    for m, s, inst in triples:
        h = _host(inst)
        if h is not None:
            host_metrics.setdefault(h, set()).add(m)
            if s in fleet.services:
                hosts.setdefault(s, set()).add(h)
    labelled = _labelled(metrics)
    choices = choose(pairs, fleet, labelled=labelled, hosts=hosts, host_metrics=host_metrics, prefer=prefer)
    _mark_code(metrics, choices)
    work = [c for c in choices.values() if not c.identity]
    if not work and not aliases:  # already canonical (the demo fleet, Prometheus-client fleets): no copy
        return Normalised(metrics, choices, coverage_of(choices, fleet))
    df = _to_polars(metrics)
    if aliases:
        df = df.with_columns(_str("service").replace(aliases).alias("service"))
    parts, consumed = [], []
    for ch in work:
        part, used = _rewrite(df, ch, fleet, hosts)
        if part is not None and part.height:
            parts.append(part)
        if used is not None:
            consumed.append(used)
    rest = df.with_columns(_str("metric"), _str("service"))
    if consumed:
        drop = pl.concat(consumed, how="vertical").unique()
        rest = rest.join(drop, on=["metric", "service"], how="anti")
    out = pl.concat([rest, *parts], how="diagonal_relaxed") if parts else rest
    return Normalised(to_engine(out, engine), choices, coverage_of(choices, fleet))


def _triples(metrics: Any, aliases: Mapping[str, str]) -> set[tuple[str, str | None, str | None]]:
    """The distinct (metric, service, instance) of a metrics frame (pandas categoricals grouped by code)."""
    import narwhals as nw

    cols = [c for c in ("metric", "service", "instance") if c in metrics.columns]
    f = nw.from_native(metrics, eager_only=True)
    if f.implementation.is_pandas():
        g = metrics.groupby(cols, observed=True, dropna=False, sort=False).size().index
        rows = list(g) if len(cols) > 1 else [(x,) for x in g]
    else:
        rows = f.select([nw.col(c).cast(nw.String) for c in cols]).unique().rows()
    out = set()
    for r in rows:
        d = dict(zip(cols, r, strict=True))
        m, s, i = d.get("metric"), d.get("service"), d.get("instance")
        if m is None or m != m:
            continue
        s = None if s is None or s != s else str(s)
        out.add((str(m), aliases.get(s, s) if s else s, None if i is None or i != i else str(i)))
    return out


def _engine_of(frame: Any) -> str:
    import narwhals as nw

    impl = nw.from_native(frame, eager_only=True).implementation
    return "polars" if impl.is_polars() else "pandas" if impl.is_pandas() else str(impl).lower()


def _labelled(metrics: Any) -> dict[str, set[str]]:
    """metric -> {"quantile"} for metrics with quantile-labelled series (summary candidates need it)."""
    import narwhals as nw

    if "quantile" not in metrics.columns:
        return {}
    f = nw.from_native(metrics, eager_only=True)
    sub = f.filter(~nw.col("quantile").is_null()).select(nw.col("metric").cast(nw.String)).unique()
    return {m: {"quantile"} for m in sub["metric"].to_list()}


def _mark_code(metrics: Any, choices: Mapping[tuple[str, str], Choice]) -> None:
    """A requests candidate whose code labels are all null on the chosen series carries no status code."""
    import narwhals as nw

    req = [ch for ch in choices.values() if ch.signal == "requests"]
    cols = sorted({s for ch in req for k, v in ch.candidate.labels if k == "code" for s in v
                   if s in metrics.columns})
    coded: set[tuple[str, str]] = set()
    f = nw.from_native(metrics, eager_only=True)
    for col in cols:  # (metric, service) pairs with a non-null value in col, grouped without decoding
        if f.implementation.is_pandas():
            n = metrics.groupby(["metric", "service"], observed=True, sort=False)[col].count()
            coded |= {(str(m), str(s), col) for (m, s), k in n.items() if k}
        else:
            g = f.group_by(nw.col("metric").cast(nw.String), nw.col("service").cast(nw.String)).agg(
                nw.col(col).count().alias("n"))
            coded |= {(m, s, col) for m, s, k in g.rows() if k}
    for ch in req:
        srcs = [s for k, v in ch.candidate.labels if k == "code" for s in v if s in cols]
        ch.no_code = ch.host or not any((m, ch.service, c) in coded for m in ch.metrics for c in srcs)


def _rewrite(df: Any, ch: Choice, fleet: Any, hosts: Mapping[str, set[str]]) -> tuple[Any, Any]:
    """The canonical rows of one choice, and the (metric, service) pairs they replace (None: keep)."""
    import polars as pl

    c = ch.candidate
    metric = _str("metric")
    if ch.host:
        hs = sorted(hosts.get(ch.service, set()))
        inst_host = _str("instance").str.replace(r":\d+$", "")
        sub = df.filter(metric.is_in(ch.metrics) & inst_host.is_in(hs))
        sub = _pick_mount(sub, fleet.services[ch.service])
        used = None
    else:
        sub = df.filter(metric.is_in(ch.metrics) & (_str("service") == ch.service))
        used = pl.DataFrame({"metric": ch.metrics, "service": [ch.service] * len(ch.metrics)},
                            schema={"metric": pl.Utf8, "service": pl.Utf8})
    if not sub.height:
        return None, used
    exprs = []
    for canon, srcs in c.labels:
        present = [s for s in srcs if s in sub.columns]
        if present:
            exprs.append(pl.coalesce([_str(s) for s in present]).alias(canon))
    if exprs:
        sub = sub.with_columns(exprs)
    # the canonical metric name (histograms keep their suffix), the route from the name, the service
    if c.kind in ("histogram", "summary"):
        names = {m: c.canonical + (m[len(c.base(m) or m):] if m != c.base(m) else "") for m in ch.metrics}
    else:
        names = dict.fromkeys(ch.metrics, c.canonical)
    new = [metric.replace_strict(names, default=metric).alias("metric"), pl.lit(ch.service).alias("service")]
    if c.route_from_name and c.regex:
        pat = re.compile(c.regex)
        routes = {m: (pat.match(m).groupdict().get("route") if pat.match(m) else None) for m in ch.metrics}
        new.append(metric.replace_strict(routes, default=None).alias("route"))
    if c.kind == "gauge" and c.regex and "(?P<quantile>" in c.regex:
        pat = re.compile(c.regex)
        qs = {m: _quantile(pat.match(m).group("quantile")) for m in ch.metrics if pat.match(m)}
        new.append(metric.replace_strict(qs, default=None).alias("quantile"))
        new[0] = pl.lit(c.canonical).alias("metric")
    sub = sub.with_columns(new)
    value = pl.col("value").cast(pl.Float64)
    if c.kind == "histogram" and c.scale != 1.0 and "le" in sub.columns:
        sub = sub.with_columns(pl.col("le").map_elements(lambda v, k=c.scale: _scale_le(v, k),
                                                          return_dtype=pl.Utf8))
        if any(m.endswith("_sum") for m in ch.metrics):
            sub = sub.with_columns(pl.when(pl.col("metric").str.ends_with("_sum")).then(value * c.scale)
                                   .otherwise(value).alias("value"))
    elif c.scale != 1.0:
        sub = sub.with_columns((value * c.scale).alias("value"))
    if c.transform == "complement_percent":
        sub = sub.with_columns((1.0 - pl.col("value").cast(pl.Float64) / 100.0).alias("value"))
    return sub, used


def _quantile(text: str) -> str:
    q = int(text)
    return str(q / (10 ** len(text)))


def _scale_le(v: Any, k: float) -> Any:
    if v is None:
        return None
    try:
        f = float(v)
    except ValueError:
        return v
    if f == float("inf"):
        return "+Inf"
    return repr(round(f * k, 12)).rstrip("0").rstrip(".") if f * k != int(f * k) else str(float(f * k))


def _pick_mount(sub: Any, svc: Any) -> Any:
    """node_exporter reports every filesystem: keep the service's mount (profile ``resources.disk.mount``)
    when exported, else ``/``; pseudo filesystems never count."""
    import polars as pl

    if "mountpoint" not in sub.columns:
        return sub
    if "fstype" in sub.columns:
        sub = sub.filter(~_str("fstype").is_in(["tmpfs", "overlay", "squashfs", "devtmpfs", "proc", "sysfs",
                                                 "nsfs", "ramfs", "autofs"]) | pl.col("fstype").is_null())
    disk = getattr(getattr(svc, "resources", None), "disk", None)
    mounts = set(sub["mountpoint"].cast(pl.Utf8).drop_nulls().unique().to_list())
    want = disk.mount if disk is not None and disk.mount in mounts else "/" if "/" in mounts else None
    if want is None and mounts:  # the longest-named real mount is a better guess than none
        want = sorted(mounts, key=len)[0]
    return sub.filter(_str("mountpoint") == want) if want else sub


def prometheus_selectors(fleet: Any) -> list[str]:
    """One PromQL selector per signal matching every series some candidate (or the profile) reads."""
    out = []
    for signal in signal_names():
        bodies: list[str] = []
        for svc in fleet.services.values():
            for c in candidates(signal, getattr(svc, "signals", None) or {}):
                b = c.selector()
                if b not in bodies:
                    bodies.append(b)
        if bodies:
            out.append('{__name__=~"' + "|".join(bodies).replace("\\", "\\\\").replace('"', '\\"') + '"}')
    return out
