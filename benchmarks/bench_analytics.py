"""Analytics benchmark: holoops steps vs plain pandas, hand-written polars and hand-written DuckDB.

    .venv/bin/python benchmarks/bench_analytics.py                     # 1M and 10M rows
    .venv/bin/python benchmarks/bench_analytics.py --sizes 1e6,1e7,5e7 --out benchmarks/out/analytics.md
    .venv/bin/python benchmarks/bench_analytics.py --quick             # 2e5 rows, a smoke run

Steps on a Parquet request log (``holoops.demo.write_request_log``; dictionary-encoded strings):
``ingest`` (read it all), ``slo_table`` (per service and minute: requests, 5xx, ratio, p50/p95/p99),
``slo_sketch`` (the same with the mergeable sketch), ``top_errors``.

Steps on the demo fleet at the same sizes (``benchmarks/_fleet_steps.py``: one simulation replicated in
time to ``n`` metric samples, spans or log lines): ``golden_signals`` (Prometheus rate and
histogram_quantile semantics), ``critical_path`` (CRISP walk, per-service summary), ``error_patterns``
(template mining; Drain3 beside polars and pandas regex masks), ``backtest`` (the SLO error-budget burn
alerts with their ``for`` holds) and ``backtest_full`` (holoops' whole backtest, no baseline). Every
contender computes the same result; the benchmark compares each one's output with holoops' and prints
the check. A contender that would not fit in memory, or would run for many minutes, is skipped with
the reason.

Every engine's step runs in a fresh process (seconds + peak RSS, ``benchmarks/_common.py``; demo-fleet
steps also report the process's CPU seconds, all threads); cuDF joins when a GPU is present.
``--memory`` adds the bounded-memory check: the chunked JSON-lines reader vs ``pandas.read_json``
with an address-space limit of a quarter of the file size (above the interpreter's own baseline).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _fleet_steps as fleet  # noqa: E402
from benchmarks._common import Measurement, fmt_num, machine, markdown_table, measure  # noqa: E402

IMPLS = ("holoops", "polars", "duckdb", "drain3", "pandas")
Q = (0.5, 0.95, 0.99)


# --------------------------------------------------------------------------------------------------
# the steps (run in a fresh process by measure(); return something small)
# --------------------------------------------------------------------------------------------------
def _summary(df) -> tuple[int, float]:
    import polars as pl

    if type(df).__module__.split(".")[0] == "pandas":
        df = pl.from_pandas(df.reset_index())
    elif type(df).__module__.split(".")[0] == "pyarrow":
        df = pl.from_arrow(df)
    return df.height, float(df.select(pl.col("^(requests|n|count_star..)$").cast(pl.Float64).sum()).sum_horizontal()[0]) \
        if any(c in df.columns for c in ("requests", "n")) else 0.0


def step(name: str, impl: str, path: str, extra: str = "") -> tuple | dict:
    """Run one step with one implementation; returns (rows, checksum), or for a demo-fleet step
    ``{"out": what the check compares, "cpu": CPU seconds of this process, all threads}``."""
    if name in fleet.KINDS:
        t = time.process_time()
        out = fleet.run(name, impl)
        return {"out": out, "cpu": time.process_time() - t}
    return globals()[f"_{name}_{impl}"](path, extra)


def _setup(name: str, impl: str, path: str, extra: str = "") -> None:  # imports outside the timed call
    import duckdb  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import polars  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    if impl == "holoops":
        import holoops.analyze.requests  # noqa: F401
        import holoops.sources.exports  # noqa: F401
    if name in fleet.KINDS:
        if impl == "holoops":
            import narwhals  # noqa: F401

            import holoops.alerting.backtest  # noqa: F401
            import holoops.analyze.alerts  # noqa: F401
            import holoops.analyze.comms  # noqa: F401
            import holoops.analyze.patterns  # noqa: F401
            import holoops.analyze.signals  # noqa: F401
        elif impl == "drain3":
            import drain3  # noqa: F401
        if name.startswith("backtest"):
            import holoops.alerting.slo_rules  # noqa: F401
            import holoops.fleet  # noqa: F401
        fleet.load(name, impl, path)


step.setup = _setup  # type: ignore[attr-defined]


# ingest ------------------------------------------------------------------------------------------
def _ingest_holoops(path, extra):
    from holoops.sources.exports import read_export

    return read_export(path, engine="polars").frame.height, 0.0


def _ingest_polars(path, extra):
    import polars as pl

    return pl.read_parquet(path).height, 0.0


def _ingest_duckdb(path, extra):
    import duckdb

    return duckdb.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table().num_rows, 0.0


def _ingest_pandas(path, extra):
    import pandas as pd

    return len(pd.read_parquet(path)), 0.0


# per-minute SLO table ----------------------------------------------------------------------------
def _slo_table_holoops(path, extra):
    from holoops.analyze.requests import request_table

    t = request_table(path, engine="polars", backend=extra or "auto")
    return t.height, float(t["requests"].sum())


def _slo_sketch_holoops(path, extra):
    from holoops.analyze.requests import request_table

    t = request_table(path, method="sketch", engine="polars", backend=extra or "auto")
    return t.height, float(t["requests"].sum())


def _slo_table_polars(path, extra):
    import polars as pl

    t = (pl.scan_parquet(path)
         .group_by("service", pl.col("ts").dt.truncate("1m"))
         .agg(pl.len().alias("requests"), (pl.col("status") >= 500).sum().alias("errors_5xx"),
              *[pl.col("latency_ms").quantile(q, interpolation="linear").alias(f"q{q}") for q in Q])
         .with_columns((pl.col("errors_5xx") / pl.col("requests")).alias("error_ratio"))
         .collect())
    return t.height, float(t["requests"].sum())


def _slo_table_duckdb(path, extra):
    import duckdb

    t = duckdb.sql(f"""
        SELECT service, time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS requests,
               count(*) FILTER (WHERE status >= 500) AS errors_5xx,
               count(*) FILTER (WHERE status >= 500) / count(*) AS error_ratio,
               quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS q
        FROM read_parquet('{path}') GROUP BY ALL""").to_arrow_table()
    return t.num_rows, float(sum(t.column("requests").to_pylist()))


def _slo_table_pandas(path, extra):
    import pandas as pd

    df = pd.read_parquet(path, columns=["ts", "service", "status", "latency_ms"])
    df["minute"] = df["ts"].dt.floor("min")
    df["e"] = df["status"] >= 500
    g = df.groupby(["service", "minute"], observed=True)
    out = pd.DataFrame({"requests": g.size(), "errors_5xx": g["e"].sum()})
    out["error_ratio"] = out["errors_5xx"] / out["requests"]
    for q in Q:
        out[f"q{q}"] = g["latency_ms"].quantile(q)
    return len(out), float(out["requests"].sum())


def _slo_sketch_polars(path, extra):
    return _slo_table_polars(path, extra)


def _slo_sketch_duckdb(path, extra):
    return _slo_table_duckdb(path, extra)


def _slo_sketch_pandas(path, extra):
    return _slo_table_pandas(path, extra)


# top errors ----------------------------------------------------------------------------------------
def _top_errors_holoops(path, extra):
    from holoops.analyze.requests import top_errors

    t = top_errors(path, n=20, engine="polars", backend=extra or "auto")
    return t.height, float(t["errors_5xx"].sum())


def _top_errors_polars(path, extra):
    import polars as pl

    t = (pl.scan_parquet(path).group_by("service", "route")
         .agg(pl.len().alias("requests"), (pl.col("status") >= 500).sum().alias("errors_5xx"))
         .with_columns((pl.col("errors_5xx") / pl.col("requests")).alias("error_ratio"))
         .sort("errors_5xx", descending=True).head(20).collect())
    return t.height, float(t["errors_5xx"].sum())


def _top_errors_duckdb(path, extra):
    import duckdb

    t = duckdb.sql(f"""
        SELECT service, route, count(*) AS requests, count(*) FILTER (WHERE status >= 500) AS errors_5xx,
               errors_5xx / requests AS error_ratio
        FROM read_parquet('{path}') GROUP BY ALL ORDER BY errors_5xx DESC LIMIT 20""").to_arrow_table()
    return t.num_rows, float(sum(t.column("errors_5xx").to_pylist()))


def _top_errors_pandas(path, extra):
    import pandas as pd

    df = pd.read_parquet(path, columns=["service", "route", "status"])
    df["e"] = df["status"] >= 500
    g = df.groupby(["service", "route"], observed=True)["e"].agg(["size", "sum"])
    g["ratio"] = g["sum"] / g["size"]
    t = g.sort_values("sum", ascending=False).head(20)
    return len(t), float(t["sum"].sum())


# --------------------------------------------------------------------------------------------------
# bounded memory: chunked JSON-lines reader vs pandas.read_json under an address-space limit
# --------------------------------------------------------------------------------------------------
_LIMITED = r"""
import resource, sys, psutil
impl, path, extra = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy, pandas, polars, pyarrow
if impl == "holoops":
    from holoops.sources.exports import read_export
