"""Selectors for alert rules from what each service exports (the fleet profile's signal mapping).

For every service and signal the rule builder needs, :func:`service_signals` takes the candidate the
profile pins (``services.<name>.signals``, written by ``holoops fleet discover``), else the first candidate
of ``catalogs/signal_map.yaml`` (so the bundled demo profile renders the canonical names), and gives a
:class:`SignalSel` that renders PromQL for it:

* the metric name(s): an exact name, the service's ``counters`` that a glob/regex candidate matches
  (``{__name__=~"a|b"}``), or the candidate's own pattern;
* the service's label matchers (``Service.matchers``: ``match``, else ``{service: <name>}``), exact, with
  the values escaped;
* the source label names (``code`` may be ``status`` or ``http_response_status_code``; the first source
  label a candidate lists is used);
* the unit scale: thresholds and ``le`` bounds in the exported unit (ms histograms: ms).

What a rule needs and a service does not export raises :class:`NotBuilt` while the rule renders; the
builder leaves that rule out for that service and reports why (:class:`Notes`):

* a signal pinned as ``missing``;
* status codes from requests counters that carry none (``route_from_name`` per-route counters, or a
  candidate without a ``code`` label): no error-ratio rule;
* latency that is not a histogram (a summary, a pre-computed gauge);
* host-scoped signals (node_exporter disk) for a service not selected by a ``service`` label: node_exporter
  series carry the node job's labels, not the service's, and joining them by host is not expressible
  in a static rule without ``label_replace``; such disk rules are not built.

Latency SLOs use the exported ``le`` bounds (the candidate's pinned ``buckets``, else the catalog's
``signals.yaml`` buckets converted to the exported unit) matched exactly as Prometheus shows them, and
:func:`threshold_bucket` picks the bucket that stands for the threshold: **the smallest bound >= the
threshold** (requests in it count as good, so a threshold between two bounds is loosened up to the next
bound, never tightened; the build summary and the rule's annotations say which bound it is).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from holoops.errors import RuleError

#: the signals alert rules read (names of ``catalogs/signal_map.yaml``)
RULE_SIGNALS = ("requests", "latency", "cpu", "memory", "up", "restarts", "gpu_util", "gpu_mem_used",
                "gpu_mem_free", "disk_avail", "disk_size")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NO_CODE_HINT = "export them, or run holoops's access-log exporter"


class NotBuilt(Exception):  # noqa: N818 (a control-flow signal, not an error the user sees)
    """A rule reads something this service does not export: leave the rule out and say why."""

    def __init__(self, service: str, reason: str, what: str, hint: str = ""):
        self.service, self.reason, self.what, self.hint = service, reason, what, hint
        super().__init__(f"{service}: {reason}")


@dataclass
class Notes:
    """What the build left out (per service and reason, with the rules) and how SLOs read buckets."""

    skipped: dict[tuple[str, str, str, str], list[str]] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)        # service -> latency SLO bucket line

    def skip(self, exc: NotBuilt, rule: str) -> None:
        rules = self.skipped.setdefault((exc.service, exc.reason, exc.what, exc.hint), [])
        if rule not in rules:
            rules.append(rule)

    def lines(self) -> list[str]:
        out = []
        for (svc, reason, what, hint), rules in self.skipped.items():
            out.append(f"{svc}: {reason}; {what} not built: {', '.join(rules)}" + (f" ({hint})" if hint else ""))
        return out + list(self.buckets.values())

    def __str__(self) -> str:
        return "\n".join(self.lines())


# --- names and escaping --------------------------------------------------------------------------
def check_label_value(value: Any, service: str, what: str = "service name") -> str:
    """``value`` if it can be a Prometheus/Alertmanager label value, else RuleError naming the service.

    Any UTF-8 text without control characters is accepted (``"``, ``|``, ``.``, spaces are escaped where
    it is used); empty text, control characters (newline, tab, ...) and text that is not valid UTF-8
    (lone surrogates) are refused: Alertmanager's matchers and amtool cannot carry them, and they are
    almost always a profile mistake."""
    text = str(value)
    where = f"service {service!r}" + ("" if what == "service name" else f": {what} {text!r}")
    if not text:
        raise RuleError(f"{where} is empty; a label value for alerts needs at least one character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RuleError(f"{where} is not valid UTF-8 and cannot be a label value") from None
    if _CONTROL.search(text):
        raise RuleError(f"{where} contains a control character (newline, tab, ...) and cannot be a "
                        f"label value in alert rules and Alertmanager routes; rename it in the fleet profile")
    return text


def escape(value: Any) -> str:
    """A label value for a double-quoted PromQL / Alertmanager matcher string."""
    from holoops.sources.prometheus import escape_label_value

    return escape_label_value(value)


def matcher(label: str, op: str, value: str) -> str:
    return f'{label}{op}"{escape(value)}"'


def service_matchers(svc: Any) -> dict[str, str]:
    """The service's label matchers, checked: RuleError names the service and the bad label."""
    name = str(getattr(svc, "name", ""))
    check_label_value(name, name)
    m = getattr(svc, "matchers", None)
    matchers = dict(m) if m else {"service": name}
    for k, v in matchers.items():
        if not _LABEL_NAME.match(str(k)):
            raise RuleError(f"service {name!r}: match label {k!r} is not a valid Prometheus label name")
        check_label_value(v, name, f"match value for {k}")
    return {str(k): str(v) for k, v in matchers.items()}


