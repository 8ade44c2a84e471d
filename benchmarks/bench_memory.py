"""Bounded memory: a JSON-lines export several times larger than the memory cap, per contender.

    .venv/bin/python benchmarks/bench_memory.py                        # 4 GiB file, 1 GiB cap
    .venv/bin/python benchmarks/bench_memory.py --gib 1 --cap-mib 256  # a quicker run
    .venv/bin/python benchmarks/bench_memory.py --file big.jsonl       # an existing file (kept)

A request log (``holoops.demo.request_log``, written in chunks of ``--chunk-rows`` so generation itself
is bounded) of at least ``--gib`` GiB is written as JSON lines under ``--tmp``. Each contender then runs
in its own child process under a hard memory cap and the per-minute SLO table (requests, 5xx, p50/p95/
p99 per service) is computed -- or, for the reader contenders, the file is read:

* holoops: ``request_table(path)`` on the JSON-lines file (exact and sketch), the same with
  ``backend="polars"`` (what holoops did before: polars ``scan_ndjson`` + streaming engine),
  ``read_export`` (the in-memory reader), and the operator path for exports larger than memory:
  ``convert_export`` (JSON lines -> hive-partitioned Parquet, every bad line dead-lettered; chunk
  ``min(64, cap/16)`` MiB, what an operator with that much memory would pass) followed by
  ``request_table(folder)``;
* hand-written: polars ``scan_ndjson(...).group_by(...).collect(engine="streaming")`` and DuckDB
  ``read_json`` with ``SET memory_limit`` (75 % of the cap).

The cap. Preferred: a cgroup v1 memory controller (``memory.limit_in_bytes`` and, where writable,
``memory.memsw.limit_in_bytes``), created *inside this process's own memory cgroup* and removed at the
end, even on failure. Page cache counts against a cgroup v1 limit, so the input is evicted from the page
cache (fsync + ``POSIX_FADV_DONTNEED``) before each contender: its reads are charged to the capped group,
and the kernel reclaims them under pressure. Reported per contender: completed / OOM-killed (the
cgroup's ``oom_kill`` counter) / error, wall seconds of the child process, peak anonymous memory (the
cgroup's ``rss``, sampled every 20 ms: what cannot be reclaimed -- there is no swap cap to hide in), the
cgroup's high-water mark (anonymous + page cache, so it sits near the cap for any reader of a large
file) and the child's ``ru_maxrss`` (which also counts file pages it mmaps). Without cgroup rights the
cap falls back to ``RLIMIT_AS`` (address space, not memory: mmap-heavy readers fail early there; the
output says so), ``--cap-mode none`` measures peak RSS uncapped, and where no cap can be set the script
prints SKIP and exits 0.

Results of the contenders that complete are checked against each other (same buckets, counts and
quantiles within 1e-9) and the converter's accounting against the number of lines written. The table
is printed and written to ``benchmarks/out/memory.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

MiB = 1 << 20
GiB = 1 << 30
CG_ROOT = Path("/sys/fs/cgroup/memory")

#: name -> (label, what it computes)
CONTENDERS: dict[str, tuple[str, str]] = {
    "duckdb": ("DuckDB read_json + SET memory_limit (hand-written)", "SLO table"),
    "polars": ("polars scan_ndjson, streaming engine (hand-written)", "SLO table"),
    "holoops_rt_jsonl": ("holoops request_table(jsonl)", "SLO table"),
    "holoops_rt_jsonl_sketch": ("holoops request_table(jsonl, method='sketch')", "SLO table (sketch)"),
    "holoops_rt_jsonl_polars": ("holoops request_table(jsonl, backend='polars') (the old path)", "SLO table"),
    "holoops_read_export": ("holoops read_export (in-memory reader)", "frame"),
    "holoops_convert": ("holoops convert_export -> partitioned Parquet + dead letters", "Parquet folder"),
    "holoops_rt_parquet": ("holoops request_table(Parquet folder from convert_export)", "SLO table"),
}
DEFAULT_ORDER = ("duckdb", "polars", "holoops_rt_jsonl", "holoops_rt_jsonl_sketch", "holoops_rt_jsonl_polars",
                 "holoops_read_export", "holoops_convert", "holoops_rt_parquet")
QS = (0.5, 0.95, 0.99)


# --------------------------------------------------------------------------------------------------
# the children (run as `bench_memory.py --child NAME PATH WORK CAP_MIB`; print one JSON line)
# --------------------------------------------------------------------------------------------------
def _canon_table(df, path: Path) -> int:
    """Write an SLO table as ``ts, service, requests, errors_5xx, p50_ms, p95_ms, p99_ms`` (sorted)."""
    import polars as pl

    df = df.select(pl.col("ts").cast(pl.Datetime("ns", "UTC")), pl.col("service").cast(pl.Utf8),
                   pl.col("requests").cast(pl.Int64), pl.col("errors_5xx").cast(pl.Int64),
                   *[pl.col(c).cast(pl.Float64) for c in ("p50_ms", "p95_ms", "p99_ms")]).sort("service", "ts")
    df.write_parquet(path)
    return df.height


def chunk_mib_for(cap_mib: int) -> int:
    """The convert_export chunk an operator with ``cap_mib`` would pick (its peak is ~7x the chunk + 100)."""
    return max(4, min(64, cap_mib // 16))


def child(name: str, path: str, work: str, cap_mib: int) -> dict:
    w = Path(work)
    out = w / f"{name}.parquet"
    if name == "duckdb":
        import duckdb
        import polars as pl

        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{int(cap_mib * 0.75)}MB'")
        con.execute(f"SET temp_directory = '{w / 'duckdb-spill'}'")
        con.execute("SET TimeZone = 'UTC'")
        qs = ", ".join(repr(q) for q in QS)
        tbl = con.sql(
            "SELECT time_bucket(INTERVAL 1 minute, CAST(ts AS TIMESTAMPTZ)) AS ts, service, count(*) AS requests, "
            "count(*) FILTER (WHERE status >= 500) AS errors_5xx, "
            f"quantile_cont(latency_ms, [{qs}]) AS q FROM read_json('{path}', format = 'newline_delimited') "
            "GROUP BY ALL").pl()
        tbl = tbl.with_columns([pl.col("q").list.get(i).alias(f"p{int(q * 100)}_ms") for i, q in enumerate(QS)])
        return {"rows_out": _canon_table(tbl, out), "table": str(out)}
    if name == "polars":
        import polars as pl

        lf = pl.scan_ndjson(path).select("ts", "service", "status", "latency_ms").with_columns(
            pl.col("ts").str.to_datetime(time_unit="ns", time_zone="UTC"))
        tbl = lf.group_by("service", pl.col("ts").dt.truncate("1m")).agg(
            pl.len().alias("requests"), (pl.col("status") >= 500).sum().alias("errors_5xx"),
            *[pl.col("latency_ms").quantile(q, interpolation="linear").alias(f"p{int(q * 100)}_ms") for q in QS],
        ).collect(engine="streaming")
        return {"rows_out": _canon_table(tbl, out), "table": str(out)}
    if name.startswith("holoops_rt_"):
        from holoops.analyze.requests import request_table

        src = str(w / "parquet") if name == "holoops_rt_parquet" else path
        kw = {"method": "sketch"} if name.endswith("_sketch") else {}
        if name.endswith("_polars"):
            kw["backend"] = "polars"
        tbl = request_table(src, engine="polars", **kw)
        return {"rows_out": _canon_table(tbl, out), "table": str(out)}
    if name == "holoops_read_export":
        from holoops.sources.exports import read_export

        res = read_export(path, engine="polars")
        return {"rows_out": res.frame.height, "read": res.read, "ingested": res.ingested, "rejected": res.rejected}
    if name == "holoops_convert":
        from holoops.sources.exports import convert_export

        res = convert_export(path, w / "parquet", dead_letter=w / "rejected.jsonl", overwrite=True,
                             chunk_mib=chunk_mib_for(cap_mib))
        return {"rows_out": res.ingested, "read": res.read, "ingested": res.ingested, "rejected": res.rejected,
                "reasons": res.reasons}
    raise SystemExit(f"unknown contender {name!r}")


# --------------------------------------------------------------------------------------------------
# the cap
# --------------------------------------------------------------------------------------------------
def _own_memory_cgroup() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, rel = line.split(":", 2)
            if "memory" in controllers.split(","):
                p = CG_ROOT / rel.lstrip("/")
                return p if p.is_dir() else None
    except OSError:
        return None
    return None


class CgroupCap:
    """A cgroup v1 memory group under this process's own one; ``join`` is called in the child."""

    kind = "cgroup"

    def __init__(self, cap: int, tag: str):
        base = _own_memory_cgroup()
        if base is None:
            raise OSError("no cgroup v1 memory controller at /sys/fs/cgroup/memory")
        self.path = base / f"holoops-bench-memory-{os.getpid()}-{tag}"
        self.path.mkdir()  # PermissionError / OSError: no rights
        self.memsw = False
        try:
            self._write("memory.limit_in_bytes", cap)
            try:
                self._write("memory.memsw.limit_in_bytes", cap)
                self.memsw = True
            except OSError:
                pass  # no swap accounting: without swap the memory limit alone is hard
        except BaseException:
            self.remove()
            raise

    def _write(self, name: str, value: int | str) -> None:
        (self.path / name).write_text(str(value))

    def _read(self, name: str) -> str:
        return (self.path / name).read_text()

    def wrap(self, cmd: list[str]) -> list[str]:
        """The command, started by a shell that first moves itself into the group (no preexec_fn)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"), *cmd]

    def anon(self) -> int:
        for line in self._read("memory.stat").splitlines():
            k, v = line.split()
            if k == "rss":
                return int(v)
        return 0

    def stats(self) -> dict:
        oom = dict(line.split() for line in self._read("memory.oom_control").splitlines())
        return {"max_usage": int(self._read("memory.max_usage_in_bytes")),
                "failcnt": int(self._read("memory.failcnt")), "oom_kill": int(oom.get("oom_kill", 0))}

    def remove(self) -> None:
        """Remove the group; processes still in it (only ever this script's children) are killed first."""
        if not self.path.exists():
            return
        for _ in range(100):
            try:
                pids = [int(x) for x in self._read("cgroup.procs").split()]
            except OSError:
                pids = []
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)
        print(f"[bench_memory] warning: could not remove {self.path}", file=sys.stderr)


