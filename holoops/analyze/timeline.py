"""Incident timeline and suspects: which service deviated first, seen through the dependency graph.

Per service and step (exact per-step counter increases, so onsets are not smeared by a rate
window) holoops watches: the 5xx ratio, p50/p99 latency (histogram), the share of targets down
(``up == 0``), GPU utilisation and the slope of GPU memory, and the slope of disk usage. Each watch
gives *deviations* (robust seasonal baseline, see :mod:`holoops.analyze.anomalies`). Deviations less
than ``gap`` apart form one incident. Within an incident a service is a *victim* when one of its
(transitive) dependencies deviated no later than it did (+ ``tolerance``); the others are root
candidates, earliest first. A root deviation just after a deploy/config event of that service is
attributed to it (the onset becomes the event time).

Severity: ``critical`` needs hard impact (5xx >= 5 % for 3+ steps, half the targets down, p99 over
the SLO threshold at >= 2x its baseline, GPU memory >= 95 %, a disk full within 3 days); other
deviations are ``warning``; a quiet fleet therefore raises nothing above ``warning``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from holoops.analyze.counters import (
    NS,
    _from_columns,
    _nw,
    _str_col,
    _time_grid,
    _ts_ns,
    duration_s,
    gauge_matrix,
    step_increase_matrix,
)

__all__ = ["Deviation", "health_signals", "deviations", "detect_incidents", "suspects", "timeline"]

#: a latency quantile is scored only where at least this many requests lie beyond it (see health_signals)
MIN_TAIL = 3

RUNBOOKS = {
    "errors": "runbooks/error_burst.ipynb",
    "latency": "runbooks/latency_regression.ipynb",
    "down": "runbooks/dependency_outage.ipynb",
    "gpu": "runbooks/gpu_memory_pressure.ipynb",
    "disk": "runbooks/disk_exhaustion.ipynb",
}


@dataclass
class Deviation:
    """One service's departure from its baseline on one signal (indices into the step grid)."""

    service: str
    signal: str
    onset: int
    end: int
    peak: int
    value: float
    baseline: float
    score: float
    severity: str
    explanation: str
    event: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _frames(data: Any) -> tuple[Any, Any, Any]:
    """(metrics, logs, events) from a DemoFleet-like object or a dict."""
    if isinstance(data, dict):
        return data.get("metrics"), data.get("logs"), data.get("events")
    return getattr(data, "metrics", None), getattr(data, "logs", None), getattr(data, "events", None)


def _roll(x: Any, n: int) -> Any:
    """Trailing sum over ``n`` points (NaN counted as 0; NaN where all ``n`` are NaN)."""
    import numpy as np

    if n <= 1:
        return x
    ok = ~np.isnan(x)
    c = np.r_[0.0, np.cumsum(np.where(ok, x, 0.0))]
    k = np.r_[0, np.cumsum(ok)]
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(idx - n, 0)
    return np.where(k[idx] - k[lo] > 0, c[idx] - c[lo], np.nan)


