"""notebooks/capacity_planning: exhaustion, growth scenario, forecasts, headroom and replicas.

The as-is forecast (no extra growth) answers "when does it run out"; the scenario re-forecasts what
traffic drives (requests, CPU, disk fill rate) with ``params.growth`` extra load.
"""

from __future__ import annotations

from typing import Any

from holoops.reports import Section, note
from holoops.reports._data import dataset, memo

#: resources whose forecast changes with a growth scenario (see holoops.analyze.capacity.TRAFFIC_DRIVEN)
SCENARIO_RESOURCES = ["requests", "cpu", "disk"]
RUNBOOK = {"disk": "runbooks/disk_exhaustion.ipynb", "gpu_memory": "runbooks/gpu_memory_pressure.ipynb"}


def as_is(hx: Any):
    """The forecast of every service and resource without extra growth (cached)."""
    from holoops.analyze.capacity import capacity_report

    p, d = hx.params, dataset(hx)
    return memo(hx, "capacity", lambda: capacity_report(
        d.metrics, hx.fleet, horizon_days=p.horizon_days, growth=0.0, target_utilisation=p.target_utilisation))


def scenario(hx: Any, growth: float | None = None):
    """Traffic-driven resources re-forecast with ``growth`` (default ``params.growth``) extra load."""
    from holoops.analyze.capacity import capacity_report

    p, d = hx.params, dataset(hx)
    g = p.growth if growth is None else growth
    return memo(hx, f"capacity_growth_{g:g}", lambda: capacity_report(
        d.metrics, hx.fleet, horizon_days=p.horizon_days, growth=g, target_utilisation=p.target_utilisation,
        resources=SCENARIO_RESOURCES))


def _when(f: Any) -> dict[str, Any]:
    ex = f.exhaustion
    return {"service": f.service, "resource": f.resource, "likely": ex.get("likely"),
            "earliest": ex.get("earliest"), "latest": ex.get("latest"), "likely_days": ex.get("likely_days"),
            "within_horizon": bool(ex.get("within_horizon"))}


def exhaustion(hx: Any) -> Section:
    """Which resources run out within the horizon at today's trend, with the 95 % interval."""
    import pandas as pd

    rep, d = as_is(hx), dataset(hx)
    if not rep.forecasts:
        return note(f"{TOO_SHORT}; window {d.span_text}.")
    alarms = [_when(f) for f in rep.alarms()]
    hx.record("exhaustion", alarms)
    for a in alarms:
        level = "critical" if (a["likely_days"] or 99) <= 14 else "warning"
        hx.finding(level, f"{a['resource']} on {a['service']} runs out in ~{a['likely_days']:.1f} days "
                          f"(likely {a['likely']:%Y-%m-%d %H:%M} UTC)", service=a["service"],
                   runbook=RUNBOOK.get(a["resource"]))
    table = pd.DataFrame([{**a, "likely": f"{a['likely']:%Y-%m-%d %H:%M}",
                           "95% interval": f"{a['earliest']:%m-%d %H:%M} – "
                           + (f"{a['latest']:%m-%d %H:%M}" if a["latest"] is not None else "beyond horizon")}
                          for a in alarms]).drop(columns=["earliest", "latest", "within_horizon"],
                                                 errors="ignore")
    summary = (f"{len(rep.forecasts)} resources forecast {rep.horizon_days:g} days ahead from {d.span_text}. "
               + "; ".join(rep.summary()) + ".")
    return Section(f"Time to exhaustion (next {rep.horizon_days:g} days, current trend)", summary,
                   [table] if alarms else [])


def growth_scenario(hx: Any) -> Section:
    """What +growth traffic does to request capacity, CPU and disks; a slider when interactive."""
    sec = _scenario_section(hx, hx.params.growth)
    if hx.interactive:
        sec.add(_slider(hx))
    return sec


#: what a forecast needs (holoops.analyze.capacity): said instead of an empty table
TOO_SHORT = "Not enough history to forecast (at least 12 hourly points per resource are needed)"


def _scenario_section(hx: Any, growth: float) -> Section:
    rep = scenario(hx, growth)
    if not rep.forecasts:
        hx.record("growth_scenario", {"growth": growth, "alarms": [], "over_target": []})
        return Section(f"Growth scenario ({growth:+.0%} traffic)", f"{TOO_SHORT}; window {dataset(hx).span_text}.")
    t = rep.table()
    t = t[["service", "resource", "current", "peak_forecast", "limit", "peak_utilisation", "exhaustion",
           "replicas_needed"]].sort_values("peak_utilisation", ascending=False)
    over = t[t["peak_utilisation"] > rep.target_utilisation]
    hx.record("growth_scenario", {"growth": growth, "alarms": [_when(f) for f in rep.alarms()],
                                  "over_target": [f"{r.service}/{r.resource}" for r in over.itertuples()]})
    summary = (f"With {growth:+.0%} traffic: {len(over)} of {len(t)} traffic-driven resources peak above the "
               f"{rep.target_utilisation:.0%} target. " + "; ".join(rep.summary()) + ".")
    return Section(f"Growth scenario ({growth:+.0%} traffic)", summary, [t.head(12)])


def _slider(hx: Any):
    import ipywidgets as w
    from IPython.display import display

    slider = w.FloatSlider(value=hx.params.growth, min=0.0, max=3.0, step=0.1, description="growth",
                           readout_format=".0%", continuous_update=False)
    out = w.Output()

    def render(change: Any = None) -> None:
        with out:
            out.clear_output(wait=True)
            display(_scenario_section(hx, round(slider.value, 2)))

    slider.observe(render, names="value")
    return w.VBox([slider, out])


def forecasts(hx: Any, top: int = 4) -> Section:
    """History, forecast and 95 % band against the limit for the resources closest to their limit."""
    rep = as_is(hx)
    ranked = sorted(rep.forecasts, key=lambda f: (not f.exhaustion.get("within_horizon"),
                                                  -(f.peak_forecast / f.limit if f.limit else 0)))[:top]
    if not ranked:
        return note("No forecast to show.")
    losers = [f for f in rep.forecasts if f.model_loses]
    summary = (f"The {len(ranked)} resources nearest their limit. Each model was backtested on the last day; "
               f"{len(losers)} of {len(rep.forecasts)} lost to a seasonal-naive forecast, which is used instead.")
    return Section("Forecasts", summary, [rep.figure(f.service, f.resource) for f in ranked])


def headroom(hx: Any) -> Section:
    """Headroom at the forecast peak for every resource, and replicas needed at the target utilisation."""
    rep, sc = as_is(hx), scenario(hx)
    if not rep.forecasts:
        return note(f"{TOO_SHORT}; window {dataset(hx).span_text}.")
    t = rep.table()[["service", "resource", "unit", "current", "peak_forecast", "limit", "headroom", "model"]]
    col = f"replicas at {sc.growth:+.0%}"
    if sc.forecasts:
        reps = sc.table().set_index(["service", "resource"])["replicas_needed"]
        t = t.join(reps.rename(col), on=["service", "resource"])
    else:
        t[col] = None
    t.insert(3, "replicas now", [hx.fleet.services[s].replicas for s in t["service"]])
    tight = t[t["headroom"] < 0.2]
    hx.record("headroom", {f"{r.service}/{r.resource}": round(float(r.headroom), 4) for r in t.itertuples()})
    summary = (f"{len(tight)} resources have under 20 % headroom at their forecast peak. Replicas keep the "
               f"forecast peak at {rep.target_utilisation:.0%} utilisation.")
    return Section("Headroom and replicas", summary, [t.sort_values("headroom")])
