"""SLOs from the fleet profile: error budgets and multi-window burn rates (SRE workbook).

SLIs per service, counted per step (exact counter increases, no extrapolation):

* ``availability``: bad = requests with a 5xx code, total = all requests (``http_requests_total``);
* ``latency``: bad = requests slower than ``slo.latency.threshold_ms``, from the duration histogram
  (the count at the threshold is interpolated linearly inside its bucket when the threshold is not
  a bucket bound); target = ``slo.latency.quantile``.

Error budget = ``(1 - target) x total`` over the SLO window (``slo_window``), or over the data's
window when the data is shorter (the report says which). Burn rate over ``w`` = bad share over the
trailing ``w`` / ``(1 - target)``. Alerts (multi-window, multi-burn-rate): page on 1h & 5m > 14.4x
or 6h & 30m > 6x; ticket on 1d & 2h > 3x or 3d & 6h > 1x.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from holoops.analyze.counters import NS, _from_columns, _time_grid, duration_s, step_increase_matrix

__all__ = ["BURN_RULES", "BURN_WINDOWS", "sli_counts", "burn_rates", "slo_report", "SLOReport"]

#: (long window, short window, threshold, severity): the multi-window burn-rate alerts of the SRE workbook;
#: severities on holoops's one scale (holoops.analyze.findings.SEVERITIES): critical pages, warning tickets
BURN_RULES: tuple[tuple[str, str, float, str], ...] = (
    ("1h", "5m", 14.4, "critical"),
    ("6h", "30m", 6.0, "critical"),
    ("1d", "2h", 3.0, "warning"),
    ("3d", "6h", 1.0, "warning"),
)
BURN_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def _sli_arrays(metrics: Any, fleet: Any, step: str = "1m"):
    """grid, {(service, sli): (target, total[steps], bad[steps])}."""
    import numpy as np

    from holoops.analyze.signals import signal_names

    names = signal_names()
    grid = _time_grid(metrics, step)
    out: dict[tuple[str, str], tuple[float, Any, Any]] = {}
    keys, mat = step_increase_matrix(metrics, names["requests"]["metric"], grid, by=["service", "code"])
    tot: dict[str, Any] = {}
    bad: dict[str, Any] = {}
    for k, row in zip(keys, mat, strict=True):
        svc, code = k
        tot[svc] = np.nansum([tot.get(svc, np.zeros(len(grid))), row], axis=0)
        tot.setdefault(svc + "#n", np.zeros(len(grid)))
        tot[svc + "#n"] = tot[svc + "#n"] + ~np.isnan(row)
        if str(code).startswith("5"):
            bad[svc] = np.nansum([bad.get(svc, np.zeros(len(grid))), row], axis=0)
    for svc, s in fleet.services.items():
        if svc not in tot:
            continue
        present = tot[svc + "#n"] > 0
        t = np.where(present, tot[svc], np.nan)
        b = np.where(present, bad.get(svc, np.zeros(len(grid))), np.nan)
        out[(svc, "availability")] = (s.slo.availability, t, b)
    hist = names["latency"]["histogram"] + "_bucket"
    hk, hm = step_increase_matrix(metrics, hist, grid, by=["service", "le"])
    per: dict[str, list] = {}
    for k, row in zip(hk, hm, strict=True):
        try:
            per.setdefault(k[0], []).append((float(k[1]), row))
        except ValueError:
            continue
    for svc, s in fleet.services.items():
        if s.slo.latency is None or svc not in per:
            continue
        bs = sorted(per[svc], key=lambda x: x[0])
        les = np.array([b[0] for b in bs])
        counts = np.array([b[1] for b in bs])  # [n_le, steps]
        if not np.isinf(les[-1]):
            continue
        total = counts[-1]
        thr = s.slo.latency.threshold_ms / 1000.0
        i = int(np.searchsorted(les, thr, side="left"))
        if i < len(les) and les[i] == thr:
            good = counts[i]
        elif i == 0:
            good = counts[0] * (thr / les[0])
        elif i >= len(les) - 1:
            good = counts[-2]
        else:
            lo, hi = les[i - 1], les[i]
            good = counts[i - 1] + (counts[i] - counts[i - 1]) * (thr - lo) / (hi - lo)
        out[(svc, "latency")] = (s.slo.latency.quantile, total, np.maximum(total - good, 0.0))
    return grid, out


def sli_counts(metrics: Any, fleet: Any, *, step: str = "1m") -> Any:
    """Per step and service: ``sli``, ``target``, ``total`` and ``bad`` request counts."""
    import numpy as np

    grid, arrays = _sli_arrays(metrics, fleet, step)
    cols: dict[str, list] = {"ts": [], "service": [], "sli": [], "target": [], "total": [], "bad": []}
    for (svc, sli), (target, total, bad) in arrays.items():
        ok = ~np.isnan(total)
        n = int(ok.sum())
        cols["ts"].append(grid[ok])
        cols["service"].append(np.full(n, svc, dtype=object))
        cols["sli"].append(np.full(n, sli, dtype=object))
        cols["target"].append(np.full(n, target))
        cols["total"].append(total[ok])
        cols["bad"].append(bad[ok])
    out = {k: np.concatenate(v) if v else np.array([]) for k, v in cols.items()}
    if not cols["ts"]:
        out["ts"] = np.array([], dtype="int64")
    return _from_columns(out, metrics)


def _trailing(x, steps: int):
    """Trailing sum over ``steps`` grid points (NaN counted as 0; NaN until any data)."""
    import numpy as np

    c = np.r_[0.0, np.cumsum(np.nan_to_num(x, nan=0.0))]
    idx = np.arange(1, len(x) + 1)
    return c[idx] - c[np.maximum(idx - steps, 0)]


def _burn(arrays, grid, step_s: float, windows=BURN_WINDOWS):
    import numpy as np

    res: dict[tuple[str, str, str], Any] = {}
    for (svc, sli), (target, total, bad) in arrays.items():
        for w in windows:
            n = max(1, int(round(duration_s(w) / step_s)))
            t, b = _trailing(total, n), _trailing(bad, n)
            with np.errstate(invalid="ignore", divide="ignore"):
                res[(svc, sli, w)] = np.where(t > 0, (b / t) / (1 - target), np.nan)
    return res


def burn_rates(metrics: Any, fleet: Any, *, step: str = "1m", windows: tuple[str, ...] = BURN_WINDOWS) -> Any:
    """Burn-rate time series: ``ts``, ``service``, ``sli``, ``window``, ``burn``."""
    import numpy as np

    grid, arrays = _sli_arrays(metrics, fleet, step)
    br = _burn(arrays, grid, duration_s(step), windows)
    cols: dict[str, list] = {"ts": [], "service": [], "sli": [], "window": [], "burn": []}
    for (svc, sli, w), v in br.items():
        ok = ~np.isnan(v)
        n = int(ok.sum())
        cols["ts"].append(grid[ok])
        for c, val in (("service", svc), ("sli", sli), ("window", w)):
            cols[c].append(np.full(n, val, dtype=object))
        cols["burn"].append(v[ok])
    out = {k: np.concatenate(v) if v else np.array([]) for k, v in cols.items()}
    if not cols["ts"]:
        out["ts"] = np.array([], dtype="int64")
    return _from_columns(out, metrics)


@dataclass
class SLOReport:
    """SLO status per service: ``summary`` (one row per service and SLI), ``burn`` (time series),
    ``alerts`` (burn-rate alert intervals). Displays itself as tables in notebooks."""

    summary: Any
    burn: Any
    alerts: Any
    window_note: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def findings(self):
        """Open burn alerts and exhausted budgets as :class:`~holoops.analyze.findings.Findings`."""
        import pandas as pd

        from holoops.analyze.findings import Finding, Findings
        out = Findings()
        for r in self.rows:
            if r["status"] == "ok":
                continue
            if r.get("firing") is None:  # no burn alert open: the spent budget is reported below
                continue
            sev = r["firing"]
            onset = pd.Timestamp(r["alert_since"]) if r.get("alert_since") is not None else None
            out.append(Finding(sev, r["service"], "slo_burn", onset,
                               f"{r['service']} {r['sli']} SLO burning at {r['burn_1h']:.1f}x (1h); "
                               f"{r['budget_remaining'] * 100:.0f}% of the error budget left",
                               evidence={"sli": r["sli"], **{k: r[k] for k in (
                                   "target", "sli_value", "burn_5m", "burn_1h", "burn_6h", "budget_remaining")}},
                               runbook=_runbook(r["sli"])))
        for r in self.rows:  # no fast burn now, but the window's budget is spent: the error-budget policy
            if r.get("firing") is not None or r.get("exhausted_at") is None:
                continue
            out.append(Finding("warning", r["service"], "slo_budget_exhausted", pd.Timestamp(r["exhausted_at"]),
                               f"{r['service']} {r['sli']} error budget exhausted "
                               f"({r['budget_remaining'] * 100:.0f}% left; spent since "
                               f"{pd.Timestamp(r['exhausted_at']):%Y-%m-%d %H:%M} UTC): hold risky deploys "
                               "until it recovers",
                               evidence={"sli": r["sli"], **{k: r[k] for k in (
                                   "target", "sli_value", "budget", "bad", "budget_remaining")}},
                               runbook=_runbook(r["sli"])))
        return out

    def _repr_html_(self) -> str:
        parts = [f"<p><em>{html.escape(self.window_note)}</em></p>"]
        services: dict[str, list] = {}
        for r in self.rows:
            services.setdefault(r["service"], []).append(r)
        colour = {"ok": "#16a34a", "warning": "#f59e0b", "critical": "#dc2626"}
        head = "".join(f"<th>{h}</th>" for h in ("SLI", "target", "actual", "budget left", "burn 5m",
                                                  "burn 1h", "burn 6h", "burn 1d", "status"))
        for svc, rs in services.items():
            body = ""
            for r in rs:
                body += (f"<tr><td>{r['sli']}</td><td>{r['target'] * 100:.2f}%</td>"
                         f"<td>{_pct(r['sli_value'])}</td><td>{_pct(r['budget_remaining'])}</td>"
                         f"<td>{_x(r['burn_5m'])}</td><td>{_x(r['burn_1h'])}</td><td>{_x(r['burn_6h'])}</td>"
                         f"<td>{_x(r['burn_1d'])}</td>"
                         f"<td style='color:{colour[r['status']]};font-weight:bold'>{r['status']}"
                         f"{_exhausted(r)}</td></tr>")
            parts.append(f"<h4>{html.escape(svc)}</h4><table><thead><tr>{head}</tr></thead>"
                         f"<tbody>{body}</tbody></table>")
        return "".join(parts)


def _runbook(sli: str) -> str:
    """The runbook for an SLI's findings: latency regression for latency, error burst otherwise."""
    from holoops.analyze.timeline import RUNBOOKS

    return RUNBOOKS["latency" if sli == "latency" else "errors"]


