"""The run history: one JSON line per notebook run (parameters redacted, status, duration, key results).

Lives at ``$HOLOOPS_HOME/history.jsonl``, else ``reports/history.jsonl``. :func:`compare` answers "how did
last night compare to the week before": each number the latest run recorded against the median of the runs
in the ``baseline_days`` before it.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any


def default_path() -> Path:
    """``$HOLOOPS_HOME/history.jsonl`` or ``reports/history.jsonl``."""
    home = os.environ.get("HOLOOPS_HOME")
    return (Path(home) if home else Path("reports")) / "history.jsonl"


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


def load(path: str | Path | None = None, notebook: str | None = None,
         since: str | timedelta | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Runs in the index, oldest first; ``notebook`` filters by stem, ``since`` ("14d") by age."""
    p = Path(path) if path else default_path()
    if not p.exists():
        return []
    cutoff = None
    if since is not None:
        from holoops.timeutil import parse_timedelta

        delta = parse_timedelta(since) if isinstance(since, str) else since
        cutoff = (now or datetime.now(timezone.utc)) - delta
    runs = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            run = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line never hides the rest of the history
        if notebook and run.get("notebook") != notebook:
            continue
        if cutoff and _ts(run["started_at"]) < cutoff:
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


def compare(runs: list[dict[str, Any]], baseline_days: int = 7) -> list[Comparison]:
    """For each notebook: its latest run's numbers vs the median of runs in the ``baseline_days`` before."""
    by_nb: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_nb.setdefault(run["notebook"], []).append(run)
    rows = []
    for nb, nb_runs in sorted(by_nb.items()):
        nb_runs.sort(key=lambda r: r["started_at"])
        latest = nb_runs[-1]
        t = _ts(latest["started_at"])
        prev = [r for r in nb_runs[:-1] if t - timedelta(days=baseline_days) <= _ts(r["started_at"]) < t
                and r.get("status") == "ok"]
        prev_numbers = [_numbers(r) for r in prev]
        for key, value in _numbers(latest).items():
            series = [n[key] for n in prev_numbers if key in n]
            rows.append(Comparison(nb, key, value, statistics.median(series) if series else None, len(series)))
    return rows


def format_table(rows: list[Comparison]) -> str:
    """A plain-text table of comparisons."""
    if not rows:
        return "no runs recorded"
    head = ("notebook", "result", "latest", "median prev", "runs", "change")
    body = [(r.notebook, r.key, f"{r.latest:.4g}", "-" if r.baseline is None else f"{r.baseline:.4g}",
             str(r.runs), "-" if r.change is None else f"{r.change:+.1%}") for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [head, *body]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
