"""Ingest benchmark: holoops readers vs plain pandas, polars and DuckDB, side by side in one run.

    .venv/bin/python benchmarks/bench_ingest.py                  # default sizes (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench_ingest.py --sizes 1e6,1e7
    .venv/bin/python benchmarks/bench_ingest.py --sizes 2e6 --formats exposition --readers holoops[polars]

Request logs (``holoops.demo.request_log`` when available, else an equivalent numpy-generated log) are
written as JSON lines, CSV and Parquet; metrics as a Prometheus ``query_range`` JSON and as exposition text
(n/2 samples); only the ``--formats`` asked for are written. Each reader runs in a
fresh process (seconds and peak RSS per step, see ``benchmarks/_common.py``). pandas.read_json is skipped
above ``--pandas-max`` rows (it takes minutes and many GiB).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import fmt_num, machine, markdown_table, measure  # noqa: E402

SERVICES = ["router", "vault", "orchestrator", "holographic-memory", "math-core", "telemetry"]
ROUTES = ["/search", "/store", "/retrieve", "/healthz", "/v1/query"]


def request_log(n: int, seed: int = 7):
    """A benchmark request log as a pyarrow Table (holoops.demo.request_log when it exists)."""
    try:
        from holoops.demo import request_log as demo_request_log

        return demo_request_log(n_rows=n, seed=seed)
    except Exception:  # noqa: BLE001 - demo not ready: generate an equivalent log
        pass
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2026-11-02T00:00:00", "ns").astype(np.int64)
    ts = t0 + np.sort(rng.integers(0, 86_400 * 10**9, n))
    status = rng.choice([200, 200, 200, 200, 201, 404, 500, 503], n)
    svc = np.array(SERVICES)[rng.integers(0, len(SERVICES), n)]
    route = np.array(ROUTES)[rng.integers(0, len(ROUTES), n)]
    lat = np.round(rng.lognormal(3.0, 0.8, n), 3)
    level = np.where(status >= 500, "error", np.where(status >= 400, "warning", "info"))
    msg = np.char.add(np.char.add(np.char.add("GET ", route), " "), status.astype(str))
    trace = np.char.mod("%016x", rng.integers(0, 2**62, n))
    return pa.table({
        "ts": pa.array(ts, pa.timestamp("ns", "UTC")), "service": svc, "level": level, "message": msg,
        "status": status, "latency_ms": lat, "route": route, "trace_id": trace,
        "instance": np.char.add(svc, "-0"),
    })


FORMATS = ("jsonl", "parquet", "csv", "query_range", "exposition")


def write_inputs(n: int, folder: Path, formats: tuple[str, ...] | list[str] = FORMATS) -> dict[str, Path]:
    """Write the inputs of ``formats`` for ``n`` rows/samples: logs.jsonl, logs.parquet, logs.csv,
    metrics.json (query_range) and metrics.prom (exposition text, n/2 samples)."""
    import numpy as np

    paths: dict[str, Path] = {}
    if {"jsonl", "parquet", "csv"} & set(formats):
        import polars as pl
        import pyarrow.parquet as pq

        table = request_log(n)
        df = pl.from_arrow(table).with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        if "jsonl" in formats:
            paths["jsonl"] = folder / f"logs_{n}.jsonl"
            df.write_ndjson(paths["jsonl"])
        if "csv" in formats:
            paths["csv"] = folder / f"logs_{n}.csv"
            df.with_columns(pl.col(pl.Categorical).cast(pl.String)).write_csv(paths["csv"])
        if "parquet" in formats:
            paths["parquet"] = folder / f"logs_{n}.parquet"
            pq.write_table(table, paths["parquet"])
    rng = np.random.default_rng(1)
    if "query_range" in formats:
        import orjson

        steps = 1440
        n_series = max(1, n // steps)
        t0 = 1793577600
        result = []
        for i in range(n_series):
            vals = np.cumsum(rng.random(steps) * 10)
            result.append({"metric": {"__name__": "http_requests_total", "job": SERVICES[i % 6],
                                      "instance": f"{SERVICES[i % 6]}-{i}:8080", "code": "200"},
                           "values": [[t0 + 60 * j, repr(float(v))] for j, v in enumerate(vals)]})
        paths["query_range"] = folder / f"metrics_{n}.json"
        paths["query_range"].write_bytes(orjson.dumps({"status": "success",
                                                       "data": {"resultType": "matrix", "result": result}}))
    if "exposition" not in formats:
        return paths
    # exposition text: n/2 samples, every one its own label set (the worst case for label parsing)
    paths["exposition"] = folder / f"metrics_{n}.prom"
    n_metrics, per = 200, max(1, n // 2 // 200)
    vals = rng.random(n_metrics * per) * 1000
    with open(paths["exposition"], "w") as fh:
        for m in range(n_metrics):
            fh.write(f"# HELP metric_{m} benchmark metric\n# TYPE metric_{m} counter\n")
            fh.writelines(
                f'metric_{m}{{job="{SERVICES[s % 6]}",instance="host-{m}-{s}:9100",code="{200 + s % 5}"}} '
                f"{vals[m * per + s]:.3f} {1793577600000 + s * 1000}\n" for s in range(per))
    return paths


# ---- steps (each runs in a fresh process; returns rows read) ----
def step(reader: str, path: str) -> tuple[int, float] | None:
    """Run one reader; returns (rows out, CPU seconds of this process: all threads) or None (no such reader)."""
    import time

    c0 = time.process_time()
    rows = _read(reader, path)
    return None if rows is None else (rows, time.process_time() - c0)


TS_FMT = "%Y-%m-%dT%H:%M:%S%.fZ"


def _read(reader: str, path: str) -> int | None:
    """Baselines do the work holoops does where the library can: JSON-lines ``ts`` parsed to UTC datetimes,
    Parquet dictionary (categorical) columns as plain strings, like holoops's canonical frames."""
    p = path
    if p.endswith(".prom") and reader not in ("holoops[polars]", "holoops[pandas]"):
        return None
    if reader == "holoops[polars]":
        from holoops.sources.exports import read_export

        return read_export(p, engine="polars").ingested
    if reader == "holoops[pandas]":
        from holoops.sources.exports import read_export

        return read_export(p, engine="pandas").ingested
    if reader == "polars":
        import polars as pl

        if p.endswith(".parquet"):
            return pl.read_parquet(p).with_columns(pl.col(pl.Categorical).cast(pl.String)).height
        if p.endswith(".jsonl"):
            return pl.read_ndjson(p).with_columns(
                pl.col("ts").str.to_datetime(TS_FMT, time_zone="UTC", time_unit="ns")).height
        if p.endswith(".csv"):
            return pl.read_csv(p).with_columns(
                pl.col("ts").str.to_datetime(TS_FMT, time_zone="UTC", time_unit="ns")).height
        df = pl.read_json(p).select(pl.col("data").struct.field("result")).explode("result").unnest("result")
        return df.explode("values").height
    if reader == "duckdb":
        import duckdb

        if p.endswith(".parquet"):
            return duckdb.sql(f"select * from read_parquet('{p}')").to_arrow_table().num_rows
        if p.endswith(".jsonl"):
            return duckdb.sql(f"select * replace (ts::timestamptz as ts) from read_json_auto('{p}', "
                              f"format='newline_delimited')").to_arrow_table().num_rows
        if p.endswith(".csv"):
            return duckdb.sql(f"select * replace (ts::timestamptz as ts) from read_csv_auto('{p}')"
                              ).to_arrow_table().num_rows
        q = (f"select r.metric, unnest(r.\"values\") as v from (select unnest(data.result) as r "
             f"from read_json_auto('{p}', maximum_object_size=2147483647))")
        return duckdb.sql(q).to_arrow_table().num_rows
    if reader == "pandas":
        import pandas as pd

        if p.endswith(".parquet"):
            return len(pd.read_parquet(p))
        if p.endswith(".jsonl"):
            df = pd.read_json(p, lines=True)
            df["ts"] = pd.to_datetime(df["ts"], utc=True)
            return len(df)
        if p.endswith(".csv"):
            df = pd.read_csv(p)
            df["ts"] = pd.to_datetime(df["ts"], utc=True)
            return len(df)
        import json

        doc = json.load(open(p))  # noqa: SIM115
        df = pd.json_normalize(doc["data"]["result"]).explode("values")
        return len(df)
    raise ValueError(reader)


