"""Shared, vectorised normalisation and validation of records into canonical frames (polars)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import polars as pl

from holoops.ingest import DeadLetter

TS = pl.Datetime("ns", "UTC")

#: source field names accepted for each canonical column (first present wins). Names match ignoring case and
#: the separators ``_ - . @ /`` and spaces (:func:`norm_name`: ``TraceID``, ``trace-id`` and ``traceId`` are
#: ``trace_id``). ``__pod_service`` is the service derived from a pod-name column (:func:`service_of_pod`).
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "logs": {"ts": ("ts", "timestamp", "time", "@timestamp", "datetime", "date", "time_unix_nano"),
             "message": ("message", "msg", "line", "log"),
             "service": ("service", "app", "service_name", "job", "__pod_service", "container_name", "container"),
             "level": ("level", "severity", "lvl", "loglevel", "detected_level", "severity_text"),
             "instance": ("instance", "pod", "pod_name"), "trace_id": ("trace_id",), "span_id": ("span_id",)},
    "metrics": {"ts": ("ts", "timestamp", "time"), "metric": ("metric", "__name__", "name"),
                "service": ("service", "job", "__pod_service"), "instance": ("instance", "pod", "pod_name"),
                "value": ("value",)},
    "spans": {"trace_id": ("trace_id",), "span_id": ("span_id",),
              "parent_id": ("parent_id", "parent_span_id", "parent"),
              "service": ("service", "service_name", "__pod_service"),
              "operation": ("operation", "operation_name", "name", "span_name"),
              "start": ("start", "start_time", "start_time_unix_nano", "ts"),
              "duration_ms": ("duration_ms",), "status": ("status",), "instance": ("instance", "pod", "pod_name")},
    "events": {"ts": ("ts", "timestamp", "time"), "kind": ("kind", "type"),
               "service": ("service",), "detail": ("detail", "message", "description")},
}
#: canonical columns filled from the first alias present only (never coalesced, the others stay as labels)
FIRST_ONLY = {"instance"}
#: pod-name columns (:func:`service_of_pod` gives ``__pod_service`` from the first present)
POD_COLUMNS = ("pod", "pod_name", "kubernetes_pod_name", "k8s_pod_name")
#: a span's end time and durations in other units, turned into ``duration_ms`` when it is absent (a bare
#: ``duration`` is in microseconds, as Jaeger and Zipkin write it)
SPAN_END = ("end", "end_time", "end_time_unix_nano")
SPAN_DURATION_UNITS = {"duration": 1e-3, "duration_us": 1e-3, "duration_micros": 1e-3, "duration_ns": 1e-6,
                       "duration_nano": 1e-6}
#: parent span ids that mean "no parent" (Nezha writes "root"; OTLP all-zero ids)
_NO_PARENT = r"(?i)^(?:root|none|null|nil|-|0+)$"
REQUIRED = {"logs": ("ts", "message"), "metrics": ("ts", "metric", "value"),
            "spans": ("trace_id", "span_id", "start"), "events": ("ts", "kind")}
TS_COLS = {"logs": ("ts",), "metrics": ("ts",), "spans": ("start",), "events": ("ts", "end")}
FLOAT_COLS = {"logs": ("latency_ms",), "metrics": ("value",), "spans": ("duration_ms", "payload_bytes"),
              "events": ()}
INT_COLS = {"logs": ("status",), "spans": ("attempt",), "metrics": (), "events": ()}
NON_NEGATIVE = {"latency_ms", "duration_ms", "payload_bytes", "attempt"}
#: numbers that must not be NaN: measurements of one request or span. A metric sample's ``value`` is not here:
#: Prometheus and OpenMetrics allow NaN samples (a summary quantile with no observations, a ratio of zeros)
NO_NAN = {"latency_ms", "duration_ms", "payload_bytes"}
STR_COLS = {"logs": ("service", "level", "message", "route", "trace_id", "error_category", "instance"),
            "metrics": ("metric", "service", "instance"),
            "spans": ("trace_id", "span_id", "parent_id", "service", "operation", "status", "peer", "instance"),
            "events": ("kind", "service", "detail", "severity", "version")}

LEVELS = {"trace": "debug", "debug": "debug", "dbg": "debug", "d": "debug", "info": "info",
          "information": "info", "informational": "info", "notice": "info", "i": "info",
          "warn": "warning", "warning": "warning", "w": "warning", "error": "error", "err": "error",
          "e": "error", "critical": "critical", "crit": "critical", "fatal": "critical",
          "panic": "critical", "emerg": "critical", "alert": "critical", "f": "critical"}


def canonical_order(kind: str) -> list[str]:
    from holoops.frames import OPTIONAL, SCHEMAS

    return [*SCHEMAS[kind], *OPTIONAL.get(kind, {})]


def epoch_to_ns(v: pl.Expr, float_input: bool) -> pl.Expr:
    """Epoch numbers to ns by magnitude: < 1e11 seconds, < 1e14 ms, < 1e17 µs, else ns."""
    a = v.abs()
    if float_input:
        ns = (pl.when(a < 1e11).then(v * 1e9).when(a < 1e14).then(v * 1e6).when(a < 1e17).then(v * 1e3)
              .otherwise(v)).round(0).cast(pl.Int64, strict=False)
    else:
        ns = (pl.when(a < 100_000_000_000).then(v * 1_000_000_000).when(a < 100_000_000_000_000)
              .then(v * 1_000_000).when(a < 100_000_000_000_000_000).then(v * 1_000).otherwise(v))
    return ns.cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")


_EPOCH_EDGES = (100_000_000_000, 100_000_000_000_000, 100_000_000_000_000_000)  # s | ms | µs | ns
_EPOCH_MULTS = (1_000_000_000, 1_000_000, 1_000, 1)


def _epoch_ints(v: pl.Series) -> pl.Series:
    """:func:`epoch_to_ns` of an Int64 series: one multiplication when every value has the same magnitude
    (the usual case), the per-value choice otherwise."""
    a = v.abs()
    lo, hi = a.min(), a.max()
    if lo is not None:
        unit = sum(lo >= e for e in _EPOCH_EDGES)
        if unit == sum(hi >= e for e in _EPOCH_EDGES):
            return (v * _EPOCH_MULTS[unit]).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
    return v.to_frame("v").select(epoch_to_ns(pl.col("v"), False)).to_series().alias(v.name)


def to_utc(col: str, dtype: pl.DataType) -> pl.Expr:
    """Expression turning column ``col`` (string, number or datetime) into Datetime(ns, UTC); null if bad."""
    c = pl.col(col)
    if isinstance(dtype, pl.Datetime):
        c = c.dt.replace_time_zone("UTC") if dtype.time_zone is None else c.dt.convert_time_zone("UTC")
        return c.cast(TS)
    if dtype.is_integer():
        return epoch_to_ns(c.cast(pl.Int64), False)
    if dtype.is_float():
        return epoch_to_ns(c.cast(pl.Float64), True)
    if dtype == pl.Date:
        return c.cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
    s = c.cast(pl.String).str.strip_chars()
    iso = s.str.replace(" ", "T", literal=True, n=1).str.replace(",", ".", literal=True, n=1)
    # Go's time.Time.String(): "2023-01-29 08:41:09.043078357 +0000 UTC m=+0.119240217" (zone name and the
    # monotonic clock reading dropped; the numeric offset gives the time)
    go = s.str.replace(r" m=[+-]?[0-9.]+$", "").str.replace(r"^(.*[+-]\d{4}) [A-Za-z]{1,6}$", "$1")
    return pl.coalesce(
        epoch_to_ns(s.cast(pl.Int64, strict=False), False),
        epoch_to_ns(s.cast(pl.Float64, strict=False), True),
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", time_zone="UTC", time_unit="ns", strict=False),
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="ns", strict=False)
        .dt.replace_time_zone("UTC"),
        go.str.to_datetime("%Y-%m-%d %H:%M:%S%.f %z", time_zone="UTC", time_unit="ns", strict=False),
    ).cast(TS)


ISO_TZ = "%Y-%m-%dT%H:%M:%S%.f%#z"
_NUMBER = re.compile(r"^[+-]?\d+$")


def _align(s: pl.Series, like: pl.Series) -> pl.Series:
    """Single-chunk ``s`` cut (zero-copy) into the chunk layout of ``like``, a column of the same length, so
    frame operations mixing them need no rechunk (a copy of every column of a frame read in parts)."""
    if s.n_chunks() != 1 or like.n_chunks() <= 1 or len(s) != len(like):
        return s
    out, at = None, 0
    for chunk in like.get_chunks():
        part = s.slice(at, len(chunk))
        at += len(chunk)
        out = part if out is None else out.append(part)
    return out if out is not None else s


def parse_ts(df: pl.DataFrame, col: str) -> pl.Series:
    """Column ``col`` of ``df`` as Datetime(ns, UTC) (null where unparsable); tries the vectorised ISO parse,
    then ISO-with-offset, and runs the slower epoch/naive parsers only when some values are left unparsed."""
    dtype = df.schema[col]
    if dtype == pl.String:
        from holoops.sources.formats._iso import iso_utc

        s = df[col]
        like = s.clone()  # iso_utc's to_arrow() rechunks the series it is given
        fast = iso_utc(s)
        if fast is not None:
            return _align(fast, like)
        first = s.head(1000).drop_nulls().head(1).to_list() or s.drop_nulls().head(1).to_list()
        fmt = "%Y-%m-%dT%H:%M:%S%.fZ" if first and first[0].endswith("Z") and "T" in first[0] else ISO_TZ
        if first and _NUMBER.match(first[0]):  # epoch numbers as text (exposition text, CSV, query JSON)
            out = _epoch_ints(s.cast(pl.Int64, strict=False))
        else:
            out = s.str.to_datetime(fmt, time_zone="UTC", time_unit="ns", strict=False)
        if out.null_count() == s.null_count():
            return out.cast(TS)
        return df.select(pl.coalesce(pl.lit(out), to_utc(col, dtype))).to_series().cast(TS)
    return df.select(to_utc(col, dtype)).to_series()


def norm_name(name: str) -> str:
    """A column name compared for aliases: lower case, without ``_ - . @ /`` and spaces (``TraceID``,
    ``trace_id`` and ``traceId`` are all ``traceid``). Internal names (``__line``, ``__name__``) stay as they are."""
    if name.startswith("__"):
        return name
    return _SEPARATORS.sub("", name).lower()


_SEPARATORS = re.compile(r"[\s_\-.@/]+")
#: the characters Kubernetes' name generator uses for generated suffixes (no vowels, no 0, 1, 3)
_K8S_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
#: a pod's generated suffix: Deployment ``-<ReplicaSet hash>-<5>`` (the hash is decimal in old clusters,
#: and a CronJob's Job adds a decimal schedule time), StatefulSet ``-<ordinal>``, DaemonSet/Job/ReplicaSet ``-<5>``
POD_SUFFIX = rf"-(?:(?:{_K8S_SAFE}{{6,10}}|\d{{6,10}})-{_K8S_SAFE}{{5}}|\d+|{_K8S_SAFE}{{5}})$"
_POD_SUFFIX_RE = re.compile(POD_SUFFIX)


def service_of_pod(pod: str | pl.Expr | None) -> Any:
    """The workload (service) name of a Kubernetes pod: its generated suffixes stripped
    (``ts-contacts-service-866bd68c97-xcqfx`` -> ``ts-contacts-service``, ``redis-0`` -> ``redis``); a name
    without such a suffix is returned as it is. Takes a string or a polars expression (vectorised)."""
    if isinstance(pod, pl.Expr):
        return pod.str.replace(POD_SUFFIX, "")
    return None if pod is None else _POD_SUFFIX_RE.sub("", pod, count=1)


def snake_case(name: str) -> str:
    """``PodServerLatencyP99`` -> ``pod_server_latency_p99``, ``HTTPRequests`` -> ``http_requests``."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"[^0-9A-Za-z]+", "_", s).strip("_").lower()
    return f"_{s}" if s[:1].isdigit() else s


