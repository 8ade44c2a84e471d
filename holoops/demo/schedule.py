"""The incident schedule: where each labelled incident sits in the window, and its ground truth.

All times are snapped to scrape boundaries (``start + i * step``) so that analyses can find onsets
within one scrape. ``Incident`` records are plain dicts (JSON-ready, ISO UTC times).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS: tuple[str, ...] = ("latency_regression", "error_burst", "gpu_memory_exhaustion",
                          "dependency_outage", "disk_exhaustion")

#: kind -> (service, trigger, offset from the start of the final 7-day block (s), duration (s))
DEFAULT: dict[str, tuple[str, str, int, int]] = {
    "latency_regression": ("vault", "deploy", 1 * 86400 + 14 * 3600, 3 * 3600 + 10 * 60),
    "error_burst": ("router", "config", 2 * 86400 + 9 * 3600 + 30 * 60, 45 * 60),
    "gpu_memory_exhaustion": ("holographic-memory", "load", 3 * 86400 + 3 * 3600, 70 * 60),
    "dependency_outage": ("math-core", "crash", 4 * 86400 + 16 * 3600, 25 * 60),
    "disk_exhaustion": ("telemetry", "config", 5 * 86400 + 10 * 3600, 0),
}
#: least time after onset an incident needs inside the window when placed on a short span
MIN_TAIL = {"disk_exhaustion": 2 * 3600}

ROOT_CAUSE = {
    "latency_regression": "vault {version} deploy made token verification 3-4x slower (p50 and p99); "
                          "orchestrator and holographic-memory wait on it; fixed by rolling back",
    "error_burst": "bad router config referenced an unknown upstream shard; ~20% of routed requests "
                   "failed with 5xx until the config was reverted",
    "gpu_memory_exhaustion": "oversized search batches filled GPU memory on {instance}; CUDA OOM errors "
                             "(5xx on search) until the pod restarted",
    "dependency_outage": "math-core crashed (connection refused); holographic-memory retried 3x without a "
                         "budget (retry storm) and returned 503s upstream",
    "disk_exhaustion": "config enabled debug logging on telemetry; the disk fill rate jumped and "
                       "{mount} will be full at {exhausts_at}",
}
AFFECTED = {
    "latency_regression": ["orchestrator", "holographic-memory", "vault"],
    "error_burst": ["orchestrator", "router"],
    "gpu_memory_exhaustion": ["orchestrator", "router", "holographic-memory"],
    "dependency_outage": ["orchestrator", "router", "holographic-memory", "math-core"],
    "disk_exhaustion": ["telemetry"],
}


@dataclass
class Placed:
    """One scheduled incident, in scrape indices."""

    kind: str
    service: str
    trigger: str
    onset: int  # scrape index of onset
    end: int  # scrape index of end (exclusive); == n for 'ongoing'
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Schedule:
    """Scrape grid plus the placed incidents and what was skipped."""

    start_ns: int
    step_s: int
    n: int
    placed: list[Placed]
    skipped: list[dict[str, str]]

    @property
    def ts_ns(self) -> np.ndarray:
        return self.start_ns + np.arange(self.n, dtype=np.int64) * self.step_s * 1_000_000_000

    def get(self, kind: str) -> Placed | None:
        return next((p for p in self.placed if p.kind == kind), None)

    def iso(self, idx: int) -> str:
        return iso_ns(self.start_ns + int(idx) * self.step_s * 1_000_000_000)


def iso_ns(ns: int) -> str:
    """ISO-8601 UTC with a trailing Z (second precision when whole)."""
    import datetime as dt

    sec, rem = divmod(int(ns), 1_000_000_000)
    t = dt.datetime.fromtimestamp(sec, tz=dt.timezone.utc)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if rem:
        s += f".{rem // 1000:06d}"
    return s + "Z"


def choose_kinds(incidents: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Normalise the ``incidents`` argument to a list of known kinds."""
    if incidents is None:
        return []
    if isinstance(incidents, str):
        if incidents == "default":
            return list(KINDS)
        incidents = [incidents]
    kinds = list(incidents)
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown incident kind {k!r}; expected one of {', '.join(KINDS)}")
    return [k for k in KINDS if k in kinds]


def make_schedule(start_ns: int, days: float, step_s: int, kinds: list[str],
                  services: set[str]) -> Schedule:
    """Place ``kinds`` on the grid: the default offsets in the last 7 days, else spread evenly."""
    n = int(round(days * 86400 / step_s))
    if n < 2:
        raise ValueError(f"days={days} gives fewer than 2 scrapes at {step_s}s")
    span = n * step_s
    placed: list[Placed] = []
    skipped: list[dict[str, str]] = []
    usable = []
    for k in kinds:
        svc = DEFAULT[k][0]
        if svc not in services:
            skipped.append({"kind": k, "reason": f"fleet has no service {svc!r}"})
        else:
            usable.append(k)
    if days >= 7:
        # the final 7-day block, aligned to UTC midnight so "day 1 14:00" is 14:00 UTC
        start_s = start_ns // 1_000_000_000
        block = ((start_s + span - 7 * 86400) // 86400) * 86400 - start_s
        for k in usable:
            svc, trig, off, dur = DEFAULT[k]
            on = -(-(block + off) // step_s)  # first scrape at or after the offset
            end = n if dur == 0 else -(-(block + off + dur) // step_s)
            if on < 1 or on >= n - 2:
                skipped.append({"kind": k, "reason": "its default time falls outside the window"})
                continue
            placed.append(Placed(k, svc, trig, int(on), int(min(end, n))))
    elif usable:
        quiet = 0.2 * span
        slot = (span - quiet) / len(usable)
        for i, k in enumerate(usable):
            svc, trig, _off, dur = DEFAULT[k]
            t0 = quiet + i * slot + 0.1 * slot
            need = dur if dur else MIN_TAIL.get(k, 3600)
            room = (span - t0) if dur == 0 else (quiet + (i + 1) * slot - t0)
            if need + 2 * step_s > room:
                skipped.append({"kind": k, "reason": f"needs {need / 60:.0f} min after onset; the "
                                                     f"{days:g}-day window leaves {room / 60:.0f} min"})
                continue
            grain = max(step_s, 60)  # whole minutes (or whole scrapes when coarser)
            on = int((t0 // grain) * grain // step_s)
            end = n if dur == 0 else on + dur // step_s
            placed.append(Placed(k, svc, trig, on, int(end)))
    return Schedule(start_ns, step_s, n, placed, skipped)
