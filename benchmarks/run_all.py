"""Run every benchmark module present and print one ratio table.

    .venv/bin/python benchmarks/run_all.py                       # sizes 1e6,1e7
    .venv/bin/python benchmarks/run_all.py --sizes 1e6,1e7,5e7
    .venv/bin/python benchmarks/run_all.py --quick               # a smoke run (small sizes)
    .venv/bin/python benchmarks/run_all.py --memory --only none  # only bench_memory (4 GiB file, 1 GiB cap)

Modules: bench_ingest, bench_analytics, bench_patterns, bench_suite (those that exist). A module that
defines ``results(sizes, quick=...)`` returning ``{"rows": [...], "headers": [...]}`` is called in-process
and its rows join the combined table; any other module is run as a script (``--sizes``/``--quick``
passed when its ``--help`` lists them) and its own output is printed verbatim under its name.
``--memory`` also runs bench_memory.py (a JSON-lines file 4x the memory cap; ``--quick``: 1 GiB file,
256 MiB cap); it prints SKIP where it cannot cap memory.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

MODULES = ("bench_ingest", "bench_analytics", "bench_patterns", "bench_suite")


def _flags(script: Path) -> str:
    try:
        return subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                              timeout=120).stdout
    except Exception:  # noqa: BLE001
        return ""


def main(argv: list[str] | None = None) -> int:
    from benchmarks._common import machine, markdown_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e6,1e7")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated module names")
    ap.add_argument("--out", default=None, help="write the combined markdown here")
    ap.add_argument("--memory", action="store_true",
                    help="also run bench_memory.py (bounded memory on a JSON-lines file 4x the cap; minutes)")
    a = ap.parse_args(argv)
    sizes = [int(float(x)) for x in a.sizes.split(",") if x]
    wanted = [m for m in MODULES if not a.only or m in a.only.split(",")]
    combined: list[list] = []
    verbatim: list[str] = []
    headers = ["module", "step", "rows", "holoops s", "best hand-written s", "holoops / best",
               "holoops / best (CPU s)", "pandas / holoops", "skips and output checks"]
    for name in wanted:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"[run_all] {name}: not present, skipped", flush=True)
            continue
        t0 = time.perf_counter()
        print(f"[run_all] {name} ...", flush=True)
        spec = importlib.util.spec_from_file_location(f"benchmarks.{name}", script)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001
            verbatim.append(f"### {name}\n\nfailed to import: {exc}")
            continue
        if hasattr(mod, "results"):
            r = mod.results([200_000] if a.quick else sizes, quick=a.quick)
            h = r["headers"]
            for row in r["rows"]:
                d = dict(zip(h, row, strict=False))
                best = [d.get("polars s"), d.get("duckdb s"), d.get("drain3 s")]
                best = [float(str(x).replace(",", "")) for x in best if x not in (None, "-")]
                ratio = d.get("holoops / best hand-written", d.get("holoops / best(pl, duck)", "-"))
                notes = "; ".join(x.strip() for x in str(d.get("notes") or "").split(";")
                                  if "skipped" in x or "check" in x)
                combined.append([name, d.get("step"), d.get("rows"), d.get("holoops s"),
                                 f"{min(best):,.2f}" if best else "-", ratio,
                                 d.get("holoops / best (CPU s)", "-"), d.get("pandas / holoops", "-"), notes])
            verbatim.append(f"### {name}\n\n{r.get('markdown', '')}")
        else:
            help_text = _flags(script)
            cmd = [sys.executable, str(script)]
            if "--quick" in help_text and a.quick:
                cmd.append("--quick")
            elif "--sizes" in help_text:
                cmd += ["--sizes", "2e5" if a.quick else a.sizes]
            p = subprocess.run(cmd, capture_output=True, text=True)
            verbatim.append(f"### {name} (exit {p.returncode})\n\n{p.stdout.strip()}\n{p.stderr.strip()[-2000:]}")
        print(f"[run_all] {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    if a.memory:
        t0 = time.perf_counter()
        print("[run_all] bench_memory ...", flush=True)
        cmd = [sys.executable, str(HERE / "bench_memory.py")] + (["--gib", "1", "--cap-mib", "256", "--out", str(HERE / "out" / "memory-quick.md")] if a.quick else [])
        p = subprocess.run(cmd, capture_output=True, text=True)
        verbatim.append(f"### bench_memory (exit {p.returncode})\n\n{p.stdout.strip()}\n{p.stderr.strip()[-2000:]}")
        print(f"[run_all] bench_memory: {time.perf_counter() - t0:.0f} s", flush=True)
    text = "\n\n".join([f"Machine: {machine()}", "## Ratios (holoops / best of hand-written polars, DuckDB and, "
                        "for template mining, Drain3; pandas / holoops)", markdown_table(headers, combined),
                        *verbatim])
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