class RlimitCap:
    """``RLIMIT_AS`` in the child: caps address space, not memory (a fallback, said so in the output)."""

    kind = "rlimit"

    def __init__(self, cap: int, tag: str):
        import resource

        self.cap = cap
        self._resource = resource

    def wrap(self, cmd: list[str]) -> list[str]:
        return ["/bin/sh", "-c", 'ulimit -v "$0" && exec "$@"', str(self.cap // 1024), *cmd]

    def anon(self) -> int:
        return 0

    def stats(self) -> dict:
        return {}

    def remove(self) -> None:
        pass


class NoCap(RlimitCap):
    kind = "none"

    def wrap(self, cmd: list[str]) -> list[str]:
        return cmd


def choose_cap(mode: str) -> tuple[type | None, str]:
    """The cap class for ``mode`` and a note on what it means (None: cannot cap)."""
    if mode in ("auto", "cgroup"):
        try:
            probe = CgroupCap(64 * MiB, "probe")
            probe.remove()
            return CgroupCap, ""
        except OSError as exc:
            if mode == "cgroup":
                return None, f"cgroup v1 memory controller not usable here ({exc})"
            why = f"cgroup v1 memory controller not usable here ({exc})"
    else:
        why = ""
    if mode in ("auto", "rlimit"):
        try:
            import resource

            resource.getrlimit(resource.RLIMIT_AS)
            if not Path("/bin/sh").exists():
                raise OSError("no /bin/sh to set ulimit -v")
            return RlimitCap, ((why + "; ") if why else "") + (
                "capped with RLIMIT_AS (address space, not resident memory): readers that mmap the file or "
                "reserve large virtual ranges fail early, so 'failed' here is not 'out of memory'")
        except (ImportError, AttributeError, OSError) as exc:
            return None, ((why + "; ") if why else "") + f"RLIMIT_AS not available ({exc})"
    if mode == "none":
        return NoCap, "UNCAPPED run: peak memory measured, no limit enforced"
    return None, why or f"unknown --cap-mode {mode!r}"


# --------------------------------------------------------------------------------------------------
# the parent
# --------------------------------------------------------------------------------------------------
def evict(paths: list[Path]) -> None:
    """Drop the files' pages from the page cache (so the next reader's reads are charged to its cgroup)."""
    for p in paths:
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else []
        for f in files:
            with contextlib.suppress(OSError), open(f, "rb") as fh:
                os.fsync(fh.fileno())
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def generate(path: Path, target_bytes: int, chunk_rows: int, bad_lines: int) -> tuple[int, int]:
    """Generate the file in a child process (the parent stays free of polars' threads)."""
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--generate", str(path), str(target_bytes),
                        str(chunk_rows), str(bad_lines)], stdout=subprocess.PIPE, check=True)
    res = json.loads(p.stdout.decode().strip().splitlines()[-1])
    return res["good"], res["bad"]


