"""Request-log tables: the per-minute SLO table and the top erroring endpoints.

Input is a canonical logs frame with ``status`` and ``latency_ms`` (pandas, polars, pyarrow, cuDF or
Dask), or a Parquet path / glob / (hive-partitioned) folder, which is scanned lazily so only the needed
columns are read.

* :func:`request_table` -- per ``by`` group and ``freq`` bucket (the bucket *start*, UTC, epoch-aligned):
  ``requests``, ``errors_5xx`` (``status >= 500``), ``error_ratio`` and latency quantiles
  ``p50_ms``/``p95_ms``/``p99_ms``.
A ``.jsonl``/``.ndjson`` path (the JSON-lines export) is scanned by DuckDB's streaming JSON reader
(only the needed keys are parsed), so memory grows with the number of groups and, for exact quantiles,
8 bytes per latency -- not with the file size (measured under a 1 GiB cap on a 4 GiB file:
``benchmarks/bench_memory.py``). polars' ``scan_ndjson`` streaming engine was measured to grow with the
file, so ``backend="polars"`` on a JSON-lines path is not bounded. This path does not validate records
as the readers do: a malformed line, timestamp or number stops it with an InputFileError.
:func:`holoops.sources.exports.convert_export` streams such a file into Parquet with every bad
record dead-lettered (file, line, field, reason), and the Parquet folder is then the input.

* :func:`top_errors` -- the ``n`` endpoints with the most 5xx: ``requests``, ``errors_5xx``,
  ``error_ratio``.

Quantiles: ``method="exact"`` is linear interpolation between order statistics (numpy's default,
polars ``interpolation="linear"``, DuckDB ``quantile_cont``); ``method="sketch"`` uses the mergeable
log-bucket sketch of :mod:`holoops.analyze.quantiles` (relative error <= 1 % of the order statistic at
rank ``floor(q (n - 1))``). Every engine gives the same numbers.

Engines. On CPU the work runs in polars (lazy ``group_by``) or DuckDB SQL, whichever
``benchmarks/bench_analytics.py`` measured faster for that table (:data:`CPU_BACKEND`; override with
``backend=``). cuDF frames use cuDF's groupby on the GPU. Dask frames use the sketch: each partition is
reduced to ``(group, bucket, sketch index) -> count``, partitions are combined with a groupby-sum, and
the quantiles are read off the summed counts -- so percentiles on a cluster are a groupby-sum. On
DuckDB the sketch's buckets are read off the counts in SQL, so the (groups x buckets) counts table never
leaves DuckDB (which can spill it). ``engine`` picks the returned frame type (None: the input's own type; paths and pyarrow: ``auto``).
"""

from __future__ import annotations

import contextlib
import glob as _glob
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from holoops.errors import SchemaError

__all__ = ["request_table", "top_errors", "sketch_counts", "quantiles_from_counts", "CPU_BACKEND"]

Method = Literal["exact", "sketch"]
Backend = Literal["auto", "polars", "duckdb"]

#: the CPU backend ``backend="auto"`` uses for each table (measured: benchmarks/RESULTS.md)
CPU_BACKEND: dict[str, str] = {"request_table": "duckdb", "request_table_sketch": "polars", "top_errors": "duckdb"}

#: sketch relative accuracy (same as :class:`holoops.analyze.quantiles.LogSketch`'s default)
REL = 0.01
_NEEDED = ("ts", "status", "latency_ms")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _qcol(q: float) -> str:
    s = f"{q * 100:.10g}".replace(".", "_")
    return f"p{s}_ms"


def _step_ns(freq: str) -> int:
    import pandas as pd

    ns = int(pd.Timedelta(freq).value)
    if ns <= 0:
        raise ValueError(f"freq must be a positive duration, got {freq!r}")
    return ns


def _kind(logs: Any) -> str:
    if isinstance(logs, (str, Path)):
        return "path"
    mod = type(logs).__module__.split(".")[0]
    if mod == "dask" or mod == "dask_cudf":
        return "dask"
    if mod in ("pandas", "polars", "cudf", "pyarrow"):
        if mod == "polars" and type(logs).__name__ == "LazyFrame":
            return "polars_lazy"
        return mod
    raise SchemaError(f"request logs must be a frame, or a Parquet or JSON-lines path, got {type(logs).__name__}")


