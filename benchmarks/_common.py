"""Shared benchmark helpers: run a step in a fresh process and report wall seconds and peak RSS.

>>> from benchmarks._common import measure, markdown_table          # doctest: +SKIP
>>> m = measure("benchmarks.bench_ingest:_step", "polars_ndjson", "/tmp/x.jsonl")  # doctest: +SKIP
>>> m.seconds, m.peak_rss_mib, m.result                              # doctest: +SKIP

Each step runs in a *spawned* interpreter (nothing inherited), so peak RSS belongs to that step alone:
``peak_rss_mib`` is the process high-water mark (``ru_maxrss``), ``base_rss_mib`` the RSS just before the
timed call (after the step's own imports, which the step may do in a ``setup`` phase).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any


@dataclass
class Measurement:
    """One timed step."""

    name: str
    seconds: float | None
    peak_rss_mib: float | None
    base_rss_mib: float | None = None
    result: Any = None
    error: str | None = None


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mib() -> float:
    """Peak RSS of this process in MiB (VmHWM on Linux: unlike ru_maxrss it is not inherited across exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _child(target: str, args: tuple, conn) -> None:
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if root not in sys.path:
            sys.path.insert(0, root)
        mod_name, fn_name = target.split(":")
        fn = getattr(importlib.import_module(mod_name), fn_name)
        setup = getattr(fn, "setup", None)
        if setup is not None:
            setup(*args)
        base = _rss_mib()
        t0 = time.perf_counter()
        result = fn(*args)
        dt = time.perf_counter() - t0
        conn.send((dt, _peak_mib(), base, result, None))
    except BaseException:  # noqa: BLE001 - report anything to the parent
        conn.send((None, _peak_mib(), None, None, traceback.format_exc(limit=3)))
    finally:
        conn.close()


def measure(target: str, *args: Any, name: str | None = None, timeout: float = 1800) -> Measurement:
    """Run ``module:function(*args)`` in a fresh process; return its time, peak RSS and (small) result."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(target, args, child))
    proc.start()
    child.close()
    label = name or f"{target}{args!r}"
    if not parent.poll(timeout):
        proc.kill()
        proc.join()
        return Measurement(label, None, None, error=f"timed out after {timeout}s")
    try:
        dt, peak, base, result, err = parent.recv()
    except EOFError:
        dt, peak, base, result, err = None, None, None, None, f"process died (exit code {proc.exitcode})"
    proc.join()
    return Measurement(label, dt, peak, base, result, err)


def timed(fn, *args: Any, repeat: int = 1, **kwargs: Any) -> tuple[float, Any]:
    """Best-of-``repeat`` wall seconds of ``fn(*args, **kwargs)`` in this process, and its last result."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def fmt_num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join("" if c is None else str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def machine() -> str:
    """One line describing where the numbers were taken."""
    import platform

    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except Exception:  # noqa: BLE001
        mem = "?"
    return f"{platform.node()}: {os.cpu_count()} cores, {mem}, Python {platform.python_version()}"
