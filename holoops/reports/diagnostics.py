"""notebooks/diagnostics: fleet health, golden signals, saturation, SLOs, error patterns, incidents.

Each function takes ``hx`` and returns a :class:`~holoops.reports.Section`; analyses run once per
notebook (cached on ``hx``) through :mod:`holoops.analyze`.
"""

from __future__ import annotations

from typing import Any

from holoops.reports import Section, note
from holoops.reports._data import dataset, memo


# --- shared analyses (computed once) ----------------------------------------------------------------
def signals(hx: Any):
    from holoops.analyze.signals import golden_signals
    from holoops.signalmap import probe_routes

    d = dataset(hx)
    return memo(hx, "golden_signals", lambda: golden_signals(
        d.metrics, hx.fleet, step=d.step, logs=d.logs, exclude_routes=sorted(probe_routes(hx.fleet))))


def routes(hx: Any):
    """Requests and 5xx share per service and route (metrics' status codes, else the access logs)."""
    from holoops.analyze.signals import route_errors
    from holoops.signalmap import probe_routes

    d = dataset(hx)
    return memo(hx, "routes", lambda: route_errors(d.metrics, hx.fleet, start=d.start,
                                                   exclude_routes=sorted(probe_routes(hx.fleet))))


def detected(hx: Any):
    from holoops.analyze.timeline import detect_incidents

    d = dataset(hx)
    return memo(hx, "incidents", lambda: detect_incidents(d, hx.fleet))


def _pd(df: Any):
    from holoops.frames import to_pandas

    return to_pandas(df)


# --- sections -----------------------------------------------------------------------------------------
def fleet_health(hx: Any) -> Section:
    """Is every service up and serving? Up instances, error ratio and latency against the SLO (plus health
    probes and scrape targets on a live source), what each signal comes from, and what is missing."""
    from holoops.analyze.health import service_health, worst

    d = dataset(hx)
    probes = targets = None
    blocks: list[Any] = []
    if hx.source.live:
        from holoops.sources.health import probe_fleet, probes_frame, reconcile_targets, scrape_targets

        probes = probes_frame(probe_fleet(hx.fleet, services=None if hx.params.service == "all"
                                          else [hx.params.service]))
        targets = scrape_targets(hx.source.client)
        rec = reconcile_targets(hx.fleet, targets)
        hx.record("probes", {"probes_ok": int(probes["ok"].sum()), "probes": len(probes),
                             "targets_up": int((targets["health"] == "up").sum()), "targets": len(targets)})
        for line in rec.lines():
            hx.finding("warning", line, runbook="runbooks/dependency_outage.ipynb")
        blocks += [probes[["service", "url", "ok", "status", "latency_ms", "error"]],
                   targets[["service", "instance", "health", "last_scrape", "last_error"]],
                   *(f"- {x}" for x in rec.lines())]
    table = service_health(d, signals(hx), probes=probes, targets=targets)
    hx.record("health", dict(zip(table["service"], table["status"], strict=True)))
    now = what_is_wrong(hx, table)
    bad = table[table["status"] != "ok"]
    for r in bad.itertuples():
        if r.status in ("down", "failing"):
            hx.finding("critical", f"{r.service} is {r.status}" + (": " + r.why if r.why != "-" else ""),
                       service=r.service, runbook="runbooks/error_burst.ipynb" if r.status == "failing"
                       else "runbooks/dependency_outage.ipynb")
    summary = (f"{d.header()} {len(table) - len(bad)} of {len(table)} services ok at the end of the window"
               + (f"; worst: {worst(table)} ({', '.join(f'{r.service} {r.status}' for r in bad.itertuples())})."
                  if len(bad) else "."))
    notes = d.coverage_notes()
    cov = ["**Signal coverage** (what each answer comes from): " + "; ".join(notes)] if notes else []
    return Section("What is wrong, and fleet health", summary, [*now, table, *cov, *(f"- {n}" for n in d.notes),
                                                                *blocks, *([d.coverage] if notes else [])])