def _parquet_source(path: str | Path) -> tuple[str, bool]:
    """(path or glob for the scanners, hive?) -- folders become a recursive ``**/*.parquet`` glob."""
    p = Path(path)
    if p.is_dir():
        return str(p / "**" / "*.parquet"), True
    if not p.exists() and not _glob.has_magic(str(path)):
        from holoops.errors import InputFileError

        raise InputFileError(p, "a Parquet file, glob or folder", "no such file")
    return str(path), False


def _is_jsonl(path: Any) -> bool:
    return isinstance(path, (str, Path)) and str(path).lower().endswith((".jsonl", ".ndjson"))


def _check_cols(cols: Sequence[str], need: Sequence[str], where: str) -> None:
    missing = [c for c in need if c not in cols]
    if missing:
        raise SchemaError(f"{where}: logs are missing column(s) {', '.join(missing)}; have {list(cols)}")


def _out_engine(kind: str, engine: str | None) -> str:
    from holoops.frames import resolve_engine

    if engine is None:
        if kind in ("pandas", "polars", "cudf", "dask"):
            return kind
        if kind == "polars_lazy":
            return "polars"
        engine = "auto"
    eng = resolve_engine(engine)
    return eng


def _convert(pl_df: Any, engine: str) -> Any:
    """A small polars result as ``engine``'s frame (Dask results come back as pandas)."""
    if engine == "polars":
        return pl_df
    if engine in ("pandas", "dask"):
        return pl_df.to_pandas()
    from holoops.frames import to_engine

    return to_engine(pl_df, engine)


def _polars_lazy(logs: Any, kind: str, cols: Sequence[str]):
    import polars as pl

    if kind == "path" and _is_jsonl(logs):
        lf = pl.scan_ndjson(str(logs), infer_schema_length=1000).select(list(cols))
        if lf.collect_schema()["ts"] == pl.String:
            lf = lf.with_columns(pl.col("ts").str.to_datetime(time_unit="ns", time_zone="UTC"))
        return lf
    if kind == "path":
        src, hive = _parquet_source(logs)
        lf = pl.scan_parquet(src, hive_partitioning=hive)
    elif kind == "polars_lazy":
        lf = logs
    elif kind == "polars":
        lf = logs.lazy()
    elif kind == "pyarrow":
        lf = pl.from_arrow(logs).lazy()
    else:  # pandas (cudf/dask are handled elsewhere)
        _check_cols(list(logs.columns), cols, "request logs")
        lf = pl.from_pandas(logs[list(cols)]).lazy()
    _check_cols(lf.collect_schema().names(), cols, "request logs")
    return lf


def _duck_source(con: Any, logs: Any, kind: str, cols: Sequence[str]) -> str:
    """Register ``logs`` with DuckDB; return the FROM expression."""
    if kind == "path" and _is_jsonl(logs):
        con.execute("SET TimeZone = 'UTC'")  # naive ISO timestamps are UTC, as in holoops' readers
        return _jsonl_source(logs, cols)
    if kind == "path":
        src, hive = _parquet_source(logs)
        hv = ", hive_partitioning = true" if hive else ""
        return f"read_parquet('{src.replace(chr(39), chr(39) * 2)}'{hv})"
    if kind == "polars_lazy":
        logs = logs.select(list(cols)).collect()
        kind = "polars"
    if kind == "polars":
        logs = logs.select(list(cols)).to_arrow()
    elif kind == "pandas":
        _check_cols(list(logs.columns), cols, "request logs")
        logs = logs[list(cols)]
    _check_cols(list(logs.columns) if kind == "pandas" else logs.schema.names, cols, "request logs")
    con.register("holoops_logs", logs)
    return "holoops_logs"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: DuckDB types of the request-log keys read from JSON lines (any other key is read as text)
_JSON_TYPES = {"ts": "VARCHAR", "status": "BIGINT", "latency_ms": "DOUBLE"}


