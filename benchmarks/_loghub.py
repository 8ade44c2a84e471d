"""Loghub-2k evaluation helpers: locate the data, load a dataset, grouping accuracy.

The data is evaluation data owned by the shared area; it is read in place, never copied here.
``HOLOOPS_LOGHUB`` overrides the location; the default is ``../shared/data/loghub-dev`` relative to
the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path

DATASETS = ("HDFS", "Hadoop", "Spark", "Zookeeper", "BGL", "HPC", "Apache", "OpenSSH")
#: published Drain GA (logparser benchmark, per-dataset tuned) on Loghub-2k
DRAIN_PUBLISHED = {"HDFS": 0.9975, "Hadoop": 0.9475, "Spark": 0.92, "Zookeeper": 0.9665, "BGL": 0.9625,
                   "HPC": 0.887, "Apache": 1.0, "OpenSSH": 0.7875}

REPO = Path(__file__).resolve().parents[1]


def loghub_dir() -> Path | None:
    """The loghub-dev folder, or None when it is not present."""
    env = os.environ.get("HOLOOPS_LOGHUB")
    path = Path(env) if env else (REPO / ".." / "shared" / "data" / "loghub-dev").resolve()
    return path if (path / "Apache_2k.log_structured.csv").is_file() else None


def load(name: str, folder: Path | None = None) -> tuple[list[str], list[str]]:
    """(Content messages, ground-truth EventIds) of one dataset, in line order."""
    import pandas as pd

    folder = folder or loghub_dir()
    if folder is None:
        raise FileNotFoundError("loghub-dev data not found (set HOLOOPS_LOGHUB)")
    df = pd.read_csv(folder / f"{name}_2k.log_structured.csv", dtype=str, keep_default_na=False)
    return df["Content"].tolist(), df["EventId"].tolist()


def grouping_accuracy(truth, predicted) -> float:
    """Share of lines whose predicted group holds exactly the lines of their ground-truth group."""
    from holoops.analyze.patterns import grouping_accuracy as ga

    return ga(truth, predicted)
