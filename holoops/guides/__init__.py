"""Deployment guides: step-by-step Markdown/HTML per environment x platform, with validated artifacts.

>>> from holoops.guides import build_guide, write_guides
>>> g = build_guide(None, "production", "kubernetes")   # None = the bundled profile
>>> g.markdown, g.sections["deploy"], sorted(g.artifacts)   # doctest: +SKIP

Templates are data (``templates/``); artifact builders live in ``artifacts/``; validators and the
consistency check in ``validate.py``; ``holoops guide check`` prerequisites in ``checks.py``.
Imports are lazy: importing this package loads no Jinja2, YAML or validators.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Guide": "render", "build_guide": "render", "write_guides": "render", "markdown_to_html": "render",
    "PLATFORMS": "artifacts",
    "check_consistency": "validate", "validate_guide": "validate", "Mismatch": "validate",
    "ValidationResult": "validate",
    "prerequisites": "checks", "run_checks": "checks", "CheckResult": "checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"holoops.guides.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'holoops.guides' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
