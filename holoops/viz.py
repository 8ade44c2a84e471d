"""Plotly figure builders with deploy/alert/incident overlays. Every function returns a Figure.

Plotly is imported lazily (inside the functions); frames of any engine are accepted (converted to
pandas for plotting).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["golden_signals_figure", "saturation_figure", "slo_burn_figure", "anomaly_figure",
           "timeline_figure", "add_event_markers"]

_EVENT_STYLE = {
    "deploy": ("#2563eb", "dash"),
    "config": ("#7c3aed", "dash"),
    "restart": ("#6b7280", "dot"),
    "alert": ("#dc2626", "solid"),
    "incident": ("#dc2626", "solid"),
    "maintenance": ("#059669", "dot"),
}


#: one colour per service, in fleet-profile order (no reds: red means errors, alerts and incidents here)
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#17becf",
           "#bcbd22", "#7f7f7f", "#ff9da7", "#8c564b")
_ORDER: list[str] = []


def use_fleet(fleet: Any) -> None:
    """Colour services in this fleet profile's order from now on (``notebook.setup`` calls it)."""
    _ORDER[:] = list(getattr(fleet, "services", fleet) or [])


def service_colour(service: str) -> str:
    """The colour of ``service`` in every figure: its place in the fleet profile, else a stable pick."""
    name = str(service)
    if name in _ORDER:
        return PALETTE[_ORDER.index(name) % len(PALETTE)]
    import zlib

    return PALETTE[(len(_ORDER) + zlib.crc32(name.encode())) % len(PALETTE)]


def _time_axes(fig: Any) -> None:
    """Every x axis of a time figure says its zone."""
    for name in [k for k in fig.layout if str(k).startswith("xaxis")]:
        fig.layout[name].title = None
    last = sorted((k for k in fig.layout if str(k).startswith("xaxis")), key=lambda k: int(str(k)[5:] or 1))
    if last:
        fig.layout[last[-1]].title = {"text": "time (UTC)"}


def _stagger(notes: list[dict]) -> list[dict]:
    """Annotations at nearly the same time step down instead of printing over each other."""
    import pandas as pd

    if len(notes) < 2:
        return notes
    xs = [pd.Timestamp(n["x"]) for n in notes]
    span = max((max(xs) - min(xs)).total_seconds(), 1.0)
    order = sorted(range(len(notes)), key=lambda i: xs[i])
    level, prev = 0, None
    for i in order:
        if prev is not None and (xs[i] - xs[prev]).total_seconds() < span * 0.03:
            level = (level + 1) % 4
        else:
            level = 0
        notes[i]["y"] = 1.0 - 0.09 * level
        prev = i
    return notes


def _pd(df: Any):
    from holoops.frames import to_pandas

    return None if df is None else to_pandas(df)


def add_event_markers(fig: Any, events: Any = None, *, incidents: Any = None,
                      kinds: Sequence[str] = ("deploy", "config", "alert", "incident", "restart"),
                      service: str | None = None) -> Any:
    """Vertical lines for events (deploy/config/alert/incident/restart) and shaded incident spans.

    Each marker spans the figure's full height (all subplots share the x axis) and every marker is
    added in one layout update: a per-subplot ``add_vline`` costs ~70 ms a call on multi-row figures.
    ``incidents``: Findings, truth dicts (``onset``/``end``) or None. Returns ``fig``.
    """
    import pandas as pd

    shapes, notes = [], []
    ev = _pd(events)
    if ev is not None and len(ev):
        ev = ev[ev["kind"].astype(str).isin(list(kinds))]
        if service is not None:
            ev = ev[ev["service"].astype(str) == service]
        for e in ev.itertuples(index=False):
            colour, dash = _EVENT_STYLE.get(str(e.kind), ("#6b7280", "dot"))
            x = pd.Timestamp(e.ts).to_pydatetime()
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                           "line": {"color": colour, "dash": dash, "width": 1}, "opacity": 0.7})
            notes.append({"x": x, "y": 1.0, "xref": "x", "yref": "paper", "text": f"{e.kind} {e.service}",
                          "showarrow": False, "textangle": -90, "font": {"size": 9, "color": colour},
                          "xanchor": "left", "yanchor": "top", "hovertext": str(e.detail)})
    for inc in incidents or []:
        if isinstance(inc, dict):
            start, end, label = inc.get("onset"), inc.get("end"), f"{inc.get('kind')} {inc.get('service')}"
        else:
            start = getattr(inc, "onset", None)
            end = (getattr(inc, "evidence", {}) or {}).get("end")
            label = f"{getattr(inc, 'kind', '')} {getattr(inc, 'service', '')}"
        if start is None:
            continue
        start = pd.Timestamp(start)
        end = pd.Timestamp(end, tz="UTC") if end is not None and pd.Timestamp(end).tzinfo is None else (
            pd.Timestamp(end) if end is not None else start + pd.Timedelta(minutes=10))
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": start.to_pydatetime(),
                       "x1": end.to_pydatetime(), "y0": 0, "y1": 1, "fillcolor": "#dc2626", "opacity": 0.08,
                       "line": {"width": 0}, "layer": "below"})
        notes.append({"x": start.to_pydatetime(), "y": 1.0, "xref": "x", "yref": "paper", "text": label,
                      "showarrow": False, "font": {"size": 9}, "xanchor": "left", "yanchor": "bottom"})
    if shapes:
        fig.update_layout(shapes=[*fig.layout.shapes, *shapes],
                          annotations=[*fig.layout.annotations, *_stagger(notes)])
    return fig


