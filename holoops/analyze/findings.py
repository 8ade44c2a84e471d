"""Findings: what an analysis concluded, with severity, evidence and a runbook link.

A :class:`Findings` collection is a list that renders as an HTML table in notebooks.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_COLOUR = {"info": "#3b82f6", "warning": "#f59e0b", "critical": "#dc2626"}

__all__ = ["Finding", "Findings", "Severity", "SEVERITIES", "severity_rank"]


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for critical."""
    if severity not in _RANK:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    return _RANK[severity]


@dataclass
class Finding:
    """One conclusion: ``severity`` (info/warning/critical), the ``service``, a ``kind`` (e.g.
    ``incident``, ``anomaly``, ``change_point``, ``slo_burn``), the ``onset`` (UTC), a one-line
    ``summary``, ``evidence`` (facts behind it) and a ``runbook`` link."""

    severity: Severity
    service: str
    kind: str
    onset: datetime | None
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    runbook: str | None = None

    def __post_init__(self) -> None:
        severity_rank(self.severity)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Findings(list):
    """A list of :class:`Finding` that displays itself as a table (worst first when sorted)."""

    def __init__(self, items: Iterable[Finding] = ()):
        super().__init__(items)

    def sorted(self) -> Findings:
        """Worst severity first, then earliest onset."""
        def key(f: Finding):
            onset = f.onset.timestamp() if f.onset is not None else float("inf")
            return (-severity_rank(f.severity), onset)
        return Findings(sorted(self, key=key))

    def at_least(self, severity: str) -> Findings:
        """Only findings of ``severity`` or worse."""
        r = severity_rank(severity)
        return Findings(f for f in self if severity_rank(f.severity) >= r)

    def by_service(self, service: str) -> Findings:
        return Findings(f for f in self if f.service == service)

    @property
    def worst(self) -> str | None:
        """The worst severity present, or None when empty."""
        return max((f.severity for f in self), key=severity_rank, default=None)

    def to_frame(self, engine: str = "pandas") -> Any:
        """A frame with one row per finding (evidence as text)."""
        import pandas as pd

        from holoops.frames import to_engine

        rows = [{"severity": f.severity, "service": f.service, "kind": f.kind,
                 "onset": pd.Timestamp(f.onset) if f.onset is not None else pd.NaT,
                 "summary": f.summary, "evidence": repr(f.evidence), "runbook": f.runbook or ""}
                for f in self]
        df = pd.DataFrame(rows, columns=["severity", "service", "kind", "onset", "summary",
                                         "evidence", "runbook"])
        return df if engine == "pandas" else to_engine(df, engine)

    def __repr__(self) -> str:
        if not self:
            return "Findings([])"
        lines = [f"{f.severity:<8} {f.service:<20} {f.kind:<14} {_fmt_ts(f.onset)}  {f.summary}"
                 for f in self]
        return "Findings(\n  " + "\n  ".join(lines) + "\n)"

    def _repr_html_(self) -> str:
        if not self:
            return "<p><em>No findings.</em></p>"
        rows = []
        for f in self:
            colour = _COLOUR[f.severity]
            ev = "; ".join(f"{html.escape(str(k))}={html.escape(_short(v))}" for k, v in f.evidence.items())
            link = (f'<a href="{html.escape(f.runbook)}">runbook</a>' if f.runbook else "")
            rows.append(
                f"<tr><td style='color:{colour};font-weight:bold'>{f.severity}</td>"
                f"<td>{html.escape(f.service)}</td><td>{html.escape(f.kind)}</td>"
                f"<td>{_fmt_ts(f.onset)}</td><td>{html.escape(f.summary)}</td>"
                f"<td style='font-size:smaller'>{ev}</td><td>{link}</td></tr>")
        head = "".join(f"<th>{h}</th>" for h in
                       ("severity", "service", "kind", "onset (UTC)", "summary", "evidence", ""))
        return (f"<table class='holoops-findings'><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")


def _fmt_ts(ts: Any) -> str:
    if ts is None:
        return "-"
    try:
        return ts.strftime("%Y-%m-%d %H:%M:%S")
    except Exception:
        return str(ts)


def _short(v: Any, n: int = 80) -> str:
    s = str(v)
    return s if len(s) <= n else s[: n - 1] + "…"
