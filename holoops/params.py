"""Parameter schemas: one pydantic model per notebook, found by the notebook's file stem.

``SCHEMAS["diagnostics"] = DiagnosticsParams`` and so on. The same schema checks parameters twice: in
``holoops run`` before any kernel starts (:func:`validate`, :func:`parse_cli_params`) and in the kernel
(``holoops.notebook.setup``). A schema is extensible: subclass it or add fields; a field marked
``secret=True`` (``Field(json_schema_extra={"secret": True})``) is redacted everywhere it could be written.

Validation errors are :class:`~holoops.errors.ParameterError` naming the parameter and what it accepts.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from holoops.errors import FleetProfileError, ParameterError
from holoops.timeutil import DURATION_FORMS, TIME_FORMS, Window, parse_duration, parse_time, parse_timedelta

EngineName = Literal["auto", "pandas", "polars", "cudf", "dask"]
Level = Literal["info", "warning", "critical"]
IncidentKind = Literal["gpu_memory_exhaustion", "latency_regression", "disk_exhaustion", "error_burst",
                       "dependency_outage"]
_WINDOW = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+$")
#: parameters ``holoops run`` injects for the kernel's own use; never part of a schema
RESERVED = ("holoops_notebook",)


def secret(default: Any = None, description: str = "") -> Any:
    """A field whose value is a secret: never shown, redacted in every output."""
    return Field(default, description=description, json_schema_extra={"secret": True})


def _check_window(v: Any) -> str:
    text = str(v).strip()
    if not _WINDOW.match(text):
        raise ValueError(f"not {DURATION_FORMS}")
    parse_duration(text)
    return text


def _check_time(v: Any) -> str | None:
    """An absolute ISO time, resolved once here (``now``/``-6h`` become the time of validation)."""
    if v is None:
        return None
    try:
        return parse_time(v).isoformat()
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"not {TIME_FORMS}") from None


def _nearest(name: str, known: list[str]) -> str:
    """``"; did you mean 'vault'?"`` when a known name is close to ``name``."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_logs(v: Any) -> list[str] | None:
    """``logs``: a path, a comma-separated string of paths, or a list; each ``[SERVICE=]PATH``."""
    if v is None or v == "" or v == []:
        return None
    items = [x.strip() for x in v.split(",")] if isinstance(v, str) else [str(x).strip() for x in v]
    return [x for x in items if x] or None


class NotebookParams(BaseModel):
    """Fields every notebook takes. Unknown names are refused (``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    source: str = Field("demo", description="where data comes from: 'demo' (the simulated fleet), "
                                            "'prometheus' (live), 'exports' (a folder of exported files), or "
                                            "any source registered with holoops.sources.register_source",
                        json_schema_extra={"choices_from": "holoops.sources:source_names"})
    prometheus_url: str | None = Field(None, description="Prometheus base URL (source=prometheus); credentials "
                                                         "in it are moved out of the URL, never written out")
    prometheus_token: str | None = secret(None, "bearer token for Prometheus; prefer env "
                                                "HOLOOPS_PROM_TOKEN")
    exports_path: str | None = Field(None, description="folder of exported files (source=exports)")
    logs: list[str] | None = Field(None, description="log files or folders read beside a live source "
                                                      "(access logs give status codes and latency): "
                                                      "'PATH' or 'SERVICE=PATH', comma-separated")
    cache: bool = Field(True, description="reuse cached Prometheus results (a stale copy is used, and "
                                          "says so, when Prometheus is unreachable)")
    fleet: str | None = Field(None, description="fleet profile YAML; None = the bundled profile")
    window: str = Field("7d", description="time span ending at `end` (or now), e.g. 1h, 7d, 2w")
    start: str | None = Field(None, description="start time (UTC): ISO, 'now' or relative like -6h; "
                                                "overrides `window`")
    end: str | None = Field(None, description="end time (UTC): ISO, 'now' or relative like -1h; "
                                              "default: end of the data / now")
    service: str = Field("all", description="a service of the fleet profile, or 'all'")
    engine: EngineName = Field("auto", description="dataframe engine")
    demo_days: int = Field(7, ge=1, le=90, description="days simulated (source=demo)")
    demo_seed: int = Field(7, description="random seed of the demo fleet (source=demo)")
    min_level: Level = Field("warning", description="lowest finding level reported and notified")
    show_code: bool = Field(False, description="keep code cells in the exported report")
    interactive: bool | None = Field(None, description="widgets on/off; None = auto (off under papermill)")

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        return _check_window(v)

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        return _check_time(v)

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        from holoops.sources import source_names

        names = source_names()
        if v not in names:
            raise ValueError(f"not one of {', '.join(repr(n) for n in names)}{_nearest(v, names)}")
        return v

    @field_validator("logs", mode="before")
    @classmethod
    def _logs(cls, v: Any) -> list[str] | None:
        return _check_logs(v)

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        from holoops.sources.auth import stash_url_credentials

        return stash_url_credentials(v)

    @model_validator(mode="after")
    def _check(self):
        if self.source == "prometheus" and not self.prometheus_url:
            raise ValueError("prometheus_url: required when source='prometheus'")
        if self.source == "exports" and not self.exports_path:
            raise ValueError("exports_path: required when source='exports'")
        if self.start and self.end and parse_time(self.start) >= parse_time(self.end):
            raise ValueError("start: must be before end")
        if self.service != "all":
            names = self.load_fleet().services
            if self.service not in names:
                raise ValueError(f"service: unknown service {self.service!r}; allowed: all, "
                                 f"{', '.join(names)}{_nearest(self.service, list(names))}")
        return self

    # --- helpers notebooks use ---------------------------------------------------------------
    def load_fleet(self):
        """The validated fleet profile this run uses."""
        from holoops.fleet import load_fleet

        try:
            return load_fleet(self.fleet)
        except FleetProfileError as exc:
            raise ValueError(f"fleet: {exc}") from None

    def resolve_window(self, data_end: Any = None, data_start: Any = None) -> Window:
        """The analysis window, resolved once: explicit start/end win; else ``window`` ending at
        end/the data's end/now (never starting before the data when ``data_start`` is given)."""
        return Window.resolve(self.start, self.end, self.window, data_end=data_end,
                              data_start=None if self.start else data_start)

    def time_range(self, data_end: datetime | None = None) -> tuple[datetime, datetime]:
        """(start, end) in UTC of :meth:`resolve_window`."""
        w = self.resolve_window(data_end)
        return w.start, w.end

    @classmethod
    def secret_fields(cls) -> list[str]:
        """Names of fields marked secret, or whose name looks like a secret."""
        from holoops.redact import is_secret_name

        return [n for n, f in cls.model_fields.items()
                if (isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("secret"))
                or is_secret_name(n)]