def _exhausted(r: dict[str, Any]) -> str:
    """The status cell's note for a spent budget (the status itself is the burn-rate alert state)."""
    if r.get("exhausted_at") is None:
        return ""
    return (" <span style='color:#dc2626'>(budget exhausted "
            f"{r['exhausted_at']:%m-%d %H:%M})</span>")


def _pct(v: float) -> str:
    import math

    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v * 100:.2f}%"


def _x(v: float) -> str:
    import math

    return "-" if v is None or math.isnan(v) else f"{v:.1f}x"


def slo_report(metrics: Any, fleet: Any, *, step: str = "1m") -> SLOReport:
    """Error budgets and burn-rate status per service and SLI at the end of the data."""
    import numpy as np

    grid, arrays = _sli_arrays(metrics, fleet, step)
    step_s = duration_s(step)
    br = _burn(arrays, grid, step_s)
    span_s = (grid[-1] - grid[0]) / NS + step_s if len(grid) else 0.0
    slo_s = fleet.slo_window_seconds
    if span_s < slo_s:
        note = (f"Error budgets are over the data's window ({span_s / 86400:.1f} days), shorter than "
                f"the SLO window ({fleet.slo_window}).")
        n_budget = len(grid)
    else:
        note = f"Error budgets are over the SLO window ({fleet.slo_window})."
        n_budget = int(round(slo_s / step_s))
    rows: list[dict[str, Any]] = []
    alert_cols: dict[str, list] = {"service": [], "sli": [], "rule": [], "severity": [], "start": [], "end": []}
    for (svc, sli), (target, total, bad) in arrays.items():
        t = float(np.nansum(total[-n_budget:]))
        b = float(np.nansum(bad[-n_budget:]))
        budget = (1 - target) * t
        spent = np.cumsum(np.nan_to_num(bad[-n_budget:]))
        over = np.flatnonzero(spent > budget) if budget > 0 and b > budget else np.array([], dtype=int)
        exhausted_at = int(grid[-n_budget:][over[0]]) if len(over) else None
        firing_any = np.zeros(len(grid), dtype=bool)
        status, since = "ok", None
        for long_w, short_w, thr, sev in BURN_RULES:
            fire = (np.nan_to_num(br[(svc, sli, long_w)]) > thr) & (np.nan_to_num(br[(svc, sli, short_w)]) > thr)
            firing_any |= fire
            # intervals
            edges = np.diff(np.r_[0, fire.astype(int), 0])
            for a, z in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
                alert_cols["service"].append(svc)
                alert_cols["sli"].append(sli)
                alert_cols["rule"].append(f"{long_w}/{short_w} > {thr}x")
                alert_cols["severity"].append(sev)
                alert_cols["start"].append(int(grid[a]))
                alert_cols["end"].append(int(grid[z - 1]))
            if len(fire) and fire[-1] and status != "critical":
                status = sev
                k = len(fire) - 1
                while k > 0 and fire[k - 1]:
                    k -= 1
                since = int(grid[k])

        def last(w: str, svc=svc, sli=sli) -> float:
            v = br[(svc, sli, w)]
            return float(v[-1]) if len(v) else float("nan")

        rows.append({"service": svc, "sli": sli, "target": target,
                     "sli_value": 1 - b / t if t > 0 else float("nan"),
                     "total": t, "bad": b, "budget": budget,
                     "budget_remaining": 1 - b / budget if budget > 0 else float("nan"),
                     **{f"burn_{w}": last(w) for w in BURN_WINDOWS},
                     # one scale: a firing burn alert's severity; a spent budget is at least a warning
                     "status": status if status != "ok" or exhausted_at is None else "warning",
                     "firing": None if status == "ok" else status,
                     "alert_since": None if since is None else _ts(since),
                     "exhausted_at": None if exhausted_at is None else _ts(exhausted_at)})
    summary_cols = {k: np.array([r[k] for r in rows], dtype=object if k in ("service", "sli", "status")
                                else float)
                    for k in ("service", "sli", "target", "sli_value", "total", "bad", "budget",
                              "budget_remaining", *(f"burn_{w}" for w in BURN_WINDOWS), "status")}
    summary = _from_columns(summary_cols, metrics, ts_cols=())
    burn_frame = burn_rates(metrics, fleet, step=step)
    alerts = _from_columns({k: np.array(v, dtype="int64" if k in ("start", "end") else object)
                            for k, v in alert_cols.items()}, metrics, ts_cols=("start", "end"))
    return SLOReport(summary, burn_frame, alerts, note, rows)


def _ts(ns: int):
    import pandas as pd

    return pd.Timestamp(ns, tz="UTC")
