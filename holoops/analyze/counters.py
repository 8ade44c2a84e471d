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

from holoops.timeutil import parse_duration as duration_s  # "5m" -> 300.0; numbers are seconds

NS = 1_000_000_000

__all__ = ["rate", "increase", "scrape_gaps", "series_rate", "duration_s", "MAX_GRID_POINTS",
           "TimeRangeWarning"]

#: the most points a time grid built from the data's own time range may have (30 days at 1m are
#: 43,200; a matrix of 500 series over 100,000 points is 400 MB). Past it, the grid covers the span that
#: holds the bulk of the samples (:func:`_grid_bounds`), or the analysis stops with a ParameterError
#: naming the span and the step. One sample with a bad timestamp years away never sizes a grid.
MAX_GRID_POINTS = 100_000
#: the largest share of samples a bounded grid may leave out (they are named in a TimeRangeWarning)
MAX_OUTSIDE_SHARE = 0.01


class TimeRangeWarning(UserWarning):
    """Samples far outside the bulk of the data's time range were left out of an analysis's time grid
    (a clock or unit error upstream: one sample years ahead would otherwise stretch the grid to
    gigabytes). The message names how many, and when they lie."""


# --- engine plumbing shared by the analyze modules (private) --------------------------------------
def _nw(df: Any):
    import narwhals as nw

    return nw.from_native(df, eager_only=True)


def _backend(df: Any):
    import narwhals as nw

    return nw.get_native_namespace(_nw(df))


def _to_arrow(df: Any, cols: Sequence[str] | None = None):
    """``df`` (any engine narwhals reads, or an Arrow table) as an Arrow table of its columns only.

    A pandas frame's index never becomes a column: narwhals' ``to_arrow`` keeps any index that is not
    a default ``RangeIndex`` (a shuffled frame, or a time slice of one) as ``__index_level_0__``,
    which every analysis here would take for one more label and split each series by row.
    """
    import pyarrow as pa

    if isinstance(df, pa.Table):
        return df.select([c for c in cols if c in df.column_names]) if cols is not None else df
    frame = _nw(df)
    if cols is not None:
        frame = frame.select([c for c in cols if c in frame.columns])
    if frame.implementation.is_pandas():
        return pa.Table.from_pandas(frame.to_native(), preserve_index=False)
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


