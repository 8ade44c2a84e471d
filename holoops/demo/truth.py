"""Ground truth records and the events frame (deploys, config changes, restarts)."""

from __future__ import annotations

from typing import Any

from holoops.demo.schedule import AFFECTED, ROOT_CAUSE, iso_ns
from holoops.demo.traffic import Model

COMMS = {
    "bottleneck_service": "math-core",
    "batching_pair": ["holographic-memory", "math-core"],
    "large_payload_edge": ["router", "holographic-memory"],
    "retry_storm_edge": ["holographic-memory", "math-core"],
}


class Truth(list):
    """The incident records (a list, per docs/demo.md); string keys read the file-level facts too:
    ``truth["comms"]``, ``truth["gaps"]``, ``truth["window"]``, ``truth["skipped"]``."""

    def __init__(self, incidents: list[dict[str, Any]] = (), meta: dict[str, Any] | None = None):
        super().__init__(incidents)
        self.meta = dict(meta or {})

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return self.meta[key]
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self.meta.get(key, default)

    def __reduce__(self):
        return (Truth, (list(self), self.meta))


def build_truth(m: Model) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(incidents, comms facts) as JSON-ready dicts."""
    out = []
    for k, p in enumerate(m.sched.placed, start=1):
        rec: dict[str, Any] = {
            "id": f"INC-{k:03d}",
            "kind": p.kind,
            "service": p.service,
            "onset": m.sched.iso(p.onset),
            "end": m.sched.iso(min(p.end, m.n)),
            "trigger": p.trigger,
            "affected": [s for s in AFFECTED[p.kind] if s in m.fleet.services],
            "ongoing": p.end >= m.n,
        }
        fmt: dict[str, Any] = {"version": p.extra.get("version", ""), "instance": p.extra.get("instance", ""),
                               "mount": p.extra.get("mount", ""), "exhausts_at": ""}
        if p.kind == "disk_exhaustion" and "exhausts_at_ns" in p.extra:
            rec["exhausts_at"] = iso_ns(p.extra["exhausts_at_ns"])
            rec["mount"] = p.extra["mount"]
            rec["fill_rate_bytes_per_s"] = p.extra["fill_rate_bytes_per_s"]
            rec["base_rate_bytes_per_s"] = p.extra["base_rate_bytes_per_s"]
            fmt["exhausts_at"] = rec["exhausts_at"]
        if p.kind == "latency_regression":
            rec["version"] = p.extra["version"]
            rec["rollback_to"] = p.extra["rollback_to"]
        if p.kind == "gpu_memory_exhaustion":
            rec["instance"] = p.extra["instance"]
            rec["oom_from"] = m.sched.iso(p.extra["oom_from"])
        if p.kind == "dependency_outage":
            rec["instances"] = list(m.instances[p.service])
        rec["root_cause"] = ROOT_CAUSE[p.kind].format(**fmt)
        out.append(rec)
    comms = dict(COMMS) if {"math-core", "holographic-memory", "router"} <= set(m.fleet.services) else {}
    return out, comms


def build_events(m: Model):
    """The canonical events frame (pandas): ts, kind, service, detail, version, end, severity."""
    import pandas as pd

    rows = m.events
    df = pd.DataFrame({
        "ts": pd.to_datetime([e["ts_ns"] for e in rows], utc=True),
        "kind": pd.array([e["kind"] for e in rows], dtype="str"),
        "service": pd.array([e["service"] for e in rows], dtype="str"),
        "detail": pd.array([e["detail"] for e in rows], dtype="str"),
        "version": pd.array([e.get("version") for e in rows], dtype="str"),
        "end": pd.Series(pd.NaT, index=range(len(rows)), dtype="datetime64[ns, UTC]"),
        "severity": pd.array(["info"] * len(rows), dtype="str"),
    })
    return df.sort_values("ts", kind="stable", ignore_index=True)
