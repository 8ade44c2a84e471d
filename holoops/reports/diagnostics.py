"""notebooks/diagnostics: fleet health, golden signals, saturation, SLOs, error patterns, incidents.

Each function takes ``hx`` and returns a :class:`~holoops.reports.Section`; analyses run once per
notebook (cached on ``hx``) through :mod:`holoops.analyze`.
"""

from __future__ import annotations

from typing import Any

from holoops.reports import Section, note
from holoops.reports._data import fleet_data, memo


# --- shared analyses (computed once) ----------------------------------------------------------------
def signals(hx: Any):
    from holoops.analyze.signals import golden_signals

    d = fleet_data(hx)
    return memo(hx, "golden_signals", lambda: golden_signals(d.metrics, hx.fleet, step=d.step,
                                                                     logs=d.logs))


def detected(hx: Any):
    from holoops.analyze.timeline import detect_incidents

    d = fleet_data(hx)
    return memo(hx, "incidents", lambda: detect_incidents(d, hx.fleet))


def _pd(df: Any):
    from holoops.frames import to_pandas

    return to_pandas(df)


# --- sections -----------------------------------------------------------------------------------------
def fleet_health(hx: Any) -> Section:
    """Is every service up and answering? Live probes + scrape targets on Prometheus, else the data's end."""
    d = fleet_data(hx)
    if d.source == "prometheus":
        return _live_health(hx, d)
    table = _health_table(hx, d)
    bad = table[table["status"] != "ok"]
    hx.record("health", dict(zip(table["service"], table["status"], strict=True)))
    summary = (f"{d.source} data, {d.span_text}. {len(table) - len(bad)} of {len(table)} services ok at the "
               f"end of the window" + (f"; not ok: {', '.join(bad['service'])}." if len(bad) else "."))
    return Section("Fleet health at a glance", summary, [table, *d.notes])


def _health_table(hx: Any, d: Any):
    """Per service at the end of the window: instances up, availability, last 15 min traffic/errors/p99."""
    import pandas as pd

    m = _pd(d.metrics)
    up = m[m["metric"] == "up"]  # no astype: a categorical compares in place (3.5M rows)
    last_up = up.sort_values("ts").groupby(up["instance"].astype(str), observed=True).tail(1)
    gs = _pd(signals(hx))
    recent = gs[gs["ts"] > gs["ts"].max() - pd.Timedelta("15min")].groupby("service", observed=True).mean(
        numeric_only=True)
    rows = []
    for name, svc in hx.fleet.services.items():
        if hx.params.service not in ("all", name):
            continue
        lu = last_up[last_up["service"].astype(str) == name]
        r = recent.loc[name] if name in recent.index else None
        p99 = None if r is None else r["p99_ms"]
        err = None if r is None else r["error_ratio"]
        limit = svc.slo.latency.threshold_ms if svc.slo.latency else None
        n_up = int((lu["value"] > 0).sum())
        status = ("down" if len(lu) and n_up == 0 else
                  "degraded" if (n_up < len(lu) or (err or 0) > 0.05 or
                                 (limit and p99 is not None and p99 > limit)) else "ok")
        rows.append({"service": name, "status": status, "instances up": f"{n_up}/{len(lu)}",
                     "up share (window)": (up[up["service"].astype(str) == name]["value"] > 0).mean(),
                     "req/s (15 min)": None if r is None else r["rps"], "5xx ratio": err, "p99 ms": p99,
                     "p99 SLO ms": limit})
    return pd.DataFrame(rows)


def _live_health(hx: Any, d: Any) -> Section:
    from holoops.sources.health import probe_fleet, probes_frame, reconcile_targets, scrape_targets

    probes = probes_frame(probe_fleet(hx.fleet, services=None if hx.params.service == "all"
                                      else [hx.params.service]))
    targets = scrape_targets(hx.data)
    rec = reconcile_targets(hx.fleet, targets)
    hx.record("health", {"probes_ok": int(probes["ok"].sum()), "probes": len(probes),
                         "targets_up": int((targets["health"] == "up").sum()), "targets": len(targets)})
    for line in rec.lines():
        hx.finding("warning", line, runbook="runbooks/dependency_outage.ipynb")
    summary = (f"{int(probes['ok'].sum())}/{len(probes)} health endpoints answer; "
               f"{int((targets['health'] == 'up').sum())}/{len(targets)} scrape targets up.")
    return Section("Fleet health at a glance", summary,
                   [probes[["service", "url", "ok", "status", "latency_ms", "error"]],
                    targets[["service", "instance", "health", "last_scrape", "last_error"]],
                    *(f"- {x}" for x in rec.lines()), *d.notes])


def golden_signals(hx: Any) -> Section:
    """Traffic, errors and latency per service, with deploys, config changes and incidents overlaid."""
    from holoops.viz import golden_signals_figure

    d, gs = fleet_data(hx), _pd(signals(hx))
    if gs.empty:
        return note("No request metrics in this window.")
    by = gs.groupby("service", observed=True)
    table = by.agg(**{"mean req/s": ("rps", "mean"), "peak req/s": ("rps", "max"),
                      "5xx ratio": ("error_ratio", "mean"), "worst 5xx": ("error_ratio", "max"),
                      "p50 ms": ("p50_ms", "median"), "p95 ms": ("p95_ms", "median"),
                      "p99 ms": ("p99_ms", "median"), "worst p99 ms": ("p99_ms", "max")}).reset_index()
    worst = table.sort_values("worst 5xx").iloc[-1]
    fig = golden_signals_figure(gs, events=d.events, incidents=detected(hx), title="Golden signals")
    summary = (f"{gs['service'].nunique()} services, {table['mean req/s'].sum():,.0f} req/s on average. "
               f"Worst 5xx: {worst['service']} at {worst['worst 5xx']:.1%}. Medians over the window; "
               "the chart marks deploys and config changes (dashed) and detected incidents (shaded).")
    hx.record("golden_signals", table.set_index("service").round(4).to_dict("index"))
    return Section("Golden signals", summary, [table, fig])


