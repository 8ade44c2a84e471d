"""How much does holoops add over papermill's floor? And what does ``setup()`` cost in the kernel?

    .venv/bin/python benchmarks/bench_suite.py [SUITE] [--parallel N] [--repeat R]

1. floor: a one-cell notebook (``1 + 1``) through papermill, one kernel start + execute.
2. setup: the kernel-side import + ``holoops.notebook.setup`` cost, measured in a fresh interpreter
   (and whether papermill/pandas/plotly got imported by it: they must not be).
3. suite: ``holoops report SUITE`` wall time (default: the default suite), and suite / (floor x notebooks).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETUP_PROBE = """
import time, sys, json
t0 = time.perf_counter()
import holoops.notebook
t1 = time.perf_counter()
hx = holoops.notebook.setup({"holoops_notebook": "diagnostics"})
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "setup_s": t2 - t1,
                  "heavy": [m for m in ("papermill", "pandas", "polars", "nbconvert", "jsonschema")
                            if m in sys.modules]}))
"""


def floor_s(repeat: int) -> float:
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "floor.ipynb"
        nbformat.write(nb, str(src))
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            pm.execute_notebook(str(src), str(Path(d) / "out.ipynb"), progress_bar=False, log_output=False)
            times.append(time.perf_counter() - t)
    return min(times)


def setup_cost() -> dict:
    out = subprocess.run([sys.executable, "-c", SETUP_PROBE], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", nargs="?")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-suite", action="store_true")
    args = ap.parse_args()
    floor = floor_s(args.repeat)
    print(f"floor (papermill, 1-cell notebook): {floor:.2f}s")
    cost = setup_cost()
    print(f"kernel side: import holoops.notebook {cost['import_s'] * 1000:.0f} ms, "
          f"setup() {cost['setup_s'] * 1000:.0f} ms, heavy modules imported: {cost['heavy'] or 'none'}")
    if args.skip_suite:
        return 0
    from holoops.run import load_suite, run_suite

    items = load_suite(args.suite)
    if not items:
        print("suite is empty (no notebooks present)")
        return 0
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        suite = run_suite(items, d, parallel=args.parallel, progress=None, history_path=Path(d) / "h.jsonl")
        wall = time.perf_counter() - t
    per = {r.notebook: round(r.duration_s, 2) for r in suite.results}
    print(f"suite {args.suite or '(default)'}: {len(items)} notebooks, {wall:.1f}s wall, parallel {args.parallel}")
    print(f"per notebook: {per}")
    print(f"ratio suite / (floor x notebooks / parallel): {wall / (floor * len(items) / args.parallel):.2f}")
    return 0 if suite.ok else 1


if __name__ == "__main__":
    sys.exit(main())
