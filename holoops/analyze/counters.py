"""Counters: ``rate``/``increase`` with Prometheus semantics, and scrape-gap detection.

Semantics (Prometheus 3 ``rate()``/``increase()``): the range window is left-open ``(t - window, t]``;
a series needs two samples in it; a drop in value is a counter reset (the value before the drop is
added back); the result is extrapolated towards the window edges (all the way when the gap to the
edge is < 1.1 average sample intervals, else by half an interval; then never back past the
counter's zero point), as in Prometheus's ``extrapolatedRate``. ``extrapolate=False`` gives the simple per-sample-delta semantics instead:
``increase`` = reset-corrected last - first sample, ``rate`` = that / (last_t - first_t).

Scrape gaps are reported, never interpolated: :func:`scrape_gaps` returns one row per gap.

Implementation note: frames go through Arrow (via narwhals) into numpy and back to the caller's
engine, so pandas, polars and cuDF give identical numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from holoops.fleet import parse_duration

NS = 1_000_000_000

__all__ = ["rate", "increase", "scrape_gaps", "series_rate", "duration_s"]


# --- engine plumbing shared by the analyze modules (private) --------------------------------------
def duration_s(text: str | int | float) -> float:
    """``"5m"`` -> 300.0; numbers are seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    return float(parse_duration(text))


def _nw(df: Any):
    import narwhals as nw

    return nw.from_native(df, eager_only=True)


def _backend(df: Any):
    import narwhals as nw

    return nw.get_native_namespace(_nw(df))


def _to_arrow(df: Any, cols: Sequence[str] | None = None):
    frame = _nw(df)
    if cols is not None:
        frame = frame.select([c for c in cols if c in frame.columns])
    return frame.to_arrow()


def _from_columns(columns: dict[str, Any], like: Any, ts_cols: Sequence[str] = ("ts",)) -> Any:
    """Build a native frame of ``like``'s engine from numpy columns (int64 ns for ``ts_cols``)."""
    import narwhals as nw
    import numpy as np
    import pyarrow as pa

    arrays = {}
    for name, values in columns.items():
        if name in ts_cols:
            arr = pa.array(np.asarray(values, dtype="int64"), type=pa.int64()).cast(pa.timestamp("ns", "UTC"))
        elif isinstance(values, pa.Array | pa.ChunkedArray):
            arr = values
        else:
            values = np.asarray(values)
            if values.dtype == object:
                arr = pa.array(values.tolist(), type=pa.string())
            else:
                arr = pa.array(values)
        arrays[name] = arr
    table = pa.table(arrays) if arrays else pa.table({})
    if like is None:
        import pandas as pd  # noqa: F401

        return table.to_pandas()
    backend = _backend(like)
    return nw.from_arrow(table, backend=backend).to_native()


def _ts_ns(table, col: str = "ts"):
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = table.column(col)
    if pa.types.is_timestamp(arr.type):
        if arr.type.unit != "ns":
            arr = pc.cast(arr, pa.timestamp("ns", arr.type.tz))
        arr = pc.cast(arr, pa.int64())
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype="int64")


def _str_col(table, col: str):
    """A string column as a numpy object array with nulls as ''."""
    import numpy as np

    return np.asarray(_str_arrow(table, col).to_numpy(zero_copy_only=False), dtype=object)