def _generate(path: Path, target_bytes: int, chunk_rows: int, bad_lines: int) -> tuple[int, int]:
    """Append demo request-log chunks (6 hours each) until the file holds ``target_bytes``.
    Returns (good lines, bad lines)."""
    import pandas as pd
    import polars as pl

    from holoops.demo.scale import request_log

    t0 = pd.Timestamp("2026-11-02T00:00:00Z")
    good = bad = 0
    i = 0
    with open(path, "wb") as fh:
        while fh.tell() < target_bytes:
            tbl = request_log(chunk_rows, seed=7 + i, start=t0 + pd.Timedelta(hours=6 * i), days=0.25)
            df = pl.from_arrow(tbl).with_columns(
                pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
                *[pl.col(c).cast(pl.Utf8) for c in ("service", "route", "level", "instance")])
            del tbl
            df.write_ndjson(fh)
            good += df.height
            del df
            if bad < bad_lines:
                fh.write(b'{"ts": "2026-11-02T00:00:00Z", "service": "vault", "message": "cut sh\n')
                bad += 1
            i += 1
            if sys.stderr.isatty():
                print(f"\r[bench_memory] generating: {fh.tell() / GiB:.2f} / {target_bytes / GiB:.2f} GiB",
                      end="", flush=True, file=sys.stderr)
        fh.flush()
        os.fsync(fh.fileno())
    if sys.stderr.isatty():
        print(flush=True, file=sys.stderr)
    return good, bad


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        while block := fh.read(64 * MiB):
            n += block.count(b"\n")
    return n


