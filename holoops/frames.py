"""Canonical frames and engines.

Every source returns these four long, tidy frames with UTC timestamps; every analysis takes them.

=========  ==============================================================================================
frame      columns (extra label columns allowed)
=========  ==============================================================================================
metrics    ts, metric, service, instance, value  (+ label columns: route, code, le, gpu, mountpoint, ...)
logs       ts, service, level, message  (+ optional status, latency_ms, route, trace_id, error_category)
spans      trace_id, span_id, parent_id, service, operation, start, duration_ms, status
events     ts, kind (deploy|alert|incident|maintenance|config), service, detail
=========  ==============================================================================================

``ts``/``start`` are timezone-aware UTC (``datetime64[ns, UTC]`` in pandas, ``Datetime("ns","UTC")`` in
polars). Engines: ``pandas``, ``polars``, ``cudf``, ``dask`` or ``auto``. Analyses are written once with
narwhals and run on whichever native frame they are given.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Literal

from holoops.errors import EngineError, SchemaError

Engine = Literal["auto", "pandas", "polars", "cudf", "dask"]
ENGINES: tuple[str, ...] = ("auto", "pandas", "polars", "cudf", "dask")

#: canonical columns and their logical dtypes (``str``, ``float``, ``int``, ``ts``)
SCHEMAS: dict[str, dict[str, str]] = {
    "metrics": {"ts": "ts", "metric": "str", "service": "str", "instance": "str", "value": "float"},
    "logs": {"ts": "ts", "service": "str", "level": "str", "message": "str"},
    "spans": {"trace_id": "str", "span_id": "str", "parent_id": "str", "service": "str",
              "operation": "str", "start": "ts", "duration_ms": "float", "status": "str"},
    "events": {"ts": "ts", "kind": "str", "service": "str", "detail": "str"},
}
#: optional columns with their dtypes when present
OPTIONAL: dict[str, dict[str, str]] = {
    "logs": {"status": "int", "latency_ms": "float", "route": "str", "trace_id": "str",
             "error_category": "str", "instance": "str"},
    "spans": {"peer": "str", "attempt": "int", "payload_bytes": "float"},
    "events": {"severity": "str", "end": "ts", "version": "str"},
}
EVENT_KINDS = ("deploy", "config", "alert", "incident", "maintenance", "restart")


def check_frame(df: Any, kind: str) -> Any:
    """Raise SchemaError naming each missing canonical column of ``kind``; return ``df`` unchanged."""
    import narwhals as nw

    if kind not in SCHEMAS:
        raise SchemaError(f"unknown frame kind {kind!r}; expected one of {', '.join(SCHEMAS)}")
    cols = set(nw.from_native(df).columns)
    missing = [c for c in SCHEMAS[kind] if c not in cols]
    if missing:
        raise SchemaError(f"{kind} frame is missing column(s) {', '.join(missing)}; has {sorted(cols)}")
    return df


@lru_cache(maxsize=1)
def gpu_available() -> bool:
    """True when cuDF imports and sees a CUDA device."""
    try:
        import cudf  # noqa: F401
        import rmm  # noqa: F401
        from cuda.bindings import runtime  # type: ignore

        err, n = runtime.cudaGetDeviceCount()
        return int(err) == 0 and n > 0
    except Exception:
        try:
            import cupy

            return cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:
            return False


def resolve_engine(engine: str = "auto") -> str:
    """Turn ``auto`` into a concrete engine; check a named one is importable.

    ``auto`` picks cuDF when it imports and a GPU is present. Otherwise it picks polars, the faster CPU
    frame engine in ``benchmarks/RESULTS.md`` (the same readers returning polars beat pandas at 1M and
    10M rows). ``HOLOOPS_ENGINE`` overrides ``auto``.
    """
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "auto":
        env = os.environ.get("HOLOOPS_ENGINE")
        if env and env != "auto":
            return resolve_engine(env)
        return "cudf" if gpu_available() else "polars"
    module = {"pandas": "pandas", "polars": "polars", "cudf": "cudf", "dask": "dask.dataframe"}[engine]
    try:
        __import__(module)
    except ImportError as exc:
        hint = {"cudf": "pip install 'holoops[gpu]' on a machine with an NVIDIA GPU",
                "dask": "pip install 'holoops[dask]'"}.get(engine, f"pip install {module}")
        raise EngineError(f"engine {engine!r} is not available here ({exc}); {hint}") from None
    return engine


def to_engine(df: Any, engine: str = "auto") -> Any:
    """Convert a native frame (pandas, polars, pyarrow, cuDF) to ``engine``'s native frame."""
    engine = resolve_engine(engine)
    import pyarrow as pa

    mod = type(df).__module__.split(".")[0]
    if engine == mod or (engine == "dask" and mod == "dask"):
        return df
    if isinstance(df, pa.Table):
        table = df
    elif mod == "polars":
        table = df.to_arrow()
    elif mod == "pandas":
        table = pa.Table.from_pandas(df, preserve_index=False)
    elif mod == "cudf":
        table = df.to_arrow()
    elif mod == "dask":
        return to_engine(df.compute(), engine)
    else:
        raise EngineError(f"cannot convert a {type(df).__name__} to {engine}")
    if engine == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if engine == "pandas":
        return table.to_pandas(types_mapper=None)
    if engine == "cudf":
        import cudf

        return cudf.DataFrame.from_arrow(table)
    if engine == "dask":
        import dask.dataframe as dd

        return dd.from_pandas(table.to_pandas(), npartitions=max(1, os.cpu_count() or 1))
    raise EngineError(engine)


def to_pandas(df: Any):
    """Any supported native frame as pandas (for plotting and display)."""
    return to_engine(df, "pandas")