def _str_arrow(table, col: str):
    """A string column as an Arrow string array with nulls as '' (dictionary columns decoded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if col not in table.column_names:
        return pa.array([""] * table.num_rows, type=pa.string())
    arr = table.column(col)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    return pc.fill_null(arr, "")


def _factorize(*cols):
    """Group id per row for the combination of ``cols`` (numpy or Arrow string arrays).

    Returns ``(ids, keys)``: ids index ``keys``, a list of tuples in sorted order (deterministic
    across engines and row orders).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(cols[0]) if cols else 0
    if not cols:
        return np.zeros(n, dtype="int64"), [()]
    codes, uniques = [], []
    for c in cols:
        arr = c if isinstance(c, pa.Array | pa.ChunkedArray) else pa.array(np.asarray(c, dtype=object),
                                                                          type=pa.string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        enc = pc.dictionary_encode(arr)
        dic = np.array(enc.dictionary.to_pylist(), dtype=object)
        idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype="int64")
        order = np.argsort(dic.astype(str), kind="stable")
        rank = np.empty(len(order), dtype="int64")
        rank[order] = np.arange(len(order))
        codes.append(rank[idx] if len(idx) else idx)
        uniques.append(dic[order])
    combined = np.zeros(n, dtype="int64")
    for inv, u in zip(codes, uniques, strict=True):
        combined = combined * max(len(u), 1) + inv
    ids_u, ids = np.unique(combined, return_inverse=True)
    keys = []
    for val in ids_u.tolist():
        parts = []
        for u in reversed(uniques):
            parts.append(str(u[val % len(u)]))
            val //= len(u)
        keys.append(tuple(reversed(parts)))
    return ids.astype("int64"), keys


