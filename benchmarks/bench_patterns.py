"""Template mining on Loghub-2k (dev split): grouping accuracy and throughput vs Drain3.

    .venv/bin/python benchmarks/bench_patterns.py

Evaluated on the ``Content`` column of ``*_structured.csv`` (the message after header parsing), with
ONE default configuration (``MinerConfig()``) for every dataset. Drain3 runs with its library defaults
(``TemplateMiner()``, ``add_log_message`` per line) on the same lines in the same process. Prints the GA
table and the throughput lines and writes them to benchmarks/out/patterns.md. Exits 0 with a message
when the data is not present (``HOLOOPS_LOGHUB`` overrides ``../shared/data/loghub-dev``).
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _loghub import DATASETS, DRAIN_PUBLISHED, load, loghub_dir  # noqa: E402

from holoops.analyze.patterns import grouping_accuracy, mine_templates  # noqa: E402


def drain3_ids(lines: list[str]) -> list[int]:
    from drain3 import TemplateMiner

    tm = TemplateMiner()
    return [tm.add_log_message(m)["cluster_id"] for m in lines]


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    folder = loghub_dir()
    if folder is None:
        print("SKIP: loghub-dev data not found at ../shared/data/loghub-dev (set HOLOOPS_LOGHUB); nothing to do")
        return 0
    logging.disable(logging.WARNING)  # drain3 logs every config default it falls back to
    try:
        import drain3  # noqa: F401
        have_drain3 = True
    except ImportError:
        have_drain3 = False
        print("note: drain3 is not installed (pip install drain3); its columns are skipped")

    rows, all_lines = [], []
    for name in DATASETS:
        lines, truth = load(name, folder)
        all_lines += lines
        ga = grouping_accuracy(truth, mine_templates(lines).ids)
        d3 = grouping_accuracy(truth, drain3_ids(lines)) if have_drain3 else float("nan")
        rows.append((name, ga, DRAIN_PUBLISHED[name], d3, ga >= DRAIN_PUBLISHED[name]))

    out = ["# holoops template mining on Loghub-2k (dev split)", "",
           f"Input: the `Content` column of each `*_structured.csv` ({folder}). One default MinerConfig, "
           "no per-dataset tuning. GA = grouping accuracy.", "",
           "| dataset | holoops GA | Drain GA (published, tuned) | Drain3 defaults GA (measured) | pass |",
           "|---|---|---|---|---|"]
    for name, ga, pub, d3, ok in rows:
        out.append(f"| {name} | {ga:.4f} | {pub:.4f} | {d3:.4f} | {'pass' if ok else 'FAIL'} |")
    n = len(rows)
    out.append(f"| mean | {sum(r[1] for r in rows) / n:.4f} | {sum(r[2] for r in rows) / n:.4f} | "
               f"{sum(r[3] for r in rows) / n:.4f} | {sum(r[4] for r in rows)}/{n} |")

    out += ["", f"Throughput ({platform.processor() or platform.machine()}, {os.cpu_count()} cores; best of runs):", "",
            "| lines | holoops lines/s | Drain3 lines/s | ratio |", "|---|---|---|---|"]
    big = (all_lines * (200_000 // len(all_lines) + 1))[:200_000]
    for label, lines, repeat in (("16k (all 8 concatenated)", all_lines, 5), ("200k (16k replicated)", big, 3)):
        mine_templates(lines[:1000])  # warm up imports and regex compilation
        t_h = best_time(lambda lines=lines: mine_templates(lines), repeat)
        t_d = best_time(lambda lines=lines: drain3_ids(lines), 1 if len(lines) > 50_000 else 2) \
            if have_drain3 else float("nan")
        out.append(f"| {label}: {len(lines):,} | {len(lines) / t_h:,.0f} | {len(lines) / t_d:,.0f} | "
                   f"{t_d / t_h:.1f}x |")
    text = "\n".join(out) + "\n"
    print(text)
    dest = HERE / "out" / "patterns.md"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    print(f"written {dest.relative_to(HERE.parent)}")
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
