"""The fleet profile: services, ports, health endpoints, dependencies, SLOs and resource limits.

A profile is YAML (see ``holoops/fleets/holographic-memory.yaml``, the bundled default). ``load_fleet``
validates it strictly: an unknown key, a missing key or a bad value raises
:class:`~holoops.errors.FleetProfileError` naming the dotted key at fault, e.g.
``services.vault.slo.availability``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from holoops.errors import FleetProfileError
from holoops.timeutil import parse_duration

DEFAULT_PROFILE = Path(__file__).parent / "fleets" / "holographic-memory.yaml"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T)?B?\s*$")
_SIZE_FACTOR = {None: 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def parse_bytes(text: str | int | float) -> int:
    """``"512Mi"`` -> 536870912. Kubernetes quantity suffixes (Ki, Mi, Gi, Ti, K, M, G, T)."""
    if isinstance(text, (int, float)):
        return int(text)
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"not a size like '512Mi' or '10Gi': {text!r}")
    return int(float(m.group(1)) * _SIZE_FACTOR[m.group(2)])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LatencySLO(_Strict):
    quantile: float = Field(gt=0, lt=1)
    threshold_ms: float = Field(gt=0)


class SLO(_Strict):
    availability: float = Field(gt=0, lt=1, description="target share of good requests, e.g. 0.999")
    latency: LatencySLO | None = None


class CPU(_Strict):
    request: float = Field(gt=0)
    limit: float = Field(gt=0)


class Memory(_Strict):
    request: str
    limit: str

    @field_validator("request", "limit")
    @classmethod
    def _size(cls, v: str) -> str:
        parse_bytes(v)
        return v

    @property
    def limit_bytes(self) -> int:
        return parse_bytes(self.limit)

    @property
    def request_bytes(self) -> int:
        return parse_bytes(self.request)


class GPU(_Strict):
    count: int = Field(ge=1)
    model: str
    memory: str

    @field_validator("memory")
    @classmethod
    def _size(cls, v: str) -> str:
        parse_bytes(v)
        return v

    @property
    def memory_bytes(self) -> int:
        return parse_bytes(self.memory)


class Disk(_Strict):
    mount: str
    size: str

    @field_validator("size")
    @classmethod
    def _size(cls, v: str) -> str:
        parse_bytes(v)
        return v

    @property
    def size_bytes(self) -> int:
        return parse_bytes(self.size)


class Resources(_Strict):
    cpu: CPU
    memory: Memory
    gpu: GPU | None = None
    disk: Disk | None = None


class Service(_Strict):
    """One service of the fleet, as an operator knows it."""

    name: str = ""
    description: str = ""
    image: str | None = None
    port: int = Field(ge=1, le=65535)
    health: str = Field(pattern=r"^/")
    metrics_path: str = Field(default="/metrics", pattern=r"^/")
    replicas: int = Field(default=1, ge=1)
    depends_on: list[str] = Field(default_factory=list)
    routes: list[str] = Field(default_factory=list)
    counters: list[str] = Field(default_factory=list)
    replica_capacity_rps: float | None = Field(default=None, gt=0)
    slo: SLO
    resources: Resources
    #: label matchers that select this service's series in Prometheus (alert rules and queries use them);
    #: default ``{service: <name>}``. ``holoops fleet discover`` writes e.g. ``{job: holographic-memory}``.
    match: dict[str, str] = Field(default_factory=dict)
    #: other names this service has in the data (Prometheus ``job``, a Kubernetes app label, ...)
    aliases: list[str] = Field(default_factory=list)
    #: where each signal comes from, pinned (``holoops fleet discover`` writes it): signal -> a
    #: candidate (``{name|glob|regex, kind, labels, scale, ...}``, see catalogs/signal_map.yaml), a list
    #: of them, or ``missing``. Signals not listed are found through the catalog.
    signals: dict[str, Any] = Field(default_factory=dict)
    #: log files of this service (access logs give status codes and latency when metrics lack them)
    logs: list[str] = Field(default_factory=list)

    @field_validator("signals")
    @classmethod
    def _signals(cls, v: dict[str, Any]) -> dict[str, Any]:
        from holoops.signalmap import Candidate, signal_names

        known = signal_names()
        for signal, spec in v.items():
            if signal not in known:
                raise ValueError(f"unknown signal {signal!r}; known: {', '.join(known)}")
            if spec == "missing":
                continue
            for s in spec if isinstance(spec, list) else [spec]:
                if not isinstance(s, dict):
                    raise ValueError(f"signal {signal!r}: expected a mapping, a list of them or 'missing'")
                Candidate.from_spec(signal, s)
        return v

    @property
    def matchers(self) -> dict[str, str]:
        """Label matchers selecting this service's series (``match``, else ``{service: name}``)."""
        return dict(self.match) or {"service": self.name}

    @property
    def names(self) -> list[str]:
        """Every name the data may call this service by: its own, ``aliases`` and a matched job/service."""
        extra = [v for k, v in self.match.items() if k in ("job", "service")]
        return list(dict.fromkeys([self.name, *self.aliases, *extra]))

    @property
    def uses_gpu(self) -> bool:
        return self.resources.gpu is not None