# --- numbers and le bounds -----------------------------------------------------------------------
def _num(x: float) -> str:
    """A threshold as PromQL text: Python's float repr, as the catalog always rendered it."""
    return repr(float(f"{x:.12g}"))


def le_text(bound: Any) -> str:
    """How an ``le`` bound reads: strings as they are, floats as Python writes them, ints plainly."""
    if isinstance(bound, float):
        return "+Inf" if math.isinf(bound) and bound > 0 else repr(bound)
    return str(bound)


def le_value(text: str) -> float:
    return float(text)


def threshold_bucket(bounds: list[str], threshold: float) -> tuple[str, str]:
    """The ``le`` text that stands for ``threshold`` (same unit): the smallest finite bound >= it; when
    every finite bound is below it, the largest finite one. Returns ``(le, how)``, ``how`` in
    ``exact | next | below``."""
    finite = sorted((b for b in bounds if math.isfinite(le_value(b))), key=le_value)
    if not finite:
        raise ValueError("no finite bucket bound")
    for b in finite:
        v = le_value(b)
        if math.isclose(v, threshold, rel_tol=1e-9, abs_tol=1e-12):
            return b, "exact"
        if v > threshold:
            return b, "next"
    return finite[-1], "below"


# --- per-service signals -------------------------------------------------------------------------
@dataclass
class SignalSel:
    """One service's signal as the rules select it. Unavailable ones raise :class:`NotBuilt` on use."""

    service: str
    signal: str
    matchers: dict[str, str]
    candidate: Any = None            # holoops.signalmap.Candidate
    names: tuple[str, ...] = ()      # exact metric names (base names for histograms)
    pattern: str | None = None       # a __name__ regex when the names are not known
    missing: tuple[str, str, str] | None = None   # (reason, what, hint) when unavailable

    # -- availability
    def need(self) -> SignalSel:
        if self.missing:
            raise NotBuilt(self.service, *self.missing)
        return self

    @property
    def available(self) -> bool:
        return self.missing is None

    @property
    def has_code(self) -> bool:
        c = self.candidate
        return c is not None and not c.route_from_name and any(k == "code" for k, _ in c.labels)

    def label(self, canonical: str) -> str:
        """The source label name carrying ``canonical`` (the first one the candidate lists)."""
        self.need()
        if canonical == "code" and self.signal == "requests" and not self.has_code:
            raise NotBuilt(self.service, "requests carry no status code", "error-ratio alerts", NO_CODE_HINT)
        for k, srcs in self.candidate.labels:
            if k == canonical and srcs:
                return srcs[0]
        return canonical

    @property
    def scale(self) -> float:
        return float(self.need().candidate.scale or 1.0)

    @property
    def name(self) -> str:
        """A metric name to show in text (the first exported name, else the pattern)."""
        self.need()
        return self.names[0] if self.names else (self.candidate.name or self.candidate.glob or
                                                 self.candidate.regex or self.candidate.canonical)

    # -- rendering
    def __call__(self, suffix: str = "", regex: Mapping[str, str] | None = None, **eq: Any) -> str:
        """A selector: the metric (+ ``suffix`` such as ``_bucket``), the service's matchers, then the
        extra matchers (canonical label names, mapped to the source ones; ``regex`` ones with ``=~``)."""
        self.need()
        parts = [matcher(k, "=", v) for k, v in self.matchers.items()]
        for k, v in eq.items():
            parts.append(matcher(self.label(k), "=", str(v)))
        for k, v in (regex or {}).items():
            parts.append(matcher(self.label(k), "=~", str(v)))
        if len(self.names) == 1:
            return f"{self.names[0]}{suffix}{{{','.join(parts)}}}"
        from holoops.sources.prometheus import escape_regex

        if self.names:
            body = "|".join(escape_regex(n + suffix) for n in self.names)
        else:
            body = f"(?:{self.pattern}){escape_regex(suffix)}" if suffix else str(self.pattern)
        return "{" + ",".join([matcher("__name__", "=~", body), *parts]) + "}"

    def series(self, suffix: str = "", inst: int | str = 0, **labels: Any) -> str:
        """A promtool input series of this signal for the service's instance ``<service>-<inst>``."""
        self.need()
        name = self.fixture_name()
        lab = dict(self.matchers)
        lab.setdefault("instance", f"{self.service}-{inst}")
        for k, v in labels.items():
            lab[self.label(k)] = str(v)
        return f"{name}{suffix}{{" + ",".join(matcher(k, "=", v) for k, v in lab.items()) + "}"

    def fixture_name(self) -> str:
        if self.names:
            return self.names[0]
        c = self.candidate
        if c.base(c.canonical + ("_bucket" if c.kind == "histogram" else "")) is not None:
            return c.canonical
        raise NotBuilt(self.service, f"{self.signal} is matched by a pattern ({self.pattern}) and no "
                       f"metric name is known for a unit test", "unit tests",
                       "list the exported names under the service's counters, or pin the signal by name")

    # -- latency
    def buckets(self) -> tuple[list[str], str]:
        """The ``le`` texts of this histogram (exported unit) and where they come from."""
        self.need()
        c = self.candidate
        if c.buckets:
            return list(c.buckets), "pinned in the profile"
        from holoops.alerting.catalog import signal_names

        base = signal_names()["buckets"]
        if self.scale == 1.0:
            return [le_text(b) for b in base], "signals.yaml"
        out = []
        for b in base:
            if str(b) == "+Inf":
                out.append("+Inf")
                continue
            v = float(f"{float(b) / self.scale:.12g}")
            out.append(str(int(v)) if v.is_integer() else repr(v))
        return out, f"signals.yaml's in {self.unit}, a guess: pin the exported ones"

    def threshold(self, seconds: float) -> str:
        """A latency threshold in the exported unit, as PromQL text, for ``histogram_quantile`` rules:
        NotBuilt when no finite bucket bound lies above it (the quantile estimate never exceeds the
        largest finite bound, so the rule could never fire)."""
        value = seconds / self.scale
        top = self._top()
        if top is not None and le_value(top) <= value * (1 + 1e-9):
            raise NotBuilt(self.service, f"the latency threshold ({_num(value)} {self.unit}) is not below the "
                           f"largest finite bucket bound (le={top}), so a quantile estimate never exceeds it",
                           "latency alerts", "add bucket bounds above the threshold")
        return _num(seconds) if self.scale == 1.0 else _num(value)

    def _top(self) -> str | None:
        finite = [b for b in self.buckets()[0] if math.isfinite(le_value(b))]
        return max(finite, key=le_value) if finite else None

    def slo_bucket(self, seconds: float) -> tuple[str, str, str]:
        """``(le, how, source)``: the bound standing for the latency SLO threshold (see
        :func:`threshold_bucket`); NotBuilt when every finite bound is below the threshold."""
        bounds, source = self.buckets()
        value = seconds / self.scale
        try:
            le, how = threshold_bucket(bounds, value)
        except ValueError:
            raise NotBuilt(self.service, "the latency histogram has no finite bucket bound",
                           "latency SLO", "pin its buckets") from None
        if how == "below":
            raise NotBuilt(self.service, f"every finite bucket bound is below the latency threshold "
                           f"({_num(value)} {self.unit}; largest le={le})", "latency SLO",
                           "add bucket bounds at or above the threshold")
        return le, how, source

    @property
    def unit(self) -> str:
        s = self.scale
        return "s" if s == 1.0 else "ms" if math.isclose(s, 0.001) else "us" if math.isclose(s, 1e-6) \
            else f"x{s:g} s"