class DiagnosticsParams(NotebookParams):
    """notebooks/diagnostics: golden signals, SLOs, anomalies across the fleet."""

    top_n: int = Field(10, ge=1, description="how many anomalies/patterns to list")


class CapacityParams(NotebookParams):
    """notebooks/capacity_planning: growth scenarios against resource limits."""

    window: str = Field("14d", description="history used for the trend, e.g. 14d")
    demo_days: int = Field(14, ge=1, le=90, description="days simulated (source=demo)")
    growth: float = Field(0.3, gt=-1, le=100, description="extra load to plan for, 0.3 = +30 %")
    horizon_days: int = Field(90, ge=1, le=3650, description="planning horizon in days")
    target_utilisation: float = Field(0.7, gt=0, le=1, description="utilisation to stay under (0-1]")


class AlertingReviewParams(NotebookParams):
    """notebooks/alerting_review: alert rules replayed over history (noise, misses)."""

    rules_path: str | None = Field(None, description="alert rules YAML; None = bundled catalog")


class ErrorAnalysisParams(NotebookParams):
    """notebooks/error_analysis: error classes and log patterns."""

    top_n: int = Field(10, ge=1, description="how many error classes/patterns to list")


class ServiceCommunicationParams(NotebookParams):
    """notebooks/service_communication: traces, call graph, retries, payloads."""

    trace_sample: float = Field(1.0, gt=0, le=1, description="share of traces analysed")


class DeploymentGuideParams(NotebookParams):
    """notebooks/deployment_guide: a deployment guide generated from the fleet profile."""

    environment: str = Field("production", description="an environment of the fleet profile")
    platform: Literal["kubernetes", "compose", "systemd"] = Field(
        "kubernetes", description="target platform of the guide")

    @model_validator(mode="after")
    def _env(self):
        envs = self.load_fleet().environments
        if self.environment not in envs:
            raise ValueError(f"environment: unknown environment {self.environment!r}; "
                             f"allowed: {', '.join(envs)}")
        return self