if impl.startswith("holoops"):
    import holoops.analyze.requests
base = psutil.Process().memory_info().vms
resource.setrlimit(resource.RLIMIT_AS, (base + extra, base + extra))
if impl == "holoops-request_table":
    from holoops.analyze.requests import request_table
    t = request_table(path, engine="polars")
    print("OK rows", int(t["requests"].sum()))
elif impl == "holoops":
    r = read_export(path, kind="logs", engine="polars", chunk_mib=8)
    print("OK rows", r.ingested)
else:
    df = pandas.read_json(path, lines=True)
    print("OK rows", len(df))
"""


def memory_check(n_rows: int, folder: Path) -> list[list]:
    """Run both readers with RLIMIT_AS = baseline + file size / 4; report whether each completed."""
    from holoops.demo import write_request_log

    path = write_request_log(folder / f"mem_{n_rows}.jsonl", n_rows, fmt="jsonl")
    size = path.stat().st_size
    rows = []
    for impl in ("holoops-request_table", "holoops", "pandas"):
        t0 = time.perf_counter()
        env = {**os.environ, "MALLOC_ARENA_MAX": "1", "POLARS_MAX_THREADS": "2"}
        p = subprocess.run([sys.executable, "-c", _LIMITED, impl, str(path), str(size // 4)],
                           capture_output=True, text=True, timeout=1800, env=env)
        dt = time.perf_counter() - t0
        ok = p.returncode == 0 and "OK rows" in p.stdout
        why = p.stdout.strip().splitlines()[-1] if ok else (p.stderr.strip().splitlines() or ["?"])[-1][:90]
        label = {"holoops": "holoops read_export (chunked reader, full frame)",
                 "holoops-request_table": "holoops request_table(path.jsonl) (streaming)",
                 "pandas": "pandas.read_json(lines=True)"}[impl]
        rows.append([label, f"{size / 2**20:,.0f} MiB", f"{size / 4 / 2**20:,.0f} MiB",
                     "completed" if ok else "FAILED", fmt_num(dt), why])
    return rows


# --------------------------------------------------------------------------------------------------
def _gpu() -> bool:
    try:
        from holoops.frames import gpu_available

        return gpu_available()
    except Exception:  # noqa: BLE001
        return False


def best_of(repeat: int, *args, **kwargs):
    """measure() ``repeat`` times (fresh process each); keep the fastest run (peak RSS: the max)."""
    runs = [measure(*args, **kwargs) for _ in range(max(1, repeat))]
    ok = [m for m in runs if m.seconds is not None]
    if not ok:
        return runs[-1]
    best = min(ok, key=lambda m: m.seconds)
    best.peak_rss_mib = max(m.peak_rss_mib or 0 for m in ok)
    return best


def run_size(n: int, folder: Path, backends: bool = True, repeat: int = 2) -> list[dict]:
    """Every request-log step at ``n`` rows; a list of result dicts."""
    from holoops.demo import write_request_log

    path = folder / f"requests_{n}.parquet"
    if not path.exists():
        write_request_log(path, n)
    out = []
    for name in ("ingest", "slo_table", "slo_sketch", "top_errors"):
        res = {"step": name, "size": n}
        for impl in IMPLS:
            if impl == "drain3":  # a template miner: only a contender for error_patterns
                continue
            res[impl] = best_of(repeat, "benchmarks.bench_analytics:step", name, impl, str(path),
                                name=f"{name}/{impl}")
        if backends and name in ("slo_table", "slo_sketch", "top_errors"):
            for be in ("polars", "duckdb"):
                res[f"holoops[{be}]"] = best_of(repeat, "benchmarks.bench_analytics:step", name, "holoops",
                                                str(path), be)
        out.append(res)
    return out


def run_fleet(n: int, folder: Path, repeat: int = 2, steps: tuple[str, ...] | None = None) -> list[dict]:
    """Every demo-fleet step at ``n`` rows: each contender in fresh processes, then the output check."""
    out = []
    for name in steps or tuple(fleet.CONTENDERS):
        path = fleet.scaled(fleet.KINDS[name], n, folder)
        res: dict = {"step": name, "size": n, "checks": {}}
        for impl in fleet.CONTENDERS[name]:
            why = fleet.fits(name, impl, n)
            if why:
                res[impl] = Measurement(f"{name}/{impl}", None, None, error=why)
                continue
            res[impl] = best_of(repeat, "benchmarks.bench_analytics:step", name, impl, str(path),
                                name=f"{name}/{impl}", timeout=1800)
        ref = _out(res.get("holoops"))
        check = {"golden_signals": fleet._check_golden, "critical_path": fleet._check_cp,
                 "error_patterns": fleet._check_patterns, "backtest": fleet._check_backtest}.get(name)
        for impl in fleet.CONTENDERS[name][1:]:
            other = _out(res.get(impl))
            if check and ref is not None and other is not None:
                try:
                    res["checks"][impl] = check(ref, other)
                except Exception as exc:  # noqa: BLE001 - a broken check is reported, not fatal
                    res["checks"][impl] = (f"check failed: {exc}",) * 2
        out.append(res)
        print(f"[bench_analytics] {name} at {n:,}: " + "; ".join(
            f"{i} {fmt_num(_s(res[i]))} s" + (f" ({res['checks'][i][1]})" if i in res["checks"] else "")
            for i in fleet.CONTENDERS[name] if i in res), flush=True)
    return out


def _out(m):
    r = getattr(m, "result", None)
    return r["out"] if isinstance(r, dict) and "out" in r else None


def _cpu(m) -> float | None:
    r = getattr(m, "result", None)
    return r.get("cpu") if isinstance(r, dict) else None


def sketch_error(n: int, folder: Path) -> float:
    """Max relative error of the sketch quantiles against the exact ones at ``n`` rows."""
    import numpy as np

    from holoops.analyze.requests import request_table

    path = folder / f"requests_{n}.parquet"
    e = request_table(str(path), engine="polars")
    s = request_table(str(path), method="sketch", engine="polars")
    cols = [c for c in e.columns if c.startswith("p") and c.endswith("_ms")]
    return max(float(np.nanmax(np.abs(s[c].to_numpy() - e[c].to_numpy()) / e[c].to_numpy())) for c in cols)


def _s(m) -> float | None:
    return None if m is None or m.seconds is None else m.seconds


def _why(error: str, width: int) -> str:
    """The telling line of a contender's error: the exception's message, not a trailing hint."""
    lines = [x.strip() for x in error.strip().splitlines() if x.strip()]
    hits = [x for x in lines if "Error" in x or "skipped" in x or "timed out" in x or "died" in x]
    return (hits[-1] if hits else lines[-1] if lines else "?")[:width]


def _best(r: dict, cpu: bool = False) -> float | None:
    get = _cpu if cpu else _s
    cands = [get(r.get(i)) for i in ("polars", "duckdb", "drain3")]
    cands = [x for x in cands if x is not None]
    return min(cands) if cands else None


def ratio_rows(results: list[dict]) -> list[list]:
    rows = []
    for r in results:
        h = _s(r.get("holoops"))
        best = _best(r)
        hc, bc = _cpu(r.get("holoops")), _best(r, cpu=True)
        pd_s = _s(r.get("pandas"))
        rss = " / ".join(fmt_num(r[i].peak_rss_mib, 0) if r.get(i) and r[i].peak_rss_mib else "-" for i in IMPLS
                         if i != "drain3" or r.get(i))
        errs = [f"{i}: {_why(r[i].error, 90)}" for i in r if hasattr(r[i], "error") and r[i].error]
        if r.get("checks"):
            errs.append("check vs holoops: " + ", ".join(f"{i} {c[0]}" for i, c in r["checks"].items()))
        bes = " / ".join(fmt_num(_s(r.get(f"holoops[{b}]"))) for b in ("polars", "duckdb")) \
            if r.get("holoops[polars]") else "-"
        rows.append([r["step"], f"{r['size']:,}" if isinstance(r["size"], int) else r["size"],
                     fmt_num(h), fmt_num(_s(r.get("polars"))), fmt_num(_s(r.get("duckdb"))),
                     fmt_num(_s(r.get("drain3"))), fmt_num(pd_s),
                     fmt_num(h / best) if h and best else "-", fmt_num(hc / bc) if hc and bc else "-",
                     fmt_num(pd_s / h, 1) if h and pd_s else "-", bes, rss, "; ".join(errs)])
    return rows


HEADERS = ["step", "rows", "holoops s", "polars s", "duckdb s", "drain3 s", "pandas s", "holoops / best hand-written",
           "holoops / best (CPU s)", "pandas / holoops", "holoops[polars] / [duckdb] s",
           "peak RSS MiB (holoops/polars/duckdb/[drain3/]pandas)", "notes"]


def cpu_rows(results: list[dict]) -> list[list]:
    """Wall and CPU seconds and peak RSS of every contender of the demo-fleet steps."""
    rows = []
    for r in results:
        if r["step"] not in fleet.KINDS:
            continue
        for impl in fleet.CONTENDERS[r["step"]]:
            m = r.get(impl)
            if m is None:
                continue
            rows.append([r["step"], f"{r['size']:,}", impl, fmt_num(_s(m)), fmt_num(_cpu(m)),
                         fmt_num(m.peak_rss_mib, 0) if m.peak_rss_mib else "-",
                         _why(m.error, 160) if m.error else r["checks"].get(impl, ("", ""))[1]])
    return rows


def results(sizes: list[int], quick: bool = False, workdir: str | None = None, demo: bool = True,
            memory_rows: int = 0, repeat: int = 2, requests: bool = True,
            steps: tuple[str, ...] | None = None) -> dict:
    """Run the benchmark; returns {'rows': ratio rows, 'headers', 'sketch_error', 'memory', 'markdown'}."""
    folder = Path(workdir or tempfile.mkdtemp(prefix="holoops-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    res: list[dict] = []
    errs = {}
    for n in sizes:
        if requests:
            res += run_size(n, folder, repeat=repeat)
            errs[n] = sketch_error(n, folder)
            for f in folder.glob(f"requests_{n}.parquet"):
                f.unlink()
        if demo:
            res += run_fleet(n, folder, repeat=1 if quick else repeat, steps=steps)
            for f in folder.glob(f"fleet_*_{n}.parquet"):
                f.unlink()
    rows = ratio_rows(res)
    mem = memory_check(memory_rows, folder) if memory_rows else []
    md = [f"Machine: {machine()}", "", markdown_table(HEADERS, rows), ""]
    if demo:
        md += ["Demo-fleet steps, every contender (CPU s: the process's CPU time, all threads):", "",
               markdown_table(["step", "rows", "contender", "wall s", "CPU s", "peak RSS MiB", "check / note"],
                              cpu_rows(res)), ""]
    md += [f"Sketch max relative error vs exact at {n:,} rows: {e:.4%}" for n, e in errs.items()]
    if mem:
        md += ["", markdown_table(["reader", "file", "limit (above baseline)", "result", "s", "detail"], mem)]
    return {"rows": rows, "headers": HEADERS, "sketch_error": errs, "memory": mem, "markdown": "\n".join(md),
            "gpu": _gpu()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e6,1e7", help="comma-separated row counts, e.g. 1e6,1e7,5e7")
    ap.add_argument("--quick", action="store_true", help="2e5 rows, one run per contender")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--no-demo", action="store_true", help="skip the demo-fleet steps (golden signals, ...)")
    ap.add_argument("--only-demo", action="store_true", help="only the demo-fleet steps")
    ap.add_argument("--steps", default="", help="demo-fleet steps to run (comma-separated; default all: "
                                                + ",".join(fleet.CONTENDERS) + ")")
    ap.add_argument("--memory", type=float, default=0, help="rows of the JSON-lines file for the memory check")
    ap.add_argument("--out", default=None, help="also write the markdown here")
    ap.add_argument("--repeat", type=int, default=2, help="fresh-process runs per engine and step (best kept)")
    a = ap.parse_args(argv)
    sizes = [200_000] if a.quick else [int(float(x)) for x in a.sizes.split(",") if x]
    r = results(sizes, a.quick, a.workdir, demo=not a.no_demo, memory_rows=int(a.memory),
                repeat=a.repeat, requests=not a.only_demo,
                steps=tuple(x for x in a.steps.split(",") if x) or None)
    print(r["markdown"])
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(r["markdown"] + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("POLARS_MAX_THREADS", str(os.cpu_count() or 2))
    raise SystemExit(main())