class ServiceSignals:
    """``s.requests``, ``s.latency``, ... for the templates; ``s["gpu_mem_used"]`` works too."""

    def __init__(self, service: str, matchers: dict[str, str], sels: dict[str, SignalSel]):
        self.service, self.matchers, self._sels = service, matchers, sels

    def __getattr__(self, key: str) -> SignalSel:
        try:
            return self.__dict__["_sels"][key]
        except KeyError:
            raise AttributeError(f"no signal {key!r}; known: {', '.join(RULE_SIGNALS)}") from None

    def __getitem__(self, key: str) -> SignalSel:
        return self._sels[key]

    def items(self):
        return self._sels.items()


def _pattern_body(c: Any) -> str:
    """A candidate's name pattern as an RE2 body (no anchors, no named groups, no histogram suffix)."""
    if c.regex:
        body = c.regex.lstrip("^").rstrip("$")
        return re.sub(r"\(\?P<\w+>", "(", body)
    if c.glob:
        from holoops.sources.prometheus import escape_regex

        return ".*".join(escape_regex(p) for p in c.glob.split("*"))
    from holoops.sources.prometheus import escape_regex

    return escape_regex(str(c.name))


def _host_scoped(matchers: dict[str, str]) -> bool:
    """Host-scoped series are selectable by the service's matchers only when it is selected by its
    ``service`` label (relabelling that puts it on every target of its hosts, as the demo fleet does)."""
    return set(matchers) == {"service"}


