"""Data, not code: the YAML catalogs (signal names, error classes, alert rules, hypotheses, actions, suites).

:func:`signals` is the one reader of ``signals.yaml``, which the simulator, analyses, alert rules and
dashboards all take their metric names from. Treat the returned dict as read-only: it is cached.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def signals() -> dict[str, Any]:
    """``signals.yaml``: what each operator signal is called on the wire."""
    import yaml

    return yaml.safe_load((HERE / "signals.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def signal_map() -> dict[str, Any]:
    """``signal_map.yaml``: how each signal is found in what fleets export (candidates, in order)."""
    import yaml

    return yaml.safe_load((HERE / "signal_map.yaml").read_text(encoding="utf-8"))