def run_capped(name: str, path: Path, work: Path, cap: int, cap_cls: type, timeout: float) -> dict:
    """One contender in a child process under the cap; returns its measurements."""
    guard = cap_cls(cap, name)
    rec: dict = {"name": name}
    proc = None
    try:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, str(path), str(work),
               str(cap // MiB)]
        peak = [0]
        t0 = time.perf_counter()
        proc = subprocess.Popen(guard.wrap(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(work))
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                with contextlib.suppress(OSError, ValueError):
                    peak[0] = max(peak[0], guard.anon())
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out_chunks: dict[str, bytes] = {}

        def drain(stream, key: str) -> None:
            out_chunks[key] = stream.read()

        readers = [threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True),
                   threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True)]
        for r in readers:
            r.start()
        deadline = time.monotonic() + timeout
        status = None
        while True:
            pid, wstatus, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                status = "timeout"
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(wstatus)
        done.set()
        sampler.join()
        for r in readers:
            r.join(10)
        st = guard.stats()
        rc = proc.returncode
        rec.update(rc=rc, seconds=wall, peak_anon=peak[0] or None, maxrss=ru.ru_maxrss * 1024,
                   cg_max=st.get("max_usage"), failcnt=st.get("failcnt"), oom_kill=st.get("oom_kill", 0))
        err = out_chunks.get("err", b"").decode(errors="replace").strip()
        if status is None:
            if rc == 0:
                status = "completed"
            elif rec["oom_kill"]:
                status = "OOM-killed"
            elif rc == -signal.SIGKILL:
                status = "killed (SIGKILL)"
            else:
                lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
                named = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b", ln)]
                status = f"error: {((named or lines)[-1:] or [f'exit {rc}'])[0][:120]}"
        rec["status"] = status
        if rc == 0:
            lines = out_chunks.get("out", b"").decode().strip().splitlines()
            rec["result"] = json.loads(lines[-1]) if lines else {}
        rec["stderr_tail"] = err[-1500:]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(ChildProcessError):
                proc.wait(10)
        guard.remove()
    return rec


