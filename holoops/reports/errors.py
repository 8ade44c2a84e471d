"""notebooks/error_analysis: error classes over time, top log patterns (new/surging), per service."""

from __future__ import annotations

from typing import Any

from holoops.reports import Section, note
from holoops.reports._data import dataset, memo


def classified(hx: Any):
    """Error lines of the window with their ``error_category`` (cached; pandas)."""
    from holoops.analyze.errors import classify_errors
    from holoops.frames import to_pandas

    def run():
        logs = classify_errors(dataset(hx).logs)
        logs = to_pandas(logs)
        return logs[logs["error_category"].notna()]

    return memo(hx, "classified", run)


def _bucket(d: Any) -> str:
    hours = (d.window[1] - d.window[0]).total_seconds() / 3600
    return "1h" if hours <= 72 else "3h" if hours <= 24 * 8 else "1d"


def error_classes(hx: Any) -> Section:
    """Counts per error class over time (stacked), and the totals."""
    import plotly.express as px

    from holoops.analyze.errors import error_class_summary

    d, errs = dataset(hx), classified(hx)
    if errs.empty:
        return note("No error lines in this window." + (" " + d.notes[0] if d.notes else ""))
    b = _bucket(d)
    summ = memo(hx, "class_summary", lambda: error_class_summary(errs, bucket=b))
    totals = summ.groupby("error_category")["count"].sum().sort_values(ascending=False)
    over = summ.groupby(["ts", "error_category"], as_index=False)["count"].sum()
    fig = px.bar(over, x="ts", y="count", color="error_category", title=f"Error lines per {b} by class",
                 labels={"ts": "", "count": "error lines", "error_category": "class"}, height=380)
    hx.record("error_classes", {k: int(v) for k, v in totals.items()})
    top = totals.head(3)
    summary = (f"{len(errs):,} error lines (logs sample {d.meta.get('log_sample', 1):g} of requests) in "
               f"{len(totals)} classes; most: " + ", ".join(f"{k} {v / len(errs):.0%}" for k, v in top.items()) + ".")
    table = totals.rename("lines").reset_index().assign(share=lambda t: t["lines"] / t["lines"].sum())
    return Section("Error classes over time", summary, [table.head(hx.params.top_n), fig])


def patterns(hx: Any):
    """Error patterns of the window against the earlier data (or, with no earlier data, the window's first
    three quarters against its last)."""
    from holoops.analyze.patterns import error_patterns

    d, errs = dataset(hx), classified(hx)
    if d.earlier_logs is not None and len(d.earlier_logs):
        return memo(hx, "patterns", lambda: _against_earlier(d, errs))
    return memo(hx, "patterns", lambda: error_patterns(errs))


def _against_earlier(d: Any, errs: Any):
    import pandas as pd

    from holoops.analyze.errors import classify_errors
    from holoops.analyze.patterns import error_patterns
    from holoops.frames import to_pandas

    before = to_pandas(classify_errors(d.earlier_logs))
    before = before[before["error_category"].notna()]
    both = pd.concat([before, errs], ignore_index=True)
    return error_patterns(both, window=tuple(d.window), baseline=(both["ts"].min(), d.window[0]))


def top_patterns(hx: Any) -> Section:
    """The most frequent error templates, with new and surging ones flagged."""
    errs = classified(hx)
    if errs.empty:
        return note("No error lines, so no patterns.")
    pats = patterns(hx)
    w0, w1 = pats.attrs.get("window", ("?", "?"))
    flagged = pats[pats["new"] | pats["surge"]].sort_values("surge_score", ascending=False)
    cols = ["template", "count", "window_count", "baseline_count", "services", "new", "surge", "surge_ratio"]
    hx.record("patterns", {"templates": len(pats), "new": int(pats["new"].sum()), "surge": int(pats["surge"].sum()),
                           "flagged": flagged["template"].head(5).tolist()})
    for r in flagged.head(3).itertuples():
        hx.finding("warning", f"{'new' if r.new else 'surging'} error pattern on {r.services}: {r.template[:80]}",
                   service=r.services.split(",")[0])
    d = dataset(hx)
    base = ("the data before it" if d.earlier_logs is not None and len(d.earlier_logs)
            else "the window's earlier part (no data before the window)")
    summary = (f"{len(pats)} templates; {int(pats['new'].sum())} new and {int(pats['surge'].sum())} surging in "
               f"{w0[:16]} → {w1[:16]} UTC compared with {base}.")
    blocks: list[Any] = [pats.head(hx.params.top_n)[cols]]
    if len(flagged):
        blocks = ["**New or surging**", flagged.head(hx.params.top_n)[cols], "**Most frequent**", *blocks]
    return Section("Top error patterns", summary, blocks)


def per_service(hx: Any) -> Section:
    """Error lines per service: count, share, top class and its most frequent message."""
    import pandas as pd

    errs = classified(hx)
    if errs.empty:
        return note("No error lines per service.")
    rows = []
    for svc, g in errs.groupby(errs["service"].astype(str)):
        cls = g["error_category"].value_counts()
        rows.append({"service": svc, "error lines": len(g), "share": len(g) / len(errs),
                     "top class": cls.index[0], "top class share": cls.iloc[0] / len(g),
                     "classes": len(cls), "example": str(g["message"].mode().iloc[0])[:100]})
    t = pd.DataFrame(rows).sort_values("error lines", ascending=False)
    hx.record("errors_per_service", dict(zip(t["service"], t["error lines"].astype(int).tolist(), strict=True)))
    first = t.iloc[0]
    summary = (f"{first['service']} logs the most errors ({first['share']:.0%}), mostly {first['top class']}.")
    return Section("Errors per service", summary, [t])
