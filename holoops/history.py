"""The run history: one JSON line per notebook run (run id, parameters redacted, status, duration, key
results).

Where it lives (:func:`default_path`): ``$HOLOOPS_HISTORY`` (a file), else ``$HOLOOPS_HOME/history.jsonl``,
else ``history.jsonl`` in the reports folder the run writes to (``--out``; ``reports/`` by default). A run
written somewhere else never lands in ``./reports/history.jsonl``.

:func:`compare` answers "how did last night compare to the week before": each number the latest run of a
notebook (per set of parameters) recorded against the median of the earlier runs with the same parameters
in the ``baseline_days`` before it, ranked by how much it changed.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

#: parameters that name a moment (resolved to an absolute time at every run); runs differing only in
#: these are comparable
MOMENT_PARAMETERS = ("start", "end", "onset", "around")


def default_path(out: str | Path | None = None) -> Path:
    """``$HOLOOPS_HISTORY``, else ``$HOLOOPS_HOME/history.jsonl``, else ``<out>/history.jsonl`` (the reports
    folder being written), else ``reports/history.jsonl``."""
    explicit = os.environ.get("HOLOOPS_HISTORY")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HOLOOPS_HOME")
    if home:
        return Path(home).expanduser() / "history.jsonl"
    return Path(out if out is not None else "reports") / "history.jsonl"


def append(entry: dict[str, Any], path: str | Path | None = None) -> Path:
    """Append one run (redacted) to the index; safe with concurrent writers (flock)."""
    from holoops.redact import redact_obj

    p = Path(path) if path else default_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(redact_obj(entry), default=str, sort_keys=True) + "\n"
    with open(p, "a", encoding="utf-8") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except (ImportError, OSError):  # pragma: no cover
            pass
        fh.write(line)
    return p


def _ts(text: str) -> datetime:
    dt = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


SINCE_FORMS = "a duration like 14d or 2h, or an ISO time like 2026-11-01T00:00:00Z"


def since_cutoff(since: str | timedelta | datetime, now: datetime | None = None) -> datetime:
    """The earliest start time ``since`` admits: a duration back from now ("14d", "-14d"), or a time.
    ParameterError (saying what it accepts) otherwise."""
    from holoops.errors import ParameterError
    from holoops.timeutil import parse_time, parse_timedelta

    now = now or datetime.now(timezone.utc)
    if isinstance(since, timedelta):
        return now - since
    if isinstance(since, datetime):
        return since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    text = str(since).strip()
    try:
        return now - parse_timedelta(text.removeprefix("-"))
    except (ValueError, TypeError, OverflowError):
        pass
    try:
        return parse_time(text, now=now)
    except (ValueError, TypeError, OverflowError):
        raise ParameterError(f"--since: bad value {text!r}: expected {SINCE_FORMS}") from None


def load(path: str | Path | None = None, notebook: str | None = None,
         since: str | timedelta | datetime | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Runs in the index, oldest first; ``notebook`` filters by stem, ``since`` ("14d", or a time) by age."""
    p = Path(path) if path else default_path()
    cutoff = since_cutoff(since, now) if since is not None else None
    if not p.exists():
        return []
    if p.is_dir():
        from holoops.errors import ParameterError

        raise ParameterError(f"{p}: is a folder; the history is a file (history.jsonl in it?)")
    runs = []
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            run = json.loads(line)
            started = _ts(run["started_at"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a torn or foreign line never hides the rest of the history
        if not isinstance(run, dict) or not run.get("notebook"):
            continue
        if notebook and run.get("notebook") != notebook:
            continue
        if cutoff and started < cutoff:
            continue
        runs.append(run)
    runs.sort(key=lambda r: r["started_at"])
    return runs


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"slo": {"router": 0.99}}`` -> ``{"slo.router": 0.99}``; lists are kept whole."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


@dataclass(frozen=True)
class Comparison:
    notebook: str
    key: str
    latest: float
    baseline: float | None   # median of the previous runs in the baseline window
    runs: int                # how many runs the baseline has
    run_id: str | None = None                                   # the latest run's id
    parameters: dict[str, Any] = field(default_factory=dict)    # the latest run's (redacted) parameters

    @property
    def change(self) -> float | None:
        """Relative change of latest vs baseline (0.25 = +25 %); None without a usable baseline."""
        if self.baseline in (None, 0):
            return None
        return (self.latest - self.baseline) / abs(self.baseline)


def _numbers(run: dict[str, Any]) -> dict[str, float]:
    values = flatten(run.get("records", {}) or {})
    values["duration_s"] = run.get("duration_s")
    if isinstance(run.get("records", {}).get("findings"), list):
        values["findings"] = len(run["records"]["findings"])
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def comparable(parameters: dict[str, Any] | None) -> str:
    """A key equal for runs whose parameters match, moments (:data:`MOMENT_PARAMETERS`) aside."""
    kept = {k: v for k, v in (parameters or {}).items() if k not in MOMENT_PARAMETERS}
    return json.dumps(kept, sort_keys=True, default=str)


def compare(runs: list[dict[str, Any]], baseline_days: int = 7) -> list[Comparison]:
    """For each notebook and set of parameters: the latest run's numbers vs the median of the ok runs with
    the same parameters in the ``baseline_days`` before it. Ranked: the largest relative change first, then
    the numbers without a baseline."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["notebook"], comparable(run.get("parameters"))), []).append(run)
    rows = []
    for (nb, _), nb_runs in sorted(groups.items()):
        nb_runs.sort(key=lambda r: r["started_at"])
        latest = nb_runs[-1]
        t = _ts(latest["started_at"])
        prev = [r for r in nb_runs[:-1] if t - timedelta(days=baseline_days) <= _ts(r["started_at"]) < t
                and r.get("status") == "ok"]
        prev_numbers = [_numbers(r) for r in prev]
        for key, value in _numbers(latest).items():
            series = [n[key] for n in prev_numbers if key in n]
            rows.append(Comparison(nb, key, value, statistics.median(series) if series else None, len(series),
                                   latest.get("run_id"), dict(latest.get("parameters") or {})))
    return rank(rows)


def rank(rows: list[Comparison]) -> list[Comparison]:
    """What changed most first (by the size of the relative change); rows without a baseline last."""
    return sorted(rows, key=lambda r: (r.change is None, -abs(r.change or 0.0), r.notebook, r.key))


def format_parameters(parameters: dict[str, Any] | None, width: int = 100) -> str:
    """``service=vault, window=1d`` (sorted; long values cut)."""
    items = []
    for k, v in sorted((parameters or {}).items()):
        text = v if isinstance(v, str) else json.dumps(v, default=str)
        items.append(f"{k}={text if len(text) <= 40 else text[:37] + '...'}")
    line = ", ".join(items) or "(defaults)"
    return line if len(line) <= width else line[: width - 3] + "..."


def format_runs(runs: list[dict[str, Any]]) -> str:
    """One line per run: start, run id, notebook, status, duration, parameters."""
    if not runs:
        return "no runs recorded"
    w = max(len(str(r.get("notebook", ""))) for r in runs)
    return "\n".join(
        f"{str(r.get('started_at', ''))[:19]}  {r.get('run_id') or '-':<23}  {r.get('notebook', ''):<{w}}  "
        f"{r.get('status', ''):<6}  {float(r.get('duration_s') or 0):7.1f}s  {format_parameters(r.get('parameters'))}"
        for r in runs)


def format_table(rows: list[Comparison]) -> str:
    """The latest runs compared (each with its run id and parameters), then the numbers, most changed first."""
    if not rows:
        return "no runs recorded"
    latest: dict[tuple[str, str | None, str], int] = {}
    for r in rows:
        latest.setdefault((r.notebook, r.run_id, comparable(r.parameters)), len(latest) + 1)
    lines = ["latest runs (each against the median of earlier ok runs with the same parameters):"]
    by_ref = {v: k for k, v in latest.items()}
    params = {(r.notebook, r.run_id, comparable(r.parameters)): r.parameters for r in rows}
    w, rw = max(len(k[0]) for k in latest), len(f"[{len(latest)}]")
    for ref in sorted(by_ref):
        nb, run_id, key = by_ref[ref]
        lines.append(f"  {f'[{ref}]':<{rw}} {nb:<{w}}  {run_id or '-':<23}  "
                     f"{format_parameters(params[(nb, run_id, key)])}")
    head = ("run", "notebook", "result", "latest", "median prev", "runs", "change")
    body = [(f"[{latest[(r.notebook, r.run_id, comparable(r.parameters))]}]", r.notebook, r.key, f"{r.latest:.4g}",
             "-" if r.baseline is None else f"{r.baseline:.4g}", str(r.runs),
             "-" if r.change is None else f"{r.change:+.1%}") for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    table = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [head, *body]]
    table.insert(1, "-" * len(table[0]))
    return "\n".join([*lines, "", *table])
