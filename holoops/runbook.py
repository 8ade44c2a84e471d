"""Runbook machinery: ranked hypotheses, remediation actions behind a gate, and the incident record.

- :class:`Hypothesis` (name, score, evidence, service, cause) ranked by :func:`rank`.
- :class:`Action`: one remediation step as an exact argv (kubectl/systemctl/curl/docker), rendered from
  ``holoops/catalogs/actions.yaml`` with the fleet profile's namespace, service, port and health path.
- :class:`Runbook` runs actions through a gate: DRY-RUN by default; headless only with
  ``allow_actions=True``; interactively only after a confirmation checkbox and a button press.
- :class:`Record`: timeline, findings, hypotheses, every action taken or skipped (with its reason), and
  TTD/TTR. It displays itself and ``publish(hx)`` records it for the run history.

The executor is injectable: ``executor(argv, timeout_s) -> ExecResult``; the default runs ``subprocess``.
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ACTIONS_FILE = Path(__file__).parent / "catalogs" / "actions.yaml"


# --- hypotheses ---------------------------------------------------------------------------------
@dataclass
class Hypothesis:
    """A candidate explanation: ``score`` in [0, 1], the evidence for it, the service and the cause."""

    name: str
    score: float
    evidence: list[str] = field(default_factory=list)
    service: str | None = None
    cause: str = ""
    runbook: str | None = None


class Hypotheses(list):
    """Hypotheses, best first; displays as a table."""

    @property
    def best(self) -> Hypothesis | None:
        return self[0] if self else None

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{i}</td><td>{html.escape(h.name)}</td><td>{h.score:.2f}</td>"
            f"<td>{html.escape(h.service or '')}</td><td>{html.escape(h.cause)}</td>"
            f"<td><ul>{''.join(f'<li>{html.escape(e)}</li>' for e in h.evidence)}</ul></td></tr>"
            for i, h in enumerate(self, 1))
        return ("<table><tr><th>#</th><th>hypothesis</th><th>score</th><th>service</th><th>cause</th>"
                f"<th>evidence</th></tr>{rows}</table>")


def rank(hypotheses: list[Hypothesis]) -> Hypotheses:
    """Hypotheses sorted by score (best first; ties keep their order)."""
    return Hypotheses(sorted(hypotheses, key=lambda h: -h.score))


# --- actions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """One remediation step as the exact command it runs."""

    title: str
    argv: tuple[str, ...]
    why: str = ""
    service: str | None = None
    kind: str | None = None
    read_only: bool = False

    @property
    def command(self) -> str:
        """The shell-quoted command line."""
        return shlex.join(self.argv)

    def _repr_markdown_(self) -> str:
        return f"**{self.title}** — {self.why}\n\n```bash\n{self.command}\n```"


def _catalog(path: str | Path | None = None) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path or ACTIONS_FILE).read_text(encoding="utf-8"))


def actions_for(kind: str, service: str, fleet: Any = None, platform: str = "kubernetes",
                catalog: str | Path | None = None) -> list[Action]:
    """The remediation steps for an incident ``kind`` on ``service``, rendered from the fleet profile."""
    from holoops.errors import ParameterError

    if fleet is None:
        from holoops.fleet import load_fleet

        fleet = load_fleet()
    data = _catalog(catalog)
    kinds = data.get("kinds", {})
    if kind not in kinds:
        raise ParameterError(f"incident_kind {kind!r}: no actions; known: {', '.join(kinds)}")
    steps = kinds[kind].get(platform)
    if steps is None:
        raise ParameterError(f"platform {platform!r}: no actions for {kind}; known: {', '.join(kinds[kind])}")
    svc = fleet.service(service)
    values = {"namespace": fleet.namespace, "service": service, "port": svc.port, "health": svc.health,
              "replicas": svc.replicas, "replicas_up": svc.replicas + 1,
              "mount": svc.resources.disk.mount if svc.resources.disk else "/"}
    values["host"] = data.get("platforms", {}).get(platform, {}).get("host", "127.0.0.1").format(**values)
    return [Action(title=s["title"].format(**values), argv=tuple(str(a).format(**values) for a in s["argv"]),
                   why=s.get("why", "").format(**values), service=service, kind=kind,
                   read_only=bool(s.get("read_only", False))) for s in steps]


@dataclass(frozen=True)
class ExecResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


Executor = Callable[[list[str], float], ExecResult]


def subprocess_executor(argv: list[str], timeout_s: float) -> ExecResult:
    """Run ``argv`` (no shell) with a timeout; a missing program or a timeout is a failed result."""
    import subprocess

    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
        return ExecResult(p.returncode, p.stdout[-4000:], p.stderr[-4000:])
    except FileNotFoundError:
        return ExecResult(127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return ExecResult(124, "", f"timed out after {timeout_s:g}s")


# --- the record ---------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime | str | None) -> str | None:
    if t is None:
        return None
    from holoops.timeutil import parse_time

    return parse_time(t).isoformat()


@dataclass
class ActionLog:
    """What happened to one action: ran, failed, dry-run, pending or skipped, and why."""

    title: str
    command: str
    status: str
    reason: str
    at: str
    returncode: int | None = None
    output: str = ""


@dataclass
class Record:
    """The incident record: timeline, findings, hypotheses, actions, TTD and TTR."""

    kind: str
    service: str | None = None
    onset: str | None = None
    detected_at: str | None = None
    resolved_at: str | None = None
    timeline: list[tuple[str, str]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    hypotheses: list[Hypothesis] = field(default_factory=list)
    actions: list[ActionLog] = field(default_factory=list)

    def event(self, what: str, at: datetime | str | None = None) -> None:
        """Add a timeline entry (now when ``at`` is None)."""
        self.timeline.append((_iso(at) or _now().isoformat(), what))
        self.timeline.sort(key=lambda e: e[0])

    def mark(self, onset: Any = None, detected: Any = None, resolved: Any = None) -> None:
        """Set onset/detection/resolution times (also added to the timeline)."""
        for attr, value, text in (("onset", onset, "onset"), ("detected_at", detected, "detected"),
                                  ("resolved_at", resolved, "resolved")):
            if value is not None:
                setattr(self, attr, _iso(value))
                self.event(text, value)

    def _delta(self, later: str | None) -> float | None:
        if not (self.onset and later):
            return None
        from holoops.timeutil import parse_time

        return (parse_time(later) - parse_time(self.onset)).total_seconds()

    @property
    def ttd_s(self) -> float | None:
        """Time to detect: onset -> detected, seconds."""
        return self._delta(self.detected_at)

    @property
    def ttr_s(self) -> float | None:
        """Time to resolve: onset -> resolved, seconds."""
        return self._delta(self.resolved_at)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ttd_s"], d["ttr_s"] = self.ttd_s, self.ttr_s
        d["timeline"] = [list(e) for e in self.timeline]
        return d

    def publish(self, hx: Any) -> Record:
        """Record this incident (and TTD/TTR minutes) in the run history through ``hx.record``."""
        from holoops.redact import redact_obj

        hx.record("runbook", redact_obj(self.to_dict()))
        if self.ttd_s is not None:
            hx.record("ttd_minutes", round(self.ttd_s / 60, 2))
        if self.ttr_s is not None:
            hx.record("ttr_minutes", round(self.ttr_s / 60, 2))
        hx.record("actions_taken", sum(a.status == "ran" for a in self.actions))
        return self

    def _repr_html_(self) -> str:
        from holoops.redact import redact

        e = html.escape
        mins = lambda s: "-" if s is None else f"{s / 60:.1f} min"  # noqa: E731
        tl = "".join(f"<tr><td>{e(t)}</td><td>{e(w)}</td></tr>" for t, w in self.timeline)
        acts = "".join(f"<tr><td>{e(a.status)}</td><td>{e(a.title)}</td><td><code>{e(a.command)}</code></td>"
                       f"<td>{e(a.reason)}</td></tr>" for a in self.actions)
        fnd = "".join(f"<li>{e(f)}</li>" for f in self.findings)
        out = (f"<h3>Incident record: {e(self.kind)} on {e(self.service or '?')}</h3>"
               f"<p>onset {e(self.onset or '-')} · TTD {mins(self.ttd_s)} · TTR {mins(self.ttr_s)}</p>"
               f"<h4>Timeline</h4><table>{tl}</table><h4>Findings</h4><ul>{fnd}</ul>"
               f"<h4>Actions</h4><table><tr><th>status</th><th>step</th><th>command</th><th>why</th></tr>"
               f"{acts}</table>")
        return redact(out)


# --- the gate -----------------------------------------------------------------------------------
class Runbook:
    """Runs remediation actions through the gate and logs every one in ``record``.

    Headless: an action runs only when ``allow_actions`` is True, else it is logged as a dry-run.
    Interactive: :meth:`act` returns a confirmation widget; the action runs when the box is ticked and
    the button pressed. :meth:`finish` marks actions never confirmed as skipped.
    """

    def __init__(self, kind: str, service: str, *, fleet: Any = None, platform: str = "kubernetes",
                 allow_actions: bool = False, interactive: bool = False, executor: Executor | None = None,
                 timeout_s: float = 60.0, record: Record | None = None):
        self.kind, self.service, self.fleet, self.platform = kind, service, fleet, platform
        self.allow_actions, self.interactive = allow_actions, interactive
        self.executor = executor or subprocess_executor
        self.timeout_s = timeout_s
        self.record = record or Record(kind=kind, service=service)

    @classmethod
    def from_context(cls, hx: Any, service: str, **kw: Any) -> Runbook:
        """A runbook for the notebook's parameters (incident_kind, platform, allow_actions)."""
        p = hx.params
        return cls(p.incident_kind, service, fleet=hx.fleet, platform=p.platform,
                   allow_actions=p.allow_actions, interactive=hx.interactive, **kw)

    def actions(self) -> list[Action]:
        """The catalog's steps for this incident, rendered for this fleet."""
        return actions_for(self.kind, self.service, self.fleet, self.platform)

    def _log(self, action: Action, status: str, reason: str, result: ExecResult | None = None) -> ActionLog:
        from holoops.redact import redact

        entry = ActionLog(action.title, action.command, status, reason, _now().isoformat(),
                          None if result is None else result.returncode,
                          "" if result is None else redact((result.stdout + result.stderr).strip()[-2000:]))
        self.record.actions.append(entry)
        self.record.event(f"action {status}: {action.title}")
        return entry

    def execute(self, action: Action, reason: str) -> ActionLog:
        """Run ``action`` now (no gate) and log the outcome."""
        result = self.executor(list(action.argv), self.timeout_s)
        return self._log(action, "ran" if result.returncode == 0 else "failed",
                         reason if result.returncode == 0 else f"exit {result.returncode}", result)

    def act(self, action: Action) -> Any:
        """Pass ``action`` through the gate: an ActionLog headless, a confirmation widget interactively."""
        if self.interactive:
            return ActionGate(self, action)
        if not self.allow_actions:
            return self._log(action, "dry-run", "allow_actions=False: shown, not executed")
        return self.execute(action, "allow_actions=True")

    def remediate(self, actions: list[Action] | None = None) -> list[Any]:
        """:meth:`act` on every action (default: all of :meth:`actions`)."""
        return [self.act(a) for a in (self.actions() if actions is None else actions)]

    def finish(self, resolved: Any = None) -> Record:
        """Close the record: unconfirmed actions become 'skipped'; optional resolution time."""
        for entry in self.record.actions:
            if entry.status == "pending":
                entry.status, entry.reason = "skipped", "not confirmed by the operator"
        if resolved is not None:
            self.record.mark(resolved=resolved)
        return self.record


