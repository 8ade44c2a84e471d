"""Run a notebook's cells in this process (no kernel): for tests that run every notebook many times.

The parameters cell runs first, then the given values override it (as papermill injects them), then every
other code cell in order, with ``holoops_notebook`` set so ``setup()`` finds the schema and renders
headless. Output goes nowhere; an exception names the cell that raised it. Papermill runs (real kernels)
are tested elsewhere; this is only about "every cell runs to the end on this data".
"""

from __future__ import annotations

import contextlib
import io
import json
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class CellError(AssertionError):
    pass


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "runbooks").glob("*.ipynb"))


def run_inprocess(path: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Execute ``path``'s code cells with ``params``; returns the globals. CellError on the first failure."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    g: dict[str, Any] = {"__name__": "__main__"}
    first = True
    for i, cell in enumerate(cells):
        src = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                exec(compile(src, f"{path.name}[{i}]", "exec"), g)  # noqa: S102
            except Exception as exc:
                tb = "".join(traceback.format_exception(exc)[-6:])
                raise CellError(f"{path.name} cell {i} ({src.strip()[:60]!r}) with {params}: "
                                f"{type(exc).__name__}: {exc}\n{tb}") from exc
        if first and "parameters" in tags:
            g.update(params)
            g["holoops_notebook"] = path.stem
            first = False
    return g
