"""The simulated HolographicMemory fleet with labelled incidents (contract: docs/demo.md).

``simulate`` returns a :class:`DemoFleet` (canonical pandas frames plus ground truth);
``request_log`` makes benchmark-size request logs fast; ``write_demo`` writes the exports for the CLI.
Names load lazily so ``import holoops.demo`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DemoFleet", "simulate", "cached_simulate", "request_log", "write_request_log", "write_demo", "KINDS"]

_WHERE = {"DemoFleet": "core", "simulate": "core", "cached_simulate": "cache", "request_log": "scale", "write_request_log": "scale",
          "write_demo": "writers", "KINDS": "schedule"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"holoops.demo.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'holoops.demo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
