"""Package-level promises: a light import, a discoverable CLI, engine choice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from holoops.errors import EngineError
from holoops.frames import resolve_engine, to_engine


def test_import_is_light():
    code = ("import sys, json, holoops; holoops.fleet; "
            "print(json.dumps([m for m in ('pandas','polars','plotly','papermill','numpy','narwhals') "
            "if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_cli_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "holoops.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for cmd in ("fleet", "demo"):
        assert cmd in out.stdout
    out = subprocess.run([sys.executable, "-m", "holoops.cli", "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--days" in out.stdout


def test_engine_resolution(monkeypatch):
    monkeypatch.delenv("HOLOOPS_ENGINE", raising=False)
    assert resolve_engine("auto") in {"polars", "cudf"}
    assert resolve_engine("pandas") == "pandas"
    monkeypatch.setenv("HOLOOPS_ENGINE", "pandas")
    assert resolve_engine("auto") == "pandas"
    with pytest.raises(EngineError, match="choose one of"):
        resolve_engine("spark")


def test_to_engine_round_trip():
    import pandas as pd
    import polars as pl

    df = pd.DataFrame({"ts": pd.to_datetime([0, 60], unit="s", utc=True), "value": [1.0, 2.5]})
    pl_df = to_engine(df, "polars")
    assert isinstance(pl_df, pl.DataFrame)
    back = to_engine(pl_df, "pandas")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert str(back["ts"].dt.tz) == "UTC"
