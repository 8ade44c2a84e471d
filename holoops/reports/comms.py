"""notebooks/service_communication: call graph, edge latency, critical path, retry storms, advice."""

from __future__ import annotations

from typing import Any

from holoops.reports import Section, note
from holoops.reports._data import dataset, memo


def spans(hx: Any):
    """The window's spans, ``params.trace_sample`` of the traces kept (cached)."""
    import narwhals as nw

    def run():
        s = dataset(hx).spans
        share = hx.params.trace_sample
        if share >= 1 or s is None or not len(s):
            return s
        f = nw.from_native(s)
        ids = sorted(set(f["trace_id"].to_list()))
        keep = ids[:: max(1, round(1 / share))]
        return f.filter(nw.col("trace_id").is_in(keep)).to_native()

    return memo(hx, "spans", run)


def sample_share(hx: Any) -> float:
    """Share of real traffic the analysed traces stand for (tracer sampling x analysis sampling)."""
    return float(dataset(hx).meta.get("trace_sample", 1.0)) * hx.params.trace_sample


def edges(hx: Any):
    from holoops.analyze.comms import dependency_graph as graph

    return memo(hx, "edges", lambda: graph(spans(hx), trace_sample=sample_share(hx)))


def _no_spans(hx: Any) -> Section | None:
    s = spans(hx)
    if s is None or not len(s):
        d = dataset(hx)
        return note("No traces in this window." + (" " + d.notes[0] if d.notes else ""))
    return None


def _layers(fleet: Any, names: list[str]) -> dict[str, int]:
    """Depth of each service in the call graph (callers left, dependencies right)."""
    deps = {n: [x for x in fleet.services[n].depends_on if x in names] if n in fleet.services else []
            for n in names}
    depth: dict[str, int] = {}

    def level(n: str, seen: tuple = ()) -> int:
        if n not in depth:
            callers = [c for c, ds in deps.items() if n in ds and c not in seen]
            depth[n] = 1 + max((level(c, (*seen, n)) for c in callers), default=-1)
        return depth[n]

    for n in names:
        level(n)
    return depth


def network_figure(e: Any, fleet: Any):
    """Services as nodes by call depth; edges coloured by error ratio, width by request rate."""
    import plotly.graph_objects as go

    names = sorted(set(e["caller"]) | set(e["callee"]))
    depth = _layers(fleet, names)
    pos: dict[str, tuple[float, float]] = {}
    for lvl in sorted(set(depth.values())):
        col = sorted(n for n in names if depth[n] == lvl)
        for i, n in enumerate(col):
            pos[n] = (lvl, i - (len(col) - 1) / 2)
    fig = go.Figure()
    top = max(float(e["rate_per_s"].max()), 1e-9)
    for r in e.itertuples():
        (x0, y0), (x1, y1) = pos[r.caller], pos[r.callee]
        colour = "#dc2626" if r.error_ratio >= 0.01 else "#f59e0b" if r.error_ratio >= 0.001 else "#64748b"
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", hoverinfo="skip", showlegend=False,
                                 line={"width": 1 + 7 * r.rate_per_s / top, "color": colour}))
        fig.add_trace(go.Scatter(
            x=[x0 + 0.6 * (x1 - x0)], y=[y0 + 0.6 * (y1 - y0)], mode="markers+text", showlegend=False,
            marker={"symbol": "triangle-right", "size": 9, "color": colour},
            text=[f"{r.rate_per_s:,.0f}/s · p99 {r.p99_ms:,.0f} ms"], textposition="top center",
            textfont={"size": 10}, hovertext=[f"{r.caller} → {r.callee}<br>{r.rate_per_s:,.1f} req/s<br>"
                                              f"errors {r.error_ratio:.2%}<br>p50 {r.p50_ms:.1f} ms, "
                                              f"p99 {r.p99_ms:.1f} ms"], hoverinfo="text"))
    fig.add_trace(go.Scatter(x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
                             text=names, textposition="bottom center", showlegend=False, hoverinfo="text",
                             marker={"size": 26, "color": "#2563eb", "line": {"width": 2, "color": "white"}}))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title="Service dependency graph (width: request rate; red: ≥1 % errors)", height=460,
                      plot_bgcolor="white")
    return fig