def _codes(c):
    """``(codes, uniques)`` of one string-like column: int64 codes into ``uniques``, the distinct values as
    strings (nulls as ``''``) in numpy's ``str`` sort order. Dictionary (categorical) columns are coded
    from their dictionary, without decoding the rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = c if isinstance(c, pa.Array | pa.ChunkedArray) else pa.array(np.asarray(c, dtype=object),
                                                                      type=pa.string())
    n = len(arr)
    if n and arr.null_count == n:
        return np.zeros(n, dtype="int64"), np.array([""], dtype=object)
    if pa.types.is_dictionary(arr.type):
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.unify_dictionaries()
            if arr.num_chunks == 0:
                return np.zeros(0, dtype="int64"), np.array([], dtype=object)
            dic = arr.chunk(0).dictionary
            idx = pa.chunked_array([ch.indices for ch in arr.chunks], type=arr.type.index_type)
        else:
            dic, idx = arr.dictionary, arr.indices
        if not (pa.types.is_string(dic.type) or pa.types.is_large_string(dic.type)):
            dic = pc.cast(dic, pa.string())
        words = np.array([*dic.to_pylist(), ""], dtype=object)  # the last one stands for null
        if idx.null_count:
            idx = pc.fill_null(idx, pa.scalar(len(words) - 1, idx.type))
        idx = idx.to_numpy() if isinstance(idx, pa.ChunkedArray) else idx.to_numpy(zero_copy_only=False)
        uniq, inv = np.unique(words.astype(str), return_inverse=True)
        if len(uniq) == len(words) and (inv == np.arange(len(words))).all():
            return idx.astype("int64", copy=False), uniq.astype(object)  # sorted and distinct already
        return inv.astype("int64")[idx], uniq.astype(object)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    enc = pc.dictionary_encode(pc.fill_null(arr, ""))
    dic = np.array(enc.dictionary.to_pylist(), dtype=object)
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype="int64")
    order = np.argsort(dic.astype(str), kind="stable")
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(len(order))
    return (rank[idx] if len(idx) else idx), dic[order]


def _factorize(*cols):
    """Group id per row for the combination of ``cols`` (numpy, Arrow string or dictionary arrays).

    Returns ``(ids, keys)``: ids index ``keys``, a list of tuples in sorted order (deterministic
    across engines and row orders). Nulls count as ``''``.
    """
    import numpy as np

    n = len(cols[0]) if cols else 0
    if not cols:
        return np.zeros(n, dtype="int64"), [()]
    coded = [_codes(c) for c in cols]
    # mixed-radix combination of the per-column codes (first column most significant: sorted order),
    # re-coded densely (order kept) whenever the next digit could overflow int64
    combined = np.zeros(n, dtype="int64")
    top, dense = 1, False
    for code, u in coded:
        card = max(len(u), 1)
        if top * card >= 1 << 62:
            _, combined = _dense(combined)
            top, dense = (int(combined.max()) + 1 if n else 1), True
        combined *= card
        combined += code
        top *= card
    ids_u, ids = _dense(combined)
    if dense:  # one row per distinct key gives its labels
        rep = np.empty(len(ids_u), dtype="int64")
        rep[ids] = np.arange(n)
        cols_out = [u[code[rep]].tolist() if len(u) else [""] * len(rep) for code, u in coded]
    else:  # the mixed-radix digits of each distinct key are its labels' codes
        cols_out, rest = [], np.asarray(ids_u, dtype="int64")
        for _code, u in reversed(coded):
            card = max(len(u), 1)
            cols_out.append(u[rest % card].tolist() if len(u) else [""] * len(rest))
            rest = rest // card
        cols_out.reverse()
    keys = [tuple(str(x) for x in t) for t in zip(*cols_out, strict=True)]
    return ids.astype("int64", copy=False), keys


def _dense(values):
    """``(distinct sorted values, inverse)`` of non-negative int64 codes (bincount when they are small)."""
    import numpy as np

    if len(values) and int(values.max()) < max(4 * len(values), 1 << 16):
        seen = np.bincount(values) > 0
        u = np.flatnonzero(seen)
        remap = np.cumsum(seen) - 1
        return u, remap[values]
    return np.unique(values, return_inverse=True)


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
    grid = np.asarray(grid, dtype="int64")
    n_series = int(sid.max()) + 1 if len(sid) else 0
    out = np.full((n_series, len(grid)), np.nan)
    if not len(sid) or not len(grid):
        return out
    # samples no window reaches ((grid[0] - window, grid[-1]]) change no result; ones far outside the
    # grid (a bad timestamp years away) would overflow the ms field of the key below: leave them out
    reach_lo, reach_hi = int(grid[0]) - window_ns, int(grid[-1])
    if int(ts.min()) < reach_lo - window_ns or int(ts.max()) > reach_hi + window_ns:
        keep = (ts > reach_lo) & (ts <= reach_hi)
        sid, ts, v = sid[keep], ts[keep], v[keep]
        if not len(sid):
            return out
    if (reach_hi - reach_lo) // 1_000_000 + 2 >= 1 << 40:
        raise ValueError(f"series_rate: a grid of {(reach_hi - reach_lo) / NS / 86400:,.0f} days (window "
                         "included) is past the 34 years the kernel's keys hold")
    corr = _reset_corrected(sid, v)
    # combined sortable key: series id and time (ms since t0) in one int64
    t0 = min(int(ts.min()), int(grid[0]) - window_ns) - 1
    ms = (ts - t0) // 1_000_000
    key = sid * (1 << 40) + ms
    g_end = (grid - t0) // 1_000_000
    g_start = (grid - window_ns - t0) // 1_000_000
    tsec = ts / NS
    gsec = grid / NS
    gstart = gsec - window_ns / NS
    win_s = window_ns / NS

    def block(s0: int, s1: int) -> None:
        s_ids = np.arange(s0, s1, dtype="int64")[:, None] * (1 << 40)
        k_hi = np.searchsorted(key, (s_ids + g_end).ravel(), side="right")
        k_hi -= 1
        k_lo = np.searchsorted(key, (s_ids + g_start).ravel(), side="right")
        n = k_hi - k_lo
        n += 1
        cell = np.flatnonzero(n >= 2)
        if not len(cell):
            return
        lo, hi = k_lo[cell], k_hi[cell]
        res = corr[hi]
        res -= corr[lo]
        t_last = tsec[hi]
        t_first = tsec[lo]
        sampled = t_last - t_first
        with np.errstate(divide="ignore", invalid="ignore"):
            if extrapolate:
                gi = cell % len(grid)
                to_start = t_first
                to_start -= gstart[gi]
                to_end = gsec[gi]
                to_end -= t_last
                avg = sampled / (n[cell] - 1)
                first_v = v[lo]
                to_zero = first_v / res
                to_zero *= sampled
                to_zero[~((res > 0) & (first_v >= 0))] = np.inf
                thr = avg * 1.1
                avg /= 2
                np.copyto(to_start, avg, where=to_start >= thr)
                np.minimum(to_start, to_zero, out=to_start)  # never extrapolate below the counter's zero
                np.copyto(to_end, avg, where=to_end >= thr)
                factor = sampled + to_start
                factor += to_end
                factor /= sampled
                res *= factor
                if as_rate:
                    res /= win_s
            elif as_rate:
                res /= sampled
        out[s0:s1].reshape(-1)[cell] = res

    # all series' windows at once, in blocks of series that keep the temporaries small; numpy releases
    # the GIL in these loops, so the blocks run on every core
    per = max(1, (1 << 20) // len(grid))
    spans = [(a, min(a + per, n_series)) for a in range(0, n_series, per)]
    workers = min(len(spans), _threads())
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda ab: block(*ab), spans))
    else:
        for ab in spans:
            block(*ab)
    return out


def _threads() -> int:
    """Threads the numpy kernels here may use: the CPUs this process may run on."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _reset_corrected(sid, v):
    """Counter values with every reset (a drop within a series) added back, per series."""
    import numpy as np

    same = np.r_[False, sid[1:] == sid[:-1]]
    prev = np.r_[np.nan, v[:-1]]
    drop = same & (v < prev)
    add = np.where(drop, prev, 0.0)
    # cumulative sum of corrections within each series
    csum = np.cumsum(add)
    starts = np.r_[0, np.flatnonzero(~same[1:]) + 1] if len(sid) > 1 else np.array([0])
    first_of = np.repeat(starts, np.diff(np.r_[starts, len(sid)]))
    base = csum[first_of] - add[first_of]
    return v + (csum - base)


