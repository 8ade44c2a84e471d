"""GPU check, to run on a machine with an NVIDIA GPU: engine="cudf" and cudf.pandas vs CPU.

    pip install --no-index --find-links ../shared/tools/gpu-wheels cudf-cu12 rmm-cu12 cupy-cuda12x
    .venv/bin/python benchmarks/gpu_check.py --rows 1e7 --out benchmarks/out/gpu.md

For each step (request table exact/sketch, top errors) it times the CPU path (polars) and the cuDF
path, compares the results (counts equal, quantiles rtol 1e-9), times a hand-written cuDF groupby and
plain pandas under ``python -m cudf.pandas``, and writes a markdown report (also printed).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PANDAS_SNIPPET = """
import sys, time, pandas as pd
t = time.perf_counter()
df = pd.read_parquet(sys.argv[1], columns=["ts", "service", "status", "latency_ms"])
df["minute"] = df["ts"].dt.floor("min")
df["e"] = df["status"] >= 500
g = df.groupby(["service", "minute"], observed=True)
out = pd.DataFrame({"requests": g.size(), "errors_5xx": g["e"].sum()})
for q in (0.5, 0.95, 0.99):
    out[f"q{q}"] = g["latency_ms"].quantile(q)
print(f"RESULT {time.perf_counter() - t:.4f} {int(out['requests'].sum())} {float(out['q0.99'].sum()):.6f}")
"""


def _t(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        try:
            import cupy

            cupy.cuda.runtime.deviceSynchronize()
        except Exception:  # noqa: BLE001
            pass
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="1e7")
    ap.add_argument("--workdir", default="/tmp/holoops-gpu")
    ap.add_argument("--out", default="benchmarks/out/gpu.md")
    a = ap.parse_args(argv)
    import numpy as np

    from benchmarks._common import markdown_table
    from holoops.analyze.requests import request_table, top_errors
    from holoops.demo import write_request_log
    from holoops.frames import gpu_available

    lines = [f"# GPU check ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", ""]
    try:
        import cudf
    except Exception as exc:  # noqa: BLE001
        print(f"cudf not importable: {exc}")
        return 2
    if not gpu_available():
        print("cudf imports but no CUDA device is visible")
        return 2
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout.strip()
    except Exception:  # noqa: BLE001
        smi = "?"
    lines += [f"GPU: {smi}; cuDF {cudf.__version__}; Python {platform.python_version()}", ""]
    n = int(float(a.rows))
    path = Path(a.workdir) / f"requests_{n}.parquet"
    if not path.exists():
        write_request_log(path, n)
    import polars as pl

    cpu_df = pl.read_parquet(path)
    gpu_df = cudf.read_parquet(path)
    rows, ok_all = [], True
    for name, cpu_fn, gpu_fn in (
        ("request_table exact", lambda: request_table(cpu_df, engine="polars"),
         lambda: request_table(gpu_df, engine="cudf")),
        ("request_table sketch", lambda: request_table(cpu_df, method="sketch", engine="polars"),
         lambda: request_table(gpu_df, method="sketch", engine="cudf")),
        ("top_errors", lambda: top_errors(cpu_df, engine="polars"), lambda: top_errors(gpu_df, engine="cudf")),
    ):
        tc, rc = _t(cpu_fn)
        tg, rg = _t(gpu_fn)
        rg = pl.from_arrow(rg.to_arrow())
        ok = rc.shape == rg.shape
        if ok:
            for c in rc.columns:
                if rc[c].dtype.is_float():
                    ok &= bool(np.allclose(rc[c].to_numpy(), rg[c].to_numpy(), rtol=1e-9, equal_nan=True))
                elif c != "ts":
                    ok &= rc[c].to_list() == rg[c].to_list()
        ok_all &= ok
        rows.append([name, f"{n:,}", f"{tc:.3f}", f"{tg:.3f}", f"{tc / tg:.1f}", "equal" if ok else "DIFFERENT"])

    def hand_cudf():
        d = gpu_df[["ts", "service", "status", "latency_ms"]]
        d = d.assign(minute=d["ts"].dt.floor("min"), e=(d["status"] >= 500).astype("int64"))
        g = d.groupby(["service", "minute"])
        out = g.agg({"e": ["size", "sum"]})
        for q in (0.5, 0.95, 0.99):
            out[f"q{q}"] = g["latency_ms"].quantile(q).values
        return out

    th, _ = _t(hand_cudf)
    rows.append(["hand-written cuDF SLO table", f"{n:,}", "-", f"{th:.3f}", "-", "-"])
    for label, cmd in (("plain pandas", [sys.executable, "-c", PANDAS_SNIPPET, str(path)]),
                       ("cudf.pandas", [sys.executable, "-m", "cudf.pandas", "-c", PANDAS_SNIPPET, str(path)])):
        p = subprocess.run(cmd, capture_output=True, text=True)
        res = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")]
        rows.append([f"{label} SLO table", f"{n:,}", "-", res[0].split()[1] if res else f"failed: {p.stderr[-200:]}",
                     "-", " ".join(res[0].split()[2:]) if res else "-"])
    lines.append(markdown_table(["step", "rows", "CPU (polars) s", "GPU s", "CPU / GPU", "result"], rows))
    text = "\n".join(lines)
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text + "\n", encoding="utf-8")
    return 0 if ok_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
