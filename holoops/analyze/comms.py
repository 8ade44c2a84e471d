"""Service communication from spans: who calls whom, how fast, what dominates, and what to change.

All functions take a canonical spans frame (pandas, polars or cuDF; see ``holoops.frames``):
``trace_id, span_id, parent_id, service, operation, start, duration_ms, status`` plus optional
``attempt`` and ``payload_bytes``.

- :func:`dependency_graph` — per caller→callee edge: calls, rate, error ratio, latency p50/p95/p99, payload.
- :func:`critical_path` — per trace, the chain of work that set its end-to-end latency. Overlapping
  siblings are handled by walking back from each span's end to the child that finished last (the
  approach of Jaeger's and Uber's CRISP critical-path analysis), so a slow call that ran *in parallel*
  with a slower one is not blamed. :func:`critical_path_summary` aggregates it per service.
- :func:`retry_storms` and :func:`fan_out` — retry amplification per edge and minute; calls per parent.
- :func:`recommendations` — pool sizes (Little's law), batching, compression, timeouts and retry
  budgets, each with the evidence behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from holoops.fleet import FleetProfile


# --------------------------------------------------------------------------------------------------
# edges
# --------------------------------------------------------------------------------------------------
def _calls(spans: Any):
    """Narwhals frame of cross-service calls: the child span of a parent in another service."""
    import narwhals as nw

    s = nw.from_native(spans)
    cols = ["span_id", "service", "operation"]
    parents = s.select([nw.col(c).alias(f"caller_{c}") for c in cols])
    calls = s.join(parents, left_on="parent_id", right_on="caller_span_id", how="inner")
    return calls.filter(nw.col("caller_service") != nw.col("service")).rename(
        {"service": "callee", "caller_service": "caller"}
    )


def dependency_graph(spans: Any, *, window_seconds: float | None = None, trace_sample: float = 1.0) -> pd.DataFrame:
    """One row per caller→callee edge seen in the spans.

    Columns: caller, callee, calls, rate_per_s, error_ratio, p50_ms, p95_ms, p99_ms, mean_payload_bytes,
    max_attempt. ``window_seconds`` defaults to the span time range. ``trace_sample`` is the share of
    traces the tracer kept; ``rate_per_s`` is scaled back to the real traffic by it.
    """
    import narwhals as nw

    from holoops.frames import to_pandas

    calls = _calls(spans).with_columns((nw.col("status") == "error").cast(nw.Float64).alias("is_error"))
    has_payload = "payload_bytes" in calls.columns
    has_attempt = "attempt" in calls.columns
    aggs = [
        nw.len().alias("calls"),
        nw.col("is_error").mean().alias("error_ratio"),
        nw.col("duration_ms").quantile(0.5, interpolation="linear").alias("p50_ms"),
        nw.col("duration_ms").quantile(0.95, interpolation="linear").alias("p95_ms"),
        nw.col("duration_ms").quantile(0.99, interpolation="linear").alias("p99_ms"),
    ]
    if has_payload:
        aggs.append(nw.col("payload_bytes").mean().alias("mean_payload_bytes"))
    if has_attempt:
        aggs.append(nw.col("attempt").max().alias("max_attempt"))
    edges = to_pandas(calls.group_by("caller", "callee").agg(*aggs).sort("caller", "callee").to_native())
    if window_seconds is None:
        window_seconds = _span_window_seconds(spans)
    edges["rate_per_s"] = edges["calls"] / max(window_seconds, 1.0) / trace_sample
    if not has_payload:
        edges["mean_payload_bytes"] = float("nan")
    if not has_attempt:
        edges["max_attempt"] = 1
    order = ["caller", "callee", "calls", "rate_per_s", "error_ratio", "p50_ms", "p95_ms", "p99_ms",
             "mean_payload_bytes", "max_attempt"]
    return edges[order].reset_index(drop=True)


def _span_window_seconds(spans: Any) -> float:
    import narwhals as nw

    s = nw.from_native(spans)
    lo, hi = s.select(nw.col("start").min().alias("lo"), nw.col("start").max().alias("hi")).row(0)
    return float((hi - lo).total_seconds()) if hi is not None and lo is not None else 0.0


# --------------------------------------------------------------------------------------------------
# critical path
# --------------------------------------------------------------------------------------------------
def _span_arrays(spans: Any):
    """The spans sorted by (trace, start), as numpy arrays, in an order that does not depend on the rows'.

    Spans of one trace that start at the same instant are ordered longest first (a parent before the
    child that starts with it), then by their span id, parent id, service and operation (by hash, so the
    order is fixed without sorting strings). Returns ``(rows, trace, start, end, h_span, h_parent)``:
    ``rows`` the position of each sorted span in the input frame, ``trace`` a trace number (0, 1, ... in
    sorted trace order), ``start``/``end`` in ms since the epoch, ``h_span``/``h_parent`` two independent
    64-bit hashes of the span id and of the parent id (null: ``""``) as ``[n, 2]`` arrays.
    """
    import numpy as np
    import polars as pl

    cols = ["trace_id", "span_id", "parent_id", "start", "duration_ms", "service", "operation"]
    mod = type(spans).__module__.split(".")[0]
    if mod == "polars":
        df = spans.select(cols)
    else:
        from holoops.frames import to_pandas

        df = pl.from_pandas(to_pandas(spans)[cols] if mod != "pandas" else spans[cols])
    n = df.height
    tid = df["trace_id"]
    if tid.dtype in (pl.Categorical, pl.Enum):
        tid = tid.cast(pl.String)
    # trace numbers in sorted order: rank the first id of each run of equal ids (spans mostly come
    # grouped by trace, so there are about as many runs as traces), nulls last
    head = np.r_[True, (tid.slice(1) != tid.slice(0, n - 1)).fill_null(True).to_numpy()] if n > 1 \
        else np.ones(n, dtype=bool)
    firsts = np.flatnonzero(head)
    ranks = tid.gather(firsts).rank("dense").cast(pl.Int64).fill_null(n + 1).to_numpy()
    code = np.repeat(ranks, np.diff(np.r_[firsts, n]))
    del head, firsts, ranks
    start_ns = df["start"].cast(pl.Datetime("ns", "UTC")).dt.epoch("ns").to_numpy()
    dur = df["duration_ms"].cast(pl.Float64).to_numpy()

    def hashes(col):  # [n, 2] in input order
        out = np.empty((n, 2), dtype=np.uint64)
        for j, seed in enumerate((7, 1_000_003)):
            out[:, j] = col.hash(seed=seed).to_numpy()
        return out

    h_span = hashes(df["span_id"].cast(pl.String))
    h_parent = hashes(df["parent_id"].cast(pl.String).fill_null(""))
    order = np.lexsort((start_ns, code))
    # spans of a trace starting at the same instant: ordered by what they are, not where their rows were
    k_code, k_start = code[order], start_ns[order]
    tie = (k_code[1:] == k_code[:-1]) & (k_start[1:] == k_start[:-1])
    if tie.any():
        pos = np.flatnonzero(np.r_[tie, False] | np.r_[False, tie])
        run = np.cumsum(np.r_[True, ~tie])[pos]
        rows = order[pos]
        what = df.select(pl.col("service").cast(pl.String).fill_null("").hash(seed=11),
                         pl.col("operation").cast(pl.String).fill_null("").hash(seed=13))[rows.tolist()]
        order[pos] = rows[np.lexsort((what[:, 1].to_numpy(), what[:, 0].to_numpy(), h_parent[rows, 1],
                                      h_parent[rows, 0], h_span[rows, 1], h_span[rows, 0], -dur[rows], run))]
    del k_code, k_start, tie
    trace = code[order]
    del code
    trace = np.cumsum(np.r_[True, trace[1:] != trace[:-1]]) - 1 if n else trace
    start = start_ns[order] / 1e6
    del start_ns
    end = start + dur[order]
    return order, trace, start, end, h_span[order], h_parent[order]


def _parents(trace, h_span, h_parent):
    """Position of each span's parent in its trace (the last span of that id), -1 where there is none.

    ``trace`` numbers the (sorted) spans' traces from 0. Ids are compared by two independent 64-bit
    hashes (a wrong match needs both to collide between two ids of one trace).
    """
    import numpy as np

    n = len(trace)
    if not n:
        return np.zeros(0, dtype=np.int64)
    bits = max(1, int(trace[-1]).bit_length())
    shift = np.uint64(bits + 1)
    base = trace.astype(np.uint64) << np.uint64(63 - bits)
    k_span = base | (h_span[:, 0] >> shift)
    k_par = base | (h_parent[:, 0] >> shift)
    by_key = np.argsort(k_span, kind="stable")
    ks = k_span[by_key]
    last = np.r_[ks[1:] != ks[:-1], True]  # the last (highest position) span of each key
    ks, pos = ks[last], by_key[last]
    i = np.minimum(np.searchsorted(ks, k_par), len(ks) - 1)
    par = np.where(ks[i] == k_par, pos[i], -1).astype(np.int64)
    hit = par >= 0
    par[hit & ~(h_span[par, 0] == h_parent[:, 0]) | hit & ~(h_span[par, 1] == h_parent[:, 1])] = -1
    if (hit & (par < 0)).any():  # two ids of a trace share the key's bits: look those up one by one
        for j in np.flatnonzero(hit & (par < 0)):
            same = np.flatnonzero((trace == trace[j]) & (h_span[:, 0] == h_parent[j, 0])
                                  & (h_span[:, 1] == h_parent[j, 1]))
            par[j] = same[-1] if len(same) else -1
    return par


def _break_cycles(start, parent):
    """``(parent, broken)``: ``parent`` with every cycle of parent links cut, and the spans cut loose.

    Parent ids can loop (a span that is its own parent; A's parent B and B's parent A; longer rings):
    no walk down from a root ever reaches such spans. Each cycle is cut at the link into its
    earliest-starting span (the first in span order on ties: a parent starts no later than its
    children, so that link is the one the clocks contradict), which makes that span parentless: a root
    candidate of its trace like any other, with the rest of the ring (and what hangs off it) below it.

    Pointer jumping finds the spans whose chain of parents never ends, in ~log2(depth) rounds over
    the spans still climbing; only those are looked at one by one.
    """
    import numpy as np

    n = len(parent)
    anc = parent.copy()
    live = np.flatnonzero(anc >= 0)
    for _ in range(max(1, int(n).bit_length()) + 1):
        if not len(live):
            return parent, live
        nxt = anc[anc[live]]  # the 2^(k+1)-th ancestor
        anc[live] = nxt
        live = live[nxt >= 0]
    if not len(live):
        return parent, live
    # every span left climbs forever: it is on a cycle, or below one (functional graph: one parent each)
    parent = parent.copy()
    state = np.zeros(n, dtype=np.int8)  # 0 unseen, 1 on the current climb, 2 done
    cut = []
    for s0 in live.tolist():
        chain, x = [], s0
        while x >= 0 and state[x] == 0:
            state[x] = 1
            chain.append(x)
            x = int(parent[x])
        if x >= 0 and state[x] == 1:  # the climb closed a new cycle: x and the spans after it in chain
            ring = chain[chain.index(x):]
            first = min(ring, key=lambda i: (start[i], i))
            parent[first] = -1
            cut.append(first)
        state[chain] = 2
    return parent, np.array(sorted(cut), dtype=np.int64)


def _segments(trace, start, end, parent):
    """The critical-path walk of every trace at once, one tree level per round.

    Per span, its children in the order the walk meets them (latest end first; equal ends in span
    order). With ``point`` where the walk stands inside a span (its end, or where its parent's walk
    left it), the walk takes child ``k`` when ``start[k] < point_k``, where ``point_k`` is ``point``
    until a child was taken and ``max(start of the earliest-starting child before k, start of the
    span)`` after: so ``point_k`` follows from the running minimum of the earlier children's starts,
    without a per-span loop. The span keeps ``point_k - min(end[k], point_k)`` of each child taken,
    plus what is left before the last point, as its own time; each child taken is walked from
    ``min(end[k], point_k)``. Returns ``(nodes, critical_ms, trace_ms, order)`` for the spans on the path,
    in the order a depth-first walk (last child taken first) visits them.
    """
    import numpy as np

    n = len(start)
    empty = np.array([], dtype=np.int64)
    if not n:
        return empty, np.array([]), np.array([]), empty
    pos = np.arange(n, dtype=np.int64)
    # the root of each trace: the longest span without a parent in it (the first such on ties)
    roots = pos[parent < 0]
    dur = end[roots] - start[roots]
    o = np.lexsort((-dur, trace[roots]))  # stable: the first of equally long roots wins
    roots = roots[o]
    roots = roots[np.r_[True, trace[roots][1:] != trace[roots][:-1]]] if len(roots) else roots
    trace_ms = np.full(int(trace.max()) + 1, np.nan)
    trace_ms[trace[roots]] = end[roots] - start[roots]
    # children grouped by parent, in walk order; the running minimum of starts over earlier siblings
    kids = pos[parent >= 0]
    kids = kids[np.lexsort((-end[kids], parent[kids]))]  # stable: equal ends keep span order
    kp = parent[kids]
    counts = np.bincount(kp, minlength=n)
    first = np.cumsum(counts) - counts
    ks = start[kids]
    if len(kids):
        grp = np.cumsum(np.r_[True, kp[1:] != kp[:-1]]) - 1
        rank = np.empty(len(ks), dtype=np.int64)
        by_start = np.argsort(ks, kind="stable")
        rank[by_start] = np.arange(len(ks))
        # ranks shifted down by group make one global running minimum restart at every group
        run = np.minimum.accumulate(rank - grp * len(ks)) + grp * len(ks)
        incl = ks[by_start][run]
        excl = np.r_[np.inf, incl[:-1]]
        excl[first[kp] == np.arange(len(kids))] = np.inf
        min_all = np.full(n, np.inf)
        last_kid = np.r_[kp[1:] != kp[:-1], True]
        min_all[kp[last_kid]] = incl[last_kid]  # the last child's running minimum: that of them all
    else:
        excl = np.array([])
        min_all = np.full(n, np.inf)
    seg = np.zeros(n)
    seen = np.zeros(n, dtype=bool)
    # per level (round): the spans walked, and the position of each one's parent in the level above
    nodes_all, ups = [], []
    frontier, point0 = roots, end[roots]
    up = np.full(len(roots), -1, dtype=np.int64)
    while len(frontier):
        fresh = ~seen[frontier]  # (a cycle of parent ids would otherwise never end)
        if not fresh.all():
            frontier, point0, up = frontier[fresh], point0[fresh], up[fresh]
        seen[frontier] = True
        nodes_all.append(frontier)
        ups.append(up)
        sn = start[frontier]
        c = counts[frontier]
        owner = np.repeat(np.arange(len(frontier)), c)
        idx = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c) + np.repeat(first[frontier], c)
        k, m = kids[idx], excl[idx]
        p0, s_owner = point0[owner], sn[owner]
        point = np.where(m >= p0, p0, np.maximum(m, s_owner))
        take = start[k] < point
        k, pk = k[take], point[take]
        k_end = np.minimum(end[k], pk)
        own = np.bincount(owner[take], weights=pk - k_end, minlength=len(frontier))
        m_all = min_all[frontier]
        last_point = np.where(m_all >= point0, point0, np.maximum(m_all, sn))
        seg[frontier] = own + np.maximum(last_point - sn, 0.0)
        # the next level: children taken, each walked from where its parent left it
        frontier, point0, up = k, k_end, owner[take]
    if not nodes_all:
        return empty, np.array([]), np.array([]), empty
    # the depth-first order (roots in trace order; of the children a span took, the last taken first):
    # subtree sizes bottom-up, then each span's place top-down, its parent's place + 1 + the sizes of
    # the siblings visited before it (those taken after it). Memory grows with the spans, not with
    # spans x depth: a chain of 10,000 spans is one more trace.
    size = [np.ones(len(x), dtype=np.int64) for x in nodes_all]
    for lv in range(len(nodes_all) - 1, 0, -1):
        size[lv - 1] += np.bincount(ups[lv], weights=size[lv], minlength=len(nodes_all[lv - 1])).astype(np.int64)
    place = [np.cumsum(size[0]) - size[0]]
    for lv in range(1, len(nodes_all)):
        u, cs = ups[lv], np.cumsum(size[lv])
        group_end = cs[np.r_[u[1:] != u[:-1], True]][np.cumsum(np.r_[True, u[1:] != u[:-1]]) - 1]
        place.append(place[lv - 1][u] + 1 + (group_end - cs))
    nodes = np.concatenate(nodes_all)
    order = np.empty(len(nodes), dtype=np.int64)
    order[np.concatenate(place)] = np.arange(len(nodes))
    nodes = nodes[order]
    return nodes, seg[nodes], trace_ms[trace[nodes]], order


def _on_path(spans: Any):
    """Spans on the critical path (time > 0) in the order of the span-by-span walk.

    Returns ``(rows, trace, critical_ms, trace_ms)``: input row positions, trace numbers (sorted trace
    order), the time each span holds on the path, its trace's end-to-end time. Traces are walked in
    chunks of about 256k spans (whole traces), in parallel threads: the work stays in cache and every
    core helps.
    """
    import numpy as np

    order, trace, start, end, h_span, h_parent = _span_arrays(spans)
    n = len(order)
    if not n:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0), np.zeros(0)
    firsts = np.flatnonzero(np.r_[True, trace[1:] != trace[:-1]])
    cuts = np.unique(firsts[np.searchsorted(firsts, np.arange(0, n, 1 << 18))])
    bounds = list(zip(cuts.tolist(), [*cuts[1:].tolist(), n], strict=True))

    def one(ab):
        a, b = ab
        tr = trace[a:b] - trace[a]
        par = _parents(tr, h_span[a:b], h_parent[a:b])
        par, cut = _break_cycles(start[a:b], par)
        nodes, crit, total, _ = _segments(tr, start[a:b], end[a:b], par)
        keep = crit > 0
        return nodes[keep] + a, crit[keep], total[keep], cut + a

    from holoops.analyze.counters import _threads

    if len(bounds) > 1 and _threads() > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(_threads(), len(bounds))) as pool:
            parts = list(pool.map(one, bounds))
    else:
        parts = [one(ab) for ab in bounds]
    cut = np.concatenate([p[3] for p in parts])
    if len(cut):
        _warn_cycles(spans, order[cut])
    nodes = np.concatenate([p[0] for p in parts])
    return (order[nodes], trace[nodes], np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


class MalformedTraceWarning(UserWarning):
    """A trace's parent links are broken in a way the critical path had to repair (a cycle of parent
    ids); the message names how many traces and which, and what was done."""


def _warn_cycles(spans: Any, rows) -> None:
    import warnings

    ids = _take(spans, ["trace_id", "span_id"], rows)
    traces = sorted(ids["trace_id"].astype(str).unique())
    example = ", ".join(traces[:3]) + (", ..." if len(traces) > 3 else "")
    warnings.warn(
        f"critical path: {len(traces)} trace(s) have a cycle of parent span ids ({example}); each cycle "
        "was cut at its earliest-starting span, which is walked as a root of its trace. Check the "
        "tracer's parent ids", MalformedTraceWarning, stacklevel=4)


def critical_path(spans: Any) -> pd.DataFrame:
    """The critical path of every trace, as segments of time attributed to one span each.

    Walk back from the root's end: inside a span, the child that finished last before the current
    point is on the path; the gap after it is the span's own (self) time; then continue before that
    child's start. Children hidden behind a later-finishing sibling never enter the path. All traces
    are walked at once, one tree level per round (:func:`_segments`); the rows are those of the
    span-by-span walk, in its order, which does not depend on the order of the input rows.

    Real traces are not always trees. A span whose parent id is not in its trace (an orphan, e.g. a
    parent the tracer dropped) is parentless, as are the roots; the trace is walked from the longest
    parentless span. Where a span id occurs twice in a trace, children hang below the later-starting
    one. A cycle of parent ids (a span its own parent, A and B each other's) is cut at its
    earliest-starting span, which then counts as parentless, and a :class:`MalformedTraceWarning` names
    the traces (:func:`_break_cycles`).

    Columns: trace_id, span_id, service, operation, critical_ms (time on the path), trace_ms.
    """
    cols = ["trace_id", "span_id", "service", "operation"]
    rows, _, crit, total = _on_path(spans)
    res = _take(spans, cols, rows)
    res["critical_ms"] = crit
    res["trace_ms"] = total
    return res


def _take(spans: Any, cols: list[str], rows) -> pd.DataFrame:
    """Rows ``rows`` (positions) of ``cols`` as a pandas frame with a fresh index."""
    from holoops.frames import to_pandas

    mod = type(spans).__module__.split(".")[0]
    if mod == "pandas":
        return spans.iloc[rows][cols].reset_index(drop=True)
    if mod == "polars":
        return to_pandas(spans.select(cols)[rows])
    return to_pandas(spans)[cols].iloc[rows].reset_index(drop=True)


def critical_path_summary(spans: Any, *, by: str = "service", path: pd.DataFrame | None = None) -> pd.DataFrame:
    """Share of end-to-end latency each service (or operation) holds on the critical path.

    Columns: ``by``, critical_ms_total, share (of all critical time), traces (where it appears),
    median_ms_per_trace. Sorted with the dominant one first.
    """
    import numpy as np
    import pandas as pd

    if path is None:  # straight from the walk: traces by number, no id strings
        rows, trace, crit, _ = _on_path(spans)
        col = _take(spans, [by], rows)[by]
    else:
        col = path[by].reset_index(drop=True)
        trace = pd.factorize(path["trace_id"])[0]
        crit = path["critical_ms"].to_numpy(dtype=float)
    # pandas group sums (compensated) over one integer key per group, rows in path order as before
    codes, uniq = pd.factorize(col, sort=True)
    ok = codes >= 0
    codes, trace, crit = codes[ok], np.asarray(trace)[ok], pd.Series(np.asarray(crit)[ok])
    k = max(len(uniq), 1)
    total = crit.groupby(codes).sum()
    per_trace = crit.groupby(np.asarray(trace, dtype=np.int64) * k + codes, sort=False).sum()
    svc = per_trace.index.to_numpy() % k
    out = pd.DataFrame({"critical_ms_total": total.to_numpy()}, index=pd.Index(uniq[total.index.to_numpy()], name=by))
    out["share"] = out["critical_ms_total"] / max(out["critical_ms_total"].sum(), 1e-12)
    out["traces"] = np.bincount(svc, minlength=k)[total.index.to_numpy()]
    out["median_ms_per_trace"] = pd.Series(per_trace.to_numpy()).groupby(svc).median() \
        .reindex(total.index).to_numpy()
    return out.sort_values("critical_ms_total", ascending=False).reset_index()


def naive_latency_share(spans: Any) -> pd.DataFrame:
    """The timing-only heuristic (sum of span self-durations by service), for comparison."""
    from holoops.frames import to_pandas

    df = to_pandas(spans)
    child_sum = df.groupby("parent_id", observed=True)["duration_ms"].sum()
    own = df["duration_ms"].astype(float) - df["span_id"].map(child_sum).astype(float).fillna(0.0)
    out = own.clip(lower=0).groupby(df["service"], observed=True).sum().rename("self_ms_total").to_frame()
    out["share"] = out["self_ms_total"] / out["self_ms_total"].sum()
    return out.sort_values("self_ms_total", ascending=False).reset_index()


# --------------------------------------------------------------------------------------------------
# retries and fan-out
# --------------------------------------------------------------------------------------------------
def fan_out(spans: Any) -> pd.DataFrame:
    """Calls each parent span makes to each callee: count, how many ran one after another, payload.

    Retries (``attempt`` > 1) are not counted as calls. Columns: caller, caller_operation, callee,
    operation, parents, mean_calls, median_calls, p95_calls, sequential_share, median_payload_bytes.
    """
    import pandas as pd

    from holoops.frames import to_pandas

    calls = to_pandas(_calls(spans).to_native())
    if calls.empty:
        return calls
    if "payload_bytes" not in calls:
        calls["payload_bytes"] = float("nan")
    if "attempt" in calls:  # count logical calls: a retry is not a new call
        calls = calls[calls["attempt"].fillna(1) <= 1]
    # equal starts: ordered by duration and span id, not by where the rows happened to be
    calls = calls.assign(_sid=calls["span_id"].astype(str)).sort_values(
        ["parent_id", "callee", "start", "duration_ms", "_sid"], kind="stable").drop(columns="_sid")
    end = calls["start"] + pd.to_timedelta(calls["duration_ms"].astype(float), unit="ms")
    prev_end = end.groupby([calls["parent_id"], calls["callee"]], observed=True).shift(1)
    calls["sequential"] = (calls["start"] >= prev_end).astype(float).where(prev_end.notna())
    keys = ["caller", "caller_operation", "callee", "operation"]
    per_parent = calls.groupby([*keys, "parent_id"], observed=True).agg(
        n=("span_id", "size"), seq=("sequential", "mean"), payload=("payload_bytes", "median")
    ).reset_index()
    out = per_parent.groupby(keys, observed=True).agg(
        parents=("n", "size"), mean_calls=("n", "mean"), median_calls=("n", "median"), p95_calls=("n", lambda x: x.quantile(0.95)),
        sequential_share=("seq", "mean"), median_payload_bytes=("payload", "median"),
    ).reset_index()
    return out.sort_values("mean_calls", ascending=False).reset_index(drop=True)


def retry_storms(spans: Any, *, bucket: str = "1min", min_amplification: float = 1.5,
                 min_calls: int = 20) -> pd.DataFrame:
    """Minutes where an edge carried retries: amplification = calls / first attempts.

    A storm is a bucket where amplification >= ``min_amplification`` over at least ``min_calls`` calls.
    Columns: caller, callee, ts (bucket start), calls, first_attempts, amplification, error_ratio, storm.
    """
    from holoops.frames import to_pandas

    calls = to_pandas(_calls(spans).to_native())
    if calls.empty:
        return calls
    if "attempt" not in calls:
        calls["attempt"] = 1
    calls["ts"] = calls["start"].dt.floor(bucket)
    calls["first"] = (calls["attempt"].fillna(1) <= 1).astype(int)
    calls["err"] = (calls["status"] == "error").astype(float)
    out = calls.groupby(["caller", "callee", "ts"], observed=True).agg(
        calls=("span_id", "size"), first_attempts=("first", "sum"), error_ratio=("err", "mean")
    ).reset_index()
    out["amplification"] = out["calls"] / out["first_attempts"].clip(lower=1)
    out["storm"] = (out["amplification"] >= min_amplification) & (out["calls"] >= min_calls)
    return out


# --------------------------------------------------------------------------------------------------
# recommendations
# --------------------------------------------------------------------------------------------------
@dataclass
class Recommendation:
    """One piece of advice with the numbers behind it."""

    kind: str  # pool | batching | compression | timeout | retry_budget | critical_path
    caller: str | None
    callee: str | None
    advice: str
    evidence: dict[str, Any] = field(default_factory=dict)
    priority: int = 2  # 1 = do first

    def as_row(self) -> dict[str, Any]:
        ev = "; ".join(f"{k}={_fmt(v)}" for k, v in self.evidence.items())
        return {"priority": self.priority, "kind": self.kind, "edge": f"{self.caller} → {self.callee}"
                if self.caller else (self.callee or ""), "advice": self.advice, "evidence": ev}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


class Recommendations(list):
    """A list of :class:`Recommendation` that renders as a table in notebooks."""

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [r.as_row() for r in sorted(self, key=lambda r: r.priority)]
        return pd.DataFrame(rows, columns=["priority", "kind", "edge", "advice", "evidence"])

    def _repr_html_(self) -> str:
        if not self:
            return "<p>No communication changes recommended: no edge showed a problem.</p>"
        return self.frame().to_html(index=False, escape=True)

    def of_kind(self, kind: str) -> list[Recommendation]:
        return [r for r in self if r.kind == kind]


def recommendations(spans: Any, fleet: FleetProfile | None = None, *, headroom: float = 1.5,
                    batch_min_calls: float = 4.0, large_payload_bytes: float = 256 * 1024,
                    retry_budget: float = 0.1, trace_sample: float = 1.0) -> Recommendations:
    """Advice for every edge with the evidence behind it.

    - pool: connections per caller replica from Little's law, L = λ·W, at the peak minute's rate and the
      edge's p99 latency, times ``headroom``.
    - batching: the typical (median) parent calls one callee ``batch_min_calls`` times or more, mostly one
      after another.
    - compression: edges whose median payload is at least ``large_payload_bytes``.
    - timeout / retry_budget: a timeout per edge from the callee's p99 that fits inside the caller's own
      timeout, and a retry budget that stops retries multiplying along the chain.
    - critical_path: the service that dominates end-to-end latency.

    ``trace_sample`` (share of traces kept by the tracer) scales observed call rates back to real traffic.
    """
    from holoops.frames import to_pandas

    recs = Recommendations()
    edges = dependency_graph(spans, trace_sample=trace_sample)
    calls = to_pandas(_calls(spans).to_native())
    if edges.empty:
        return recs
    replicas = {n: s.replicas for n, s in fleet.services.items()} if fleet else {}

    # Little's law at the peak minute
    per_min = calls.groupby(["caller", "callee", calls["start"].dt.floor("1min")], observed=True).size()
    peak = per_min.groupby(level=[0, 1], observed=True).quantile(0.99) / 60.0 / trace_sample
    for row in edges.itertuples():
        lam = float(peak.get((row.caller, row.callee), row.rate_per_s))
        w = row.p99_ms / 1000.0
        n_caller = replicas.get(row.caller, 1)
        concurrent = lam * w
        pool = max(2, math.ceil(concurrent * headroom / n_caller))
        recs.append(Recommendation(
            "pool", row.caller, row.callee,
            f"size the {row.caller}→{row.callee} connection pool at {pool} per {row.caller} replica",
            {"peak_rate_per_s": lam, "p99_ms": row.p99_ms, "in_flight_at_peak": concurrent,
             "caller_replicas": n_caller, "headroom": headroom}, priority=3))

    fo = fan_out(spans)
    for row in fo.itertuples():
        if row.median_calls >= batch_min_calls and (row.sequential_share or 0) >= 0.5:
            edge = edges[(edges.caller == row.caller) & (edges.callee == row.callee)].iloc[0]
            saved = (row.median_calls - 1) * float(edge.p50_ms) * float(row.sequential_share)
            recs.append(Recommendation(
                "batching", row.caller, row.callee,
                f"batch {row.caller}'s {row.operation} calls to {row.callee}: {row.median_calls:g} calls per "
                f"{row.caller_operation}, {row.sequential_share:.0%} one after another",
                {"median_calls_per_parent": float(row.median_calls), "sequential_share": float(row.sequential_share),
                 "median_payload_bytes": float(row.median_payload_bytes), "est_saving_ms_per_request": saved},
                priority=1))

    for row in edges.itertuples():
        if row.mean_payload_bytes == row.mean_payload_bytes and row.mean_payload_bytes >= large_payload_bytes:
            transfer_ms = row.mean_payload_bytes * 8 / 1e9 * 1000  # at 1 Gbit/s
            recs.append(Recommendation(
                "compression", row.caller, row.callee,
                f"compress {row.caller}→{row.callee} payloads (zstd or gzip): mean "
                f"{row.mean_payload_bytes / 2**20:.1f} MiB per call",
                {"mean_payload_bytes": float(row.mean_payload_bytes), "transfer_ms_at_1gbps": transfer_ms,
                 "calls": int(row.calls)}, priority=2))

    recs.extend(_timeouts_and_budgets(edges, calls, retry_budget))

    summary = critical_path_summary(spans)
    if len(summary):
        top = summary.iloc[0]
        recs.append(Recommendation(
            "critical_path", None, str(top["service"]),
            f"{top['service']} holds {top['share']:.0%} of end-to-end latency on the critical path; "
            "start optimising there",
            {"share": float(top["share"]), "median_ms_per_trace": float(top["median_ms_per_trace"])},
            priority=1))
    return recs


def _timeouts_and_budgets(edges: pd.DataFrame, calls: pd.DataFrame, retry_budget: float) -> list[Recommendation]:
    """Timeouts that shrink down the chain, and retry budgets where retries multiply."""
    out: list[Recommendation] = []
    callees_of: dict[str, list[str]] = {}
    for row in edges.itertuples():
        callees_of.setdefault(row.caller, []).append(row.callee)
    p999 = calls.groupby(["caller", "callee"], observed=True)["duration_ms"].quantile(0.999)
    retrying = {(r.caller, r.callee) for r in edges.itertuples() if (r.max_attempt or 1) > 1}
    # deepest-first: a callee's timeout must fit inside its caller's. Services can call each other in a
    # loop (A -> B -> A); a call already on the chain being sized adds nothing below itself (the loop is
    # cut where it closes, edges taken in caller/callee order), so the sizing ends.
    timeout: dict[tuple[str, str], float] = {}

    def need(caller: str, callee: str, chain: frozenset = frozenset()) -> float:
        key = (caller, callee)
        if key in timeout:
            return timeout[key]
        if key in chain:
            return 0.0
        own = float(p999.get(key, 0.0)) * 1.5
        below = max((need(callee, c, chain | {key}) for c in callees_of.get(callee, [])), default=0.0)
        timeout[key] = max(own, below * 1.2, 10.0)
        return timeout[key]

    for row in edges.itertuples():
        t = need(row.caller, row.callee)
        attempts = int(row.max_attempt or 1)
        out.append(Recommendation(
            "timeout", row.caller, row.callee,
            f"set {row.caller}'s timeout for {row.callee} to {t:,.0f} ms (callee p99.9 × 1.5, and above "
            f"every timeout further down the chain)",
            {"callee_p999_ms": float(p999.get((row.caller, row.callee), float("nan"))), "timeout_ms": t,
             "attempts_seen": attempts}, priority=3))
    for caller, callee in sorted(retrying):
        up = sorted((a, b) for a, b in retrying if b == caller)
        chain = f" (and {up[0][0]}→{caller} retries too: attempts multiply)" if up else ""
        edge = edges[(edges.caller == caller) & (edges.callee == callee)].iloc[0]
        out.append(Recommendation(
            "retry_budget", caller, callee,
            f"cap {caller}'s retries to {callee} with a retry budget of {retry_budget:.0%} of requests and "
            f"jittered backoff; retry only at one layer{chain}",
            {"max_attempt": int(edge.max_attempt), "error_ratio": float(edge.error_ratio)}, priority=1))
    return out