def golden_signals_figure(signals: Any, *, services: Sequence[str] | None = None, events: Any = None,
                          incidents: Any = None, title: str = "Golden signals") -> Any:
    """One row per signal (rps, error ratio, p50/p99 latency), one line per service; scrape gaps
    marked with x. ``signals`` is :func:`holoops.analyze.signals.golden_signals`'s frame."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    df = _pd(signals)
    if services is not None:
        df = df[df["service"].astype(str).isin(list(services))]
    rows = [("rps", "requests/s"), ("error_ratio", "5xx ratio"), ("p99_ms", "p99 (ms)"), ("p50_ms", "p50 (ms)")]
    rows = [r for r in rows if r[0] in df.columns]
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=[r[1] for r in rows])
    for svc, g in df.groupby(df["service"].astype(str), sort=True):
        g = g.sort_values("ts")
        for i, (col, _label) in enumerate(rows, start=1):
            fig.add_trace(go.Scattergl(x=g["ts"], y=g[col], mode="lines", name=svc, legendgroup=svc,
                                       line={"color": service_colour(svc)}, showlegend=i == 1), row=i, col=1)
            if "gap" in g.columns and g["gap"].any():
                gg = g[g["gap"].astype(bool)]
                fig.add_trace(go.Scattergl(x=gg["ts"], y=gg[col], mode="markers", marker_symbol="x",
                                           marker_size=5, marker_color=service_colour(svc), name=f"{svc} gap",
                                           legendgroup=svc, showlegend=False), row=i, col=1)
    if "error_ratio" in df.columns:
        fig.update_yaxes(tickformat=".1%", row=[r[0] for r in rows].index("error_ratio") + 1, col=1)
    fig.update_layout(title=title, height=220 * len(rows), hovermode="x unified")
    _time_axes(fig)
    return add_event_markers(fig, events, incidents=incidents)


def saturation_figure(sat: Any, *, events: Any = None, incidents: Any = None,
                      title: str = "Saturation (share of limit)") -> Any:
    """One row per resource, one line per service, with a 100 % line."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    df = _pd(sat)
    resources = [r for r in ("cpu", "memory", "gpu_util", "gpu_memory", "disk")
                 if r in set(df["resource"].astype(str))]
    fig = make_subplots(rows=max(1, len(resources)), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=resources)
    shown: set[str] = set()
    for i, res in enumerate(resources, start=1):
        sub = df[df["resource"].astype(str) == res]
        for svc, g in sub.groupby(sub["service"].astype(str), sort=True):
            g = g.sort_values("ts")
            fig.add_trace(go.Scattergl(x=g["ts"], y=g["value"], mode="lines", name=f"{svc}",
                                       line={"color": service_colour(svc)}, legendgroup=svc,
                                       showlegend=svc not in shown), row=i, col=1)
            shown.add(svc)
        fig.add_hline(y=1.0, line_color="#dc2626", line_dash="dot", row=i, col=1)
        fig.update_yaxes(tickformat=".0%", row=i, col=1)
    fig.update_layout(title=title, height=200 * max(1, len(resources)))
    _time_axes(fig)
    return add_event_markers(fig, events, incidents=incidents)


