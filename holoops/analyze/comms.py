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
    """Numpy arrays of the spans sorted by trace, with start/end in ms since the epoch."""

    from holoops.frames import to_pandas

    df = to_pandas(spans)[["trace_id", "span_id", "parent_id", "service", "operation", "start", "duration_ms"]]
    df = df.sort_values(["trace_id", "start"], kind="stable").reset_index(drop=True)
    start = df["start"].astype("datetime64[ns, UTC]").astype("int64").to_numpy() / 1e6
    end = start + df["duration_ms"].to_numpy(dtype=float)
    parent = df["parent_id"].fillna("").astype(str).to_numpy()
    return df, start, end, parent


def critical_path(spans: Any) -> pd.DataFrame:
    """The critical path of every trace, as segments of time attributed to one span each.

    Walk back from the root's end: inside a span, the child that finished last before the current
    point is on the path; the gap after it is the span's own (self) time; then continue before that
    child's start. Children hidden behind a later-finishing sibling never enter the path.

    Columns: trace_id, span_id, service, operation, critical_ms (time on the path), trace_ms.
    """

    import numpy as np

    df, start, end, parent = _span_arrays(spans)
    trace = df["trace_id"].astype(str).to_numpy()
    span_id = df["span_id"].astype(str).to_numpy()
    bounds = np.flatnonzero(np.r_[True, trace[1:] != trace[:-1], True])
    out_idx: list[int] = []
    out_ms: list[float] = []
    out_trace_ms: list[float] = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        index = {span_id[i]: i for i in range(lo, hi)}
        children: dict[int, list[int]] = {}
        roots = []
        for i in range(lo, hi):
            p = index.get(parent[i])
            if p is None:
                roots.append(i)
            else:
                children.setdefault(p, []).append(i)
        if not roots:
            continue
        root = max(roots, key=lambda i: end[i] - start[i])
        segments: dict[int, float] = {}
        _walk(root, end[root], children, start, end, segments)
        total = end[root] - start[root]
        for i, ms in segments.items():
            out_idx.append(i)
            out_ms.append(ms)
            out_trace_ms.append(total)
    res = df.loc[out_idx, ["trace_id", "span_id", "service", "operation"]].reset_index(drop=True)
    res["critical_ms"] = out_ms
    res["trace_ms"] = out_trace_ms
    return res[res["critical_ms"] > 0].reset_index(drop=True) if len(res) else res


def _walk(i: int, until: float, children: dict, start, end, segments: dict) -> None:
    """Attribute the time of span ``i`` up to ``until`` along its critical path (iterative)."""
    stack = [(i, min(until, end[i]))]
    while stack:
        node, point = stack.pop()
        kids = sorted(children.get(node, ()), key=lambda k: end[k], reverse=True)
        self_ms = 0.0
        for k in kids:
            if start[k] >= point:
                continue
            k_end = min(end[k], point)
            self_ms += point - k_end
            stack.append((k, k_end))
            point = max(start[k], start[node])
        self_ms += max(point - start[node], 0.0)
        segments[node] = segments.get(node, 0.0) + self_ms


def critical_path_summary(spans: Any, *, by: str = "service", path: pd.DataFrame | None = None) -> pd.DataFrame:
    """Share of end-to-end latency each service (or operation) holds on the critical path.

    Columns: ``by``, critical_ms_total, share (of all critical time), traces (where it appears),
    median_ms_per_trace. Sorted with the dominant one first.
    """
    cp = critical_path(spans) if path is None else path
    g = cp.groupby(by, observed=True)
    per_trace = cp.groupby(["trace_id", by], observed=True)["critical_ms"].sum().reset_index()
    out = g["critical_ms"].sum().rename("critical_ms_total").to_frame()
    out["share"] = out["critical_ms_total"] / max(out["critical_ms_total"].sum(), 1e-12)
    out["traces"] = per_trace.groupby(by, observed=True)["trace_id"].nunique()
    out["median_ms_per_trace"] = per_trace.groupby(by, observed=True)["critical_ms"].median()
    return out.sort_values("critical_ms_total", ascending=False).reset_index()


def naive_latency_share(spans: Any) -> pd.DataFrame:
    """The timing-only heuristic (sum of span self-durations by service), for comparison."""
    from holoops.frames import to_pandas

    df = to_pandas(spans)
    child_sum = df.groupby("parent_id", observed=True)["duration_ms"].sum()
    own = df["duration_ms"] - df["span_id"].map(child_sum).fillna(0.0)
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
    calls = calls.sort_values(["parent_id", "callee", "start"], kind="stable")
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
    # deepest-first: a callee's timeout must fit inside its caller's
    timeout: dict[tuple[str, str], float] = {}

    def need(caller: str, callee: str) -> float:
        key = (caller, callee)
        if key not in timeout:
            own = float(p999.get(key, 0.0)) * 1.5
            below = max((need(callee, c) for c in callees_of.get(callee, [])), default=0.0)
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
        up = [(a, b) for a, b in retrying if b == caller]
        chain = f" (and {up[0][0]}→{caller} retries too: attempts multiply)" if up else ""
        edge = edges[(edges.caller == caller) & (edges.callee == callee)].iloc[0]
        out.append(Recommendation(
            "retry_budget", caller, callee,
            f"cap {caller}'s retries to {callee} with a retry budget of {retry_budget:.0%} of requests and "
            f"jittered backoff; retry only at one layer{chain}",
            {"max_attempt": int(edge.max_attempt), "error_ratio": float(edge.error_ratio)}, priority=1))
    return out
