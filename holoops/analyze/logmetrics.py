"""Metrics from access logs: the request counters a service's own metrics lack.

Many services export request counts without status codes (or none at all) while their access log has a
line per request with its status. :func:`access_log_counters` turns those lines into the counter a
Prometheus exporter would have scraped, ``holoops_access_log_requests_total{service, instance, route,
code}`` sampled every ``step`` (cumulative, starting at 0 before the first request), so every analysis
(golden signals, SLOs, incidents, alert backtests) reads errors from logs exactly as from metrics.
``holoops logs exporter`` serves the same series live, so rules built on them work in Prometheus too.

Routes are templated (:func:`route_template`: ``/download/6694a8293d221756`` -> ``/download/{id}``) so an
id in a path never becomes a series of its own.
"""

from __future__ import annotations

import re
from typing import Any

COUNTER = "holoops_access_log_requests_total"
#: path segments that are identifiers, not routes: numbers, hex ids, UUIDs, long tokens with digits
_ID_SEGMENT = re.compile(r"^(?:\d+|[0-9a-fA-F]{8,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                         r"[0-9a-fA-F]{12}|(?=[^/]*\d)[A-Za-z0-9_\-.~%]{16,})$")
_ID_REGEX = (r"(^|/)(?:\d+|[0-9a-fA-F]{8,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
             r"[0-9a-fA-F]{12})(?:$|(/))")


def route_template(path: str | None) -> str | None:
    """``/download/6694a8293d221756?x=1`` -> ``/download/{id}`` (query strings dropped, id segments
    replaced)."""
    if path is None:
        return None
    p = str(path).split("?", 1)[0].split("#", 1)[0]
    parts = p.split("/")
    return "/".join("{id}" if seg and _ID_SEGMENT.match(seg) else seg for seg in parts)


def template_routes(logs: Any) -> Any:
    """``logs`` (any engine) with its ``route`` column templated (no-op without one)."""
    import narwhals as nw

    if logs is None or not len(logs) or "route" not in logs.columns:
        return logs
    f = nw.from_native(logs, eager_only=True)
    route = nw.col("route").cast(nw.String)
    # two passes: consecutive id segments share a slash
    expr = route.str.replace_all(r"\?.*$", "")
    for _ in range(2):
        expr = expr.str.replace_all(_ID_REGEX, "${1}{id}${2}")
    return f.with_columns(expr.alias("route")).to_native()


def access_log_counters(logs: Any, *, step: str = "60s", services: list[str] | None = None, end: Any = None):
    """Cumulative request counters (polars metrics frame) from the status-bearing lines of ``logs``.

    One series per (service, instance, route, code), a sample every ``step`` from one step before its
    first request to ``end`` (default: the last line), so rates and increases over any window are exact.
    ``services``: only these services' lines."""
    import polars as pl

    from holoops.frames import to_engine
    from holoops.timeutil import parse_duration

    if logs is None or not len(logs):
        return None
    df = to_engine(logs, "polars")
    if not df.height or "status" not in df.columns or "service" not in df.columns:
        return None
    df = df.filter(pl.col("status").is_not_null() & pl.col("service").is_not_null())
    if services is not None:
        df = df.filter(pl.col("service").cast(pl.Utf8).is_in(services))
    if not df.height:
        return None
    step_us = int(parse_duration(step) * 1_000_000)
    keys = ["service", "instance", "route", "code"]
    df = df.select(
        pl.col("ts").dt.cast_time_unit("us"),
        pl.col("service").cast(pl.Utf8),
        (pl.col("instance").cast(pl.Utf8) if "instance" in df.columns else pl.lit(None, pl.Utf8)).alias("instance"),
        (pl.col("route").cast(pl.Utf8) if "route" in df.columns else pl.lit(None, pl.Utf8)).alias("route"),
        pl.col("status").cast(pl.Int64).cast(pl.Utf8).alias("code"),
    )
    # a line at t counts in the sample at the first step boundary at or after t
    us = pl.col("ts").dt.epoch("us")
    df = df.with_columns(((us + step_us - 1) // step_us * step_us).alias("b"))
    counts = df.group_by([*keys, "b"]).agg(pl.len().alias("n"))
    last = int(counts["b"].max()) if end is None else int(_epoch_us(end) // step_us * step_us)
    first = counts.group_by(keys).agg((pl.col("b").min() - step_us).alias("b0"))
    grid = first.with_columns(pl.int_ranges("b0", last + step_us, step_us).alias("b")).explode("b").drop("b0")
    out = (grid.join(counts, on=[*keys, "b"], how="left", nulls_equal=True)
           .with_columns(pl.col("n").fill_null(0))
           .sort([*keys, "b"])
           .with_columns(pl.col("n").cum_sum().over(keys).cast(pl.Float64).alias("value")))
    return out.select(
        pl.from_epoch(pl.col("b"), "us").dt.cast_time_unit("ns").dt.replace_time_zone("UTC").alias("ts"),
        pl.lit(COUNTER).alias("metric"), "service", "instance", "value", "route", "code")


def _epoch_us(t: Any) -> int:
    from holoops.timeutil import parse_time

    return int(parse_time(t).timestamp() * 1_000_000)
