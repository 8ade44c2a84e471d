"""Shared, vectorised normalisation and validation of records into canonical frames (polars)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import polars as pl

from holoops.ingest import DeadLetter

TS = pl.Datetime("ns", "UTC")

#: source field names accepted for each canonical column (first present wins)
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "logs": {"ts": ("ts", "timestamp", "time", "@timestamp", "datetime", "date"),
             "message": ("message", "msg", "line", "log"),
             "service": ("service", "app", "service_name", "job", "container_name", "container"),
             "level": ("level", "severity", "lvl", "loglevel", "detected_level", "severity_text")},
    "metrics": {"ts": ("ts", "timestamp", "time"), "metric": ("metric", "__name__", "name"),
                "service": ("service", "job"), "instance": ("instance",), "value": ("value",)},
    "spans": {"trace_id": ("trace_id", "traceID", "traceId"), "span_id": ("span_id", "spanID", "spanId"),
              "parent_id": ("parent_id", "parentSpanId", "parent_span_id"),
              "service": ("service", "service_name", "serviceName"),
              "operation": ("operation", "operationName", "name"),
              "start": ("start", "start_time", "startTime", "ts"),
              "duration_ms": ("duration_ms",), "status": ("status",)},
    "events": {"ts": ("ts", "timestamp", "time"), "kind": ("kind", "type"),
               "service": ("service",), "detail": ("detail", "message", "description")},
}
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
            "spans": ("trace_id", "span_id", "parent_id", "service", "operation", "status", "peer"),
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
    return pl.coalesce(
        epoch_to_ns(s.cast(pl.Int64, strict=False), False),
        epoch_to_ns(s.cast(pl.Float64, strict=False), True),
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", time_zone="UTC", time_unit="ns", strict=False),
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="ns", strict=False)
        .dt.replace_time_zone("UTC"),
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


def apply_aliases(df: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Rename/derive canonical columns from accepted aliases (first present alias wins)."""
    exprs = []
    drop = []
    for canon, names in ALIASES[kind].items():
        present = [n for n in names if n in df.columns]
        if not present or present == [canon]:
            continue
        exprs.append(pl.coalesce([pl.col(n) for n in present]).alias(canon)
                     if len({df.schema[n] for n in present}) == 1
                     else pl.coalesce([pl.col(n).cast(pl.String) for n in present]).alias(canon))
        drop += [n for n in present if n != canon]
    if exprs:
        df = df.with_columns(exprs).drop([d for d in dict.fromkeys(drop) if d not in ALIASES[kind] and d != "job"])
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
            df = df.with_columns(level=pl.lit("info"))
        df, n_unknown = _normalise_levels(df)
        if n_unknown:
            normalised["level"] = n_unknown
    if kind == "spans":
        st = pl.col("status").cast(pl.String).str.strip_chars().str.to_lowercase() \
            if "status" in df.columns else pl.lit(None, dtype=pl.String)
        err = st.is_in(["error", "err", "2", "status_code_error", "true", "failed", "failure"]) | (
            st.cast(pl.Int64, strict=False) >= 500).fill_null(False)
        df = df.with_columns(status=pl.when(err).then(pl.lit("error")).otherwise(pl.lit("ok")))
        df = df.with_columns(parent_id=pl.col("parent_id").fill_null("") if "parent_id" in df.columns
                             else pl.lit(""))
    from holoops.frames import SCHEMAS

    missing = {c: pl.lit(None, dtype=TS if t == "ts" else pl.Float64 if t == "float" else pl.String)
               for c, t in SCHEMAS[kind].items() if c not in df.columns}
    if missing:
        df = df.with_columns(**missing)
    if kind == "events":
        df = df.with_columns(detail=pl.col("detail").fill_null(""))
    order = [c for c in canonical_order(kind) if c in df.columns]
    rest = [c for c in df.columns if c not in order and not c.startswith("__")]
    return df.select(order + rest), normalised


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