def slo_burn_figure(report_or_burn: Any, *, service: str | None = None, sli: str = "availability",
                    events: Any = None, windows: Sequence[str] = ("5m", "1h", "6h", "1d")) -> Any:
    """Burn rates over time for one SLI, with the page (14.4x, 6x) and ticket (3x, 1x) thresholds."""
    import plotly.graph_objects as go

    burn = _pd(getattr(report_or_burn, "burn", report_or_burn))
    df = burn[(burn["sli"].astype(str) == sli) & (burn["window"].astype(str).isin(list(windows)))]
    if service is not None:
        df = df[df["service"].astype(str) == service]
    fig = go.Figure()
    for (svc, w), g in df.groupby([df["service"].astype(str), df["window"].astype(str)], sort=True):
        g = g.sort_values("ts")
        fig.add_trace(go.Scattergl(x=g["ts"], y=g["burn"], mode="lines", name=f"{svc} {w}"))
    for thr, colour in ((14.4, "#dc2626"), (6.0, "#f97316"), (3.0, "#f59e0b"), (1.0, "#16a34a")):
        fig.add_hline(y=thr, line_color=colour, line_dash="dot", annotation_text=f"{thr:g}x")
    fig.update_yaxes(type="log", title="burn rate (x budget)")
    fig.update_layout(title=f"SLO burn: {sli}" + (f" ({service})" if service else ""), height=420)
    return add_event_markers(fig, events, service=service)


def anomaly_figure(series: Any, value: str, anomalies: Any = None, *, service: str | None = None,
                   events: Any = None, title: str | None = None) -> Any:
    """A series with its anomalous runs shaded and peaks marked (from ``detect_anomalies``)."""
    import pandas as pd
    import plotly.graph_objects as go

    df = _pd(series)
    if service is not None and "service" in df.columns:
        df = df[df["service"].astype(str) == service]
    fig = go.Figure()
    groups = df.groupby(df["service"].astype(str)) if "service" in df.columns else [("", df)]
    for svc, g in groups:
        g = g.sort_values("ts")
        fig.add_trace(go.Scattergl(x=g["ts"], y=g[value], mode="lines", name=f"{svc} {value}".strip()))
    an = _pd(anomalies)
    if an is not None and len(an):
        if service is not None and "service" in an.columns:
            an = an[an["service"].astype(str) == service]
        if "signal" in an.columns:
            an = an[an["signal"].astype(str) == value]
        for _, a in an.iterrows():
            fig.add_vrect(x0=pd.Timestamp(a["onset"]).to_pydatetime(), x1=pd.Timestamp(a["end"]).to_pydatetime(),
                          fillcolor="#f59e0b", opacity=0.2, line_width=0)
        fig.add_trace(go.Scatter(x=an["peak_ts"], y=an["value"], mode="markers", marker_symbol="diamond",
                                 marker_color="#dc2626", name="anomaly", text=an["explanation"],
                                 hoverinfo="text"))
    fig.update_layout(title=title or f"{value} anomalies", height=380)
    return add_event_markers(fig, events, service=service)


def timeline_figure(tl: Any, *, incidents: Any = None, title: str = "Incident timeline") -> Any:
    """Gantt-like view of :func:`holoops.analyze.timeline.timeline`: one row per service, bars for
    anomalies and log bursts, markers for events."""
    import pandas as pd
    import plotly.graph_objects as go

    df = _pd(tl)
    colours = {"critical": "#dc2626", "warning": "#f59e0b", "info": "#3b82f6"}
    fig = go.Figure()
    spans = df[df["source"].astype(str) != "event"]
    for sev, g in spans.groupby(spans["severity"].astype(str)):
        dur = (pd.to_datetime(g["end"]) - pd.to_datetime(g["ts"])).dt.total_seconds() * 1000
        fig.add_trace(go.Bar(base=g["ts"], x=dur.clip(lower=60_000), y=g["service"].astype(str),
                             orientation="h", marker_color=colours.get(sev, "#6b7280"), name=sev,
                             text=g["kind"].astype(str), hovertext=g["detail"].astype(str), opacity=0.8))
    evs = df[df["source"].astype(str) == "event"]
    for kind, g in evs.groupby(evs["kind"].astype(str)):
        colour, _ = _EVENT_STYLE.get(kind, ("#6b7280", "dot"))
        fig.add_trace(go.Scatter(x=g["ts"], y=g["service"].astype(str), mode="markers",
                                 marker={"symbol": "triangle-down", "size": 10, "color": colour},
                                 name=kind, hovertext=g["detail"].astype(str)))
    fig.update_xaxes(type="date")
    fig.update_layout(title=title, barmode="overlay", height=80 + 40 * max(1, df["service"].nunique()))
    return add_event_markers(fig, None, incidents=incidents)