#: units written in a column header's parentheses -> the Prometheus-style name suffix (matched exactly, then
#: ignoring case; ``m`` is Kubernetes' millicores, ``Mi`` mebibytes)
UNIT_SUFFIXES = {"m": "millicores", "Mi": "mebibytes", "M": "megabytes"}
_UNIT_SUFFIXES_CI = {"s": "seconds", "sec": "seconds", "secs": "seconds", "seconds": "seconds",
                     "ms": "milliseconds", "us": "microseconds", "µs": "microseconds", "ns": "nanoseconds",
                     "min": "minutes", "h": "hours", "%": "percent", "percent": "percent", "pct": "percent",
                     "ki": "kibibytes", "kib": "kibibytes", "mib": "mebibytes", "gi": "gibibytes", "gib": "gibibytes",
                     "b": "bytes", "byte": "bytes", "bytes": "bytes", "kb": "kilobytes", "mb": "megabytes",
                     "gb": "gigabytes", "ops": "ops", "op": "ops", "ops/s": "ops_per_second",
                     "req/s": "requests_per_second", "rps": "requests_per_second", "qps": "queries_per_second",
                     "cores": "cores", "core": "cores", "millicores": "millicores", "count": "count"}


def wide_metric_name(header: str) -> str:
    """A wide table's column header as a Prometheus-style metric name: snake case, with the unit in
    parentheses (or brackets) as the suffix: ``PodServerLatencyP99(s)`` -> ``pod_server_latency_p99_seconds``,
    ``CpuUsageRate(%)`` -> ``cpu_usage_rate_percent``, ``MemoryUsage(Mi)`` -> ``memory_usage_mebibytes``,
    ``CpuUsage(m)`` -> ``cpu_usage_millicores``, ``PodWorkload(Ops)`` -> ``pod_workload_ops``; no unit: snake
    case only. A suffix the name already ends with is not repeated."""
    m = re.match(r"^(.*?)\s*[(\[]\s*([^()\[\]]*?)\s*[)\]]\s*$", header.strip())
    base, unit = (m.group(1), m.group(2)) if m else (header, "")
    name = snake_case(base) or "value"
    if not unit:
        return name
    suffix = UNIT_SUFFIXES.get(unit) or _UNIT_SUFFIXES_CI.get(unit.lower()) or snake_case(
        unit.replace("%", " percent ").replace("/", " per "))
    return name if not suffix or name == suffix or name.endswith("_" + suffix) else f"{name}_{suffix}"