def check_tables(recs: list[dict]) -> list[str]:
    """Compare the SLO tables of the contenders that completed with the first exact one."""
    import numpy as np
    import polars as pl

    notes = []
    tables = {r["name"]: r["result"]["table"] for r in recs if r.get("status") == "completed"
              and r.get("result", {}).get("table")}
    if not tables:
        return ["no SLO table completed: nothing to compare"]
    exact = [n for n in tables if not n.endswith("_sketch")]
    ref_name = exact[0] if exact else next(iter(tables))
    ref = pl.read_parquet(tables[ref_name])
    for name, t in tables.items():
        if name == ref_name:
            continue
        got = pl.read_parquet(t)
        same_keys = got.select("ts", "service", "requests", "errors_5xx").equals(
            ref.select("ts", "service", "requests", "errors_5xx"))
        if not same_keys:
            notes.append(f"{name}: buckets/counts DIFFER from {ref_name}")
            continue
        rel = max(float(np.nanmax(np.abs(got[c].to_numpy() - ref[c].to_numpy()) /
                                  np.maximum(np.abs(ref[c].to_numpy()), 1e-12)))
                  for c in ("p50_ms", "p95_ms", "p99_ms"))
        tol = 0.01 + 1e-9 if name.endswith("_sketch") else 1e-9
        if name.endswith("_sketch"):
            verdict = "within the sketch's 1 % of" if rel <= tol else "MORE than 1 % off"
        else:
            verdict = "the same table as" if rel <= tol else "a DIFFERENT table from"
        notes.append(f"{name}: {verdict} {ref_name} ({ref.height:,} rows; buckets and counts equal, "
                     f"quantiles max relative difference {rel:.2g})")
    return notes


