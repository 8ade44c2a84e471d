"""Benchmark-size request logs, fast: ``request_log(10_000_000)`` in about 10 s on two cores.

Same columns as the logs frame (``ts, service, route, status, latency_ms, level, message, trace_id,
instance``). Rows follow the demo fleet's traffic mix and daily seasonality, and carry the default
incidents' error bursts (router 5xx, GPU OOM on holographic-memory search, math-core outage 503s, slow
vault) at the same relative places in the window as ``simulate`` would put them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: (service, share of rows, median ms, routes)
MIX = (
    ("orchestrator", 0.14, 55.0, ("/api/v1/store", "/api/v1/retrieve", "/api/v1/search")),
    ("router", 0.14, 43.0, ("/route/store", "/route/retrieve", "/route/search")),
    ("vault", 0.28, 7.0, ("/v1/token/verify",)),
    ("telemetry", 0.14, 13.0, ("/v1/events",)),
    ("math-core", 0.16, 9.5, ("/v1/fft_correlate", "/v1/project")),
    ("holographic-memory", 0.136, 40.0, ("/api/v1/store", "/api/v1/retrieve", "/api/v1/search")),
    ("dashboard", 0.004, 75.0, ("/ui",)),
)
PORTS = {"orchestrator": 8080, "router": 8001, "vault": 8002, "telemetry": 8003, "math-core": 8004,
         "dashboard": 8050, "holographic-memory": 8000}
REPLICAS = {"orchestrator": 3, "router": 2, "vault": 2, "telemetry": 1, "math-core": 2, "dashboard": 1,
            "holographic-memory": 2}
#: (kind, service, start fraction, end fraction, status, probability, message)
BURSTS = (
    ("error_burst", "router", 0.35, 0.36, 503, 0.2,
     "no healthy upstream for /route/search: cluster 'hm-shard-7' has 0 endpoints (rule 17)"),
    ("error_burst", "orchestrator", 0.35, 0.36, 503, 0.2, "upstream router returned 503"),
    ("gpu_memory_exhaustion", "holographic-memory", 0.5, 0.51, 500, 0.3,
     "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.35 GiB total capacity; 78.10 GiB already allocated)"),
    ("dependency_outage", "holographic-memory", 0.65, 0.655, 503, 0.97,
     "upstream math-core unavailable: connect ECONNREFUSED 10.0.3.7:8004 (attempt 3/3)"),
    ("dependency_outage", "router", 0.65, 0.655, 503, 0.97, "upstream holographic-memory returned 503"),
    ("dependency_outage", "orchestrator", 0.65, 0.655, 503, 0.97, "upstream router returned 503"),
)
SLOW = ("latency_regression", "vault", 0.2, 0.22, 3.5)
STATUSES = (200, 404, 500, 503)
_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2").view(np.uint16)


def _hex_ids(rng: np.random.Generator, n: int):
    """``n`` random 32-hex-digit trace ids as a pyarrow string array (numpy table lookup, no Python loop)."""
    import pyarrow as pa

    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    text = _HEX[raw]  # (n, 16) uint16: two ASCII hex digits per byte
    offsets = np.arange(0, 32 * (n + 1), 32, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text.tobytes()))


def request_log(n_rows: int = 10_000_000, seed: int = 7, start: Any = "2026-11-02T00:00:00Z",
                days: float = 1.0):
    """A pyarrow Table of ``n_rows`` request-log rows over ``days`` days from ``start``."""
    import pandas as pd
    import polars as pl

    n = int(n_rows)
    rng = np.random.default_rng([seed, 0x5CA1E])
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    span_ns = int(days * 86400 * 1e9)
    # sorted times with daily seasonality: warp sorted uniforms through the inverse load CDF
    grid = np.linspace(0, span_ns, 4097)
    hours = ((t0.value + grid) / 3.6e12) % 24
    load = 1 + 0.5 * np.cos(2 * np.pi * (hours - 15) / 24)
    cdf = np.concatenate([[0], np.cumsum((load[1:] + load[:-1]) / 2)])
    cdf /= cdf[-1]
    u = np.cumsum(rng.exponential(1.0, n))
    u /= u[-1] * (1 + 1e-12)
    rel = np.interp(u, cdf, grid)
    ts = t0.value + rel.astype(np.int64)
    frac = rel / span_ns

    shares = np.array([m[1] for m in MIX])
    svc = rng.choice(len(MIX), n, p=shares / shares.sum()).astype(np.int8)
    names = [m[0] for m in MIX]
    # route index within the service's routes, then a global route code
    routes_all: list[str] = []
    offsets = []
    for m in MIX:
        offsets.append(len(routes_all))
        routes_all.extend(m[3])
    nroutes = np.array([len(m[3]) for m in MIX])
    ridx = (rng.random(n) * nroutes[svc]).astype(np.int64) + np.array(offsets)[svc]
    reps = np.array([REPLICAS[x] for x in names])
    inst_off = np.concatenate([[0], np.cumsum(reps)[:-1]])
    inst_names = [f"{s}-{i}:{PORTS[s]}" for s in names for i in range(REPLICAS[s])]
    iidx = (rng.random(n) * reps[svc]).astype(np.int64) + inst_off[svc]

    med = np.array([m[2] for m in MIX])[svc]
    kind, sname, a, b, mult = SLOW
    slow = (svc == names.index(sname)) & (frac >= a) & (frac < b)
    med = np.where(slow, med * mult, med)
    latency = np.round(rng.lognormal(np.log(med), 0.5), 1)

    r = rng.random(n)
    status = np.full(n, 200, dtype=np.int16)
    status[r < 0.006] = 404
    status[(r >= 0.006) & (r < 0.0066)] = 500
    status[(r >= 0.0066) & (r < 0.0069)] = 503
    msg_code = np.zeros(n, dtype=np.int8)  # 0 = access line
    messages = [""]
    r2 = rng.random(n)
    for _kind, s, a, b, code, p, text in BURSTS:
        hit = (svc == names.index(s)) & (frac >= a) & (frac < b) & (r2 < p)
        status[hit] = code
        messages.append(text)
        msg_code[hit] = len(messages) - 1
    slow_hit = slow & (latency > 50)
    messages.append("token verify slow: {}ms (threshold 50ms)")
    msg_code[slow_hit & (msg_code == 0)] = len(messages) - 1

    import pyarrow as pa
    import pyarrow.compute as pc

    trace = _hex_ids(rng, n)
    # access line = prefix("METHOD route HTTP/1.1 status ") + latency text, both gathered from small tables
    codes = np.array(STATUSES)
    scode = np.searchsorted(codes, status)
    methods = ["GET" if ("retrieve" in r or r.startswith("/ui")) else "POST" for r in routes_all]
    prefixes = pa.array([f"{mth} {r} HTTP/1.1 {c} " for mth, r in zip(methods, routes_all, strict=False) for c in STATUSES])
    lat10 = np.round(latency * 10).astype(np.int64)
    top = int(lat10.max()) + 1
    lat_text = pa.array([f"{v // 10}.{v % 10}ms" for v in range(top)])
    message = pc.binary_join_element_wise(pc.take(prefixes, ridx * len(STATUSES) + scode),
                                          pc.take(lat_text, lat10), "")
    special = np.flatnonzero(msg_code)
    if len(special):
        texts = np.array(messages, dtype=object)[msg_code[special]]
        slow_rows = msg_code[special] == len(messages) - 1
        texts[slow_rows] = [f"token verify slow: {v // 10}ms (threshold 50ms)" for v in lat10[special][slow_rows]]
        fixed = pl.from_arrow(message).scatter(special, pl.Series(texts.astype(str)))
        message = fixed.to_arrow()
    lvl = np.where(status >= 500, 2, np.where(status >= 400, 1, 0)).astype(np.int32)

    uniq_routes = list(dict.fromkeys(routes_all))
    route_code = [uniq_routes.index(r) for r in routes_all]

    def dict_col(codes: np.ndarray, values: list[str]) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(values, pa.string()))

    out = pa.table({
        "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
        "service": dict_col(svc, names),
        "route": dict_col(np.asarray(route_code)[ridx], uniq_routes),
        "status": pa.array(status.astype(np.int32)),
        "latency_ms": pa.array(latency),
        "level": dict_col(lvl, ["info", "warning", "error"]),
        "message": message,
        "trace_id": trace,
        "instance": dict_col(iidx, inst_names),
    })
    return out


def write_request_log(path: str | Path, n_rows: int = 10_000_000, fmt: str = "parquet", seed: int = 7,
                      start: Any = "2026-11-02T00:00:00Z", days: float = 1.0) -> Path:
    """Write ``request_log(n_rows)`` as Parquet or JSON lines (ISO-8601 UTC ``ts``)."""
    import polars as pl

    if fmt not in ("parquet", "jsonl"):
        raise ValueError(f"fmt must be 'parquet' or 'jsonl', got {fmt!r}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    table = request_log(n_rows, seed=seed, start=start, days=days)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, p)
    else:
        df = pl.from_arrow(table)
        df = df.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
                             *[pl.col(c).cast(pl.Utf8) for c in ("service", "route", "level", "instance")])
        df.write_ndjson(p)
    return p