class RunbookParams(NotebookParams):
    """Common to runbooks/: the incident window and the action gate."""

    window: str = Field("2h", description="lookback before `around`/`end` when no onset is given")
    incident_kind: IncidentKind = Field("error_burst", description="the incident this runbook handles")
    onset: str | None = Field(None, description="ISO time the incident began, if known")
    around: str | None = Field(None, description="ISO time near the incident (alert time); "
                                                 "searched with `lookback` before it")
    lookback: str = Field("2h", description="how far before `around` to look, e.g. 2h")
    allow_actions: bool = Field(False, description="headless: run remediation actions (else dry-run)")
    platform: Literal["kubernetes", "systemd", "docker"] = Field("kubernetes",
                                                                  description="how services are run")
    action_executor: Literal["subprocess", "record"] = Field(
        "subprocess", description="how allowed actions run: 'subprocess' (the real command) or 'record' "
                                  "(append the argv as a JSON line to `action_log`; runs nothing)")
    action_log: str | None = Field(None, description="file the 'record' executor appends to "
                                                     "(default: env HOLOOPS_ACTION_LOG or holoops-actions.jsonl)")

    @field_validator("onset", "around")
    @classmethod
    def _time2(cls, v: str | None) -> str | None:
        return _check_time(v)

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, v: str) -> str:
        return _check_window(v)

    def incident_range(self, data_end: datetime | None = None) -> tuple[datetime, datetime]:
        """The window searched for the incident: onset..end, or around-lookback..around+lookback."""
        if self.onset:
            start = parse_time(self.onset)
            end = parse_time(self.end) if self.end else start + parse_timedelta(self.lookback) * 2
            return start, end
        if self.around:
            at = parse_time(self.around)
            return at - parse_timedelta(self.lookback), at + parse_timedelta(self.lookback)
        return self.time_range(data_end)


def _runbook(kind: str, doc: str) -> type[RunbookParams]:
    cls = type(f"{''.join(w.title() for w in kind.split('_'))}Params", (RunbookParams,), {
        "__doc__": doc, "__module__": __name__,
        "__annotations__": {"incident_kind": IncidentKind},
        "incident_kind": Field(kind, description="the incident this runbook handles"),
    })
    return cls


GpuMemoryPressureParams = _runbook("gpu_memory_exhaustion", "runbooks/gpu_memory_pressure")
LatencyRegressionParams = _runbook("latency_regression", "runbooks/latency_regression")
DiskExhaustionParams = _runbook("disk_exhaustion", "runbooks/disk_exhaustion")
ErrorBurstParams = _runbook("error_burst", "runbooks/error_burst")
DependencyOutageParams = _runbook("dependency_outage", "runbooks/dependency_outage")

#: notebook file stem -> schema. Add entries (or call :func:`register_schema`) for new notebooks.
SCHEMAS: dict[str, type[NotebookParams]] = {
    "diagnostics": DiagnosticsParams,
    "capacity_planning": CapacityParams,
    "alerting_review": AlertingReviewParams,
    "error_analysis": ErrorAnalysisParams,
    "service_communication": ServiceCommunicationParams,
    "deployment_guide": DeploymentGuideParams,
    "gpu_memory_pressure": GpuMemoryPressureParams,
    "latency_regression": LatencyRegressionParams,
    "disk_exhaustion": DiskExhaustionParams,
    "error_burst": ErrorBurstParams,
    "dependency_outage": DependencyOutageParams,
}


def register_schema(name: str, schema: type[NotebookParams]) -> type[NotebookParams]:
    """Register ``schema`` for notebooks whose stem (or metadata ``holoops.schema``) is ``name``."""
    SCHEMAS[name] = schema
    return schema


def schema_name(notebook: str | Path, metadata: dict | None = None) -> str:
    """The registry key of a notebook: its metadata ``holoops.schema`` if set, else its file stem."""
    meta = (metadata or {}).get("holoops", {}) if isinstance(metadata, dict) else {}
    return str(meta.get("schema") or Path(str(notebook)).stem)


def schema_for(notebook: str | Path, metadata: dict | None = None) -> type[NotebookParams]:
    """The schema of a notebook (by metadata ``holoops.schema`` or stem); ParameterError if none."""
    name = schema_name(notebook, metadata)
    try:
        return SCHEMAS[name]
    except KeyError:
        raise ParameterError(f"{notebook}: no parameter schema named {name!r}; known: "
                             f"{', '.join(sorted(SCHEMAS))} (set notebook metadata holoops.schema)") from None


# --- validation -------------------------------------------------------------------------------
def _describe_type(schema: type[NotebookParams], name: str) -> str:
    field = schema.model_fields[name]
    ann = field.annotation
    allowed = _literal_values(ann)
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("choices_from"):  # choices from a registry (e.g. the registered sources)
        import importlib

        mod, _, fn = str(extra["choices_from"]).partition(":")
        allowed = tuple(getattr(importlib.import_module(mod), fn)())
    if allowed:
        return "one of " + ", ".join(repr(a) for a in allowed)
    text = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
    limits = [f"{k} {getattr(m, k)}" for m in field.metadata for k in ("gt", "ge", "lt", "le")
              if getattr(m, k, None) is not None]
    return text + (f" ({', '.join(limits)})" if limits else "")


def _literal_values(ann: Any) -> tuple:
    if get_origin(ann) is Literal:
        return get_args(ann)
    for a in get_args(ann):
        vals = _literal_values(a)
        if vals:
            return vals + ((None,) if type(None) in get_args(ann) else ())
    return ()