def _metric_tables(metrics: Any, names: Sequence[str]) -> dict[str, Any]:
    """``{metric: Arrow table of its samples}`` (all columns but ``metric``), one conversion for all.

    pandas frames convert to Arrow once (categoricals become dictionaries, no copy of the strings) and
    are split there; other engines filter natively first, then convert only the rows asked for.
    """
    import narwhals as nw
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    names = list(dict.fromkeys(names))
    if isinstance(metrics, pa.Table):
        tbl = metrics
    else:
        frame = _nw(metrics)
        if nw.get_native_namespace(frame).__name__ != "pandas":
            # filter natively, then convert only the columns the metric uses (a label column that is
            # null on every sample names no series; it is dropped, which changes no key or order)
            out = {}
            labels = [c for c in frame.columns if c not in ("ts", "value", "metric")]
            for name in names:
                sub = frame.filter(nw.col("metric") == name)
                nulls = sub.select([nw.col(c).null_count() for c in labels]).row(0) if labels else ()
                used = [c for c, k in zip(labels, nulls, strict=True) if k < len(sub)]
                out[name] = _to_arrow(sub.select(["ts", "value", *used]))
            return out
        tbl = _to_arrow(frame)
    col = tbl.column("metric")
    rest = tbl.drop_columns(["metric"])
    out = {}
    if pa.types.is_dictionary(col.type):
        col = col.unify_dictionaries() if isinstance(col, pa.ChunkedArray) else col
        chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
        dic = chunks[0].dictionary if chunks else pa.array([], pa.string())
        if not (pa.types.is_string(dic.type) or pa.types.is_large_string(dic.type)):
            dic = pc.cast(dic, pa.string())
        words = np.array(dic.to_pylist(), dtype=object)
        idx = pa.chunked_array([c.indices for c in chunks], type=chunks[0].indices.type) if chunks else None
        for name in names:
            hit = np.flatnonzero(words == name)
            if idx is None or not len(hit):
                out[name] = rest.slice(0, 0)
            else:
                mask = pc.equal(idx, int(hit[0])) if len(hit) == 1 else pc.is_in(idx, pa.array(hit, idx.type))
                out[name] = rest.filter(pc.fill_null(mask, False))
    else:
        for name in names:
            out[name] = rest.filter(pc.fill_null(pc.equal(col, name), False))
    return out