def what_is_wrong(hx: Any, health: Any) -> list[str]:
    """The answer first: each detected incident and each failing service or route, worst first, as a
    Markdown table whose runbook column opens the runbook, with the command that runs it for that time."""
    from holoops.reports.incident import runbook_path
    from holoops.timeutil import format_time, parse_time

    rows = []
    for f in detected(hx):
        kind = f.runbook.rsplit("/", 1)[-1].removesuffix(".ipynb") if f.runbook else "error_burst"
        rows.append((f.severity, f.summary.split(". ")[0], f.service, format_time(f.onset), f.runbook or
                     runbook_path("error_burst"), kind, f.onset))
    for r in health.itertuples():
        if r.status in ("failing", "down"):
            kind = "error_burst" if r.status == "failing" else "dependency_outage"
            rows.append(("critical", f"{r.service} is {r.status}: {r.why}", r.service, "now",
                         runbook_path(kind), kind, None))
    if not rows:
        return ["**Now**: nothing is wrong: no incident detected in the window and every service is serving."]
    order = {"critical": 0, "warning": 1, "info": 2}
    rows.sort(key=lambda r: order.get(r[0], 3))
    lines = ["**What is wrong** (worst first; the runbook opens with the time filled in by the command):", "",
             "| severity | what | where | since (UTC) | runbook | run it |", "|---|---|---|---|---|---|"]
    for sev, what, where, since, link, kind, onset in rows[:10]:
        at = f" -p around {parse_time(onset):%Y-%m-%dT%H:%M:%SZ}" if onset is not None else ""
        cmd = f"`holoops run {link.split('?')[0]}{at} -p service {where}`"
        lines.append(f"| {sev} | {_md(what)} | {_md(where)} | {since} | [{kind}]({link}) | {cmd} |")
    return ["\n".join(lines)]


def golden_signals(hx: Any) -> Section:
    """Traffic, errors and latency per service, with deploys, config changes and incidents overlaid; the
    error ratio of every route."""
    from holoops.viz import golden_signals_figure

    d, gs = dataset(hx), _pd(signals(hx))
    rt = _pd(routes(hx))
    if gs.empty and rt.empty:
        return note("No request signal in this window: " + ("; ".join(d.coverage_notes()) or
                                                              "no request metrics or access logs."))
    blocks: list[Any] = []
    if not gs.empty:
        by = gs.groupby("service", observed=True)
        table = by.agg(**{"mean req/s": ("rps", "mean"), "peak req/s": ("rps", "max"),
                          "5xx ratio": ("error_ratio", "mean"), "worst 5xx": ("error_ratio", "max"),
                          "p50 ms": ("p50_ms", "median"), "p95 ms": ("p95_ms", "median"),
                          "p99 ms": ("p99_ms", "median"), "worst p99 ms": ("p99_ms", "max")}).reset_index()
        hx.record("golden_signals", table.set_index("service").round(4).to_dict("index"))
        blocks += [table, golden_signals_figure(gs, events=d.events, incidents=detected(hx), title="Golden signals")]
    failing = rt[rt["error_ratio"] >= 0.05] if len(rt) else rt
    if len(rt):
        hx.record("routes", [{"service": r.service, "route": r.route, "requests": int(r.requests),
                              "error_ratio": None if r.error_ratio != r.error_ratio else round(float(r.error_ratio), 4),
                              "source": r.source} for r in rt.itertuples()])
        for r in failing.itertuples():
            hx.finding("critical" if r.error_ratio >= 0.5 else "warning",
                       f"{r.service} {r.route}: {r.error_ratio:.1%} of {int(r.requests):,} requests fail (5xx, "
                       f"from {r.source})", service=r.service, runbook="runbooks/error_burst.ipynb")
        blocks.insert(0, rt)
    worst_txt = ""
    if not gs.empty and gs["error_ratio"].notna().any():
        w = gs.groupby("service", observed=True)["error_ratio"].max().sort_values().dropna()
        worst_txt = f" Worst 5xx: {w.index[-1]} at {w.iloc[-1]:.1%}."
    routes_txt = (" Failing routes: " + ", ".join(f"{r.route} ({r.error_ratio:.0%})" for r in failing.itertuples())
                  + "." if len(failing) else "")
    traffic = f"{gs['service'].nunique()} services, {gs.groupby('service')['rps'].mean().sum():,.1f} req/s on average." \
        if not gs.empty else ""
    summary = (f"{traffic}{worst_txt}{routes_txt} Medians over the window; the chart marks deploys and config "
               "changes (dashed) and detected incidents (shaded).")
    notes = d.coverage_notes()
    if notes:
        blocks.append("Coverage: " + "; ".join(notes))
    return Section("Golden signals", summary.strip(), blocks)


def saturation(hx: Any) -> Section:
    """Worst instance's share of its limit per service and resource (CPU, memory, GPU, disk)."""
    from holoops.analyze.signals import saturation as sat_of
    from holoops.viz import saturation_figure

    d = dataset(hx)
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

    d = dataset(hx)
    rep = memo(hx, "slo", lambda: slo_report(d.metrics, hx.fleet))
    rows = rep.rows
    burning = [r for r in rows if r.get("firing")]
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

    d = dataset(hx)
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

    d, found = dataset(hx), detected(hx)
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


def _md(text: str) -> str:
    """Text shown literally in a Markdown table cell (log templates hold ``<*>``, names hold ``_``)."""
    import html
    import re

    return re.sub(r"([\\`*_\[\]|])", r"\\\1", html.escape(str(text), quote=False))