def _jsonl_source(path: str | Path, cols: Sequence[str]) -> str:
    """A DuckDB ``read_json`` subquery over a JSON-lines file: only ``cols``, ``ts`` as TIMESTAMPTZ (ISO
    strings, or epoch numbers in s/ms/µs/ns by magnitude, as :mod:`holoops.sources.formats._canon`)."""
    import orjson

    from holoops.errors import InputFileError

    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "a JSON-lines file", "no such file" if not p.exists() else "a directory")
    keys: set[str] = set()
    with open(p, "rb") as fh:
        for ln in fh.read(1 << 20).split(b"\n")[:1000]:
            try:
                obj = orjson.loads(ln)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                keys.update(obj)
    _check_cols(sorted(keys), cols, f"request logs {p}")
    spec = ", ".join(f"{_lit(c)}: '{_JSON_TYPES.get(c, 'VARCHAR')}'" for c in cols)
    x = "TRY_CAST(ts AS DOUBLE)"
    micros = (f"CASE WHEN abs({x}) < 1e11 THEN {x} * 1e6 WHEN abs({x}) < 1e14 THEN {x} * 1e3 "
              f"WHEN abs({x}) < 1e17 THEN {x} ELSE {x} / 1e3 END")
    ts = (f"CASE WHEN {x} IS NOT NULL THEN CAST(make_timestamp(CAST(round({micros}) AS BIGINT)) AS TIMESTAMPTZ) "
          f"ELSE CAST(ts AS TIMESTAMPTZ) END AS ts")
    sel = ", ".join(ts if c == "ts" else _q(c) for c in cols)
    return (f"(SELECT {sel} FROM read_json({_lit(str(p))}, format = 'newline_delimited', "
            f"columns = {{{spec}}}))")


def _duck_arrow(con: Any, sql: str, logs: Any) -> Any:
    """Run ``sql``; a JSON-lines file DuckDB cannot parse becomes an InputFileError naming the way out."""
    import duckdb

    try:
        return con.sql(sql).to_arrow_table()
    except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
        if not _is_jsonl(logs):
            raise
        from holoops.errors import InputFileError

        raise InputFileError(logs, "JSON lines with valid request records (convert_export dead-letters bad "
                             "lines into Parquet you can pass instead)", str(exc).splitlines()[0]) from None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _backend(name: str, backend: str, logs: Any = None) -> str:
    if backend == "auto":  # JSON lines: DuckDB's reader streams, polars' scan_ndjson does not
        return "duckdb" if _is_jsonl(logs) else CPU_BACKEND[name]
    if backend not in ("polars", "duckdb"):
        raise ValueError(f"backend must be 'auto', 'polars' or 'duckdb', not {backend!r}")
    return backend


# --------------------------------------------------------------------------------------------------
# the per-minute SLO table
# --------------------------------------------------------------------------------------------------
def request_table(logs: Any, *, freq: str = "1min", by: Sequence[str] = ("service",),
                  quantiles: Sequence[float] = (0.5, 0.95, 0.99), method: Method = "exact",
                  engine: str | None = None, backend: Backend = "auto") -> Any:
    """Requests, 5xx, error ratio and latency quantiles per ``by`` group and ``freq`` bucket.

    Columns: ``ts`` (bucket start, UTC), the ``by`` columns (strings), ``requests``, ``errors_5xx``,
    ``error_ratio``, then ``p50_ms``, ``p95_ms``, ``p99_ms`` (one per quantile). Sorted by ``by``
    then ``ts``. Rows with a null ``latency_ms`` count as requests but not in the quantiles.

    ``logs`` may be a frame, a Parquet file/glob/folder (e.g. the folder
    :func:`holoops.sources.exports.convert_export` writes) or a JSON-lines file, both scanned lazily in
    bounded memory (see the module docstring).
    """
    if method not in ("exact", "sketch"):
        raise ValueError(f"method must be 'exact' or 'sketch', not {method!r}")
    by, qs = list(by), [float(q) for q in quantiles]
    if any(not 0 <= q <= 1 for q in qs):
        raise ValueError(f"quantiles must lie in [0, 1], got {qs}")
    step = _step_ns(freq)
    kind = _kind(logs)
    out_engine = _out_engine(kind, engine)
    if kind == "dask":
        if method == "exact":
            warnings.warn("request_table on Dask computes quantiles with the mergeable sketch "
                          "(method='sketch'); pass method='sketch' to silence this", stacklevel=2)
        res = _dask_request_table(logs, by, qs, step)
    elif kind == "cudf":
        res = _cudf_request_table(logs, by, qs, step, method)
        return res if out_engine == "cudf" else _convert(_pl_from_any(res), out_engine)
    elif _backend("request_table" if method == "exact" else "request_table_sketch", backend, logs) == "duckdb":
        res = _duckdb_request_table(logs, kind, by, qs, step, method)
    else:
        res = _polars_request_table(logs, kind, by, qs, step, method)
    return _convert(res, out_engine)