def saturation(hx: Any) -> Section:
    """Worst instance's share of its limit per service and resource (CPU, memory, GPU, disk)."""
    from holoops.analyze.signals import saturation as sat_of
    from holoops.viz import saturation_figure

    d = fleet_data(hx)
    sat = _pd(memo(hx, "saturation", lambda: sat_of(d.metrics, hx.fleet, step=d.step)))
    if sat.empty:
        return note("No resource metrics in this window.")
    last = sat.sort_values("ts").groupby(["service", "resource"], observed=True).tail(1)
    peak = sat.groupby(["service", "resource"], observed=True)["value"].max().rename("peak")
    table = last.set_index(["service", "resource"])[["value"]].rename(columns={"value": "now"}).join(peak)
    table = table.reset_index().sort_values("peak", ascending=False)
    hot = table[table["peak"] >= 0.9]
    summary = (f"{len(hot)} service/resource pairs peaked at 90 % of their limit or more"
               + (": " + ", ".join(f"{r.resource} on {r.service} ({r.peak:.0%})" for r in hot.itertuples())
                  if len(hot) else "") + ". Shares of limit: now and peak over the window.")
    hx.record("saturation_peaks", {f"{r.service}/{r.resource}": round(float(r.peak), 4)
                                   for r in table.itertuples()})
    return Section("Saturation (incl. GPU)", summary,
                   [table.head(12), saturation_figure(sat, incidents=detected(hx))])


def slo_status(hx: Any) -> Section:
    """Error budgets and burn rates per service and SLI; burning SLOs become findings."""
    from holoops.analyze.slo import slo_report

    d = fleet_data(hx)
    rep = memo(hx, "slo", lambda: slo_report(d.metrics, hx.fleet))
    rows = rep.rows
    burning = [r for r in rows if r["status"] != "ok"]
    low = sorted(rows, key=lambda r: r["budget_remaining"] if r["budget_remaining"] == r["budget_remaining"]
                 else 1.0)[:3]
    for f in rep.findings():
        hx.finding(f.severity, f.summary, service=f.service, runbook=f.runbook)
    hx.record("slo", {f"{r['service']}/{r['sli']}": {"status": r["status"],
                                                      "budget_remaining": r["budget_remaining"]} for r in rows})
    spent = [r for r in rows if r.get("exhausted_at") is not None]
    summary = (f"{len(burning)} of {len(rows)} SLOs burning at the end of the window"
               + (f"; {len(spent)} have spent their error budget ({', '.join(r['service'] + ' ' + r['sli'] for r in spent)})"
                  if spent else "") + ". Least budget left: "
               + ", ".join(f"{r['service']} {r['sli']} {r['budget_remaining']:.0%}" for r in low) + ".")
    return Section("SLO status", summary, [rep])


def error_patterns(hx: Any) -> Section:
    """The most frequent error/warning log templates, new and surging ones flagged."""
    from holoops.analyze.patterns import error_patterns as mine

    d = fleet_data(hx)
    logs = _pd(d.logs)
    errs = logs[logs["level"].astype(str).str.lower().isin(["error", "warn", "warning", "critical", "fatal"])]
    if errs.empty:
        return note("No error or warning log lines in this window." + (" " + d.notes[0] if d.notes else ""))
    pats = _pd(memo(hx, "error_patterns", lambda: mine(errs)))
    top = pats.head(hx.params.top_n)[["template", "count", "services", "levels", "first_seen", "new", "surge",
                                      "surge_ratio"]]
    flagged = pats[pats["new"] | pats["surge"]]
    hx.record("top_error_patterns", [{"template": r.template, "count": int(r.count), "services": r.services}
                                     for r in top.itertuples()])
    summary = (f"{len(errs):,} error/warning lines fell into {len(pats)} patterns; {len(flagged)} new or "
               "surging in the last quarter of the window compared with before it.")
    return Section("Top error patterns", summary, [top])


def incidents(hx: Any) -> Section:
    """Detected incidents, worst first, with ranked suspects, a timeline, and a runbook for each."""
    import pandas as pd

    from holoops.analyze.timeline import timeline
    from holoops.viz import timeline_figure

    d, found = fleet_data(hx), detected(hx)
    if not found:
        hx.record("incidents", [])
        return note("No incident detected in this window: every service stayed near its baseline.")
    rows = []
    for f in found:
        link = f.runbook
        hx.finding(f.severity, f.summary.split(". ")[0], service=f.service, detail=f.summary, runbook=link)
        rows.append({"severity": f.severity, "onset": f.onset, "root suspect": f.service,
                     "signal": f.evidence["suspects"][0][3], "then": ", ".join(s[0] for s in f.evidence["suspects"][1:]),
                     "trigger": f.evidence.get("event") or "", "runbook": link})
    hx.record("incidents", [{"service": r["root suspect"], "severity": r["severity"], "signal": r["signal"],
                             "onset": r["onset"]} for r in rows])
    tl = memo(hx, "timeline", lambda: timeline(d, hx.fleet, patterns=False))
    n_crit = sum(f.severity == "critical" for f in found)
    summary = (f"{len(found)} incidents ({n_crit} critical). The root suspect deviated first; the others "
               "depend on it and deviated after. Open the runbook named for each.")
    return Section("Detected incidents and suspects", summary,
                   [pd.DataFrame(rows), timeline_figure(tl, incidents=found)])