def _series(metrics: Any, metric: str, table: Any = None):
    """(label_cols, sid sorted, ts, value, keys) of one metric's samples, sorted by (series, ts).

    ``table``: the metric's samples already split out by :func:`_metric_tables` (else done here).
    """
    import numpy as np
    import pyarrow.compute as pc

    sub = table if table is not None else _metric_tables(metrics, [metric])[metric]
    label_cols = [c for c in sub.column_names if c not in ("ts", "value", "metric")]
    if sub.num_rows == 0:
        e = np.array([], dtype="int64")
        return label_cols, e, e, np.array([], dtype=float), []
    ts = _ts_ns(sub)
    labels = [sub.column(c) for c in label_cols]
    sid, keys = _factorize(*labels) if labels else (np.zeros(len(ts), dtype="int64"), [()])
    value = np.asarray(pc.fill_null(pc.cast(sub.column("value"), "float64"), np.nan)
                       .to_numpy(zero_copy_only=False), dtype=float)
    # a stable sort by series keeps time order where the samples come sorted by time (the usual case)
    if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
        order = np.argsort(sid.astype(np.uint16) if len(keys) <= 1 << 16 else sid, kind="stable")
    else:
        order = np.lexsort((ts, sid))
    sid, ts, value = sid[order], ts[order], value[order]
    dup = (sid[1:] == sid[:-1]) & (ts[1:] == ts[:-1])
    if dup.any():  # samples of one series at one time: in value order, whatever order the rows came in
        order = np.lexsort((value, ts, sid))
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

    gid = np.asarray(gid, dtype="int64")
    if not len(gid) or not mat.shape[1]:
        return np.full((n_g, mat.shape[1]), np.nan)
    # rows in group order (stable); the r-th row of every group is added in round r, so each group's
    # rows are added one after another in their original order (as np.add.at does, bit for bit)
    order = np.argsort(gid, kind="stable")
    g_sorted = gid[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g_sorted)) + 1]
    rank = np.arange(len(g_sorted)) - np.repeat(starts, np.diff(np.r_[starts, len(g_sorted)]))
    valid = ~np.isnan(mat)
    if how == "max":
        out = np.full((n_g, mat.shape[1]), -np.inf)
        groups = g_sorted[starts]
        out[groups] = np.maximum.reduceat(np.where(valid, mat, -np.inf)[order], starts, axis=0)
        return np.where(np.isneginf(out), np.nan, out)
    summed = np.zeros((n_g, mat.shape[1]))
    count = np.zeros((n_g, mat.shape[1]))
    for r in range(int(rank.max()) + 1):
        rows = order[rank == r]
        g = gid[rows]
        summed[g] += np.where(valid[rows], mat[rows], 0.0)
        count[g] += valid[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        val = summed if how == "sum" else summed / count
    return np.where(count > 0, val, np.nan)


def _caller() -> str:
    """The name of the public holoops function that asked for a grid (for messages), e.g. ``golden_signals``."""
    import sys

    f = sys._getframe(2)
    while f is not None:
        if not f.f_code.co_name.startswith("_") and str(f.f_globals.get("__name__", "")).startswith("holoops."):
            return f.f_code.co_name
        f = f.f_back
    return "metrics"


def _time_grid(metrics: Any, step: str, *, what: str | None = None):
    """The ``step`` grid over the samples' time range, at most :data:`MAX_GRID_POINTS` long.

    A range that would need more points is narrowed to the span holding the bulk of the samples (all but
    at most :data:`MAX_OUTSIDE_SHARE` of them; a :class:`TimeRangeWarning` names those left out), or,
    where the samples really are spread that wide, a :class:`~holoops.errors.ParameterError` names the
    span and the step (``what`` says which analysis asked).
    """
    import narwhals as nw
    import numpy as np

    frame = _nw(metrics)
    t = _to_arrow(frame.select(nw.col("ts").min().alias("a"), nw.col("ts").max().alias("b")))
    if t.num_rows == 0 or t.column("a").null_count:
        return np.array([], dtype="int64")
    a, b = _ts_ns(t, "a"), _ts_ns(t, "b")
    step_ns = int(duration_s(step) * NS)
    if step_ns <= 0:
        from holoops.errors import ParameterError

        raise ParameterError(f"{what or _caller()}: step must be a positive duration, got {step!r}")
    a, b = int(a[0]), int(b[0])
    if (b - a) // step_ns + 1 > MAX_GRID_POINTS:
        a, b = _grid_bounds(_ts_ns(_to_arrow(frame, ["ts"]).drop_null()), step_ns, step=step,
                            what=what or _caller())
    return _grid(a, b, step_ns)


def _grid_bounds(ts, step_ns: int, *, step: str | float, what: str) -> tuple[int, int]:
    """``(first, last)`` sample time (int ns) of the span a time grid at ``step_ns`` should cover.

    The whole range when it fits in :data:`MAX_GRID_POINTS` points. Else the window of that many points
    holding the most samples (the earliest such), when it holds all but :data:`MAX_OUTSIDE_SHARE` of
    them: the rest are left out, and a :class:`TimeRangeWarning` says how many and when they lie. Else
    a :class:`~holoops.errors.ParameterError` names the span and the step.
    """
    import warnings

    import numpy as np

    ts = np.asarray(ts, dtype="int64")
    if not len(ts):
        return 0, -1
    lo, hi = int(ts.min()), int(ts.max())
    if (hi - lo) // step_ns + 1 <= MAX_GRID_POINTS:
        return lo, hi
    srt = np.sort(ts)
    width = (MAX_GRID_POINTS - 1) * step_ns
    ends = np.searchsorted(srt, srt + width, side="right")
    counts = ends - np.arange(len(srt))
    i = int(np.argmax(counts))
    n, kept = len(srt), int(counts[i])
    span_s = (hi - lo) / NS
    if kept < (1 - MAX_OUTSIDE_SHARE) * n:
        from holoops.errors import ParameterError

        raise ParameterError(
            f"{what}: the samples span {_fmt_span(span_s)} ({_fmt_ts(lo)} to {_fmt_ts(hi)}); at step={step!r} "
            f"that is {(hi - lo) // step_ns + 1:,} grid points, more than the {MAX_GRID_POINTS:,} an analysis "
            f"builds. Pass a coarser step, or slice the frame to the window you need")
    first, last = int(srt[i]), int(srt[ends[i] - 1])
    before, after = i, n - int(ends[i])
    parts = []
    if before:
        parts.append(f"{before:,} before it (from {_fmt_ts(int(srt[0]))})")
    if after:
        parts.append(f"{after:,} after it (up to {_fmt_ts(int(srt[-1]))})")
    warnings.warn(
        f"{what}: {n - kept:,} of {n:,} samples lie far outside the span that holds the rest "
        f"({_fmt_ts(first)} to {_fmt_ts(last)}) and are left out: {' and '.join(parts)}. A grid at "
        f"step={step!r} over all of them ({_fmt_span(span_s)}) would need {(hi - lo) // step_ns + 1:,} points; "
        f"check the source's clock and timestamp units", TimeRangeWarning, stacklevel=3)
    return first, last


def _fmt_ts(ns: int) -> str:
    import pandas as pd

    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_span(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:,.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:,.1f} hours"
    return f"{seconds:,.0f} s"


def rate_matrix(metrics: Any, metric: str, grid, *, window: str = "5m", by: Sequence[str] = ("service",),
                extrapolate: bool = True, as_rate: bool = True, table: Any = None):
    """``(group_keys, matrix[n_groups, len(grid)])`` of summed rates; the engine-free core of :func:`rate`.

    ``table``: the metric's samples as :func:`_metric_tables` splits them (skips the filtering).
    """
    import numpy as np

    label_cols, sid, ts, value, keys = _series(metrics, metric, table)
    if not len(sid):
        return [], np.zeros((0, len(grid)))
    mat = series_rate(sid, ts, value, grid, int(duration_s(window) * NS), extrapolate=extrapolate,
                      as_rate=as_rate)
    gid, gk = _group(label_cols, keys, by)
    return gk, _aggregate(mat, gid, len(gk), "sum")


def gauge_matrix(metrics: Any, metric: str, grid, *, lookback: str = "5m", by: Sequence[str] = ("service",),
                 how: str = "max", table: Any = None):
    """Last sample within ``lookback`` at each grid time, aggregated by ``by`` (``max``/``sum``/``mean``)."""
    import numpy as np

    label_cols, sid, ts, value, keys = _series(metrics, metric, table)
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
    only_up = metric == "up" or (metric is None and frame is up)
    tbl = _to_arrow(frame, ["ts", "service", "instance", "value"])
    ts = _ts_ns(tbl)
    out = {"service": [], "instance": [], "start": [], "end": [], "missing_s": [], "reason": []}
    if len(ts):
        tid, keys = _factorize(tbl.column("service"), tbl.column("instance"))
        val = np.asarray(tbl.column("value").to_numpy(zero_copy_only=False), dtype=float)
        # up==0 scrapes are failures (only the ``up`` series says so)
        down = (val == 0) if only_up else np.zeros(len(ts), dtype=bool)
        # a target's scrape time is any sample time of it
        t_min = int(ts.min())
        allk = _unique_sorted(tid * (1 << 42) + (ts - t_min) // 1_000_000)
        bad = _unique_sorted(tid[down] * (1 << 42) + (ts[down] - t_min) // 1_000_000)
        good = np.setdiff1d(allk, bad, assume_unique=True)
        g_tid, g_ms = good >> 42, good & ((1 << 42) - 1)
        same = g_tid[1:] == g_tid[:-1]
        d = np.diff(g_ms)
        if interval is not None:
            step_ms = duration_s(interval) * 1000
        else:
            step_ms = float(np.median(d[same])) if same.any() else np.inf
        gi = np.flatnonzero(same & (d > factor * step_ms))
        a, b, t = g_ms[gi], g_ms[gi + 1], g_tid[gi]
        # a failed scrape of the same target strictly inside the gap
        lo = np.searchsorted(bad, t * (1 << 42) + a, side="right")
        has_down = (lo < len(bad)) & (bad[np.minimum(lo, max(len(bad) - 1, 0))] < t * (1 << 42) + b) \
            if len(bad) else np.zeros(len(gi), dtype=bool)
        out["service"] = [keys[int(x)][0] for x in t]
        out["instance"] = [keys[int(x)][1] for x in t]
        out["start"] = a * 1_000_000 + t_min
        out["end"] = b * 1_000_000 + t_min
        out["missing_s"] = (b - a) / 1000 - step_ms / 1000
        out["reason"] = np.where(has_down, "up=0", "no samples").astype(object)
    cols = {"service": np.array(out["service"], dtype=object),
            "instance": np.array(out["instance"], dtype=object),
            "start": np.array(out["start"], dtype="int64"), "end": np.array(out["end"], dtype="int64"),
            "missing_s": np.array(out["missing_s"], dtype=float),
            "reason": np.array(out["reason"], dtype=object)}
    return _from_columns(cols, metrics, ts_cols=("start", "end"))


def _unique_sorted(keys):
    """``np.unique`` of int64 keys, by one sort."""
    import numpy as np

    k = np.sort(keys)
    return k[np.r_[True, k[1:] != k[:-1]]] if len(k) else k


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
