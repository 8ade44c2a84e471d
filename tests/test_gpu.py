"""GPU: request_table and golden signals on engine="cudf" equal the CPU results; cudf.pandas runs
plain pandas code. Skipped, saying why, where cuDF does not import or no CUDA device is present."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


def _why_no_gpu() -> str | None:
    try:
        import cudf  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"cudf not importable ({type(exc).__name__}: {exc})"
    from holoops.frames import gpu_available

    if not gpu_available():
        return "cudf imports but no CUDA device is visible"
    return None


@pytest.fixture(scope="module")
def gpu():
    why = _why_no_gpu()
    if why:
        pytest.skip(why)


@pytest.fixture(scope="module")
def logs():
    from holoops.demo import request_log

    return request_log(200_000, seed=5)


@pytest.mark.parametrize("method", ["exact", "sketch"])
def test_request_table_on_cudf_matches_cpu(gpu, logs, method):
    import cudf

    from holoops.analyze.requests import request_table, top_errors

    cpu = request_table(logs, method=method, engine="pandas")
    got = request_table(cudf.DataFrame.from_arrow(logs), method=method, engine="pandas")
    for c in ("service", "requests", "errors_5xx"):
        assert got[c].tolist() == cpu[c].tolist(), c
    assert (got["ts"].astype("int64").to_numpy() == cpu["ts"].astype("int64").to_numpy()).all()
    for c in ("error_ratio", "p50_ms", "p95_ms", "p99_ms"):
        np.testing.assert_allclose(got[c].to_numpy(), cpu[c].to_numpy(), rtol=1e-9)
    te = top_errors(cudf.DataFrame.from_arrow(logs), n=10, engine="pandas")
    assert te.values.tolist() == top_errors(logs, n=10, engine="pandas").values.tolist()


def test_golden_signals_on_cudf_matches_pandas(gpu):
    import cudf
    import pyarrow as pa

    from holoops.analyze.signals import golden_signals
    from holoops.demo import simulate
    from holoops.frames import to_pandas

    demo = simulate(days=1, seed=7)
    cpu = golden_signals(demo.metrics)
    g = golden_signals(cudf.DataFrame.from_arrow(pa.Table.from_pandas(demo.metrics, preserve_index=False)))
    g = to_pandas(g)
    assert len(g) == len(cpu)
    for c in ("rps", "error_rps", "p99_ms"):
        np.testing.assert_allclose(g[c].to_numpy(float), cpu[c].to_numpy(float), rtol=1e-6, equal_nan=True)


def test_cudf_pandas_runs_plain_pandas(gpu, tmp_path):
    code = ("import pandas as pd, numpy as np\n"
            "df = pd.DataFrame({'s': np.arange(100000) % 7, 'v': np.arange(100000, dtype=float)})\n"
            "r = df.groupby('s')['v'].quantile(0.99)\n"
            "print(type(pd.DataFrame).__module__, round(float(r.sum()), 3))\n")
    script = tmp_path / "snippet.py"
    script.write_text(code)
    p = subprocess.run([sys.executable, "-m", "cudf.pandas", str(script)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    ref = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert p.stdout.split()[-1] == ref.stdout.split()[-1]