def health_signals(metrics: Any, fleet: Any, *, step: str = "1m", smooth: int = 3
                   ) -> tuple[Any, dict[tuple[str, str], Any]]:
    """Per-step health signals: ``grid`` and ``{(service, signal): array}`` with signals ``requests``,
    ``errors``, ``error_ratio``, ``p50_ms``, ``p99_ms`` (over the trailing ``smooth`` steps),
    ``down_share``, ``gpu_util``, ``gpu_memory``, ``disk_used``, ``disk_size``."""
    import numpy as np

    from holoops.analyze.quantiles import histogram_quantiles
    from holoops.analyze.signals import signal_names

    names = signal_names()
    grid = _time_grid(metrics, step)
    out: dict[tuple[str, str], Any] = _Signals()
    keys, mat = step_increase_matrix(metrics, names["requests"]["metric"], grid, by=["service", "code"])
    tot: dict[str, Any] = {}
    bad: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    for (svc, code), row in zip(keys, mat, strict=True):
        tot[svc] = tot.get(svc, np.zeros(len(grid))) + np.nan_to_num(row)
        seen[svc] = seen.get(svc, np.zeros(len(grid), dtype=bool)) | ~np.isnan(row)
        if str(code).startswith("5"):
            bad[svc] = bad.get(svc, np.zeros(len(grid))) + np.nan_to_num(row)
    for svc, t in tot.items():
        if svc not in fleet.services:
            continue
        t = _roll(np.where(seen[svc], t, np.nan), smooth)
        b = _roll(np.where(seen[svc], bad.get(svc, np.zeros(len(grid))), np.nan), smooth)
        out[(svc, "requests")] = t
        out[(svc, "errors")] = b
        with np.errstate(invalid="ignore", divide="ignore"):
            out[(svc, "error_ratio")] = np.where(t > 0, b / t, np.nan)
    hk, hm = step_increase_matrix(metrics, names["latency"]["histogram"] + "_bucket", grid, by=["service", "le"])
    per: dict[str, list] = {}
    for (svc, le), row in zip(hk, hm, strict=True):
        try:
            per.setdefault(svc, []).append((float(le), _roll(row, smooth)))
        except ValueError:
            continue
    for svc, bs in per.items():
        if svc not in fleet.services:
            continue
        bs.sort(key=lambda b: b[0])
        les = [b[0] for b in bs]
        counts = np.nan_to_num(np.array([b[1] for b in bs]).T, nan=0.0)
        n_req = counts[:, -1] if les and les[-1] == float("inf") else counts.max(axis=1)
        for q, name in ((0.5, "p50_ms"), (0.99, "p99_ms")):
            # a q-quantile of n requests is set by the n (1 - q) slowest: below MIN_TAIL of them (a p99 at
            # 0.1-1 req/s over three minutes is one or two requests) one request crossing a bucket bound
            # moves it a whole bucket (250 -> 500 ms), so it is left out, not scored
            est = histogram_quantiles(q, les, counts) * 1000.0
            out[(svc, name)] = np.where(n_req * (1 - q) >= MIN_TAIL, est, np.nan)
    _gauge_health(metrics, fleet, grid, step, smooth, out)
    uk, um = gauge_matrix(metrics, names["up"]["metric"], grid, lookback="90s", by=["service", "instance"])
    downs: dict[str, list] = {}
    for (svc, _inst), row in zip(uk, um, strict=True):
        downs.setdefault(svc, []).append(row)
    for svc, rows in downs.items():
        r = np.array(rows)
        seen = (~np.isnan(r)).sum(axis=0)
        down = (r == 0).sum(axis=0)
        out[(svc, "down_share")] = np.where(seen > 0, down / np.maximum(seen, 1), np.nan)
    gpu = names["gpu"]
    for metric, name in ((gpu["utilization"], "gpu_util"),):
        k, m = gauge_matrix(metrics, metric, grid, lookback="90s", by=["service"], how="max")
        for (svc,), row in zip(k, m, strict=True):
            out[(svc, name)] = row
    ku, mu = gauge_matrix(metrics, gpu["memory_used"], grid, lookback="90s", by=["service", "instance"])
    kf, mf = gauge_matrix(metrics, gpu["memory_free"], grid, lookback="90s", by=["service", "instance"])
    free = dict(zip(kf, mf, strict=True))
    shares: dict[str, list] = {}
    for k, u in zip(ku, mu, strict=True):
        if k in free:
            with np.errstate(invalid="ignore", divide="ignore"):
                shares.setdefault(k[0], []).append(u / (u + free[k]))
    for svc, rows in shares.items():
        out[(svc, "gpu_memory")] = np.fmax.reduce(np.array(rows), axis=0)
    disk = names["disk"]
    ka, ma = gauge_matrix(metrics, disk["available"], grid, lookback="90s", by=["service", "instance"])
    ks, ms = gauge_matrix(metrics, disk["size"], grid, lookback="90s", by=["service", "instance"])
    size = dict(zip(ks, ms, strict=True))
    used: dict[str, list] = {}
    for k, a in zip(ka, ma, strict=True):
        if k in size:
            used.setdefault(k[0], []).append((size[k] - a, size[k]))
    for svc, rows in used.items():
        i = int(np.argmax([np.nanmax(u / s) if np.isfinite(u / s).any() else -1 for u, s in rows]))
        out[(svc, "disk_used")] = rows[i][0]
        out[(svc, "disk_size")] = rows[i][1]
    return grid, out