def _grid(t_min: int, t_max: int, step_ns: int):
    import numpy as np

    start = (t_min // step_ns) * step_ns
    if start < t_min:
        start += step_ns
    return np.arange(start, t_max + 1, step_ns, dtype="int64")


# --- core numerics --------------------------------------------------------------------------------
def series_rate(sid, ts, value, grid, window_ns: int, *, extrapolate: bool = True, as_rate: bool = True):
    """Prometheus ``rate``/``increase`` of many series at once.

    ``sid`` (series id), ``ts`` (int ns) and ``value`` are sorted by (sid, ts). Returns a matrix
    ``[n_series, len(grid)]`` with NaN where a window holds fewer than two samples.
    """
    import numpy as np

    sid = np.asarray(sid, dtype="int64")
    ts = np.asarray(ts, dtype="int64")
    v = np.asarray(value, dtype="float64")
    n_series = int(sid.max()) + 1 if len(sid) else 0
    out = np.full((n_series, len(grid)), np.nan)
    if not len(sid) or not len(grid):
        return out
    # reset-corrected cumulative value per series
    same = np.r_[False, sid[1:] == sid[:-1]]
    prev = np.r_[np.nan, v[:-1]]
    drop = same & (v < prev)
    add = np.where(drop, prev, 0.0)
    # cumulative sum of corrections within each series
    csum = np.cumsum(add)
    starts = np.r_[0, np.flatnonzero(~same[1:]) + 1] if len(sid) > 1 else np.array([0])
    first_of = np.repeat(starts, np.diff(np.r_[starts, len(sid)]))
    base = csum[first_of] - add[first_of]
    corr = v + (csum - base)
    # combined sortable key: series id and time (ms since t0) in one int64
    t0 = min(int(ts.min()), int(grid[0]) - window_ns) - 1
    ms = (ts - t0) // 1_000_000
    key = sid * (1 << 40) + ms
    g_end = (grid - t0) // 1_000_000
    g_start = (grid - window_ns - t0) // 1_000_000
    for s in range(n_series):
        k_hi = np.searchsorted(key, s * (1 << 40) + g_end, side="right") - 1
        k_lo = np.searchsorted(key, s * (1 << 40) + g_start, side="right")
        n = k_hi - k_lo + 1
        ok = n >= 2
        if not ok.any():
            continue
        lo, hi = k_lo[ok], k_hi[ok]
        res = corr[hi] - corr[lo]
        t_first = ts[lo] / NS
        t_last = ts[hi] / NS
        sampled = t_last - t_first
        if extrapolate:
            rng_end = grid[ok] / NS
            rng_start = rng_end - window_ns / NS
            to_start = t_first - rng_start
            to_end = rng_end - t_last
            avg = sampled / (n[ok] - 1)
            first_v = v[lo]
            with np.errstate(divide="ignore", invalid="ignore"):
                to_zero = np.where((res > 0) & (first_v >= 0), sampled * (first_v / res), np.inf)
            thr = avg * 1.1
            to_start = np.where(to_start >= thr, avg / 2, to_start)
            to_start = np.minimum(to_start, to_zero)  # never extrapolate below the counter's zero
            to_end = np.where(to_end >= thr, avg / 2, to_end)
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = (sampled + to_start + to_end) / sampled
            res = res * factor
            if as_rate:
                res = res / (window_ns / NS)
        elif as_rate:
            with np.errstate(divide="ignore", invalid="ignore"):
                res = res / sampled
        out[s, ok] = res
    return out


def _series(metrics: Any, metric: str):
    """(label_cols, sid sorted, ts, value, keys) of one metric's samples, sorted by (series, ts)."""
    import narwhals as nw
    import numpy as np
    import pyarrow.compute as pc

    frame = _nw(metrics)
    label_cols = [c for c in frame.columns if c not in ("ts", "value", "metric")]
    sub = frame.filter(nw.col("metric") == metric).select(["ts", "value", *label_cols]).to_arrow()
    if sub.num_rows == 0:
        e = np.array([], dtype="int64")
        return label_cols, e, e, np.array([], dtype=float), []
    ts = _ts_ns(sub)
    labels = [_str_arrow(sub, c) for c in label_cols]
    sid, keys = _factorize(*labels) if labels else (np.zeros(len(ts), dtype="int64"), [()])
    value = np.asarray(pc.fill_null(pc.cast(sub.column("value"), "float64"), np.nan)
                       .to_numpy(zero_copy_only=False), dtype=float)
    order = np.lexsort((ts, sid))
    sid, ts, value = sid[order], ts[order], value[order]
    ok = ~np.isnan(value)
    return label_cols, sid[ok], ts[ok], value[ok], keys


def _group(label_cols: Sequence[str], keys: list, by: Sequence[str]):
    """Map each series key to a group of ``by`` labels: (gid per series, group keys)."""
    import numpy as np

    idx = [list(label_cols).index(b) if b in label_cols else None for b in by]
    gkeys = [tuple(k[i] if i is not None else "" for i in idx) for k in keys]
    if not by or not keys:
        return np.zeros(len(keys), dtype="int64"), [()] if keys else []
    cols = [np.array([g[j] for g in gkeys], dtype=object) for j in range(len(by))]
    return _factorize(*cols)


def _aggregate(mat, gid, n_g: int, how: str = "sum"):
    """Aggregate rows of ``mat`` by group id, ignoring NaN; NaN where a group has no value."""
    import numpy as np

    valid = ~np.isnan(mat)
    if how == "max":
        out = np.full((n_g, mat.shape[1]), -np.inf)
        np.maximum.at(out, gid, np.where(valid, mat, -np.inf))
        return np.where(np.isneginf(out), np.nan, out)
    summed = np.zeros((n_g, mat.shape[1]))
    count = np.zeros((n_g, mat.shape[1]))
    np.add.at(summed, gid, np.where(valid, mat, 0.0))
    np.add.at(count, gid, valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        val = summed if how == "sum" else summed / count
    return np.where(count > 0, val, np.nan)


def _time_grid(metrics: Any, step: str):
    import narwhals as nw
    import numpy as np

    frame = _nw(metrics)
    t = frame.select(nw.col("ts").min().alias("a"), nw.col("ts").max().alias("b")).to_arrow()
    a, b = _ts_ns(t, "a"), _ts_ns(t, "b")
    if not len(a):
        return np.array([], dtype="int64")
    return _grid(int(a[0]), int(b[0]), int(duration_s(step) * NS))


def rate_matrix(metrics: Any, metric: str, grid, *, window: str = "5m", by: Sequence[str] = ("service",),
                extrapolate: bool = True, as_rate: bool = True):
    """``(group_keys, matrix[n_groups, len(grid)])`` of summed rates; the engine-free core of :func:`rate`."""
    import numpy as np

    label_cols, sid, ts, value, keys = _series(metrics, metric)
    if not len(sid):
        return [], np.zeros((0, len(grid)))
    mat = series_rate(sid, ts, value, grid, int(duration_s(window) * NS), extrapolate=extrapolate,
                      as_rate=as_rate)
    gid, gk = _group(label_cols, keys, by)
    return gk, _aggregate(mat, gid, len(gk), "sum")


def gauge_matrix(metrics: Any, metric: str, grid, *, lookback: str = "5m", by: Sequence[str] = ("service",),
                 how: str = "max"):
    """Last sample within ``lookback`` at each grid time, aggregated by ``by`` (``max``/``sum``/``mean``)."""
    import numpy as np

    label_cols, sid, ts, value, keys = _series(metrics, metric)
    if not len(sid):
        return [], np.zeros((0, len(grid)))
    mat = last_sample(sid, ts, value, grid, int(duration_s(lookback) * NS))
    gid, gk = _group(label_cols, keys, by)
    return gk, _aggregate(mat, gid, len(gk), how)


def last_sample(sid, ts, value, grid, lookback_ns: int):
    """Matrix of each series' last sample at or before each grid time (NaN if older than lookback)."""
    import numpy as np

    n_series = int(sid.max()) + 1
    out = np.full((n_series, len(grid)), np.nan)
    bounds = np.r_[0, np.flatnonzero(np.diff(sid)) + 1, len(sid)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        s = int(sid[a])
        t = ts[a:b]
        i = np.searchsorted(t, grid, side="right") - 1
        ok = (i >= 0)
        ok[ok] &= (grid[ok] - t[i[ok]]) <= lookback_ns
        out[s, ok] = value[a:b][i[ok]]
    return out


def _rate_frame(metrics: Any, metric: str, *, step: str, window: str, by: Sequence[str],
                extrapolate: bool, as_rate: bool) -> Any:
    import numpy as np

    by = list(by)
    name = "rate" if as_rate else "increase"
    grid = _time_grid(metrics, step)
    gk, val = rate_matrix(metrics, metric, grid, window=window, by=by, extrapolate=extrapolate,
                          as_rate=as_rate)
    gi, ti = np.nonzero(~np.isnan(val)) if len(gk) else (np.array([], int), np.array([], int))
    cols: dict[str, Any] = {"ts": grid[ti] if len(grid) else np.array([], dtype="int64")}
    for j, b in enumerate(by):
        cols[b] = np.array([gk[g][j] for g in gi], dtype=object)
    cols[name] = val[gi, ti] if len(gk) else np.array([], dtype=float)
    return _from_columns(cols, metrics)


def rate(metrics: Any, metric: str, *, step: str = "1m", window: str = "5m",
         by: Sequence[str] = ("service",), extrapolate: bool = True) -> Any:
    """Per-second ``rate(metric[window])`` summed by ``by``, evaluated every ``step``.

    Returns a frame (the input's engine) with ``ts``, the ``by`` columns and ``rate``.
    """
    return _rate_frame(metrics, metric, step=step, window=window, by=by, extrapolate=extrapolate,
                       as_rate=True)


def increase(metrics: Any, metric: str, *, step: str = "1m", window: str = "5m",
             by: Sequence[str] = ("service",), extrapolate: bool = True) -> Any:
    """``increase(metric[window])`` summed by ``by`` (column ``increase``); see :func:`rate`."""
    return _rate_frame(metrics, metric, step=step, window=window, by=by, extrapolate=extrapolate,
                       as_rate=False)


def scrape_gaps(metrics: Any, *, interval: str | None = None, factor: float = 1.5,
                metric: str | None = None) -> Any:
    """One row per scrape gap of each target (``service``, ``instance``).

    A gap is two consecutive scrapes further apart than ``factor`` x the scrape interval (the
    median spacing when ``interval`` is None), or a failed scrape (``up == 0``). Scrape times are
    those of the ``up`` series when the frame has one (else of every sample, or of ``metric``). Columns:
    ``service``, ``instance``, ``start`` (last good scrape), ``end`` (next good scrape),
    ``missing_s``, ``reason`` (``"no samples"`` or ``"up=0"``).
    """
    import narwhals as nw
    import numpy as np

    frame = _nw(metrics)
    if metric is None:
        up = frame.filter(nw.col("metric") == "up")
        if len(up):
            frame = up
    else:
        frame = frame.filter(nw.col("metric") == metric)
    tbl = frame.select(["ts", "service", "instance", "metric", "value"]).to_arrow()
    ts = _ts_ns(tbl)
    svc, inst = _str_col(tbl, "service"), _str_col(tbl, "instance")
    met = _str_col(tbl, "metric")
    val = np.asarray(tbl.column("value").to_numpy(zero_copy_only=False), dtype=float)
    out = {"service": [], "instance": [], "start": [], "end": [], "missing_s": [], "reason": []}
    if len(ts):
        tid, keys = _factorize(svc, inst)
        down = (met == "up") & (val == 0)
        # a target's scrape time is any sample time of it; up==0 scrapes are failures
        allk = np.unique(tid * (1 << 42) + (ts - ts.min()) // 1_000_000)
        bad = np.unique(tid[down] * (1 << 42) + (ts[down] - ts.min()) // 1_000_000)
        good = np.setdiff1d(allk, bad, assume_unique=True)
        g_tid, g_ms = good >> 42, good & ((1 << 42) - 1)
        same = g_tid[1:] == g_tid[:-1]
        d = np.diff(g_ms)
        if interval is not None:
            step_ms = duration_s(interval) * 1000
        else:
            step_ms = float(np.median(d[same])) if same.any() else np.inf
        for i in np.flatnonzero(same & (d > factor * step_ms)):
            a, b = g_ms[i], g_ms[i + 1]
            t = int(g_tid[i])
            in_bad = bad[(bad >> 42) == t] & ((1 << 42) - 1)
            has_down = bool(((in_bad > a) & (in_bad < b)).any())
            out["service"].append(keys[t][0])
            out["instance"].append(keys[t][1])
            out["start"].append(int(a) * 1_000_000 + int(ts.min()))
            out["end"].append(int(b) * 1_000_000 + int(ts.min()))
            out["missing_s"].append((b - a) / 1000 - step_ms / 1000)
            out["reason"].append("up=0" if has_down else "no samples")
    cols = {"service": np.array(out["service"], dtype=object),
            "instance": np.array(out["instance"], dtype=object),
            "start": np.array(out["start"], dtype="int64"), "end": np.array(out["end"], dtype="int64"),
            "missing_s": np.array(out["missing_s"], dtype=float),
            "reason": np.array(out["reason"], dtype=object)}
    return _from_columns(cols, metrics, ts_cols=("start", "end"))


def step_increase_matrix(metrics: Any, metric: str, grid, *, by: Sequence[str] = ("service",),
                         lookback: str = "10m"):
    """Exact per-step increase of a counter (reset-corrected, no extrapolation), summed by ``by``.

    Per series: the reset-corrected value of the last sample at or before each grid time, differenced
    along the grid. A step where a series has no sample within ``lookback`` gives NaN for that series
    (a gap, not a zero); groups are NaN only when all their series are.
    """
    import numpy as np

    label_cols, sid, ts, value, keys = _series(metrics, metric)
    if not len(sid):
        return [], np.zeros((0, len(grid)))
    same = np.r_[False, sid[1:] == sid[:-1]]
    prev = np.r_[np.nan, value[:-1]]
    add = np.where(same & (value < prev), prev, 0.0)
    csum = np.cumsum(add)
    starts = np.r_[0, np.flatnonzero(~same[1:]) + 1] if len(sid) > 1 else np.array([0])
    first_of = np.repeat(starts, np.diff(np.r_[starts, len(sid)]))
    corr = value + (csum - (csum[first_of] - add[first_of]))
    mat = last_sample(sid, ts, corr, grid, int(duration_s(lookback) * NS))
    inc = np.full_like(mat, np.nan)
    inc[:, 1:] = np.diff(mat, axis=1)
    gid, gk = _group(label_cols, keys, by)
    return gk, _aggregate(inc, gid, len(gk), "sum")