def _error(schema: type[NotebookParams], err: ValidationError, where: str) -> ParameterError:
    def form(name: str) -> str | None:
        """What the field's own validators accept ("a duration like ..."), asked with a value no form takes."""
        for dec in schema.__pydantic_decorators__.field_validators.values():
            if name in dec.info.fields:
                try:
                    dec.func("\x00")
                except ValueError as exc:
                    text = str(exc).split(": '", 1)[0]
                    if text.startswith("not "):
                        return text.removeprefix("not ")
                except Exception:  # noqa: BLE001 - a validator that needs more than a value: no form
                    continue
        return None

    lines = []
    for e in err.errors():
        name = str(e["loc"][0]) if e["loc"] else ""
        if e["type"] == "extra_forbidden":
            hint = _nearest(name, list(schema.model_fields))
            lines.append(f"unknown parameter {name!r}{hint}{' ' if hint else '; '}"
                         f"allowed: {', '.join(schema.model_fields)}")
        elif name in schema.model_fields:
            shown = "***" if name in schema.secret_fields() else repr(e.get("input"))
            own = str(e.get("ctx", {}).get("error", "")) if e["type"] == "value_error" else ""
            expected = own.removeprefix("not ") if own.startswith("not ") else (
                form(name) or re.sub(r"^bool\b", "true or false",
                                     _describe_type(schema, name).replace("bool | None", "true, false or None")))
            lines.append(f"parameter {name!r}: bad value {shown}: expected {expected}")
        else:
            msg = str(e.get("ctx", {}).get("error", e["msg"])).removeprefix("Value error, ")
            lines.append(msg)
    return ParameterError(f"{where}: " + "; ".join(dict.fromkeys(lines)))


def validate(schema: type[NotebookParams], values: dict[str, Any], where: str = "parameters") -> NotebookParams:
    """Validate ``values`` against ``schema``; ParameterError naming each bad or unknown parameter."""
    values = {k: v for k, v in values.items() if k not in RESERVED}
    try:
        return schema.model_validate(values)
    except ValidationError as err:
        raise _error(schema, err, where) from None


def coerce(schema: type[NotebookParams], name: str, raw: str) -> Any:
    """Turn a command-line string into a value for ``name`` (pydantic then validates it)."""
    field = schema.model_fields.get(name)
    if field is None:
        return raw
    ann = field.annotation
    args = get_args(ann)
    if raw in ("None", "null", "~") and (ann is type(None) or type(None) in args):
        return None
    if ann is str or (str in args and not _literal_values(ann)):
        return raw
    if ann in (list, dict) or get_origin(ann) in (list, dict) or any(get_origin(a) in (list, dict) for a in args):
        import yaml

        return yaml.safe_load(raw)
    return raw


def parse_cli_params(schema: type[NotebookParams], params: list[tuple[str, str]] | None = None,
                     raw: list[tuple[str, str]] | None = None, yaml_text: str | None = None,
                     yaml_files: list[str] | None = None, where: str = "parameters") -> dict[str, Any]:
    """papermill's conventions (``-f`` file, ``-y`` yaml, ``-p`` name value, ``-r`` raw) coerced per schema.

    Returns the overrides only, JSON-safe and validated, ready to inject. Raises ParameterError.
    """
    import yaml

    values: dict[str, Any] = {}
    for f in yaml_files or []:
        values.update(yaml.safe_load(Path(f).read_text(encoding="utf-8")) or {})
    if yaml_text:
        values.update(yaml.safe_load(yaml_text) or {})
    for name, value in params or []:
        values[name] = coerce(schema, name, value)
    for name, value in raw or []:
        values[name] = value
    model = validate(schema, values, where)
    dumped = model.model_dump(mode="json")
    return {k: dumped[k] for k in values if k in dumped}


def describe(schema: type[NotebookParams]) -> str:
    """Parameter documentation: name, type/allowed values, default, description."""
    rows = []
    secrets = schema.secret_fields()
    for name, field in schema.model_fields.items():
        default = "***" if name in secrets and field.default else repr(field.default)
        rows.append((name, _describe_type(schema, name), default, field.description or ""))
    w0 = max(len(r[0]) for r in rows)
    w1 = min(max(len(r[1]) for r in rows), 48)
    out = [f"{(schema.__doc__ or schema.__name__).strip().splitlines()[0]}", ""]
    out.append(f"{'name':<{w0}}  {'type / allowed':<{w1}}  default")
    for name, typ, default, desc in rows:
        out.append(f"{name:<{w0}}  {typ:<{w1}}  {default}")
        if desc:
            out.append(f"{'':<{w0}}    {desc}")
    return "\n".join(out)
