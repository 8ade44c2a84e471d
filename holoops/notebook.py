"""``hx = holoops.notebook.setup(globals())``: the one line after every notebook's parameters cell.

It finds the notebook's schema, validates the parameters again (in the kernel), picks the dataframe
engine, and sets up output: headless (papermill, ``holoops run``) figures are embedded as HTML that
exported reports render offline with their folder's one copy of plotly.js; interactive (JupyterLab) it
shows ipywidgets controls built from the schema whose values survive re-running the cell.

Imports stay light here: no papermill, pandas or plotly at import time (a kernel start pays for them).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from functools import cached_property
from pathlib import Path
from typing import Any

#: mime type of a key result recorded for the run history; ``holoops.run`` harvests these outputs
RECORD_MIME = "application/vnd.holoops.record+json"
LEVELS = ("info", "warning", "critical")


def skip_slow_format_checkers() -> None:
    """Stop jsonschema importing ``rfc3987_syntax`` (a Lark grammar: 1-3 s per process) for an IRI format
    check nbformat never uses. plotly.io imports nbformat, so every kernel showing a figure paid it.
    ``HOLOOPS_FAST_IMPORTS=0`` turns this off."""
    import sys

    if os.environ.get("HOLOOPS_FAST_IMPORTS", "1") == "0":
        return
    if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import now raises ImportError


def notebook_name(g: MutableMapping[str, Any] | None = None) -> str | None:
    """The running notebook's schema name: injected by ``holoops run``, else from the frontend session."""
    g = g or {}
    if g.get("holoops_notebook"):
        return str(g["holoops_notebook"])
    for path in (g.get("__vsc_ipynb_file__"), g.get("__session__"), os.environ.get("JPY_SESSION_NAME")):
        if path and str(path).endswith(".ipynb"):
            return Path(str(path)).stem
    return None


def is_interactive(g: MutableMapping[str, Any], requested: bool | None = None) -> bool:
    """True in a JupyterLab/VS Code session; False under papermill/holoops run (or when asked)."""
    if requested is not None:
        return requested
    if g.get("holoops_notebook") or os.environ.get("HOLOOPS_HEADLESS"):
        return False
    return bool(g.get("__session__") or os.environ.get("JPY_SESSION_NAME") or g.get("__vsc_ipynb_file__"))


class Context:
    """What a notebook works with: ``params``, ``fleet``, ``engine``, ``source``, ``dataset``, ``record()``,
    ``finding()``."""

    def __init__(self, params: Any, notebook: str | None, engine: str, interactive: bool):
        self._params = params
        self.notebook = notebook
        self.engine = engine
        self.interactive = interactive
        self.controls = None  # holoops.widgets.Controls when interactive
        self.records: dict[str, Any] = {}
        self.findings: list[dict[str, Any]] = []

    # --- parameters ---------------------------------------------------------------------------
    @property
    def params(self) -> Any:
        """The validated parameters; interactively, the current widget values."""
        if self.controls is not None:
            current = self.controls.params()
            if current is not None and current != self._params:
                self._params = current
                self.__dict__.pop("fleet", None)
                self.__dict__.pop("source", None)
        return self._params

    @property
    def headless(self) -> bool:
        return not self.interactive

    @cached_property
    def fleet(self):
        """The fleet profile named by ``params.fleet`` (the bundled one when None)."""
        return self.params.load_fleet()

    @cached_property
    def source(self):
        """The data source the parameters name (:func:`holoops.sources.open_source`), opened on first use."""
        from holoops.sources import open_source

        return open_source(self.params, self.fleet)

    @property
    def dataset(self):
        """The data over the parameters' window and service (:func:`holoops.reports._data.dataset`)."""
        from holoops.reports._data import dataset

        return dataset(self)

    # --- results for history and notifications -----------------------------------------------
    def record(self, key: str, value: Any) -> Any:
        """Record a key result (JSON-able) in the output notebook for the run history; returns ``value``."""
        import json

        from holoops.redact import redact_obj

        value = json.loads(json.dumps(value, default=_jsonable))
        self.records[key] = value
        if not self.interactive:
            _display({RECORD_MIME: redact_obj({"key": key, "value": value})})
        return value

    def finding(self, level: str, title: str, *, service: str | None = None, detail: str = "",
                runbook: str | None = None) -> None:
        """Record a finding (level info|warning|critical); findings at or above ``min_level`` are notified."""
        if level not in LEVELS:
            from holoops.errors import ParameterError

            raise ParameterError(f"finding level {level!r}; allowed: {', '.join(LEVELS)}")
        item = {"level": level, "title": title, "service": service, "detail": detail, "runbook": runbook}
        self.findings.append(item)
        self.record("findings", self.findings)

    def _repr_markdown_(self) -> str:
        from holoops.redact import MASK

        p = self.params
        secrets = set(type(p).secret_fields())
        rows = "\n".join(f"| `{k}` | {MASK if k in secrets and v else v!r} |" for k, v in p.model_dump().items())
        return f"**{self.notebook or 'notebook'}** (engine `{self.engine}`)\n\n| parameter | value |\n|---|---|\n{rows}"