def fmt_mib(x: float | None) -> str:
    return "-" if not x else f"{x / MiB:,.0f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=4.0, help="size of the JSON-lines file to generate (default 4)")
    ap.add_argument("--cap-mib", type=int, default=1024, help="memory cap per contender (default 1024)")
    ap.add_argument("--cap-mode", default="auto", choices=("auto", "cgroup", "rlimit", "none"),
                    help="auto: cgroup v1, else RLIMIT_AS (with a note); none: uncapped, peak RSS only")
    ap.add_argument("--file", default=None, help="use this existing JSON-lines file (not deleted)")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where the file and outputs go (default /tmp)")
    ap.add_argument("--chunk-rows", type=int, default=500_000, help="rows generated at a time (default 500k)")
    ap.add_argument("--bad-lines", type=int, default=0,
                    help="malformed lines to scatter in the file (the hand-written readers and "
                         "request_table(jsonl) then fail; convert_export dead-letters them)")
    ap.add_argument("--only", default="", help=f"comma-separated contenders (default: {','.join(DEFAULT_ORDER)})")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per contender (default 1800)")
    ap.add_argument("--out", default=str(HERE / "out" / "memory.md"), help="markdown output")
    a = ap.parse_args(argv)
    names = [n for n in (a.only.split(",") if a.only else DEFAULT_ORDER) if n]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        ap.error(f"unknown contender(s) {unknown}; choose from {list(CONTENDERS)}")
    if "holoops_rt_parquet" in names and "holoops_convert" not in names:
        names.insert(names.index("holoops_rt_parquet"), "holoops_convert")

    cap_cls, cap_note = choose_cap(a.cap_mode)
    if cap_cls is None:
        print(f"SKIP bench_memory: cannot cap memory on this machine: {cap_note}. "
              "(Needs a writable cgroup v1 memory controller, or RLIMIT_AS; --cap-mode none measures uncapped.)")
        return 0
    cap = a.cap_mib * MiB
    target = int(a.gib * GiB)
    need = (0 if a.file else target) + target // 2
    free = shutil.disk_usage(a.tmp).free
    if free < need:
        print(f"SKIP bench_memory: {a.tmp} has {free / GiB:.1f} GiB free, this run needs about {need / GiB:.1f} GiB")
        return 0

    work = Path(tempfile.mkdtemp(prefix="holoops-bench-memory-", dir=a.tmp))

    def on_signal(signum, _frame):  # turn SIGTERM/SIGHUP into an exception so the cleanup below runs
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    recs: list[dict] = []
    try:
        if a.file:
            path = Path(a.file).resolve()
            t0 = time.perf_counter()
            good, bad = count_lines(path), None
            gen_s = None
            print(f"[bench_memory] {path}: {path.stat().st_size / GiB:.2f} GiB, {good:,} lines "
                  f"({time.perf_counter() - t0:.0f} s to count)", flush=True)
        else:
            path = work / "requests.jsonl"
            t0 = time.perf_counter()
            good, bad = generate(path, target, a.chunk_rows, a.bad_lines)
            gen_s = time.perf_counter() - t0
            print(f"[bench_memory] wrote {path}: {path.stat().st_size / GiB:.2f} GiB, {good:,} request lines"
                  + (f" + {bad} malformed" if bad else "") + f" in {gen_s:.0f} s", flush=True)
        size = path.stat().st_size
        for name in names:
            if name == "holoops_rt_parquet" and not any(
                    r["name"] == "holoops_convert" and r.get("status") == "completed" for r in recs):
                recs.append({"name": name, "status": "skipped (no Parquet folder: convert did not complete)"})
                continue
            evict([path, work / "parquet"])
            print(f"[bench_memory] {name} ...", end=" ", flush=True)
            rec = run_capped(name, path, work, cap, cap_cls, a.timeout)
            print(f"{rec['status']}, {rec['seconds']:.1f} s, peak anon {fmt_mib(rec.get('peak_anon'))} MiB, "
                  f"ru_maxrss {fmt_mib(rec.get('maxrss'))} MiB", flush=True)
            recs.append(rec)
        checks = check_tables(recs)
        conv = next((r for r in recs if r["name"] == "holoops_convert" and r.get("status") == "completed"), None)
        if conv:
            c = conv["result"]
            ok = c["ingested"] + c["rejected"] == c["read"] and (bad is None or c["read"] == good + bad)
            checks.append(f"holoops_convert accounting: read {c['read']:,} = ingested {c['ingested']:,} + rejected "
                          f"{c['rejected']:,}" + (f" {c['reasons']}" if c.get("reasons") else "")
                          + (f"; lines in the file: {good + (bad or 0):,}" if bad is not None else "")
                          + (" -- OK" if ok else " -- MISMATCH"))
            pq_bytes = sum(f.stat().st_size for f in (work / "parquet").rglob("*.parquet"))
            checks.append(f"Parquet folder written by convert_export: {pq_bytes / MiB:,.0f} MiB "
                          f"({pq_bytes / size:.1%} of the JSON lines)")
        text = render(recs, checks, path, size, good, cap, cap_cls.kind, cap_note, gen_s, argv)
        print("\n" + text)
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
        print(f"\n[bench_memory] wrote {out}")
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        shutil.rmtree(work, ignore_errors=True)  # the generated file, the Parquet folder, the tables
    return 0


