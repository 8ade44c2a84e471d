"""Anomalies and change points on metric series, robust to daily seasonality and noise.

Baseline (per point): the median of the same time of day (+-``halfwidth`` steps) on up to
``max_periods`` earlier days; the spread is their MAD (x 1.4826). Where fewer than two earlier days
exist, a trailing rolling median/MAD over ``fallback`` (the hour before) is used instead. No STL:
the seasonal median is robust to the incidents it is meant to find, STL is not.

Score = (value - baseline) / max(MAD, ``rel_floor`` x |baseline|, ``abs_floor``). An anomaly is a
run of at least ``min_points`` consecutive points with ``|score| >= threshold`` (single-point holes
bridged); its onset is extended back over the points just before with ``|score| >= onset_threshold``.

Change points: two-sided CUSUM (drift ``k``, decision ``h``, in robust units) on the residual; the
onset is the last point where the CUSUM was zero before it crossed ``h``. A change point within
``attribution`` after a deploy/config event of the same service is attributed to that event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from holoops.analyze.counters import (
    NS,
    _factorize,
    _from_columns,
    _nw,
    _str_arrow,
    _to_arrow,
    _ts_ns,
    duration_s,
)

__all__ = ["robust_baseline", "robust_score", "anomaly_runs", "cusum_onsets", "detect_anomalies",
           "change_points", "attribute_to_events"]

MAD_K = 1.4826


def robust_baseline(values: Any, *, period: int, max_periods: int = 7, halfwidth: int = 5,
                    fallback: int = 60) -> tuple[Any, Any]:
    """(baseline, spread) arrays for an evenly spaced series (NaN = missing)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    n = len(x)
    base = np.full(n, np.nan)
    spread = np.full(n, np.nan)
    # seasonal: same time of day on earlier days
    if n > 2 * period:
        stack = []
        for k in range(1, max_periods + 1):
            for d in range(-halfwidth, halfwidth + 1):
                lag = k * period + d
                if lag <= 0 or lag >= n:
                    continue
                s = np.full(n, np.nan)
                s[lag:] = x[:-lag]
                stack.append(s)
        if stack:
            m = np.vstack(stack)
            n_days = np.minimum(np.arange(n) // period, max_periods)
            ok = n_days >= 2
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    med = np.nanmedian(m[:, ok], axis=0)
                    mad = np.nanmedian(np.abs(m[:, ok] - med), axis=0) * MAD_K
            base[ok] = med
            spread[ok] = mad
    # fallback: trailing rolling median / MAD (excluding the current point)
    need = np.isnan(base)
    if need.any():
        idx = np.flatnonzero(need)
        win = np.full((len(idx), fallback), np.nan)
        for j in range(1, fallback + 1):
            src = idx - j
            okj = src >= 0
            win[okj, j - 1] = x[src[okj]]
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(win, axis=1)
            mad = np.nanmedian(np.abs(win - med[:, None]), axis=1) * MAD_K
        base[idx] = med
        spread[idx] = mad
    return base, spread


def robust_score(values: Any, base: Any, spread: Any, *, rel_floor: float = 0.05,
                 abs_floor: float = 1e-9) -> Any:
    """(value - baseline) / max(spread, rel_floor * |baseline|, abs_floor)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    scale = np.fmax(np.fmax(np.nan_to_num(spread, nan=0.0), rel_floor * np.abs(np.nan_to_num(base))), abs_floor)
    return (x - base) / scale


def anomaly_runs(score: Any, *, threshold: float = 6.0, min_points: int = 3,
                 onset_threshold: float = 3.0, direction: str = "up") -> list[tuple[int, int, int]]:
    """Runs of anomalous points as ``(onset, end, peak)`` indices (end inclusive)."""
    import numpy as np

    s = np.nan_to_num(np.asarray(score, dtype=float), nan=0.0)
    if direction == "down":
        s = -s
    elif direction == "both":
        s = np.abs(s)
    hot = s >= threshold
    # bridge single-point holes
    if len(hot) > 2:
        hole = ~hot[1:-1] & hot[:-2] & hot[2:]
        hot[1:-1] |= hole
    edges = np.diff(np.r_[0, hot.astype(int), 0])
    out = []
    for a, z in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True):
        if z - a + 1 < min_points:
            continue
        on = a
        while on > 0 and s[on - 1] >= onset_threshold:
            on -= 1
        peak = int(a + np.argmax(s[a:z + 1]))
        out.append((int(on), int(z), peak))
    # merge runs whose extended onsets overlap
    merged: list[tuple[int, int, int]] = []
    for r in out:
        if merged and r[0] <= merged[-1][1] + 1:
            a, z, p = merged[-1]
            merged[-1] = (a, max(z, r[1]), p if s[p] >= s[r[2]] else r[2])
        else:
            merged.append(r)
    return merged


def cusum_onsets(resid: Any, *, k: float = 0.5, h: float = 8.0, direction: str = "up") -> list[tuple[int, int]]:
    """CUSUM change points on a standardised residual: ``(onset, alarm)`` index pairs."""
    import numpy as np

    r = np.nan_to_num(np.asarray(resid, dtype=float), nan=0.0)
    out: list[tuple[int, int]] = []
    for sign in ((1.0,) if direction == "up" else (-1.0,) if direction == "down" else (1.0, -1.0)):
        c, last_zero, armed = 0.0, -1, True
        for i, v in enumerate(sign * r):
            c = max(0.0, c + v - k)
            if c == 0.0:
                last_zero = i
                armed = True
            elif armed and c >= h:
                out.append((last_zero + 1, i))
                armed = False
    return sorted(out)


def _series_of(frame: Any, value: str, by: Sequence[str], step_ns: int, *, step: str | None = None,
               what: str = "anomalies"):
    """Evenly spaced series per group: (grid, keys, matrix).

    A step holding several rows of a group takes the latest one's value (NaN values left out; equal
    times: the largest value), whatever the row order. The grid spans the rows' times, at most
    :data:`~holoops.analyze.counters.MAX_GRID_POINTS` steps (see :func:`~holoops.analyze.counters._grid_bounds`:
    rows far outside the bulk are left out with a TimeRangeWarning, or a ParameterError names the span).
    """
    import numpy as np
    import pyarrow.compute as pc

    from holoops.analyze.counters import _grid_bounds

    tbl = _to_arrow(frame, ["ts", value, *by])
    ts = _ts_ns(tbl)
    v = np.asarray(pc.fill_null(pc.cast(tbl.column(value), "float64"), np.nan).to_numpy(zero_copy_only=False),
                   dtype=float)
    gid, keys = _factorize(*[_str_arrow(tbl, b) for b in by]) if by else (np.zeros(len(ts), dtype="int64"), [()])
    if not len(ts):
        return np.array([], dtype="int64"), [], np.zeros((0, 0))
    lo, hi = _grid_bounds(ts, step_ns, step=step or f"{step_ns / NS:g}s", what=what)
    t0 = (lo // step_ns) * step_ns
    grid = np.arange(t0, hi + 1, step_ns, dtype="int64")
    mat = np.full((len(keys), len(grid)), np.nan)
    ok = ~np.isnan(v) & (ts >= lo) & (ts <= hi)
    gid, ts, v = gid[ok], ts[ok], v[ok]
    cell = (ts - t0) // step_ns
    order = np.lexsort((v, ts, cell, gid))
    gid, cell, v = gid[order], cell[order], v[order]
    last = np.r_[(gid[1:] != gid[:-1]) | (cell[1:] != cell[:-1]), True] if len(gid) else np.zeros(0, dtype=bool)
    mat[gid[last], cell[last]] = v[last]  # per cell: the latest row, of equally late ones the largest value
    return grid, keys, mat


def _fmt_val(signal: str, v: float) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if signal.endswith("_ms"):
        return f"{v:.0f} ms"
    if "ratio" in signal or "share" in signal or signal in ("value",):
        return f"{v * 100:.1f}%" if abs(v) <= 1.5 else f"{v:.3g}"
    return f"{v:.3g}"


def _label(signal: str) -> str:
    names = {"p99_ms": "p99 latency", "p95_ms": "p95 latency", "p50_ms": "p50 latency",
             "error_ratio": "error ratio", "rps": "request rate"}
    return names.get(signal, signal)


def detect_anomalies(frame: Any, value: str | Sequence[str], *, by: Sequence[str] = ("service",),
                     step: str = "1m", period: str = "1d", threshold: float = 6.0, min_points: int = 3,
                     onset_threshold: float = 3.0, direction: str = "up", rel_floor: float = 0.05,
                     log: bool = False) -> Any:
    """Anomalous runs of ``value`` column(s) of a time-series frame (e.g. :func:`golden_signals`).

    Columns: ``by``, ``signal``, ``onset``, ``end``, ``peak_ts``, ``value``, ``baseline``, ``score``,
    ``explanation`` (e.g. "p99 latency of vault 212 ms is 6.3 MADs above its 14:00 baseline of
    48 ms since 14:01"). ``log=True`` scores ``log(value)`` (for latencies).
    """
    import numpy as np

    values = [value] if isinstance(value, str) else list(value)
    by = list(by)
    step_ns = int(duration_s(step) * NS)
    per = int(duration_s(period) / duration_s(step))
    rows: dict[str, list] = {**{b: [] for b in by}, "signal": [], "onset": [], "end": [], "peak_ts": [],
                             "value": [], "baseline": [], "score": [], "explanation": []}
    for col in values:
        grid, keys, mat = _series_of(frame, col, by, step_ns, step=step, what="detect_anomalies")
        for key, x in zip(keys, mat, strict=True):
            y = np.log(np.where(x > 0, x, np.nan)) if log else x
            base, spread = robust_baseline(y, period=per)
            score = robust_score(y, base, spread, rel_floor=0.0 if log else rel_floor,
                                 abs_floor=0.05 if log else 1e-9)
            b_lin = np.exp(base) if log else base
            for on, end, peak in anomaly_runs(score, threshold=threshold, min_points=min_points,
                                              onset_threshold=onset_threshold, direction=direction):
                for j, b in enumerate(by):
                    rows[b].append(key[j])
                rows["signal"].append(col)
                rows["onset"].append(int(grid[on]))
                rows["end"].append(int(grid[end]))
                rows["peak_ts"].append(int(grid[peak]))
                rows["value"].append(float(x[peak]))
                rows["baseline"].append(float(b_lin[peak]))
                rows["score"].append(float(score[peak]))
                rows["explanation"].append(_explain(col, key, by, x[peak], b_lin[peak], score[peak],
                                                    grid[peak], grid[on]))
    cols = {k: np.array(v, dtype=object) if k in (*by, "signal", "explanation") else
            np.array(v, dtype="int64" if k in ("onset", "end", "peak_ts") else float) for k, v in rows.items()}
    return _from_columns(cols, frame, ts_cols=("onset", "end", "peak_ts"))


def _explain(col: str, key: tuple, by: Sequence[str], v: float, b: float, s: float, t_peak: int,
             t_on: int) -> str:
    import pandas as pd

    who = " ".join(str(k) for k in key) if key else "the series"
    hhmm = pd.Timestamp(int(t_peak), tz="UTC").strftime("%H:%M")
    since = pd.Timestamp(int(t_on), tz="UTC").strftime("%H:%M")
    where = "above" if s >= 0 else "below"
    return (f"{_label(col)} of {who} {_fmt_val(col, v)} is {abs(s):.1f} MADs {where} its {hhmm} baseline of "
            f"{_fmt_val(col, b)} since {since}")


def change_points(frame: Any, value: str, *, by: Sequence[str] = ("service",), step: str = "1m",
                  period: str = "1d", k: float = 1.0, h: float = 10.0, direction: str = "both",
                  events: Any = None, attribution: str = "5m") -> Any:
    """Level shifts of ``value`` (CUSUM on the robust residual) with onset times.

    Columns: ``by``, ``signal``, ``onset``, ``alarm``, ``direction``, ``shift`` (median after - median
    before), ``event_ts``, ``event`` (the deploy/config attributed, if any).
    """
    import numpy as np

    by = list(by)
    step_ns = int(duration_s(step) * NS)
    per = int(duration_s(period) / duration_s(step))
    grid, keys, mat = _series_of(frame, value, by, step_ns, step=step, what="change_points")
    rows: dict[str, list] = {**{b: [] for b in by}, "signal": [], "onset": [], "alarm": [], "direction": [],
                             "shift": []}
    for key, x in zip(keys, mat, strict=True):
        base, spread = robust_baseline(x, period=per)
        resid = robust_score(x, base, spread)
        for on, alarm in cusum_onsets(np.clip(resid, -20, 20), k=k, h=h, direction=direction):
            before = np.nanmedian(x[max(0, on - 30):on]) if on > 0 else np.nan
            after = np.nanmedian(x[on:alarm + 1])
            for j, b in enumerate(by):
                rows[b].append(key[j])
            rows["signal"].append(value)
            rows["onset"].append(int(grid[on]))
            rows["alarm"].append(int(grid[alarm]))
            rows["direction"].append("up" if after >= before or np.isnan(before) else "down")
            rows["shift"].append(float(after - before) if not np.isnan(before) else float("nan"))
    cols = {k2: np.array(v, dtype=object) if k2 in (*by, "signal", "direction") else
            np.array(v, dtype="int64" if k2 in ("onset", "alarm") else float) for k2, v in rows.items()}
    out = _from_columns(cols, frame, ts_cols=("onset", "alarm"))
    return attribute_to_events(out, events, window=attribution) if events is not None else out


def attribute_to_events(changes: Any, events: Any, *, window: str = "5m", onset_col: str = "onset",
                        kinds: Sequence[str] = ("deploy", "config")) -> Any:
    """Add ``event_ts`` and ``event`` (detail) to ``changes``: the latest deploy/config event of the same
    service at most ``window`` before the onset (or one step after it)."""
    import numpy as np

    ch = _to_arrow(changes)
    ev = _to_arrow(events, ["ts", "kind", "service", "detail"])
    e_ts = _ts_ns(ev)
    e_kind, e_svc, e_det = (np.asarray(_str_arrow(ev, c).to_numpy(zero_copy_only=False), dtype=object)
                            for c in ("kind", "service", "detail"))
    keep = np.isin(e_kind, list(kinds))
    on = _ts_ns(ch, onset_col)
    svc = np.asarray(_str_arrow(ch, "service").to_numpy(zero_copy_only=False), dtype=object)
    win = int(duration_s(window) * NS)
    ets = np.zeros(len(on), dtype="int64")
    has = np.zeros(len(on), dtype=bool)
    det = np.full(len(on), "", dtype=object)
    for i in range(len(on)):
        m = keep & (e_svc == svc[i]) & (e_ts <= on[i] + 60 * NS) & (e_ts >= on[i] - win)
        if m.any():
            j = np.flatnonzero(m)[np.argmax(e_ts[m])]
            ets[i], has[i] = e_ts[j], True
            det[i] = f"{e_kind[j]}: {e_det[j]}"
    cols = {c: ch.column(c) for c in ch.column_names}
    import pyarrow as pa

    cols["event_ts"] = pa.array(np.where(has, ets, 0), mask=~has, type=pa.int64()).cast(pa.timestamp("ns", "UTC"))
    cols["event"] = pa.array(det.tolist(), type=pa.string())
    import narwhals as nw

    return nw.from_arrow(pa.table(cols), backend=nw.get_native_namespace(_nw(changes))).to_native()