def _pod_column(df: pl.DataFrame) -> str | None:
    want = {norm_name(n) for n in POD_COLUMNS}
    return next((c for c in df.columns if norm_name(c) in want), None)


def apply_aliases(df: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Rename/derive canonical columns from accepted aliases, matched by :func:`norm_name` (first present
    alias wins; values are coalesced over the aliases present, in alias order, except for FIRST_ONLY columns)."""
    by_norm: dict[str, list[str]] = {}
    for c in df.columns:
        by_norm.setdefault(norm_name(c), []).append(c)
    pod = _pod_column(df)
    if pod is not None and df.schema[pod] == pl.String:
        df = df.with_columns(service_of_pod(pl.col(pod)).alias("__pod_service"))
        by_norm["__pod_service"] = ["__pod_service"]
    exprs = []
    drop = []
    for canon, names in ALIASES[kind].items():
        present = list(dict.fromkeys(c for n in names for c in by_norm.get(norm_name(n), ())))
        if canon in FIRST_ONLY:
            present = present[:1]
        if not present or present == [canon]:
            continue
        exprs.append(pl.coalesce([pl.col(n) for n in present]).alias(canon)
                     if len({df.schema[n] for n in present}) == 1
                     else pl.coalesce([pl.col(n).cast(pl.String) for n in present]).alias(canon))
        drop += [n for n in present if n != canon]
    if exprs:
        df = df.with_columns(exprs).drop([d for d in dict.fromkeys(drop) if d not in ALIASES[kind] and d != "job"])
    if "__pod_service" in df.columns:
        df = df.drop("__pod_service")
    return df


def _blank(col: str, dtype: pl.DataType) -> pl.Expr:
    c = pl.col(col)
    if dtype == pl.String:  # no non-whitespace character (cheaper than comparing a stripped copy)
        return c.is_null() | ~c.str.contains(r"\S")
    return c.is_null()


def _maybe_blank(col: str, dtype: pl.DataType) -> pl.Expr:
    """A cheap superset of :func:`_blank`, screened on every row so the regex runs only where it flags
    something: null, or a first byte below ``!`` (empty, ASCII whitespace) or not ASCII (where the other
    Unicode whitespace lives). Two string comparisons, which polars answers from the inlined prefix."""
    c = pl.col(col)
    if dtype == pl.String:
        return c.is_null() | (c < "!") | (c >= "\x80")
    return c.is_null()


def validate(df: pl.DataFrame, kind: str, dl: DeadLetter,
             raw: Callable[[list[int]], list[Any]] | None = None,
             record: Callable[[list[int]], list[str]] | None = None,
             line_of: Callable[[list[int]], list[int | None]] | None = None,
             first_line: int | None = None) -> tuple[pl.DataFrame, dict[str, int]]:
    """Reject bad rows of ``df`` (which carries a ``__line`` column) into ``dl``; return canonical frame.

    ``raw(lines)`` returns the raw records for rejected line numbers (for the dead-letter entries);
    without it the row itself is serialised. For records inside a JSON document ``__line`` is a record
    id, ``record(ids)`` gives their JSON paths and ``line_of(ids)`` their lines (else null). Where the
    line of row ``i`` is ``first_line + i``, pass ``first_line`` instead of a ``__line`` column: it is
    numbered only when some row is rejected. Returns ``(frame, normalised_counts)``.
    """
    df = apply_aliases(df, kind)
    extra_fails: list[tuple[pl.Expr, str, str, pl.Expr | None]] = []
    hide: list[str] = []
    if kind == "spans" and "duration_ms" not in df.columns:
        df, extra_fails, hide = _span_durations(df)
    if kind == "logs":
        df = _unwrap_docker_json(df)
    schema = df.schema
    casts: dict[str, Any] = {}
    clean_ts = set()  # timestamp columns where every non-null value parsed (so none is blank either)
    for col in TS_COLS[kind]:
        if col in schema:
            casts[col] = parse_ts(df, col)
            if casts[col].null_count() == df[col].null_count():
                clean_ts.add(col)
    # (bad-row condition, field, reason, a cheap superset of the condition or None), checked in order
    fails: list[tuple[pl.Expr, str, str, pl.Expr | None]] = []
    for col in REQUIRED[kind]:
        if col not in schema:
            fails.append((pl.lit(True), col, "missing_field", None))
        elif col in clean_ts:
            fails.append((pl.col(col).is_null(), col, "missing_field", None))
        else:
            fails.append((_blank(col, schema[col]), col, "missing_field", _maybe_blank(col, schema[col])))
    for col in TS_COLS[kind]:
        if col in schema and col not in clean_ts:
            fails.append((~_blank(col, schema[col]) & pl.col(f"__c_{col}").is_null(), col, "bad_timestamp", None))
    fails += extra_fails
    for col, target in [*((c, pl.Float64) for c in FLOAT_COLS[kind]), *((c, pl.Int64) for c in INT_COLS[kind])]:
        if col not in schema:
            continue
        if schema[col] == target:
            casted = pl.col(col)
        elif schema[col] == pl.String and target == pl.Float64 and (
                direct := df[col].cast(pl.Float64, strict=False)).null_count() == df[col].null_count():
            casted = direct  # every value parses as it is (the usual case): no stripping, no special spellings
        else:
            src = pl.col(col)
            if schema[col] == pl.String:
                src = src.str.strip_chars()
                if target == pl.Float64:  # accept Prometheus spellings of special values
                    src = src.replace({"+Inf": "inf", "-Inf": "-inf", "Inf": "inf"})
            if schema[col] == pl.Boolean or schema[col].is_nested():  # true, [1], {"a": 1}: not numbers
                casted = pl.lit(None, dtype=target)
            else:
                casted = src.cast(target, strict=False)
            if target == pl.Int64 and schema[col] in (pl.String, pl.Float64, pl.Float32):
                # "200" and 200.0 are fine, "200.5"/"OK" are not
                f = src.cast(pl.Float64, strict=False)
                casted = pl.when(f.is_not_null() & (f == f.round(0))).then(f.cast(pl.Int64, strict=False))
            fails.append((~_blank(col, schema[col]) & pl.col(f"__c_{col}").is_null(), col, "mistyped_field",
                          pl.col(col).is_not_null() & pl.col(f"__c_{col}").is_null()))
        casts[col] = casted
        c = pl.col(f"__c_{col}")
        if col in NO_NAN and target == pl.Float64:
            fails.append((c.is_nan().fill_null(False), col, "nan_value", None))
        if col in NON_NEGATIVE:
            fails.append(((c < 0).fill_null(False), col, "negative_value", None))

    ref = next((c for c in df.columns if not c.startswith("__")), None)
    if ref is not None and df[ref].n_chunks() > 1 and "__line" in schema:
        df = df.with_columns(_align(df["__line"], df[ref]))
    df = df.with_columns([v.alias(f"__c_{k}") for k, v in casts.items()])
    # happy path: one parallel pass of cheap "any row flagged?" screens; the per-row reason codes are built
    # (from the flagged conditions only) just when some row may be bad
    flagged = df.select([(cond if screen is None else screen).any().alias(f"__f{i}")
                         for i, (cond, _, _, screen) in enumerate(fails)]).row(0) if fails and df.height else ()
    live = [i for i, hit in enumerate(flagged) if hit]
    if live:
        code = pl.lit(None, dtype=pl.Int32)
        for i in reversed(live):
            code = pl.when(fails[i][0]).then(pl.lit(i, dtype=pl.Int32)).otherwise(code)
        df = df.with_columns(code.alias("__code"))
        if first_line is not None and "__line" not in df.columns:
            df = df.with_row_index("__line", offset=first_line)
        bad = df.filter(pl.col("__code").is_not_null())
        if bad.height:
            lines = bad["__line"].to_list()
            codes = bad["__code"].to_list()
            if raw is not None:
                raws = raw(lines)
            else:
                raws = [str({k: v for k, v in r.items() if not k.startswith("__")})
                        for r in bad.head(1000).iter_rows(named=True)] + [""] * max(0, bad.height - 1000)
            recs = record(lines) if record is not None else None
            out_lines = line_of(lines) if line_of is not None else [None] * len(lines) if record else lines
            dl.reject_many(out_lines, [fails[c][1] for c in codes], [fails[c][2] for c in codes], raws,
                           records=recs)
            df = df.filter(pl.col("__code").is_null())
        df = df.drop("__code")
    df = df.drop(list(casts)).rename({f"__c_{k}": k for k in casts})

    normalised: dict[str, int] = {}
    # string columns, canonical extras
    str_fix = [pl.col(c).cast(pl.String) for c in STR_COLS[kind] if c in df.columns and df.schema[c] != pl.String]
    if str_fix:
        df = df.with_columns(str_fix)
    if kind == "logs":
        if "level" not in df.columns:
            df = _level_from_message(df)
        df, n_unknown = _normalise_levels(df)
        if n_unknown:
            normalised["level"] = n_unknown
    if kind == "spans":
        st = pl.col("status").cast(pl.String).str.strip_chars().str.to_lowercase() \
            if "status" in df.columns else pl.lit(None, dtype=pl.String)
        err = st.is_in(["error", "err", "2", "status_code_error", "true", "failed", "failure"]) | (
            st.cast(pl.Int64, strict=False) >= 500).fill_null(False)
        df = df.with_columns(status=pl.when(err).then(pl.lit("error")).otherwise(pl.lit("ok")))
        df = df.with_columns(parent_id=pl.col("parent_id").str.replace(_NO_PARENT, "").fill_null("")
                             if "parent_id" in df.columns else pl.lit(""))
    from holoops.frames import SCHEMAS

    missing = {c: pl.lit(None, dtype=TS if t == "ts" else pl.Float64 if t == "float" else pl.String)
               for c, t in SCHEMAS[kind].items() if c not in df.columns}
    if missing:
        df = df.with_columns(**missing)
    if kind == "events":
        df = df.with_columns(detail=pl.col("detail").fill_null(""))
    order = [c for c in canonical_order(kind) if c in df.columns]
    rest = [c for c in df.columns if c not in order and not c.startswith("__") and c not in hide]
    return df.select(order + rest), normalised


def _span_durations(df: pl.DataFrame) -> tuple[pl.DataFrame, list[tuple[pl.Expr, str, str, None]], list[str]]:
    """``duration_ms`` of spans that give an end time (exact: end - start) or a duration in another unit
    (:data:`SPAN_DURATION_UNITS`; used where the end is missing). Returns the frame, the checks rejecting a
    bad end time or duration (by its own column name), and the source columns to leave out of the result."""
    by: dict[str, str] = {}
    for c in df.columns:
        by.setdefault(norm_name(c), c)
    end = next((by[norm_name(n)] for n in SPAN_END if norm_name(n) in by), None)
    dur = next(((by[norm_name(n)], f) for n, f in SPAN_DURATION_UNITS.items() if norm_name(n) in by), None)
    if end is None and dur is None:
        return df, [], []
    parts: list[pl.Expr] = []
    fails: list[tuple[pl.Expr, str, str, None]] = []
    hide: list[str] = []
    if end is not None and "start" in df.columns:
        end_ts, start_ts = parse_ts(df, end), parse_ts(df, "start")
        df = df.with_columns(__end_ms=(end_ts - start_ts).dt.total_nanoseconds() / 1e6,
                             __end_bad=(end_ts.is_null() & ~df.select(_blank(end, df.schema[end])).to_series()))
        parts.append(pl.col("__end_ms"))
        fails.append((pl.col("__end_bad"), end, "bad_timestamp", None))
        hide.append(end)
    if dur is not None:
        col, factor = dur
        dt = df.schema[col]
        num = (pl.col(col).cast(pl.Float64) if dt.is_numeric() else
               pl.col(col).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False))
        df = df.with_columns(__dur_ms=num * factor)
        parts.append(pl.col("__dur_ms"))
        fails.append((pl.col("__dur_ms").is_null() & ~_blank(col, dt), col, "mistyped_field", None))
        hide.append(col)
    if not parts:
        return df, [], []
    return df.with_columns(duration_ms=pl.coalesce(parts)), fails, hide


def _unwrap_docker_json(df: pl.DataFrame) -> pl.DataFrame:
    """Messages that are Docker json-file records (``{"log": "<line>\\n", "stream": ..., "time": ...}``, what
    log shippers copy from ``/var/lib/docker/containers``): the message is the ``log`` field, without its
    newline. Judged on the first message; a value that is not such a record is kept as it is."""
    if "message" not in df.columns or df.schema["message"] != pl.String or not df.height:
        return df
    first = df["message"].head(1000).drop_nulls().head(1).to_list()
    if not first or not first[0].lstrip().startswith('{"log"'):
        return df
    inner = pl.col("message").str.json_path_match("$.log").str.strip_chars_end("\r\n")
    return df.with_columns(message=pl.coalesce(inner, pl.col("message")))


#: a level word near the start of a log line: ``16:42:22.382 INFO  t.s.TravelServiceImpl#532 ...``,
#: ``2023-01-29 16:42:22.382 ERROR 1 --- [main] ...``, ``[WARN] ...``, ``ERROR: ...`` (upper case only)
MESSAGE_LEVEL = (r"^(?:\S+\s+){0,3}?\[?(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|PANIC)\]?"
                 r"(?:[\s:]|$)")


def _level_from_message(df: pl.DataFrame) -> pl.DataFrame:
    """A ``level`` for logs that carry none: the level word near the start of the message, else "info"."""
    if "message" not in df.columns or df.schema["message"] != pl.String or not df.height:
        return df.with_columns(level=pl.lit("info"))
    found = pl.col("message").str.slice(0, 120).str.extract(MESSAGE_LEVEL, 1).str.to_lowercase()
    return df.with_columns(level=found.fill_null("info"))


def _normalise_levels(df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Map ``level`` onto the canonical levels (unknown values become "unknown"); returns (frame, n_unknown).

    Levels have few distinct values: each is mapped once in Python and the column rewritten only when
    some value is not canonical already.
    """
    if df.schema["level"] == pl.Null:
        return df.with_columns(level=pl.lit("unknown", dtype=pl.String)), 0
    lev = df["level"]
    mapping = {u: LEVELS.get(u.strip().lower()) for u in lev.unique().drop_nulls().to_list()}
    unknown = [u for u, v in mapping.items() if v is None]
    n_unknown = int(lev.is_in(unknown).sum()) if unknown else 0
    if lev.null_count() == 0 and all(u == v for u, v in mapping.items()):
        return df, 0
    known = {u: v for u, v in mapping.items() if v is not None}
    return df.with_columns(level=pl.col("level").replace_strict(known, default=None, return_dtype=pl.String)
                           .fill_null("unknown")), n_unknown


def frame_from_columns(cols: dict[str, list[Any]]) -> pl.DataFrame:
    """A polars frame from python lists, each column typed loosely (strings unless uniform numbers)."""
    out = {}
    for k, v in cols.items():
        try:
            out[k] = pl.Series(k, v, strict=True)
        except (TypeError, pl.exceptions.PolarsError, OverflowError):
            out[k] = pl.Series(k, [None if x is None else str(x) for x in v], dtype=pl.String)
    return pl.DataFrame(out)


#: the spans frame's columns, in the order the trace readers build them
SPAN_COLUMNS = ("trace_id", "span_id", "parent_id", "service", "operation", "start", "duration_ms", "status",
                "peer", "attempt", "payload_bytes")


def raw_lookup(df: pl.DataFrame) -> Callable[[list[int]], list[str | None]]:
    """A function giving the raw text of line numbers (``__line``/``__raw``), looked up only for rejects."""

    def raw(lines: list[int]) -> list[str | None]:
        hit = df.filter(pl.col("__line").is_in(lines))
        found = dict(zip(hit["__line"].to_list(), hit["__raw"].to_list(), strict=False))
        return [found.get(x) for x in lines]

    return raw


def add_counts(total: dict[str, int], more: dict[str, int]) -> None:
    """Add per-reason counts into ``total``."""
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def load_json_document(path: Any, expected: str, data: bytes | None = None) -> Any:
    """A whole JSON document from ``path`` (or its bytes, already read); InputFileError naming the file
    and what was expected."""
    import orjson

    from holoops.errors import InputFileError

    try:
        return orjson.loads(path.read_bytes() if data is None else data)
    except orjson.JSONDecodeError as exc:
        raise InputFileError(path, expected, f"invalid JSON ({exc})") from None


def spans_frame(cols: dict[str, list[Any]], n: int) -> pl.DataFrame:
    """The spans columns read from a trace document as a frame, optional columns kept only when used."""
    for k in ("peer", "attempt", "payload_bytes"):
        if all(v is None for v in cols[k]):
            del cols[k]
    return frame_from_columns(cols).with_columns(__line=pl.int_range(0, n, dtype=pl.Int64))


def resolve_kind(path: Any, asked: str | None, found: str | None, container: str, seen: str) -> str:
    """The frame kind of a CSV/Parquet dump: what the caller asked for, checked against what its columns
    hold; InputFileError when they disagree or the columns match no canonical frame."""
    from holoops.errors import InputFileError

    if asked is not None and found is not None and found != asked:
        raise InputFileError(path, f"a {asked} export", f"{container} holding {found}")
    kind = asked or found
    if kind is None:
        raise InputFileError(path, f"{container} with canonical columns (ts+metric+value, ts+message, "
                             "trace_id+span_id, or ts+kind+detail)", seen)
    return kind