def _pl_from_any(df: Any):
    import polars as pl

    mod = type(df).__module__.split(".")[0]
    if mod == "cudf":
        return pl.from_arrow(df.to_arrow())
    if mod == "pandas":
        return pl.from_pandas(df)
    return df


def _finish(df: Any, by: list[str], qs: list[float], step: int):
    """Common tail (polars, small): types, names, order."""
    import polars as pl

    exprs = [(pl.col("_b") * step).cast(pl.Datetime("ns", "UTC")).alias("ts")]
    exprs += [pl.col(b).cast(pl.Utf8) for b in by]
    exprs += [pl.col("requests").cast(pl.Int64), pl.col("errors_5xx").cast(pl.Int64),
              (pl.col("errors_5xx") / pl.col("requests")).cast(pl.Float64).alias("error_ratio")]
    exprs += [pl.col(_qcol(q)).cast(pl.Float64) for q in qs]
    return df.select(exprs).sort([*by, "ts"])


def _polars_request_table(logs: Any, kind: str, by: list[str], qs: list[float], step: int, method: str):
    import polars as pl

    lf = _polars_lazy(logs, kind, [*_NEEDED, *by])
    lat = pl.col("latency_ms").cast(pl.Float64)
    b = (pl.col("ts").dt.epoch("ns") // step).alias("_b")
    if method == "sketch":
        counts = lf.group_by([*by, b, _pl_sketch_index(lat).alias("_i")]).agg(
            pl.len().cast(pl.Int64).alias("n"), (pl.col("status") >= 500).sum().cast(pl.Int64).alias("e")
        ).collect(engine=_collect_engine(logs))
        return quantiles_from_counts(counts, by, qs, step)
    aggs = [pl.len().alias("requests"), (pl.col("status") >= 500).sum().alias("errors_5xx")]
    aggs += [lat.quantile(q, interpolation="linear").alias(_qcol(q)) for q in qs]
    res = lf.group_by([*by, b]).agg(aggs).collect(engine=_collect_engine(logs))
    return _finish(res, by, qs, step)


def _collect_engine(logs: Any) -> str:
    """JSON-lines files stream (bounded memory); everything else uses polars' default engine."""
    return "streaming" if _is_jsonl(logs) else "auto"


def _pl_sketch_index(lat: Any):
    """Sketch bucket index of latency (floats; zeros/negatives -> -inf, i.e. value 0)."""
    import math

    import polars as pl

    lg = math.log((1 + REL) / (1 - REL))
    return (pl.when(lat.is_null() | lat.is_nan()).then(pl.lit(math.nan))
            .when(lat > 0).then((lat.log() / lg).ceil()).otherwise(pl.lit(-math.inf)).cast(pl.Float64))


def _pl_sketch_value(idx: Any):
    import math

    import polars as pl

    g = (1 + REL) / (1 - REL)
    return pl.when(idx.is_infinite()).then(0.0).otherwise(2.0 * (idx * math.log(g)).exp() / (g + 1.0)) \
        .cast(pl.Float64).name.keep()


def _np_sketch_value(idx: Any) -> Any:
    import numpy as np

    g = (1 + REL) / (1 - REL)
    with np.errstate(over="ignore", invalid="ignore"):
        v = 2.0 * np.exp(idx * np.log(g)) / (g + 1.0)
    return np.where(np.isneginf(idx), 0.0, v)


def _duckdb_request_table(logs: Any, kind: str, by: list[str], qs: list[float], step: int, method: str):
    import math

    import duckdb
    import polars as pl

    con = duckdb.connect()
    try:
        src = _duck_source(con, logs, kind, [*_NEEDED, *by])
        keys = "".join(f"{_q(c)}, " for c in by)
        lat = "CAST(latency_ms AS DOUBLE)"
        if method == "sketch":
            lg = math.log((1 + REL) / (1 - REL))
            idx = (f"CASE WHEN {lat} > 0 THEN ceil(ln({lat}) / {lg!r}) WHEN {lat} IS NULL OR isnan({lat}) "
                   f"THEN 'nan'::DOUBLE ELSE '-inf'::DOUBLE END")
            counts = (f"SELECT {keys}epoch_ns(ts) // {step} AS _b, {idx} AS _i, count(*) AS n, "
                      f"count(*) FILTER (WHERE status >= 500) AS e FROM {src} GROUP BY ALL")
            ranks = pl.from_arrow(_duck_arrow(con, _duck_sketch_ranks(counts, by, qs), logs))
            return _sketch_from_ranks(ranks, by, qs, step)
        qexpr = f"quantile_cont({lat}, [{', '.join(repr(q) for q in qs)}])"
        sql = (f"SELECT {keys}epoch_ns(ts) // {step} AS _b, count(*) AS requests, "
               f"count(*) FILTER (WHERE status >= 500) AS errors_5xx, {qexpr} AS _q "
               f"FROM {src} GROUP BY ALL")
        res = pl.from_arrow(_duck_arrow(con, sql, logs))
    finally:
        con.close()
    res = res.with_columns([pl.col("_q").list.get(i).alias(_qcol(q)) for i, q in enumerate(qs)]).drop("_q")
    return _finish(res, by, qs, step)


def _duck_sketch_ranks(counts: str, by: list[str], qs: list[float]) -> str:
    """SQL reading the quantiles' sketch buckets off the ``counts`` query inside DuckDB.

    Same rule as :func:`quantiles_from_counts` (bucket of the order statistics at ranks ``floor(q (m-1))``
    and the next one, ``m`` the non-null latencies of the group), but the counts table -- as large as
    (groups x buckets) -- never leaves DuckDB, which can spill it; only one row per group comes back:
    ``requests``, ``errors_5xx``, and per quantile ``_lo{j}``, ``_hi{j}`` (bucket indexes) and ``_f{j}``.
    """
    part = ", ".join([*map(_q, by), "_b"])
    ok = "NOT isnan(_i)"
    sel = []
    for j, q in enumerate(qs):
        pos = f"({q!r} * CAST(m - 1 AS DOUBLE))"
        sel.append(f"min(_i) FILTER (WHERE {ok} AND cum > floor({pos})) AS _lo{j}, "
                   f"min(_i) FILTER (WHERE {ok} AND cum > least(floor({pos}) + 1, m - 1)) AS _hi{j}, "
                   f"any_value({pos} - floor({pos})) AS _f{j}")
    return (f"WITH c AS ({counts}), w AS (SELECT *, "
            f"sum(n) FILTER (WHERE {ok}) OVER (PARTITION BY {part} ORDER BY _i ROWS UNBOUNDED PRECEDING) AS cum, "
            f"sum(n) FILTER (WHERE {ok}) OVER (PARTITION BY {part}) AS m FROM c) "
            f"SELECT {part}, CAST(sum(n) AS BIGINT) AS requests, CAST(sum(e) AS BIGINT) AS errors_5xx, {', '.join(sel)} FROM w GROUP BY ALL")


def _sketch_from_ranks(ranks: Any, by: list[str], qs: list[float], step: int):
    """:func:`_duck_sketch_ranks`' rows -> the request table (values computed as in quantiles_from_counts)."""
    import polars as pl

    cols = []
    for j, q in enumerate(qs):
        lo = ranks[f"_lo{j}"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        hi = ranks[f"_hi{j}"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        frac = ranks[f"_f{j}"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        vlo, vhi = _np_sketch_value(lo), _np_sketch_value(hi)
        cols.append(pl.Series(_qcol(q), vlo + (vhi - vlo) * frac, nan_to_null=True))
    res = ranks.select(*by, "_b", "requests", "errors_5xx").with_columns(cols)
    return _finish(res, by, qs, step)


def _cudf_request_table(df: Any, by: list[str], qs: list[float], step: int, method: str):
    """cuDF groupby on the GPU (same semantics; result is a cuDF frame)."""
    import math

    import cupy as cp

    work = df[[*_NEEDED, *by]].copy()
    work["_b"] = work["ts"].astype("int64") // step
    work["_e"] = (work["status"] >= 500).astype("int64")
    lat = work["latency_ms"].astype("float64")
    if method == "sketch":
        import cudf
        import polars as pl

        lg = math.log((1 + REL) / (1 - REL))
        idx = cudf.Series(cp.ceil(cp.log(lat.where(lat > 0, 1.0).fillna(1.0).values) / lg))
        idx = idx.where((lat > 0).fillna(False).values, -math.inf)
        work["_i"] = idx.where(lat.notna().values, math.nan).values
        cg = work.groupby([*by, "_b", "_i"], dropna=False).agg({"status": "size", "_e": "sum"}).reset_index()
        cg.columns = [*by, "_b", "_i", "n", "e"]
        cg["_i"] = cg["_i"].fillna(math.nan) if hasattr(cg["_i"], "fillna") else cg["_i"]
        res = quantiles_from_counts(pl.from_arrow(cg.to_arrow()).with_columns(pl.col("_i").fill_null(math.nan)),
                                    by, qs, step)
        return cudf.DataFrame.from_arrow(res.to_arrow())
    work["_v"] = lat
    keys = [*by, "_b"]
    grp = work.groupby(keys, sort=False)
    out = grp.agg({"status": "size", "_e": "sum"}).rename(columns={"status": "requests", "_e": "errors_5xx"})
    if hasattr(out.columns, "nlevels") and out.columns.nlevels > 1:
        out.columns = ["requests", "errors_5xx"]
    for q in qs:
        out[_qcol(q)] = grp["_v"].quantile(q, interpolation="linear")
    out = out.reset_index()
    import cudf

    res = cudf.DataFrame({"ts": cudf.Series((out["_b"] * step).values).astype("datetime64[ns]")})
    for b in by:
        res[b] = out[b].astype("str").values
    res["requests"] = out["requests"].astype("int64").values
    res["errors_5xx"] = out["errors_5xx"].astype("int64").values
    res["error_ratio"] = (out["errors_5xx"] / out["requests"]).astype("float64").values
    for q in qs:
        res[_qcol(q)] = out[_qcol(q)].astype("float64").values
    with contextlib.suppress(Exception):  # older cuDF without tz support: naive UTC
        res["ts"] = res["ts"].dt.tz_localize("UTC")
    return res.sort_values([*by, "ts"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Dask: percentiles as a groupby-sum of sketch counts
# --------------------------------------------------------------------------------------------------
def sketch_counts(part: Any, by: Sequence[str] = ("service",), step: int = 60_000_000_000) -> Any:
    """One partition (pandas/polars/pyarrow) -> pandas ``by, _b, _i, n, e``: requests and 5xx per sketch bucket.

    ``_b`` is the time bucket (``ts // step``), ``_i`` the sketch index (``-inf`` for latency <= 0,
    NaN for null latency). Summing ``n``/``e`` over partitions merges the sketches.
    """
    import polars as pl

    by = list(by)
    df = _pl_from_any(part) if type(part).__module__.split(".")[0] != "pyarrow" else pl.from_arrow(part)
    lat = pl.col("latency_ms").cast(pl.Float64)
    res = df.lazy().group_by([
        *[pl.col(b).cast(pl.Utf8) for b in by],
        (pl.col("ts").dt.epoch("ns") // step).alias("_b"),
        _pl_sketch_index(lat).alias("_i"),
    ]).agg(pl.len().cast(pl.Int64).alias("n"), (pl.col("status") >= 500).sum().cast(pl.Int64).alias("e")).collect()
    pdf = res.to_pandas()
    for b in by:
        pdf[b] = pdf[b].astype(object)
    return pdf


def quantiles_from_counts(counts: Any, by: Sequence[str], qs: Sequence[float], step: int):
    """Summed sketch counts (``by, _b, _i, n, e``) -> the request table (polars).

    Like ``method="exact"``, quantile ``q`` interpolates linearly between the order statistics at
    ranks ``floor(q (m - 1))`` and the next one, using the sketch's bucket values -- so each estimate is
    within the sketch's 1 % of the exact value. NaN indexes (null latency) count as requests only.
    """
    import polars as pl

    by = list(by)
    df = counts if isinstance(counts, pl.DataFrame) else _pl_from_any(counts)
    keys = [*by, "_b"]
    tot = df.group_by(keys).agg(pl.col("n").sum().alias("requests"), pl.col("e").sum().alias("errors_5xx"))
    import numpy as np

    lat = df.filter(pl.col("_i").is_not_nan()).group_by([*keys, "_i"]).agg(pl.col("n").sum()).sort([*keys, "_i"])
    lat = lat.with_columns(pl.struct(keys).rle_id().alias("_g"))
    g = lat["_g"].to_numpy()
    idx = lat["_i"].to_numpy()
    c = np.cumsum(lat["n"].to_numpy())
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1] if len(g) else np.array([], dtype=np.int64)
    ends = np.r_[starts[1:], len(g)] if len(g) else starts
    base = np.where(starts > 0, c[np.maximum(starts - 1, 0)], 0)
    m = (c[ends - 1] - base if len(g) else base).astype(np.float64)
    cols: dict[str, Any] = {}
    for q in qs:
        pos = q * (m - 1)
        lo = np.floor(pos)
        hi = np.minimum(lo + 1, m - 1)
        vlo = _np_sketch_value(idx[np.searchsorted(c, base + lo, side="right")])
        vhi = _np_sketch_value(idx[np.searchsorted(c, base + hi, side="right")])
        cols[_qcol(q)] = vlo + (vhi - vlo) * (pos - lo)
    qv = lat[starts.tolist()].select(keys).with_columns([pl.Series(k, v) for k, v in cols.items()])
    res = tot.join(qv, on=keys, how="left", nulls_equal=True)
    return _finish(res, by, list(qs), step)


def _dask_request_table(ddf: Any, by: list[str], qs: list[float], step: int):
    import pandas as pd

    _check_cols(list(ddf.columns), [*_NEEDED, *by], "request logs")
    meta = pd.DataFrame({**{b: pd.Series(dtype=object) for b in by}, "_b": pd.Series(dtype="int64"),
                         "_i": pd.Series(dtype="float64"), "n": pd.Series(dtype="int64"),
                         "e": pd.Series(dtype="int64")})
    part = ddf[[*_NEEDED, *by]].map_partitions(sketch_counts, by, step, meta=meta)
    summed = part.groupby([*by, "_b", "_i"], dropna=False).sum().reset_index().compute()
    return quantiles_from_counts(summed, by, qs, step)


# --------------------------------------------------------------------------------------------------
# top erroring endpoints
# --------------------------------------------------------------------------------------------------
def top_errors(logs: Any, n: int = 20, by: Sequence[str] = ("service", "route"), *,
               engine: str | None = None, backend: Backend = "auto") -> Any:
    """The ``n`` groups with the most 5xx (ties: by error ratio, then name).

    Columns: the ``by`` columns, ``requests``, ``errors_5xx``, ``error_ratio``. Groups without a 5xx
    are left out.
    """
    import polars as pl

    by = list(by)
    kind = _kind(logs)
    out_engine = _out_engine(kind, engine)
    cols = ["status", *by]
    if kind == "dask":
        _check_cols(list(logs.columns), cols, "request logs")
        d = logs[cols].assign(errors_5xx=(logs["status"] >= 500).astype("int64"), requests=1)
        agg = d.groupby(by, observed=True)[["requests", "errors_5xx"]].sum().reset_index().compute()
        res = pl.from_pandas(agg)
    elif kind == "cudf":
        d = logs[cols].copy()
        d["errors_5xx"] = (d["status"] >= 500).astype("int64")
        d["requests"] = 1
        agg = d.groupby(by)[["requests", "errors_5xx"]].sum().reset_index()
        res = pl.from_arrow(agg.to_arrow())
    elif _backend("top_errors", backend, logs) == "duckdb":
        import duckdb

        con = duckdb.connect()
        try:
            src = _duck_source(con, logs, kind, cols)
            keys = ", ".join(_q(c) for c in by)
            res = pl.from_arrow(_duck_arrow(con, (
                f"SELECT {keys}, count(*) AS requests, count(*) FILTER (WHERE status >= 500) AS errors_5xx "
                f"FROM {src} GROUP BY ALL HAVING errors_5xx > 0"), logs))
        finally:
            con.close()
    else:
        lf = _polars_lazy(logs, kind, cols)
        res = lf.group_by(by).agg(pl.len().alias("requests"),
                                  (pl.col("status") >= 500).sum().alias("errors_5xx")).collect()
    res = res.select(
        *[pl.col(b).cast(pl.Utf8) for b in by], pl.col("requests").cast(pl.Int64),
        pl.col("errors_5xx").cast(pl.Int64),
        (pl.col("errors_5xx") / pl.col("requests")).cast(pl.Float64).alias("error_ratio"),
    ).filter(pl.col("errors_5xx") > 0).sort(
        ["errors_5xx", "error_ratio", *by], descending=[True, True, *([False] * len(by))]).head(int(n))
    return _convert(res, out_engine)
