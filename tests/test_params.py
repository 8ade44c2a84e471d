"""Parameter schemas, in-kernel setup() and widgets, without starting kernels."""

from __future__ import annotations

import pytest

from holoops import params as P
from holoops.errors import ParameterError


def test_every_planned_notebook_has_a_schema():
    planned = {"diagnostics", "capacity_planning", "alerting_review", "error_analysis",
               "service_communication", "deployment_guide", "gpu_memory_pressure", "latency_regression",
               "disk_exhaustion", "error_burst", "dependency_outage"}
    assert planned <= set(P.SCHEMAS)
    assert P.schema_for("runbooks/disk_exhaustion.ipynb")().incident_kind == "disk_exhaustion"
    assert P.schema_for("x.ipynb", {"holoops": {"schema": "capacity_planning"}}) is P.CapacityParams
    with pytest.raises(ParameterError, match="no parameter schema named 'nope'"):
        P.schema_for("notebooks/nope.ipynb")


def test_unknown_parameter_names_it_and_the_allowed_ones():
    with pytest.raises(ParameterError) as err:
        P.parse_cli_params(P.DiagnosticsParams, [("no_such_param", "1")])
    assert "no_such_param" in str(err.value) and "demo_days" in str(err.value) and "engine" in str(err.value)


@pytest.mark.parametrize("name,value,expect", [
    ("demo_days", "abc", "expected int"),
    ("engine", "gpu", "'polars'"),
    ("service", "nope", "holographic-memory"),
    ("window", "7x", "window"),
    ("start", "yesterday", "start"),
])
def test_bad_values_name_parameter_and_allowed(name, value, expect):
    with pytest.raises(ParameterError) as err:
        P.parse_cli_params(P.DiagnosticsParams, [(name, value)])
    assert name in str(err.value) and expect in str(err.value)


def test_cli_values_are_coerced_per_schema():
    got = P.parse_cli_params(P.CapacityParams, [("demo_days", "3"), ("growth", "0.5"), ("fleet", "None"),
                                                ("service", "vault"), ("show_code", "True")],
                             yaml_text="horizon_days: 30")
    assert got == {"demo_days": 3, "growth": 0.5, "fleet": None, "service": "vault", "show_code": True,
                   "horizon_days": 30}
    assert P.parse_cli_params(P.DiagnosticsParams, raw=[("window", "2h")]) == {"window": "2h"}
    with pytest.raises(ParameterError, match="target_utilisation"):
        P.parse_cli_params(P.CapacityParams, [("target_utilisation", "1.5")])


def test_secret_values_never_in_error_messages():
    with pytest.raises(ParameterError) as err:
        P.validate(P.DiagnosticsParams, {"prometheus_token": 12345678901})
    assert "12345678901" not in str(err.value) and "prometheus_token" in str(err.value)
    assert "prometheus_token" in P.DiagnosticsParams.secret_fields()


def test_runbook_and_guide_fields():
    p = P.validate(P.SCHEMAS["error_burst"], {"around": "2026-11-08T14:00Z", "lookback": "1h"})
    start, end = p.incident_range()
    assert (start.hour, end.hour) == (13, 15) and p.allow_actions is False
    with pytest.raises(ParameterError, match="environment"):
        P.validate(P.DeploymentGuideParams, {"environment": "moon"})
    assert P.validate(P.DeploymentGuideParams, {"environment": "staging"}).platform == "kubernetes"
    doc = P.describe(P.CapacityParams)
    assert "growth" in doc and "horizon_days" in doc and "one of 'demo', 'exports', 'prometheus'" in doc


def test_setup_validates_again_and_configures_headless_plotly(monkeypatch):
    import plotly.graph_objects as go
    import plotly.io as pio

    from holoops.export import count_plotlyjs
    from holoops.notebook import setup

    monkeypatch.setattr(pio.renderers, "default", pio.renderers.default)
    g = {"demo_days": 2, "service": "router", "engine": "pandas", "holoops_notebook": "diagnostics"}
    hx = setup(g)
    assert hx.params.demo_days == 2 and hx.engine == "pandas" and hx.headless
    assert hx.fleet.name == "holographic-memory"
    first = go.Figure(go.Scatter(y=[1, 2]))._repr_mimebundle_()["text/html"]
    second = go.Figure(go.Scatter(y=[2, 1]))._repr_mimebundle_()["text/html"]
    # the kernel renders figures without plotly.js: the export writes one shared copy per reports folder
    assert count_plotlyjs(first) == 0 and count_plotlyjs(second) == 0
    assert "plotly-graph-div" in first and "plotly-graph-div" in second
    with pytest.raises(ParameterError, match="demo_days"):
        setup({"demo_days": "many", "holoops_notebook": "diagnostics"})


def test_widget_value_survives_rebuilding_its_cell():
    from holoops.widgets import build_controls, clear_store

    clear_store("nb-test")
    values = {"service": "all", "demo_days": 7, "engine": "auto", "prometheus_token": "hidden-token"}
    c = build_controls(P.DiagnosticsParams, values, notebook="nb-test")
    assert "prometheus_token" not in c.widgets  # secrets get no control
    assert "vault" in c.widgets["service"].options
    c.widgets["service"].value = "vault"
    c.widgets["demo_days"].value = 3
    again = build_controls(P.DiagnosticsParams, values, notebook="nb-test")  # the cell re-runs
    assert again.widgets["service"].value == "vault" and again.widgets["demo_days"].value == 3
    assert again.params().service == "vault"
    changed = build_controls(P.DiagnosticsParams, {**values, "demo_days": 14}, notebook="nb-test")
    assert changed.widgets["demo_days"].value == 14  # an edited parameters cell wins
    changed.widgets["demo_days"].value = 0  # invalid: message shown, params() None
    assert changed.params() is None and "demo_days" in changed.message.value