def _jsonable(obj: Any) -> Any:
    for attr in ("isoformat", "item", "tolist", "to_dict", "model_dump"):
        if hasattr(obj, attr):
            return getattr(obj, attr)()
    return str(obj)


def _display(bundle: dict[str, Any]) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover
        return
    display(bundle, raw=True)


def setup(g: MutableMapping[str, Any], notebook: str | None = None, *, schema: Any = None,
          interactive: bool | None = None) -> Context:
    """Validate this notebook's parameters (taken from ``g``, the notebook's globals), configure output.

    ``notebook``/``schema`` override the schema lookup (by default: the name ``holoops run`` injects, or
    the notebook file open in JupyterLab). Raises ParameterError naming a bad parameter.
    """
    skip_slow_format_checkers()
    from holoops import params as P
    from holoops.redact import register_params

    name = notebook or notebook_name(g)
    if schema is None:
        schema = P.SCHEMAS.get(name or "", P.NotebookParams)
    values = {k: g[k] for k in schema.model_fields if k in g}
    params = P.validate(schema, values, where=f"notebook {name or '?'}")
    register_params(values, schema.secret_fields())
    token = os.environ.get("HOLOOPS_PROM_TOKEN")
    if token:
        register_params({"HOLOOPS_PROM_TOKEN": token})

    engine = _pick_engine(params.engine)
    live = is_interactive(g, params.interactive if interactive is None else interactive)
    hx = Context(params, name, engine, live)
    from holoops.viz import use_fleet

    use_fleet(hx.fleet)  # one colour per service, in profile order, in every figure
    if live:
        from holoops.widgets import build_controls

        hx.controls = build_controls(schema, values, notebook=name or "notebook", fleet=hx.fleet)
        _display_obj(hx.controls)
    else:
        configure_headless_output()
    return hx


def _display_obj(obj: Any) -> None:
    try:
        from IPython.display import display

        display(obj)
    except ImportError:  # pragma: no cover
        pass


def _pick_engine(requested: str) -> str:
    from holoops.frames import resolve_engine

    engine = resolve_engine(requested)
    if engine == "cudf":
        try:
            import cudf.pandas  # type: ignore

            cudf.pandas.install()
        except Exception:  # cudf.pandas is an accelerator; analyses still run on cuDF frames without it
            pass
    return engine


# --- headless output ----------------------------------------------------------------------------
def configure_headless_output(height: int = 450) -> None:
    """Make plotly figures display as HTML divs without plotly.js: the export loads one shared copy per
    reports folder (offline, :mod:`holoops.export`), so neither the output notebook nor a report page carries
    its own 4.6 MB copy. Time axes are written compactly (:func:`holoops.export.compact_figure`)."""
    try:
        import plotly.io as pio
        from plotly.io.base_renderers import MimetypeRenderer
    except ImportError:
        return

    class EmbeddedHtmlRenderer(MimetypeRenderer):
        """Figure -> ``text/html`` (a div and its ``Plotly.newPlot`` call; plotly.js comes from the page)."""

        def to_mimebundle(self, fig_dict: dict) -> dict:
            from holoops.export import compact_figure

            fig_dict = compact_figure(fig_dict)
            layout = fig_dict.get("layout", {}) or {}
            html = pio.to_html(fig_dict, include_plotlyjs=False, full_html=False, validate=False,
                               default_height=layout.get("height") or height, default_width="100%",
                               config={"displaylogo": False})
            return {"text/html": html}

    if pio.renderers.default != "holoops":  # re-running setup keeps the renderer
        pio.renderers["holoops"] = EmbeddedHtmlRenderer()
        pio.renderers.default = "holoops"
