"""notebooks/alerting_review: the rules, what they would have fired, their noise, and time to detect."""

from __future__ import annotations

from typing import Any

from holoops.reports import Section, note
from holoops.reports._data import dataset, memo


def _groups(hx: Any):
    from holoops.analyze.alerts import build_rules

    path = hx.params.rules_path
    return memo(hx, "rules", lambda: build_rules(hx.fleet, catalog=[path] if path else None, promtool=False))


def report(hx: Any):
    """The backtest of every rule over the window (cached)."""
    from holoops.analyze.alerts import backtest

    d = dataset(hx)
    return memo(hx, "backtest", lambda: backtest(d.metrics, d.truth or [], hx.fleet, groups=_groups(hx)))


def rules(hx: Any) -> Section:
    """One row per alert rule: severity, ``for``, services it covers, an example expression."""
    import pandas as pd

    rows: dict[tuple, dict[str, Any]] = {}
    for g in _groups(hx):
        for r in g.rules:
            if r.kind != "alert":
                continue
            row = rows.setdefault((r.name, r.labels.get("severity", "")), {
                "rule": r.name, "severity": r.labels.get("severity", ""), "group": g.name,
                "for": f"{r.for_s / 60:g}m" if r.for_s else "0", "services": 0, "expr (example)": r.expr})
            row["services"] += 1
    table = pd.DataFrame(list(rows.values())).sort_values(["severity", "rule"])
    counts = table.groupby("severity")["services"].sum().to_dict()
    hx.record("rules", {"rules": len(table), "alerts_by_severity": counts})
    summary = (f"{len(table)} alert rules in {len(_groups(hx))} groups, expanded to "
               f"{sum(counts.values())} per-service alerts (" + ", ".join(f"{v} {k}" for k, v in counts.items())
               + ").")
    return Section("Alert rules", summary, [table])


def fired(hx: Any) -> Section:
    """What the rules would have fired over the window, per rule and as firing intervals."""
    import pandas as pd

    from holoops.viz import timeline_figure

    bt = report(hx)
    per = bt.per_rule()
    if per.empty:
        return note("No rule fired in this window.")
    iv = bt.firing()
    tl = pd.DataFrame({"ts": iv["start"], "end": iv["end"], "service": iv["rule"], "source": "alert",
                       "kind": iv["service"].fillna(""), "severity": iv["severity"],
                       "detail": iv["rule"] + " " + iv["service"].fillna("") + " " + iv["minutes"].round(0).astype(
                           int).astype(str) + " min"})
    fig = timeline_figure(tl, incidents=dataset(hx).truth, title="Firing intervals per rule")
    hx.record("fired", {f"{r.rule}/{r.severity}": int(r.fired) for r in per.itertuples()})
    summary = (f"{len(iv)} firing intervals from {len(per)} rules over {bt.weeks * 7:.1f} days, evaluated every "
               f"{bt.interval_s:g}s. Shaded: the labelled incidents (demo) for comparison.")
    return Section("What fired", summary, [per, fig])


def noise(hx: Any) -> Section:
    """Pages and notifications per week, overall and in the quiet period, and the noisiest rules."""
    bt = report(hx)
    per = bt.per_rule()
    pages = sum(n.page for n in bt.notifications)
    weekly = pages / max(bt.weeks, 1e-9)
    quiet = (f" In the quiet period before the first incident ({bt.quiet_weeks * 7:.1f} days): "
             f"{bt.quiet_pages} pages ({bt.pages_per_week_quiet:.1f}/week), {bt.quiet_notifications} notifications."
             if bt.quiet else "")
    hx.record("noise", {"pages": pages, "pages_per_week": round(weekly, 2), "notifications": len(bt.notifications),
                        "quiet_pages_per_week": bt.pages_per_week_quiet})
    if weekly > 10:
        hx.finding("warning", f"alerting pages {weekly:.0f} times a week", runbook=None)
    noisy = per.sort_values("notifications", ascending=False).head(5)
    summary = (f"{len(bt.notifications)} notifications, {pages} of them pages ({weekly:.1f} pages/week)." + quiet
               + " Noisiest rules first.")
    return Section("Noise", summary, [noisy[["rule", "severity", "fired", "firing_min", "notifications", "pages",
                                             "pages_per_week"]]])


def time_to_detect(hx: Any) -> Section:
    """Per labelled incident: when the first page (or, for disks, any alert) came, against its budget."""
    import pandas as pd

    bt = report(hx)
    if not bt.detections:
        return note("Time to detect needs labelled incidents (the demo's ground truth); none in this window.")
    t = pd.DataFrame(bt.detections)[["id", "kind", "service", "onset", "detected_at", "time_to_detect_min",
                                     "via", "budget", "within_budget"]]
    missed = t[t["detected_at"].isna()]
    over = t[~t["within_budget"]]
    for r in over.itertuples():
        hx.finding("warning", f"{r.kind} on {r.service} detected late or missed ({r.budget})", service=r.service)
    hx.record("time_to_detect", {r.id: r.time_to_detect_min for r in t.itertuples()})
    summary = (f"{len(t) - len(missed)} of {len(t)} incidents detected; {len(t) - len(over)} within budget. "
               f"Median time to detect {t['time_to_detect_min'].median():.1f} min.")
    return Section("Time to detect", summary, [t])
