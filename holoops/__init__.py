"""holoops: diagnose, plan and operate a service fleet from notebooks.

The import is light on purpose (no pandas, plotly or papermill here): a kernel start pays for every
import. Sub-modules load when first used, e.g. ``holoops.fleet`` or ``holoops.demo``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "analyze", "cli", "demo", "errors", "fleet", "frames", "guides", "notebook", "runbook", "sources",
    "viz", "run",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"holoops.{name}")
    if name == "load_fleet":
        from holoops.fleet import load_fleet

        return load_fleet
    raise AttributeError(f"module 'holoops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES, "load_fleet"])
