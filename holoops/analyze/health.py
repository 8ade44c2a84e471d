"""Is each service healthy? Up, and serving: a service whose ``/healthz`` answers while half its requests
fail is not healthy, so the verdict weighs the error ratio (from the request counter's status codes or,
where it has none, the access logs) and latency against the service's SLO, not only liveness.

Status, worst first: ``down`` (no instance up or answering), ``failing`` (up, but the 5xx share is at least
:data:`FAILING_RATIO` or ten times the SLO's error budget), ``degraded`` (an instance down, errors above
the budget, p99 above the latency SLO, or a health probe failing), ``unknown`` (no signal at all), ``ok``.
"""

from __future__ import annotations

from typing import Any

FAILING_RATIO = 0.05
STATUS_ORDER = ("down", "failing", "degraded", "unknown", "ok")


def service_health(ds: Any, golden: Any = None, *, recent: str = "15m", probes: Any = None,
                   targets: Any = None) -> Any:
    """One row per service of ``ds.fleet``: status, reason and the numbers behind it (pandas).

    ``golden``: :func:`holoops.analyze.signals.golden_signals` of ``ds`` (computed when None); ``recent``:
    the trailing span judged; ``probes``/``targets``: frames of :mod:`holoops.sources.health` (live only).
    """
    import numpy as np
    import pandas as pd

    from holoops.frames import to_pandas
    from holoops.timeutil import parse_duration

    fleet = ds.fleet
    if golden is None:
        from holoops.analyze.signals import golden_signals
        from holoops.signalmap import probe_routes

        golden = golden_signals(ds.metrics, fleet, step=ds.step, logs=ds.logs,
                                exclude_routes=sorted(probe_routes(fleet)))
    gs = to_pandas(golden)
    end = ds.end
    since = end - pd.Timedelta(seconds=parse_duration(recent))
    recent_gs = gs[gs["ts"] > since] if len(gs) else gs
    m = to_pandas(ds.metrics)
    up = m[m["metric"].astype(str) == "up"] if len(m) else m
    rows = []
    for name, svc in fleet.services.items():
        if ds.services and name not in ds.services:
            continue
        g = recent_gs[recent_gs["service"].astype(str) == name] if len(recent_gs) else recent_gs
        u = up[up["service"].astype(str) == name] if len(up) else up
        last_up = u.sort_values("ts").groupby(u["instance"].astype(str), observed=True).tail(1) if len(u) else u
        n_inst, n_up = len(last_up), int((last_up["value"] > 0).sum()) if len(last_up) else 0
        p = probes[probes["service"] == name] if probes is not None and len(probes) else None
        t = targets[targets["service"].astype(str) == name] if targets is not None and len(targets) else None
        err = float(np.nanmean(g["error_ratio"])) if len(g) and g["error_ratio"].notna().any() else None
        if len(g) and g["error_rps"].notna().any() and g["rps"].sum() > 0:  # traffic-weighted
            err = float(np.nansum(g["error_rps"]) / np.nansum(g["rps"][g["error_rps"].notna()]))
        src = ds.coverage.source(name, "errors") if getattr(ds, "coverage", None) is not None else None
        if src is None and len(g) and "errors_from" in g.columns:
            known = g["errors_from"][g["errors_from"] != "none"]
            src = known.mode().iloc[0] if len(known) else None
        p99 = float(np.nanmedian(g["p99_ms"])) if len(g) and g["p99_ms"].notna().any() else None
        rps = float(np.nanmean(g["rps"])) if len(g) and g["rps"].notna().any() else None
        budget = 1.0 - svc.slo.availability
        limit = svc.slo.latency.threshold_ms if svc.slo.latency else None
        reasons = []
        alive = None
        if n_inst:
            alive = n_up > 0
            if n_up < n_inst:
                reasons.append(f"{n_inst - n_up} of {n_inst} instances down")
        if t is not None and len(t):
            t_up = int((t["health"] == "up").sum())
            alive = t_up > 0 if alive is None else alive
            if t_up < len(t) and not reasons:
                reasons.append(f"{len(t) - t_up} of {len(t)} scrape targets down")
        if p is not None and len(p):
            p_ok = int(p["ok"].sum())
            alive = p_ok > 0 if alive is None else (alive or p_ok > 0)
            if p_ok < len(p):
                reasons.append(f"{len(p) - p_ok} of {len(p)} health probes failing")
        if err is not None and err > budget:
            reasons.insert(0, f"{err:.1%} of requests fail (5xx{', from ' + src if src else ''}; "
                              f"budget {budget:.2%})")
        if p99 is not None and limit and p99 > limit:
            reasons.append(f"p99 {p99:,.0f} ms over the {limit:,.0f} ms SLO")
        if alive is False:
            status = "down"
        elif err is not None and err >= max(FAILING_RATIO, 10 * budget):
            status = "failing"
        elif reasons:
            status = "degraded"
        elif alive is None and err is None and rps is None:
            status = "unknown"
            reasons.append("no up, request or probe signal")
        else:
            status = "ok"
        rows.append({"service": name, "status": status,
                     "up": f"{n_up}/{n_inst}" if n_inst else "-",
                     "req/s": rps, "5xx ratio": err, "errors from": src or "-", "p99 ms": p99,
                     "p99 SLO ms": limit, "why": "; ".join(reasons) or "-"})
    out = pd.DataFrame(rows, columns=["service", "status", "up", "req/s", "5xx ratio", "errors from", "p99 ms",
                                      "p99 SLO ms", "why"])
    return out


def worst(table: Any) -> str:
    """The worst status in a :func:`service_health` table (``ok`` when empty)."""
    present = set(table["status"]) if len(table) else set()
    return next((s for s in STATUS_ORDER if s in present), "ok")