class _Signals(dict):
    """``{(service, signal): array}``; ``raw`` holds the keys read from gauges at the data's own step (not
    summed over ``smooth`` steps like counter increases)."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: set[tuple[str, str]] = set()


def _gauge_health(metrics: Any, fleet: Any, grid: Any, step: str, smooth: int, out: dict) -> None:
    """Health signals of services that export pre-computed gauges instead of counters and histograms
    (catalogs/signal_map.yaml: request rate, error ratio, latency quantiles, CPU cores)."""
    import numpy as np

    from holoops.analyze.signals import CPU_CORES_GAUGE, GAUGES, signal_names

    step_s = duration_s(step)
    look = f"{int(max(step_s, 1) * 1.5)}s"

    def per_service(metric: str, how: str, by: tuple[str, ...] = ("service",)):
        try:
            return gauge_matrix(metrics, metric, grid, lookback=look, by=list(by), how=how)
        except KeyError:
            return [], np.zeros((0, len(grid)))

    keys, mat = per_service(GAUGES["rps"], "sum")
    for (svc,), row in zip(keys, mat, strict=True):
        if svc in fleet.services and (svc, "requests") not in out:
            out[(svc, "requests")] = _roll(row * step_s, smooth)
    keys, mat = per_service(GAUGES["error_ratio"], "max")
    for (svc,), row in zip(keys, mat, strict=True):
        n = out.get((svc, "requests"))
        # an error ratio is judged against the number of requests behind it: without a request rate
        # (a front end exporting only a success rate) there is no count to judge it by
        if svc in fleet.services and (svc, "error_ratio") not in out and n is not None:
            with np.errstate(invalid="ignore"):
                ratio = _roll(row, smooth) / max(smooth, 1)
            out[(svc, "error_ratio")] = ratio
            out[(svc, "errors")] = ratio * n
    lat = signal_names()["latency"]["histogram"]
    try:
        keys, mat = gauge_matrix(metrics, lat, grid, lookback=look, by=["service", "quantile"], how="max")
    except KeyError:
        keys, mat = [], []
    for (svc, quant), row in zip(keys, mat, strict=True):
        try:
            q = float(quant)
        except (TypeError, ValueError):
            continue
        name = {0.5: "p50_ms", 0.99: "p99_ms"}.get(q)
        if name is None or svc not in fleet.services or (svc, name) in out:
            continue
        est = row * 1000.0
        n = out.get((svc, "requests"))
        if n is not None:  # the same reliability rule as for histograms
            est = np.where(np.nan_to_num(n) * (1 - q) >= MIN_TAIL, est, np.nan)
        out[(svc, name)] = est
        getattr(out, "raw", set()).add((svc, name))
    keys, mat = per_service(CPU_CORES_GAUGE, "max", ("service",))
    for (svc,), row in zip(keys, mat, strict=True):
        if svc in fleet.services:
            out[(svc, "cpu_cores")] = row
            getattr(out, "raw", set()).add((svc, "cpu_cores"))


def _explain(svc: str, what: str, v: str, score: float, base: str, t_peak: int, t_on: int,
             unit: str = "MADs") -> str:
    import pandas as pd

    hhmm = pd.Timestamp(int(t_peak), tz="UTC").strftime("%H:%M")
    since = pd.Timestamp(int(t_on), tz="UTC").strftime("%H:%M")
    return f"{what} of {svc} {v} is {score:.1f} {unit} above its {hhmm} baseline of {base} since {since}"


def deviations(metrics: Any, fleet: Any, *, step: str = "1m", events: Any = None, min_points: int = 5,
               smooth: int = 3) -> tuple[Any, list[Deviation]]:
    """All deviations per service and signal: ``(grid, [Deviation, ...])``. Error and latency runs
    must last ``min_points`` steps; they are computed over the trailing ``smooth`` steps."""
    import numpy as np

    from holoops.analyze.anomalies import anomaly_runs, cusum_onsets, robust_baseline, robust_score

    grid, sig = health_signals(metrics, fleet, step=step, smooth=smooth)
    raw = getattr(sig, "raw", set())
    # a smoothed signal spreads one bad step over `smooth` points; a gauge read at the data's own step
    # does not: two points in a row at the threshold (each far out in the tail) are its minimum run
    raw_min = max(2, min_points - smooth)

    def need(svc: str, name: str) -> int:
        return raw_min if (svc, name) in raw else min_points

    step_s = duration_s(step)
    per = int(round(86400 / step_s))
    out: list[Deviation] = []
    for svc in fleet.services:
        s = fleet.services[svc]
        # 5xx ratio: robust seasonal baseline with a binomial noise floor
        if (svc, "error_ratio") in sig:
            x, n, bad = sig[(svc, "error_ratio")], sig[(svc, "requests")], sig[(svc, "errors")]
            base, _spread = robust_baseline(x, period=per)
            # typical share: errors / requests over the day before (pooled, robust to sparse counts)
            p0 = _roll(bad, per) / np.fmax(_roll(n, per), 1)
            p0 = np.fmax(np.fmax(np.nan_to_num(p0), np.nan_to_num(base)), 1e-4)
            with np.errstate(invalid="ignore", divide="ignore"):
                score = (bad - n * p0) / np.sqrt(np.fmax(n * p0, 1.0))
            score = np.where((x >= 0.02) & (x >= 3 * p0), score, np.minimum(score, 2.9))
            for on, end, peak in _runs(score, threshold=6, min_points=min_points, onset_threshold=3):
                end = _extend_end(end, (x >= 0.02) & (x >= 3 * p0[on]))
                sl = slice(on, end + 1)
                hard = int((x[sl] >= 0.05).sum()) >= min_points
                out.append(Deviation(svc, "error_ratio", on, end, peak, float(x[peak]), float(p0[peak]),
                                     float(score[peak]), "critical" if hard else "warning",
                                     _explain(svc, "5xx ratio", f"{x[peak] * 100:.1f}%", score[peak],
                                              f"{p0[peak] * 100:.2f}%", grid[peak], grid[on], "sigmas")))
        # latency (log scale)
        for name in ("p99_ms", "p50_ms"):
            if (svc, name) not in sig:
                continue
            x = sig[(svc, name)]
            y = np.log(np.where(x > 0, x, np.nan))
            base, spread = robust_baseline(y, period=per)
            score = robust_score(y, base, spread, rel_floor=0.0, abs_floor=0.08)
            score = np.where(y - base >= np.log(1.5), score, np.minimum(score, 2.9))
            thr = s.slo.latency.threshold_ms if s.slo.latency else np.inf
            for on, end, peak in _runs(score, threshold=6, min_points=need(svc, name), onset_threshold=3):
                with np.errstate(invalid="ignore"):
                    end = _extend_end(end, y - base[on] >= np.log(1.5))
                b = float(np.exp(base[peak]))
                hard = name == "p99_ms" and x[peak] > thr and x[peak] >= 2 * b
                out.append(Deviation(svc, name, on, end, peak, float(x[peak]), b, float(score[peak]),
                                     "critical" if hard else "warning",
                                     _explain(svc, name.replace("_ms", "") + " latency", f"{x[peak]:.0f} ms",
                                              score[peak], f"{b:.0f} ms", grid[peak], grid[on])))
        # CPU in use (pre-computed cores gauge): a level far above the service's own baseline
        if (svc, "cpu_cores") in sig:
            x = sig[(svc, "cpu_cores")]
            y = np.log(np.where(x > 0, x, np.nan))
            base, spread = robust_baseline(y, period=per)
            score = robust_score(y, base, spread, rel_floor=0.0, abs_floor=0.1)
            score = np.where(y - base >= np.log(2.0), score, np.minimum(score, 2.9))
            lim = s.resources.cpu.limit
            for on, end, peak in _runs(score, threshold=6, min_points=need(svc, "cpu_cores"), onset_threshold=3):
                b = float(np.exp(base[peak]))
                hard = bool(x[peak] >= 0.9 * lim)
                out.append(Deviation(svc, "cpu", on, end, peak, float(x[peak]), b, float(score[peak]),
                                     "critical" if hard else "warning",
                                     _explain(svc, "CPU in use", f"{x[peak]:.3g} cores", score[peak],
                                              f"{b:.3g} cores", grid[peak], grid[on])))
        # targets down
        if (svc, "down_share") in sig:
            x = np.nan_to_num(sig[(svc, "down_share")])
            hot = (x >= 0.5).astype(float) * 10
            for on, end, peak in anomaly_runs(hot, threshold=6, min_points=2, onset_threshold=6):
                hard = end - on + 1 >= 3
                out.append(Deviation(svc, "down", on, end, peak, float(x[peak]), 0.0, 10.0,
                                     "critical" if hard else "warning",
                                     f"{x[peak] * 100:.0f}% of {svc}'s targets down (up == 0) since "
                                     f"{_hhmm(grid[on])}"))
        # GPU utilisation level and GPU memory slope
        if (svc, "gpu_util") in sig:
            x = sig[(svc, "gpu_util")]
            base, spread = robust_baseline(x, period=per)
            score = robust_score(x, base, spread, rel_floor=0.05, abs_floor=2.0)
            score = np.where(x >= 90, score, np.minimum(score, 2.9))
            mem = sig.get((svc, "gpu_memory"), np.full(len(grid), np.nan))
            for on, end, peak in anomaly_runs(score, threshold=6, min_points=3, onset_threshold=6):
                hard = bool(np.nanmax(mem[on:end + 1], initial=0) >= 0.95)
                out.append(Deviation(svc, "gpu_util", on, end, peak, float(x[peak]), float(base[peak]),
                                     float(score[peak]), "critical" if hard else "warning",
                                     _explain(svc, "GPU utilisation", f"{x[peak]:.0f}%", score[peak],
                                              f"{base[peak]:.0f}%", grid[peak], grid[on])
                                     + (f"; GPU memory reached {np.nanmax(mem[on:end + 1]) * 100:.1f}%"
                                        if hard else "")))
        if (svc, "gpu_memory") in sig:
            x = sig[(svc, "gpu_memory")]
            d = np.r_[np.nan, np.diff(x)]
            mad = np.nanmedian(np.abs(d - np.nanmedian(d))) * 1.4826 if np.isfinite(d).any() else np.nan
            score = d / max(float(np.nan_to_num(mad)), 1e-4)
            for on, end, peak in anomaly_runs(score, threshold=6, min_points=3, onset_threshold=6):
                top = float(np.nanmax(x[on:min(len(x), end + 60)]))
                out.append(Deviation(svc, "gpu_memory", on, end, peak, top, float(x[max(on - 1, 0)]),
                                     float(score[peak]), "critical" if top >= 0.95 else "warning",
                                     f"GPU memory of {svc} climbing {d[peak] * 100:.1f} points/step since "
                                     f"{_hhmm(grid[on])} (to {top * 100:.1f}%)"))
        # disk: change in fill rate (CUSUM on the step differences)
        if (svc, "disk_used") in sig:
            x, size = sig[(svc, "disk_used")], sig[(svc, "disk_size")]
            d = np.r_[np.nan, np.diff(x)]
            med = np.nanmedian(d[: max(per, 60)]) if np.isfinite(d).any() else np.nan
            mad = np.nanmedian(np.abs(d[: max(per, 60)] - med)) * 1.4826 if np.isfinite(d).any() else np.nan
            if np.isfinite(mad) and mad > 0:
                resid = np.clip((d - med) / mad, -10, 10)
                for on, alarm in cusum_onsets(resid, k=1.0, h=40.0, direction="up"):
                    after = d[on:]
                    rate = float(np.nanmedian(after[np.isfinite(after)])) if np.isfinite(after).any() else 0.0
                    if rate <= 3 * max(med, 0) or rate <= 0:
                        continue
                    left = float(size[-1] - x[-1]) if np.isfinite(size[-1]) else np.nan
                    days_left = left / rate * step_s / 86400 if rate > 0 else np.inf
                    out.append(Deviation(svc, "disk_fill", on, len(grid) - 1, alarm, rate / step_s,
                                         med / step_s, float(rate / mad), "critical" if days_left < 3 else "warning",
                                         f"disk of {svc} filling {rate / step_s / 2**20:.2f} MiB/s since "
                                         f"{_hhmm(grid[on])} (was {med / step_s / 2**20:.3f} MiB/s); full in "
                                         f"{days_left:.1f} days", extra={"days_left": days_left}))
                    break
    if events is not None:
        _attach_events(out, grid, events)
    return grid, out


def _runs(score: Any, *, threshold: float, min_points: int, onset_threshold: float) -> list[tuple[int, int, int]]:
    """Runs of ``score >= threshold`` that carry as much evidence as ``min_points`` points at the
    threshold: long runs, or runs of two points or more whose scores add up to ``threshold x
    min_points`` (a 2-minute fault at 1-minute resolution is as sure as a 5-minute one when it is far
    enough out; the false-alarm rate of a run falls with its summed score, not its length alone)."""
    import numpy as np

    from holoops.analyze.anomalies import anomaly_runs

    s = np.nan_to_num(np.asarray(score, dtype=float), nan=0.0)
    out = []
    for on, end, peak in anomaly_runs(s, threshold=threshold, min_points=min(2, min_points),
                                      onset_threshold=onset_threshold):
        hot = s[on:end + 1]
        if int((hot >= threshold).sum()) >= min_points or (
                end - on >= 1 and float(np.minimum(hot, 4 * threshold).sum()) >= threshold * min_points):
            out.append((on, end, peak))
    return out


def _extend_end(end: int, elevated: Any) -> int:
    """A run's end pushed forward while the signal stays ``elevated`` against the baseline at its onset.

    The rolling baselines keep learning during a long incident (a 45-minute 5xx plateau or a three-hour
    latency regression becomes part of "normal" after a while), so the score alone ends the run early;
    the incident's extent is how long the signal stays away from where it was before. One-point dips
    are bridged."""
    n = len(elevated)
    while end + 1 < n and (elevated[end + 1] or (end + 2 < n and elevated[end + 2])):
        end += 1
    return end


def _hhmm(ns: int) -> str:
    import pandas as pd

    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%d %H:%M")


def _event_rows(events: Any) -> list[dict[str, Any]]:
    if events is None:
        return []
    tbl = _nw(events).to_arrow()
    if tbl.num_rows == 0:
        return []
    ts = _ts_ns(tbl)
    cols = {c: _str_col(tbl, c) for c in ("kind", "service", "detail")}
    return [{"ts": int(ts[i]), **{c: str(cols[c][i]) for c in cols}} for i in range(tbl.num_rows)]


def _attach_events(devs: list[Deviation], grid: Any, events: Any, window_s: float = 600) -> None:
    evs = [e for e in _event_rows(events) if e["kind"] in ("deploy", "config")]
    for d in devs:
        t = int(grid[d.onset])
        best = None
        for e in evs:
            if (e["service"] == d.service and t - window_s * NS <= e["ts"] <= t + 60 * NS
                    and (best is None or e["ts"] > best["ts"])):
                best = e
        d.event = best


def _closure(fleet: Any, svc: str) -> set[str]:
    seen: set[str] = set()
    todo = list(fleet.downstream(svc))
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(fleet.downstream(d))
    return seen


def _incidents(grid, devs: list[Deviation], fleet: Any, step_s: float, gap: str = "2m", tolerance: str = "2m"):
    """Group deviations into incidents and rank services: list of dicts."""
    gap_n = duration_s(gap) / step_s
    tol_n = duration_s(tolerance) / step_s
    groups: list[list[Deviation]] = []
    def extent(d: Deviation) -> float:
        return min(d.end, d.onset + 60 * 60 / step_s) if d.signal == "disk_fill" else d.end

    for d in sorted(devs, key=lambda d: d.onset):
        if groups and d.onset <= max(extent(x) for x in groups[-1]) + gap_n:
            groups[-1].append(d)
        else:
            groups.append([d])
    incidents = []
    rank_sev = {"info": 0, "warning": 1, "critical": 2}
    for members in groups:
        first: dict[str, Deviation] = {}
        for d in members:
            if d.service not in first or d.onset < first[d.service].onset:
                first[d.service] = d
        ranked = []
        for svc, d in first.items():
            deps = _closure(fleet, svc)
            earlier = [x for x in deps if x in first and first[x].onset <= d.onset + tol_n]
            callers_first = [u for u in first if svc in _closure(fleet, u) and first[u].onset < d.onset - tol_n]
            role = "victim" if earlier else "root"
            worst = max((rank_sev[x.severity] for x in members if x.service == svc), default=0)
            ranked.append({"service": svc, "role": role, "onset": d.onset, "signal": d.signal,
                           "victim_of": sorted(earlier), "callers_earlier": sorted(callers_first),
                           "event": d.event, "severity_rank": worst, "deviation": d})
        ranked.sort(key=lambda r: (r["role"] != "root", len(r["callers_earlier"]) > 0, r["onset"],
                                   r["event"] is None, -r["severity_rank"]))
        sev = max((d.severity for d in members), key=lambda s: rank_sev[s])
        incidents.append({"members": members, "ranked": ranked, "severity": sev})
    return incidents


def _rca_rerank(data: Any, fleet: Any, grid: Any, incidents: list[dict], rank: str) -> None:
    """Order each incident's suspects as :func:`holoops.analyze.rca.diagnose` ranks them at the incident's
    onset (every signal, the traces' call direction, the logs), when ``data`` is a Dataset with spans or
    logs and ``rank`` is not ``onset``; the deviation order stays for services it does not name, and where
    it abstains."""
    if rank == "onset" or not (hasattr(data, "window") and hasattr(data, "fleet")):
        return
    spans, logs = getattr(data, "spans", None), getattr(data, "logs", None)
    if not ((spans is not None and len(spans)) or (logs is not None and len(logs))):
        return
    from holoops.analyze.rca import diagnose

    for inc in incidents:
        at = int(min(grid[d.onset] for d in inc["members"]))
        try:
            diag = diagnose(data, at=at)
        except Exception:  # noqa: BLE001 - the deviation order stands
            continue
        inc["diagnosis"] = diag
        if diag.abstain:
            continue
        order = {s: i for i, s in enumerate(diag.ranking)}
        have = {r["service"] for r in inc["ranked"]}
        first = inc["ranked"][0]
        for s in diag.ranking[:3]:
            if s not in have:  # named by the evidence, not by a metric deviation
                inc["ranked"].append({**first, "service": s, "role": "root", "victim_of": [],
                                      "callers_earlier": [], "event": None, "signal": "rca", "rca_only": True})
        inc["ranked"].sort(key=lambda r: order.get(r["service"], len(order)))
        for r in inc["ranked"]:
            sus = next((x for x in diag.suspects if x.service == r["service"]), None)
            if sus is not None:
                r["role"] = sus.role


def detect_incidents(data: Any, fleet: Any, *, step: str = "1m", gap: str = "2m", tolerance: str = "2m",
                     rank: str = "auto"):
    """Incidents in ``data`` (``.metrics``/``.events`` or a dict) as :class:`Findings` (kind
    ``incident``), worst first. ``evidence`` holds the ranked suspects and the deviations. On a
    Dataset with traces or logs the suspects follow :func:`holoops.analyze.rca.diagnose` at each
    incident's onset (``rank="onset"``: the order the deviations began in, through the dependency graph)."""
    import pandas as pd

    from holoops.analyze.findings import Finding, Findings

    metrics, _logs, events = _frames(data)
    grid, devs = deviations(metrics, fleet, step=step, events=events)
    step_s = duration_s(step)
    out = Findings()
    incidents = _incidents(grid, devs, fleet, step_s, gap, tolerance)
    _rca_rerank(data, fleet, grid, incidents, rank)
    for inc in incidents:
        top = inc["ranked"][0]
        d: Deviation = top["deviation"]
        onset = int(grid[d.onset])
        cause = ""
        if top["event"] is not None:
            onset = top["event"]["ts"]
            cause = f" after {top['event']['kind']} '{top['event']['detail']}'"
        victims = [r["service"] for r in inc["ranked"][1:]]
        summary = (f"{top['service']} deviated first ({d.signal}){cause}"
                   + (f"; then {', '.join(victims)}" if victims else "") + f". {d.explanation}")
        diag = inc.get("diagnosis")
        if diag is not None and not diag.abstain:
            summary = (f"{top['service']} is the most likely root cause ({diag.suspects[0].kind}): "
                       + "; ".join(e.text for e in diag.suspects[0].top(2))
                       + (f"; then {', '.join(victims)}" if victims else "") + f". {d.explanation}")
        kind_rb = {"error_ratio": "errors", "p99_ms": "latency", "p50_ms": "latency", "cpu": "latency",
                   "down": "down",
                   "gpu_util": "gpu", "gpu_memory": "gpu", "disk_fill": "disk"}.get(d.signal, "errors")
        out.append(Finding(
            inc["severity"], top["service"], "incident", pd.Timestamp(onset, tz="UTC").to_pydatetime(), summary,
            evidence={"suspects": [(r["service"], r["role"], _hhmm(grid[r["onset"]]), r["signal"])
                                   for r in inc["ranked"]],
                      "signals": sorted({(x.service, x.signal) for x in inc["members"]}),
                      "end": _hhmm(grid[max(x.end for x in inc["members"])]),
                      "event": top["event"]["detail"] if top["event"] else None},
            runbook=RUNBOOKS[kind_rb]))
    return out.sorted()


def suspects(data: Any, fleet: Any, *, step: str = "1m", gap: str = "2m", tolerance: str = "2m",
             rank: str = "auto") -> Any:
    """Ranked suspects per incident: ``incident``, ``rank``, ``service``, ``role`` (root/victim),
    ``onset``, ``signal``, ``victim_of``, ``event`` (ordered as :func:`detect_incidents` orders them)."""
    import numpy as np

    metrics, _logs, events = _frames(data)
    grid, devs = deviations(metrics, fleet, step=step, events=events)
    cols: dict[str, list] = {"incident": [], "rank": [], "service": [], "role": [], "onset": [], "signal": [],
                             "victim_of": [], "event": []}
    incidents = _incidents(grid, devs, fleet, duration_s(step), gap, tolerance)
    _rca_rerank(data, fleet, grid, incidents, rank)
    for i, inc in enumerate(incidents, start=1):
        for r, s in enumerate(inc["ranked"], start=1):
            cols["incident"].append(i)
            cols["rank"].append(r)
            cols["service"].append(s["service"])
            cols["role"].append(s["role"])
            cols["onset"].append(int(s["event"]["ts"]) if (r == 1 and s["event"]) else int(grid[s["onset"]]))
            cols["signal"].append(s["signal"])
            cols["victim_of"].append(",".join(s["victim_of"]))
            cols["event"].append(s["event"]["detail"] if s["event"] else "")
    arr = {k: np.array(v, dtype="int64" if k in ("incident", "rank", "onset") else object) for k, v in cols.items()}
    return _from_columns(arr, metrics, ts_cols=("onset",))


def timeline(data: Any, fleet: Any, *, step: str = "1m", patterns: bool = True) -> Any:
    """One frame of what happened, in time order: alerts, deploys/config/restarts, deviations
    (anomalies), error bursts from logs and log-pattern surges (when ``holoops.analyze.patterns``
    provides ``error_patterns``). Columns: ``ts``, ``end``, ``service``, ``source``, ``kind``,
    ``severity``, ``detail``."""
    import numpy as np

    metrics, logs, events = _frames(data)
    rows: list[tuple[int, int, str, str, str, str, str]] = []
    for e in _event_rows(events):
        sev = "warning" if e["kind"] in ("alert", "incident") else "info"
        rows.append((e["ts"], e["ts"], e["service"], "event", e["kind"], sev, e["detail"]))
    if metrics is not None:
        grid, devs = deviations(metrics, fleet, step=step, events=events)
        for d in devs:
            rows.append((int(grid[d.onset]), int(grid[d.end]), d.service, "anomaly", d.signal, d.severity,
                         d.explanation))
    if logs is not None:
        rows.extend(_log_bursts(logs, step))
        if patterns:
            rows.extend(_pattern_rows(logs))
    rows.sort(key=lambda r: (r[0], r[2]))
    cols = {"ts": np.array([r[0] for r in rows], dtype="int64"), "end": np.array([r[1] for r in rows], dtype="int64")}
    for j, name in enumerate(("service", "source", "kind", "severity", "detail"), start=2):
        cols[name] = np.array([r[j] for r in rows], dtype=object)
    like = metrics if metrics is not None else logs
    return _from_columns(cols, like, ts_cols=("ts", "end"))


def _log_bursts(logs: Any, step: str, window: str = "5m", min_errors: int = 5) -> list[tuple]:
    """Windows where a service's 5xx log lines exceed ``min_errors`` and 10x its median."""
    import numpy as np

    tbl = _nw(logs).to_arrow()
    if "status" not in tbl.column_names or tbl.num_rows == 0:
        return []
    ts = _ts_ns(tbl)
    st = np.asarray(tbl.column("status").to_numpy(zero_copy_only=False), dtype=float)
    svc = _str_col(tbl, "service")
    w = int(duration_s(window) * NS)
    out = []
    for s in np.unique(svc):
        m = (svc == s) & (st >= 500)
        if not m.any():
            continue
        b = ts[m] // w
        u, c = np.unique(b, return_counts=True)
        n_bins = (ts.max() - ts.min()) // w + 1
        med = np.sum(c) / max(n_bins, 1)
        for ub, uc in zip(u, c, strict=True):
            if uc >= min_errors and uc >= 10 * max(med, 0.1):
                out.append((int(ub * w), int((ub + 1) * w), str(s), "logs", "error_burst", "warning",
                            f"{uc} 5xx log lines from {s} in {window} (typical {med:.1f})"))
    return out


def _pattern_rows(logs: Any) -> list[tuple]:
    import numpy as np

    try:
        from holoops.analyze.patterns import error_patterns  # type: ignore[attr-defined]
    except ImportError:
        return []
    try:
        res = error_patterns(logs)
        tbl = _nw(res if not hasattr(res, "frame") else res.frame()).to_arrow()
    except Exception:
        return []
    names = tbl.column_names
    if "ts" not in names and "first_seen" not in names:
        return []
    tcol = "first_seen" if "first_seen" in names else "ts"
    ts = _ts_ns(tbl, tcol)
    scol = "service" if "service" in names else ("services" if "services" in names else None)
    svc = _str_col(tbl, scol) if scol else np.array([""] * tbl.num_rows, dtype=object)
    tmpl = _str_col(tbl, "template") if "template" in names else np.array([""] * tbl.num_rows, dtype=object)

    def flag_col(name: str):
        if name not in names:
            return np.zeros(tbl.num_rows, dtype=bool)
        return np.asarray(tbl.column(name).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)

    new, surge = flag_col("new"), flag_col("surge")
    rows = []
    for i in range(tbl.num_rows):
        if new[i] or surge[i]:
            kind = "pattern_new" if new[i] else "pattern_surge"
            rows.append((int(ts[i]), int(ts[i]), str(svc[i]), "patterns", kind, "info", str(tmpl[i])))
    return rows