def service_signals(fleet: Any, name: str) -> ServiceSignals:
    """The signals of service ``name`` as rules select them (see the module docstring)."""
    from holoops.signalmap import candidates

    svc = fleet.services[name]
    matchers = service_matchers(svc)
    overrides = getattr(svc, "signals", None) or {}
    counters = list(getattr(svc, "counters", None) or [])
    sels: dict[str, SignalSel] = {}
    for signal in RULE_SIGNALS:
        spec = overrides.get(signal)
        sel = SignalSel(name, signal, matchers)
        if spec == "missing":
            sel.missing = (f"{signal} is pinned as missing in the profile", f"{_what(signal)}",
                           "export it, or pin where it comes from")
            sels[signal] = sel
            continue
        cands = candidates(signal, overrides)
        own = cands[: len(spec) if isinstance(spec, list) else 1] if spec else cands[:1]
        if not own:
            sel.missing = (f"no candidate for {signal}", _what(signal), "")
            sels[signal] = sel
            continue
        c = own[0]
        sel.candidate = c
        if c.match:  # the signal's series are selected by their own labels (a sidecar exporter's)
            sel.matchers = {k: check_label_value(v, name, f"signals.{signal}.match.{k}") for k, v in c.match}
        if len(own) > 1 and all(o.route_from_name and o.kind == c.kind for o in own):
            # several per-route counters pinned: one selector over all of them
            names = [o.name for o in own if o.name]
            if len(names) == len(own):
                sel.names = tuple(names)
            else:
                sel.pattern = "|".join(f"(?:{_pattern_body(o)})" for o in own)
        elif c.name:
            sel.names = (c.name,)
        else:
            suffix = "_bucket" if c.kind == "histogram" else ""
            hits = [m for m in counters if c.base(m + suffix) is not None]
            if hits:
                sel.names = tuple(hits)
            else:
                sel.pattern = _pattern_body(c)
        if signal == "latency" and c.kind != "histogram":
            sel.missing = (f"latency is a {c.kind} ({c.describe()}), not a histogram",
                           "latency alerts and the latency SLO",
                           "export a histogram, or pin one in the profile's signals.latency")
        if c.scope == "host" and not _host_scoped(matchers):
            shown = ",".join(matcher(k, "=", v) for k, v in matchers.items())
            sel.missing = (f"{signal} comes from {c.describe()} per host (scope: host), whose series do not "
                           f"carry the service's labels {{{shown}}}", _what(signal),
                           "pin a disk signal whose series carry them, or relabel the node's targets")
        sels[signal] = sel
    return ServiceSignals(name, matchers, sels)


def _what(signal: str) -> str:
    return {"requests": "request alerts", "latency": "latency alerts and the latency SLO",
            "disk_avail": "disk alerts", "disk_size": "disk alerts", "up": "availability alerts",
            "cpu": "CPU alerts", "restarts": "restart alerts"}.get(
        signal, "GPU alerts" if signal.startswith("gpu") else f"{signal} alerts")


def fleet_signals(fleet: Any) -> dict[str, ServiceSignals]:
    """:func:`service_signals` of every service (RuleError for a name that cannot be a label value)."""
    return {name: service_signals(fleet, name) for name in fleet.services}