def render(recs: list[dict], checks: list[str], path: Path, size: int, lines: int, cap: int, cap_kind: str,
           cap_note: str, gen_s: float | None, argv: list[str] | None) -> str:
    from benchmarks._common import machine, markdown_table

    headers = ["contender", "computes", "completed?", "wall s", "peak anon MiB", "cgroup peak MiB (incl. cache)",
               "ru_maxrss MiB"]
    rows = []
    for r in recs:
        label, what = CONTENDERS[r["name"]]
        if r["name"] == "holoops_convert":
            label += f" (chunk_mib={chunk_mib_for(cap // MiB)})"
        rows.append([label, what, r.get("status", "-"), f"{r['seconds']:.1f}" if r.get("seconds") else "-",
                     fmt_mib(r.get("peak_anon")), fmt_mib(r.get("cg_max")), fmt_mib(r.get("maxrss"))])
    import duckdb
    import polars as pl

    cmd = " ".join(["benchmarks/bench_memory.py", *(argv if argv is not None else sys.argv[1:])])
    head = [
        "## Bounded memory: a JSON-lines export larger than the memory cap",
        "",
        f"Machine: {machine()}; polars {pl.__version__}, DuckDB {duckdb.__version__}. "
        f"Date: {time.strftime('%Y-%m-%d')}. Command: `.venv/bin/python {cmd}`.",
        "",
        f"Input: {size / GiB:.2f} GiB of JSON lines ({lines:,} lines, demo request log"
        + (f", generated in {gen_s:.0f} s" if gen_s else f", {path.name}") + "); "
        f"cap: **{cap / MiB:,.0f} MiB** per contender ({cap_kind}"
        + (", memory+swap" if cap_kind == "cgroup" else "") + f"); file / cap = **{size / cap:.1f}x**.",
    ]
    if cap_note:
        head += ["", f"**Note:** {cap_note}."]
    body = [markdown_table(headers, rows), "", "Checks:", *[f"- {c}" for c in checks], "",
            "peak anon = the cgroup's anonymous memory (`memory.stat` rss), sampled every 20 ms; cgroup peak = "
            "`memory.max_usage_in_bytes` (anonymous + page cache; the kernel reclaims cache at the cap, so it "
            "sits near the cap for any reader of a large file); ru_maxrss = the child's resident high-water "
            "mark, which also counts pages of files it mmaps. The input was evicted from the page cache before "
            "each contender. Wall seconds include interpreter start and imports."]
    errs = [r for r in recs if str(r.get("status", "")).startswith("error")]
    for r in errs:
        body += ["", f"{r['name']} stderr (tail):", "```", r.get("stderr_tail", "")[-800:], "```"]
    return "\n".join([*head, "", *body])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, nm, p, wk, cm = sys.argv
        t = time.perf_counter()
        res = child(nm, p, wk, int(cm))
        res["step_seconds"] = time.perf_counter() - t
        print(json.dumps(res, default=str))
        raise SystemExit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--generate":
        _, _, p, tb, cr, bl = sys.argv
        g, b = _generate(Path(p), int(tb), int(cr), int(bl))
        print(json.dumps({"good": g, "bad": b}))
        raise SystemExit(0)
    raise SystemExit(main())