def dependency_graph(hx: Any) -> Section:
    """Who calls whom, how often, how reliably and how fast."""
    if (empty := _no_spans(hx)) is not None:
        return empty
    e = edges(hx)
    worst = e.sort_values("error_ratio").iloc[-1]
    n_traces = len(set(spans(hx)["trace_id"]))
    hx.record("edges", {f"{r.caller}->{r.callee}": {"rate_per_s": round(r.rate_per_s, 3),
                                                    "error_ratio": round(r.error_ratio, 5)} for r in e.itertuples()})
    summary = (f"{len(e)} call edges from {n_traces:,} traces (rates scaled by the {sample_share(hx):.2%} trace "
               f"sample). Least reliable: {worst['caller']} → {worst['callee']} at {worst['error_ratio']:.2%} errors.")
    return Section("Dependency graph", summary, [network_figure(e, hx.fleet)])


def edge_latency(hx: Any) -> Section:
    """Per edge: rate, errors, latency quantiles, payload and most retries seen."""
    if (empty := _no_spans(hx)) is not None:
        return empty
    e = edges(hx).sort_values("p99_ms", ascending=False)
    slow = e.iloc[0]
    summary = (f"Slowest edge: {slow['caller']} → {slow['callee']} (p99 {slow['p99_ms']:,.0f} ms, "
               f"p50 {slow['p50_ms']:,.0f} ms).")
    return Section("Latency per edge", summary, [e])


def critical_path(hx: Any) -> Section:
    """Which service holds end-to-end latency (critical path), set beside the naive self-time share."""
    from holoops.analyze.comms import critical_path_summary, naive_latency_share

    if (empty := _no_spans(hx)) is not None:
        return empty
    s = spans(hx)
    cp = memo(hx, "critical_path", lambda: critical_path_summary(s))
    naive = naive_latency_share(s).set_index("service")["share"].rename("naive share")
    t = cp.join(naive, on="service")[["service", "share", "naive share", "median_ms_per_trace", "traces"]]
    top = t.iloc[0]
    hx.record("critical_path", {"bottleneck": top["service"], "share": round(float(top["share"]), 4)})
    summary = (f"{top['service']} holds {top['share']:.0%} of end-to-end latency on the critical path "
               f"(naive self-time share {top['naive share']:.0%}); speeding it up shortens requests most.")
    return Section("Critical path", summary, [t.rename(columns={"share": "critical path share"})])


def retry_storms(hx: Any) -> Section:
    """Minutes where retries amplified an edge's traffic."""
    from holoops.analyze.comms import retry_storms as storms_of

    if (empty := _no_spans(hx)) is not None:
        return empty
    rs = storms_of(spans(hx))
    st = rs[rs["storm"]] if len(rs) else rs
    if not len(st):
        hx.record("retry_storms", [])
        return note("No retry storm: no edge's retries amplified its traffic 1.5x or more.")
    g = st.groupby(["caller", "callee"], as_index=False).agg(
        minutes=("ts", "size"), first=("ts", "min"), last=("ts", "max"),
        max_amplification=("amplification", "max"), error_ratio=("error_ratio", "mean"))
    hx.record("retry_storms", [f"{r.caller}->{r.callee}" for r in g.itertuples()])
    for r in g.itertuples():
        hx.finding("warning", f"retry storm {r.caller} → {r.callee}: {r.max_amplification:.1f}x traffic for "
                              f"{r.minutes} min", service=r.caller, runbook="runbooks/dependency_outage.ipynb")
    summary = ", ".join(f"{r.caller} → {r.callee} ({r.minutes} min, up to {r.max_amplification:.1f}x)"
                        for r in g.itertuples()) + "."
    return Section("Retry storms", "Retries multiplied traffic on " + summary, [g])


def recommendations(hx: Any) -> Section:
    """Concrete changes (pools, batching, compression, timeouts, retry budgets) with their evidence."""
    from holoops.analyze.comms import recommendations as advise

    if (empty := _no_spans(hx)) is not None:
        return empty
    recs = advise(spans(hx), hx.fleet, trace_sample=sample_share(hx))
    t = recs.frame()
    first = t[t["priority"] == 1]
    hx.record("recommendations", t[["priority", "kind", "edge"]].to_dict("records"))
    summary = (f"{len(t)} recommendations, {len(first)} to do first: "
               + "; ".join(f"{r.kind} on {r.edge}" for r in first.itertuples()) + ".")
    return Section("Recommendations", summary, [t])
