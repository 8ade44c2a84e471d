"""``simulate`` and ``DemoFleet``: the simulated fleet with its labelled incidents (docs/demo.md).

Conventions the frames follow (beyond docs/architecture.md):

- metrics: every series is present at every scrape except during a missed scrape (``truth["gaps"]``,
  all series of that target absent, ``up`` included) or while the target is down (only ``up`` = 0).
  Counters reset to zero at deploys and restarts. Labels not used by a metric are null.
- logs: ``level`` is one of debug, info, warning, error, critical. Access lines are
  ``"<METHOD> <route> HTTP/1.1 <status> <latency>ms"``, a ``log_sample`` share of requests.
- spans: every span is the work of ``service`` for one call; ``peer`` is the calling service
  ("" for a root), so ``(peer, service)`` is the call edge. ``attempt`` counts retries of a call.
- events: deploy (with ``version``), config and restart; incidents are not events (see ``truth``).
- truth: the incident records (a list); ``truth["comms"]``/``["gaps"]``/``["skipped"]`` read the
  file-level facts also written to ``ground_truth.json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_START = "2026-11-02T00:00:00Z"
#: share of traces kept (per entry request); ~30k traces a week at the default load
TRACE_SAMPLE = 0.0005
#: share of requests written to the access log; ~400k lines a week at the default load
LOG_SAMPLE = 0.0008


@dataclass
class DemoFleet:
    """The four canonical frames of a simulated fleet plus the ground truth of its incidents."""

    metrics: Any
    logs: Any
    spans: Any
    events: Any
    truth: list[dict[str, Any]]
    window: tuple[Any, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def incident(self, kind: str) -> dict[str, Any]:
        """The truth record of ``kind`` (KeyError naming the scheduled kinds otherwise)."""
        for inc in self.truth:
            if inc["kind"] == kind:
                return inc
        raise KeyError(f"no {kind!r} incident in this demo; scheduled: "
                       f"{', '.join(i['kind'] for i in self.truth) or 'none'}")

    def ground_truth(self) -> dict[str, Any]:
        """What ``ground_truth.json`` holds."""
        return {**self.meta, "incidents": list(self.truth)}

    def write(self, folder: str | Path, formats: Iterable[str] | None = None) -> dict[str, Path]:
        """Write real export formats and ``ground_truth.json`` to ``folder``; returns name -> path."""
        from holoops.demo.writers import write_all

        return write_all(self, Path(folder), formats)

    def __repr__(self) -> str:
        a, b = self.window
        return (f"DemoFleet({a:%Y-%m-%d %H:%M} -> {b:%Y-%m-%d %H:%M} UTC, metrics={len(self.metrics):,}, "
                f"logs={len(self.logs):,}, spans={len(self.spans):,}, events={len(self.events):,}, "
                f"incidents={[i['kind'] for i in self.truth]})")


def _start_ns(start: Any) -> int:
    import pandas as pd

    ts = pd.Timestamp(start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value)


def _step_s(scrape_interval: str | int | float) -> int:
    from holoops.timeutil import parse_duration

    s = int(parse_duration(scrape_interval))
    if s <= 0:
        raise ValueError(f"scrape_interval must be positive, got {scrape_interval!r}")
    return s


def simulate(start: Any = DEFAULT_START, days: float = 7, seed: int = 7, scrape_interval: str | int = "60s",
             incidents: str | list[str] | None = "default", fleet: Any = None,
             log_sample: float = LOG_SAMPLE, trace_sample: float = TRACE_SAMPLE) -> DemoFleet:
    """Simulate the fleet: canonical pandas frames (metrics, logs, spans, events) plus the truth.

    ``fleet`` is a FleetProfile, a path to a profile YAML or None (the bundled HolographicMemory).
    The same arguments always give the same data.
    """
    import pandas as pd

    from holoops.demo.logs import build_logs
    from holoops.demo.metrics import build_metrics
    from holoops.demo.schedule import choose_kinds, make_schedule
    from holoops.demo.traces import build_spans
    from holoops.demo.traffic import build_model
    from holoops.demo.truth import Truth, build_events, build_truth
    from holoops.fleet import FleetProfile, load_fleet

    profile = fleet if isinstance(fleet, FleetProfile) else load_fleet(fleet)
    step = _step_s(scrape_interval)
    start_ns = _start_ns(start)
    sched = make_schedule(start_ns, days, step, choose_kinds(incidents), set(profile.services))
    model = build_model(profile, sched, seed)
    metrics = build_metrics(model)
    spans = build_spans(model, trace_sample)
    logs = build_logs(model, log_sample, spans, trace_sample)
    events = build_events(model)
    truth, comms = build_truth(model)
    window = (pd.Timestamp(start_ns, tz="UTC"), pd.Timestamp(start_ns + sched.n * step * 10**9, tz="UTC"))
    meta = {
        "fleet": profile.name,
        "window": {"start": window[0].isoformat().replace("+00:00", "Z"),
                   "end": window[1].isoformat().replace("+00:00", "Z")},
        "seed": seed, "days": days, "scrape_interval": f"{step}s", "log_sample": log_sample,
        "trace_sample": trace_sample, "comms": comms, "gaps": model.gaps, "skipped": sched.skipped,
    }
    return DemoFleet(metrics=metrics, logs=logs, spans=spans, events=events, truth=Truth(truth, meta),
                     window=window, meta=meta)