def _setup(reader: str, path: str) -> None:  # imports outside the timed call
    mods = {"holoops[polars]": ["polars", "pyarrow", "holoops.sources.exports", "holoops.frames", "orjson"],
            "holoops[pandas]": ["polars", "pandas", "pyarrow", "holoops.sources.exports", "orjson"],
            "polars": ["polars"], "duckdb": ["duckdb", "pyarrow"], "pandas": ["pandas", "pyarrow"]}[reader]
    for m in mods:
        __import__(m)


step.setup = _setup  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2e5,1e6", help="comma-separated row counts, e.g. 1e6,1e7")
    ap.add_argument("--pandas-max", type=float, default=2e6, help="skip pandas.read_json above this size")
    ap.add_argument("--workdir", default=None, help="where to write inputs (default: a temp folder)")
    ap.add_argument("--formats", default="jsonl,parquet,csv,query_range,exposition",
                    help=f"comma-separated inputs, of {','.join(FORMATS)}")
    ap.add_argument("--readers", default="holoops[polars],holoops[pandas],polars,duckdb,pandas",
                    help="comma-separated readers to time")
    args = ap.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",") if s]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_ingest_"))
    work.mkdir(parents=True, exist_ok=True)
    readers = [r for r in args.readers.split(",") if r]
    formats = [f for f in args.formats.split(",") if f]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        ap.error(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    rows = []
    print(f"# ingest benchmark ({machine()})\n", flush=True)
    for n in sizes:
        paths = write_inputs(n, work, formats)
        for fmt in formats:
            path = str(paths[fmt])
            res = {}
            for r in readers:
                if r == "pandas" and n > args.pandas_max:
                    continue
                m = measure("benchmarks.bench_ingest:step", r, path, name=r)
                if m.error:
                    print(f"  {fmt} {n:,} {r}: ERROR {m.error.strip().splitlines()[-1]}", file=sys.stderr)
                elif m.result is None:
                    continue  # no reader for this format
                res[r] = m
            mine = res["holoops[polars]"].seconds if res.get("holoops[polars]") else None
            best_other = min((res[r].seconds for r in ("polars", "duckdb") if res.get(r) and res[r].seconds),
                             default=None)
            pd_s = res["pandas"].seconds if res.get("pandas") else None
            for r in readers:
                m = res.get(r)
                if m is None:
                    if r == "pandas" and n > args.pandas_max:
                        rows.append([f"{n:,}", fmt, r, "skipped", "", "", "", "", ""])
                    continue
                ok = isinstance(m.result, tuple)
                rows.append([f"{n:,}", fmt, r, fmt_num(m.seconds), fmt_num(m.result[1]) if ok else "",
                             fmt_num(m.peak_rss_mib, 0),
                             f"{m.result[0]:,}" if ok else (m.error or "").strip()[-60:],
                             fmt_num(m.seconds / best_other) if m.seconds and best_other else "-",
                             fmt_num(pd_s / m.seconds, 1) + "x" if m.seconds and pd_s else "-"])
            print(f"  done {fmt} {n:,} rows: holoops {fmt_num(mine)} s, best polars/duckdb "
                  f"{fmt_num(best_other)} s, pandas {fmt_num(pd_s)} s", file=sys.stderr, flush=True)
        if not args.workdir:
            for p in paths.values():
                os.unlink(p)
    print(markdown_table(["rows", "input", "reader", "seconds", "CPU s", "peak RSS MiB", "rows out",
                          "time / best(polars,duckdb)", "pandas speed-up"], rows))
    print("\nholoops rows out are ingested rows (validated, UTC ts, canonical columns); holoops[polars] is "
          "the reader compared. Each step ran in a fresh process. Seconds are wall time, CPU s the process's "
          "CPU time (all threads; on a shared machine compare both). For apples to apples the baselines also "
          "parse JSON-lines ts to UTC datetimes and read Parquet dictionary columns as plain strings. "
          "Exposition text (n/2 samples, one label set each) has no polars/duckdb/pandas reader.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