class ActionGate:
    """A command, a confirmation checkbox and a Run button (disabled until confirmed)."""

    def __init__(self, runbook: Runbook, action: Action):
        import ipywidgets as w

        self.runbook, self.action = runbook, action
        self.entry = runbook._log(action, "pending", "awaiting confirmation")
        self.confirm = w.Checkbox(value=False, indent=False, description=f"I confirm: run {action.title}")
        self.button = w.Button(description="Run", button_style="danger", disabled=True, icon="play")
        self.status = w.HTML(f"<code>{html.escape(action.command)}</code>")
        self.confirm.observe(lambda ch: setattr(self.button, "disabled", not ch["new"]), names="value")
        self.button.on_click(lambda _b: self.run())
        self.box = w.VBox([w.HTML(f"<b>{html.escape(action.title)}</b> — {html.escape(action.why)}"),
                           self.status, w.HBox([self.confirm, self.button])])

    def run(self) -> ActionLog | None:
        """Run the action if confirmed (and not already run); None otherwise."""
        if not self.confirm.value or self.entry.status != "pending":
            return None
        self.runbook.record.actions.remove(self.entry)
        self.entry = self.runbook.execute(self.action, "confirmed by the operator")
        self.button.disabled = True
        self.status.value += f" → {html.escape(self.entry.status)}"
        return self.entry

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)
