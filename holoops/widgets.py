"""ipywidgets controls built from a parameter schema (interactive notebooks only).

Each field becomes a control: a Literal a dropdown, ``service`` a dropdown of the fleet's services, a bool a
checkbox, numbers number boxes, text a text box. Secret fields get no control. A control's value lives in a
module-level store keyed by (notebook, parameter), so re-running the setup cell keeps what the user chose;
a new value typed into the parameters cell wins over the stored one (msticpy's ``nb_params`` behaviour).
"""

from __future__ import annotations

from typing import Any, get_args

#: (notebook, parameter) -> (value in the parameters cell when built, value the user chose)
_STORE: dict[tuple[str, str], tuple[Any, Any]] = {}
#: fields that never get a control
HIDDEN = ("interactive",)


def clear_store(notebook: str | None = None) -> None:
    """Forget stored widget values (all, or one notebook's)."""
    for key in [k for k in _STORE if notebook is None or k[0] == notebook]:
        del _STORE[key]


def initial_value(notebook: str, name: str, param_value: Any) -> Any:
    """The value a control starts with: the stored choice, unless the parameters cell changed since."""
    stored = _STORE.get((notebook, name))
    if stored is not None and stored[0] == param_value:
        return stored[1]
    return param_value


def _widget_for(schema: Any, name: str, value: Any, fleet: Any) -> Any:
    import ipywidgets as w

    from holoops.params import _literal_values

    field = schema.model_fields[name]
    ann = field.annotation
    args = get_args(ann)
    desc = field.description or ""
    kw = {"description": name, "tooltip": desc, "style": {"description_width": "initial"}}
    allowed = _literal_values(ann)
    if name == "service":
        options = ["all", *(fleet.services if fleet is not None else [])]
        if value not in options:
            options.append(value)
        return w.Dropdown(options=options, value=value, **kw)
    if allowed:
        return w.Dropdown(options=list(allowed), value=value, **kw)
    if ann is bool or (bool in args):
        return w.Checkbox(value=bool(value), indent=False, **kw)
    if ann is int or int in args:
        return w.IntText(value=int(value or 0), **kw)
    if ann is float or float in args:
        return w.FloatText(value=float(value or 0.0), **kw)
    return w.Text(value="" if value is None else str(value), placeholder=desc[:60], **kw)


class Controls:
    """The controls of one notebook: ``widgets`` by parameter name, ``values()``, ``params()``."""

    def __init__(self, schema: Any, notebook: str, base: dict[str, Any], widgets: dict[str, Any]):
        import ipywidgets as w

        self.schema, self.notebook, self.base, self.widgets = schema, notebook, base, widgets
        self.message = w.HTML()
        self.box = w.VBox([w.HBox(list(widgets.values())[i:i + 3]) for i in range(0, len(widgets), 3)]
                          + [self.message])
        for name, widget in widgets.items():
            widget.observe(lambda change, n=name: self._changed(n, change["new"]), names="value")

    def _changed(self, name: str, value: Any) -> None:
        _STORE[(self.notebook, name)] = (self.base.get(name), value)
        self.params()

    def values(self) -> dict[str, Any]:
        """Parameter values as the controls show them (blank optional text -> None)."""
        out = {}
        for name, widget in self.widgets.items():
            v = widget.value
            ann = self.schema.model_fields[name].annotation
            if v == "" and type(None) in get_args(ann):
                v = None
            out[name] = v
        return out

    def params(self) -> Any:
        """The schema validated with the controls' values; None (message shown) when they are invalid."""
        from holoops.errors import ParameterError
        from holoops.params import validate

        values = {**self.base, **self.values()}
        try:
            params = validate(self.schema, values, where=self.notebook)
        except ParameterError as exc:
            self.message.value = f"<span style='color:#b00'>{_escape(str(exc))}</span>"
            return None
        self.message.value = ""
        return params

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def build_controls(schema: Any, values: dict[str, Any], notebook: str, fleet: Any = None) -> Controls:
    """Controls for every non-secret field of ``schema``, starting from ``values`` (the parameters cell)."""
    base = schema.model_validate({k: v for k, v in values.items() if k in schema.model_fields}).model_dump()
    if fleet is None:
        try:
            from holoops.fleet import load_fleet

            fleet = load_fleet(base.get("fleet"))
        except Exception:
            fleet = None
    secrets = set(schema.secret_fields())
    widgets = {}
    for name in schema.model_fields:
        if name in secrets or name in HIDDEN:
            continue
        start = initial_value(notebook, name, base.get(name))
        widgets[name] = _widget_for(schema, name, start, fleet)
    return Controls(schema, notebook, base, widgets)