class Environment(_Strict):
    replicas_scale: float = Field(default=1.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    tls: bool = True


class FleetProfile(_Strict):
    """A validated fleet profile. ``services`` keeps the file's order."""

    name: str
    description: str = ""
    namespace: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    image_registry: str | None = None
    environments: dict[str, Environment] = Field(default_factory=lambda: {"production": Environment()})
    slo_window: str = "30d"
    services: dict[str, Service] = Field(min_length=1)

    @field_validator("slo_window")
    @classmethod
    def _window(cls, v: str) -> str:
        parse_duration(v)
        return v

    @model_validator(mode="before")
    @classmethod
    def _name_services(cls, data):
        if isinstance(data, dict) and isinstance(data.get("services"), dict):
            data = dict(data)
            data["services"] = {
                k: ({**v, "name": k} if isinstance(v, dict) else v) for k, v in data["services"].items()
            }
        return data

    @model_validator(mode="after")
    def _check_dependencies(self):
        for name, svc in self.services.items():
            for i, dep in enumerate(svc.depends_on):
                if dep not in self.services:
                    raise _KeyProblem(f"services.{name}.depends_on.{i}",
                                      f"unknown service {dep!r}; known: {', '.join(self.services)}")
        return self

    # --- what operators ask of a profile -------------------------------------------------------
    @property
    def slo_window_seconds(self) -> int:
        return int(parse_duration(self.slo_window))

    def service(self, name: str) -> Service:
        """The service called ``name``; a clear error listing the known ones otherwise."""
        try:
            return self.services[name]
        except KeyError:
            raise FleetProfileError(self.name, f"services.{name}",
                                    f"no such service; known: {', '.join(self.services)}") from None

    @cached_property
    def edges(self) -> list[tuple[str, str]]:
        """(caller, callee) pairs from ``depends_on``."""
        return [(s, d) for s, svc in self.services.items() for d in svc.depends_on]

    def upstream(self, name: str) -> list[str]:
        """Services that call ``name`` (directly)."""
        return [a for a, b in self.edges if b == name]

    def downstream(self, name: str) -> list[str]:
        """Services ``name`` calls (directly)."""
        return list(self.service(name).depends_on)

    @property
    def gpu_services(self) -> list[str]:
        return [n for n, s in self.services.items() if s.uses_gpu]


class _KeyProblem(ValueError):
    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class _Located:
    text: str
    source: str


def _first_error(err: ValidationError) -> tuple[str, str]:
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"])
    ctx = e.get("ctx", {}) or {}
    if isinstance(ctx.get("error"), _KeyProblem):
        kp = ctx["error"]
        return kp.key, kp.problem
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key (typo?)"
    elif e["type"] == "missing":
        msg = "required key is missing"
    return key, msg


def parse_fleet(data: dict, source: str = "<profile>") -> FleetProfile:
    """Validate a profile already loaded as a dict. Raises FleetProfileError naming the key."""
    if not isinstance(data, dict):
        raise FleetProfileError(source, "(top level)", f"expected a mapping, found {type(data).__name__}")
    try:
        return FleetProfile.model_validate(data)
    except ValidationError as err:
        key, msg = _first_error(err)
        raise FleetProfileError(source, key, msg) from None


def load_fleet(path: str | Path | None = None) -> FleetProfile:
    """Load and validate a fleet profile; ``None`` loads the bundled HolographicMemory profile."""
    import yaml

    p = Path(path) if path is not None else DEFAULT_PROFILE
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetProfileError(str(p), "(file)", f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise FleetProfileError(str(p), where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_fleet(data, str(p))
