"""Root-cause analysis: which service a fault started in, ranked with evidence, from what a fleet exports.

:func:`diagnose` takes a :class:`~holoops.dataset.Dataset` and an incident window ``[start, end]`` (or a
time ``at``: the window is ``[at, at + after]``); what the dataset holds before ``start`` is the baseline
(metrics: ``baseline``; logs and traces: ``event_baseline``). Every service gets evidence from three
sources, each judged against the service's own baseline, never against a fixed threshold in the data's
units:

* **metrics**: every series the dataset has -- counters (as per-step rates), request counters and duration
  histograms (as golden signals over two steps, not five minutes), and pre-computed gauges (latency
  quantiles, success/error ratios, request rates, CPU, memory, and any other gauge a service exports). A
  series' deviation is how far the window goes beyond the worst excursion of the same series in its
  baseline (``log2`` of the ratio; 0 inside the baseline's own range), so a noisy gauge scores nothing
  unless the window leaves its range. A latency quantile counts in proportion to the requests beyond it
  (fewer than ``timeline.MIN_TAIL``: one bucket step at 0.1 req/s doubles a p99). A utilisation
  (``*_percent``) that reaches 80 % from under half is a saturated resource. Client-side latencies
  (a service's outbound calls) measure its callees and weigh little.
* **traces**: per service, the share of its spans whose *self time* (duration minus its children's)
  exceeds its operation's baseline 90th percentile (a binomial test against the share its normal baseline
  minutes show, scaled by how much slower the median span is: a caller that waits on a slow callee has no
  more self time, so latency is placed where it is spent); the share of calls into and out of it whose
  network time (a client span minus the one server span it called) exceeds the edge's baseline p90; errors
  it raised itself (error spans with no failing child: an error passed up from a callee is the callee's).
* **logs and traces as events**: log lines as templates (:func:`holoops.analyze.patterns.mine_templates`,
  repeats collapsed by :func:`event_key`) and spans as operations. Templates or operations that appear or
  vanish while the service keeps running; error lines it logged itself (a line in a trace where a service
  it calls also logged an error is that callee's); and *pattern breaks*: two of its events that go
  together in a trace (B comes a fixed number of times per A) and stop doing so in the window --
  conditional on A, so a traffic shift is no evidence, while an exception thrown between two steps, or a
  wrong value that makes the service skip a step or log an error after it, is.

Count-based evidence is a binomial (or Poisson) tail, ``-log10 p``, less ``log10`` of the number of
tests it is the best of, against the share of the service's *normal* baseline minutes (the median minute,
so earlier faults inside the baseline do not set what is normal). :func:`rank` scores a service per
feature by its strongest item, divided by one plus the feature's median over the fleet's services (a
feature moving everywhere weighs less), and adds the weighted features. A service whose traced evidence
lies mostly in traces where a service it calls shows evidence too is that callee's *victim* and keeps only
the unexplained share. When no service reaches ``RCAConfig.min_score`` the diagnosis *abstains*.

The weights are the choice of ``benchmarks/bench_rca.py`` (leave-one-case-out over labelled faults; see
``benchmarks/RESULTS.md``). The fault kind of a suspect (``cpu_contention``, ``network_delay``,
``code_exception``, ``error_response``, ``latency``) is read from which evidence dominates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from holoops.dataset import Dataset

__all__ = ["RCAConfig", "Evidence", "Suspect", "Diagnosis", "diagnose", "collect", "rank", "window_of"]


@dataclass(frozen=True)
class RCAConfig:
    """The knobs of :func:`diagnose` (defaults chosen by ``benchmarks/bench_rca.py``, see RESULTS.md)."""

    #: the window after ``at`` when only a time is given
    after: str = "3m"
    #: metrics history before ``start`` used as the baseline (at most)
    baseline: str = "6h"
    #: weight of each feature (after dividing by one plus its median over the fleet's services)
    w_cpu: float = 4.0        # CPU gauges and counters
    w_latency: float = 1.0    # latency and error-ratio metrics
    w_metrics: float = 0.5    # every other metric (traffic, memory, network bytes, syscalls, ...)
    w_client: float = 0.125   # client-side (outbound call) latency: it measures the callees
    w_traces: float = 1.0     # self time, network time, own errors of spans
    w_logs: float = 1.0       # log templates, error lines, operation mix, pattern breaks
    #: count-based surprise (-log10 p) is capped here (a flood of lines is one finding)
    cap: float = 40.0
    #: metric deviation (log2 of the excess over the baseline's range) capped here
    metric_cap: float = 8.0
    #: a total below this names no service (abstain)
    min_score: float = 8.0
    #: share of a service's anomalous traces that a callee's must explain to make it a victim (above 1:
    #: off -- the choice on the development cases, where noisy callees' slow spans are in most traces;
    #: errors passed up and log lines naming a callee are attributed to the callee either way)
    victim_share: float = 1.01
    #: baseline quantile a span's self time / network time must exceed to count as slow
    slow_q: float = 0.9
    #: a service's spans count as slower in full from this median slowdown (x; less: in proportion)
    min_slowdown: float = 1.5
    #: prior count of an event the baseline never showed (or always showed): how surprising "new" is
    #: depends on how much baseline there was (one unseen in 100 lines is not one unseen in 100,000)
    prior: float = 1.0
    #: counts are divided by this before a binomial test: events of one request, minute or trace are
    #: not independent draws (overdispersion)
    dispersion: float = 1.0
    #: logs and traces before ``start`` used as the baseline (at most); judged minute by minute
    event_baseline: str = "6h"
    #: the time bucket of per-minute baselines
    bucket: str = "1min"


@dataclass
class Evidence:
    """One finding about one service: where it was seen, how surprising, in words with numbers."""

    service: str
    source: str      # metrics | traces | logs
    signal: str      # what was measured
    kind: str        # latency | errors | cpu | memory | traffic | network | logs | structure | other
    direction: str   # up | down | new | vanished
    score: float     # >= 0; metrics: log2 excess over the baseline range; counts: -log10 p
    text: str
    at: Any = None
    #: ids of the window's traces that show it (for evidence seen in traces or traced log lines)
    traces: frozenset | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "source": self.source, "signal": self.signal, "kind": self.kind,
                "direction": self.direction, "score": round(self.score, 2), "text": self.text}


@dataclass
class Suspect:
    service: str
    score: float
    by_source: dict[str, float]
    evidence: list[Evidence]
    role: str = "root"             # root | victim
    explained_by: list[str] = field(default_factory=list)
    kind: str = "unknown"

    def top(self, n: int = 3) -> list[Evidence]:
        return sorted(self.evidence, key=lambda e: -e.score)[:n]


@dataclass
class Diagnosis:
    """The ranked suspects of one incident window, or an abstention with its reason."""

    start: Any
    end: Any
    baseline_start: Any
    suspects: list[Suspect]
    abstain: bool
    reason: str
    config: RCAConfig = field(default_factory=RCAConfig)
    notes: list[str] = field(default_factory=list)

    @property
    def top(self) -> Suspect | None:
        return None if self.abstain or not self.suspects else self.suspects[0]

    @property
    def ranking(self) -> list[str]:
        return [s.service for s in self.suspects]

    def rank_of(self, service: str) -> int | None:
        for i, s in enumerate(self.suspects, 1):
            if s.service == service:
                return i
        return None

    def score_of(self, service: str) -> float:
        for s in self.suspects:
            if s.service == service:
                return s.score
        return 0.0

    def frame(self, n: int | None = None):
        import pandas as pd

        rows = []
        for i, s in enumerate(self.suspects[:n] if n else self.suspects, 1):
            rows.append({"rank": i, "service": s.service, "score": round(s.score, 2), "role": s.role,
                         "kind": s.kind, **{f"{k}": round(v, 2) for k, v in s.by_source.items()},
                         "evidence": "; ".join(e.text for e in s.top(3)),
                         "explained by": ", ".join(s.explained_by)})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        if self.abstain:
            return f"No service named: {self.reason}"
        t = self.suspects[0]
        runner = self.suspects[1] if len(self.suspects) > 1 else None
        return (f"Most likely root cause: **{t.service}** ({t.kind}, score {t.score:.1f}"
                + (f"; next {runner.service} {runner.score:.1f}" if runner else "") + "): "
                + "; ".join(e.text for e in t.top(3)))

    def _repr_markdown_(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        head = f"<p>{html.escape(self.summary()).replace('**', '')}</p>"
        if not self.suspects:
            return head
        return head + self.frame(10).to_html(index=False, border=0, classes="holoops-table")


# --- helpers ------------------------------------------------------------------------------------
def _binom_sf(k: float, n: float, p: float) -> float:
    """-log10 P(X >= k), X ~ Binomial(n, p); k and n may be fractional (counts divided by a dispersion
    factor): the regularised incomplete beta function extends the tail to real arguments."""
    if n <= 0 or k <= 0:
        return 0.0
    if k > n:
        k = n
    from scipy.stats import beta

    p = min(max(p, 1e-9), 1 - 1e-9)
    v = float(beta.logcdf(p, k, n - k + 1)) / math.log(10)
    return min(max(0.0, -v), 300.0) if v == v else 0.0


def _binom_cdf(k: float, n: float, p: float) -> float:
    """-log10 P(X <= k), X ~ Binomial(n, p) (fractional k, n as in :func:`_binom_sf`)."""
    if n <= 0 or k >= n:
        return 0.0
    from scipy.stats import beta

    p = min(max(p, 1e-9), 1 - 1e-9)
    v = float(beta.logsf(p, k + 1, n - k)) / math.log(10)
    return min(max(0.0, -v), 300.0) if v == v else 0.0


def _hhmm(t: Any) -> str:
    import pandas as pd

    return pd.Timestamp(t).strftime("%H:%M") if t is not None else "?"


_COUNTER_SUFFIXES = ("_total", "_count", "_sum")


def _family(metric: str, quantile: Any = None) -> tuple[str, str]:
    """(kind, direction) of a metric by its name: what a deviation of it means."""
    m = metric.lower()
    if "success" in m:
        return "errors", "down"
    if "error" in m or "fail" in m or "5xx" in m:
        return "errors", "up"
    if "client" in m and ("latency" in m or "duration" in m):
        return "client", "up"
    if "latency" in m or "duration" in m or (quantile is not None and quantile == quantile) or m.endswith("_ms"):
        return "latency", "up"
    if "cpu" in m:
        return "cpu", "up"
    if "memory" in m or m.endswith("_bytes") and "resident" in m:
        return "memory", "up"
    if "request" in m or "workload" in m or "rps" in m or "ops" in m:
        return "traffic", "both"
    if "network" in m or "receive" in m or "transmit" in m:
        return "network", "both"
    return "other", "both"


# --- metrics --------------------------------------------------------------------------------------
def metric_evidence(ds: Dataset, start: Any, end: Any, cfg: RCAConfig) -> list[Evidence]:
    """Per series: how far the window goes beyond the series' own baseline range."""
    import numpy as np
    import pandas as pd

    from holoops.timeutil import parse_timedelta

    m = ds.metrics
    if m is None or not len(m):
        return []
    services = set(ds.fleet.services)
    b0 = start - pd.Timedelta(parse_timedelta(cfg.baseline))
    m = m[(m["ts"] >= b0) & (m["ts"] <= end + pd.Timedelta("2m"))]
    m = m[m["service"].astype(str).isin(services)]
    if not len(m):
        return []
    out: list[Evidence] = []
    series = _metric_series(m, ds.fleet)
    # requests per sample of each instance (request-rate gauges or counters), for quantile reliability
    rates = {(k[0], k[1]): v for k, v in series.items()
             if k[2] in ("holoops_request_rate", "request_rate") and v.notna().any()}
    for (svc, inst, name, quant), s in series.items():
        s = s.dropna()
        if len(s) < 3:
            continue
        dt = s.index.to_series().diff().median()
        dt = dt if dt == dt and dt > pd.Timedelta(0) else pd.Timedelta("1m")
        base = s[(s.index < start)]
        win = s[(s.index >= start) & (s.index <= end + dt)]
        if len(base) < 3 or not len(win):
            continue
        kind, direction = _family(name, quant)
        med = float(np.median(base.to_numpy()))
        bv, wv = base.to_numpy(dtype=float), win.to_numpy(dtype=float)
        best = None
        for sign in ((1.0, -1.0) if direction == "both" else (1.0,) if direction == "up" else (-1.0,)):
            dw = sign * (wv - med)
            db = sign * (bv - med)
            env = float(np.max(db))
            floor = max(0.1 * abs(med), 1e-9)
            i = int(np.argmax(dw))
            r = float(dw[i]) / max(env, floor)
            if r <= 1.0:
                continue
            score = min(math.log2(r), cfg.metric_cap)
            if best is None or score > best[0]:
                best = (score, sign, i)
        if best is None:
            continue
        score, sign, i = best
        saturated = False
        if kind in ("cpu", "memory") and name.endswith(("_percent", "_ratio")) and not name.startswith("node_"):
            full = 100.0 if name.endswith("_percent") else 1.0
            # a utilisation of its limit that reaches 80 % from under half: the resource is saturated
            if float(wv.max()) >= 0.8 * full and float(bv.max()) < 0.5 * full:
                score, saturated = cfg.metric_cap, True
        qv = float(quant) if quant is not None and quant == quant else None
        if qv is None and name.startswith("latency_p") and name.endswith("_ms"):
            qv = float("0." + name[len("latency_p"):-3])
        if qv is not None and qv > 0.5 and (svc, inst) in rates:
            # a q-quantile of n requests is set by the n (1 - q) slowest: with fewer than MIN_TAIL of them
            # (a p99 at 0.1 req/s is one request) one bucket step doubles it; it counts in proportion
            rate = rates[(svc, inst)]
            n_req = float(rate[(rate.index >= start) & (rate.index <= end + dt)].mean()) * dt.total_seconds()
            if n_req == n_req:
                from holoops.analyze.timeline import MIN_TAIL

                score *= min(1.0, max(n_req * (1 - qv) / MIN_TAIL, 0.0))
                if score <= 0:
                    continue
        v = float(wv[i])
        label = name + (f"{{quantile={quant}}}" if quant is not None and quant == quant else "")
        where = f" ({inst})" if inst and inst != svc else ""
        out.append(Evidence(svc, "metrics", label, kind, "up" if sign > 0 else "down", score,
                            f"{label}{where} {_num(v)} at {_hhmm(win.index[i])} vs baseline median {_num(med)} "
                            f"(range {_num(float(bv.min()))}..{_num(float(bv.max()))})"
                            + ("; saturated (80 % of its limit or more)" if saturated else ""), win.index[i]))
    return out


def _num(v: float) -> str:
    if v != v:
        return "nan"
    a = abs(v)
    return f"{v:.3g}" if a < 1000 else f"{v:,.0f}"


def _metric_series(m: Any, fleet: Any) -> dict[tuple, Any]:
    """(service, instance, metric, quantile) -> value series indexed by ts; counters as per-second rates,
    request counters and duration histograms as the golden signals (rps, error ratio, p50/p99)."""
    import numpy as np
    import pandas as pd

    out: dict[tuple, Any] = {}
    names = m["metric"].astype(str)
    quant = m["quantile"] if "quantile" in m.columns else pd.Series(np.nan, index=m.index)
    hist = names.str.endswith("_bucket") | names.str.endswith("_sum") | names.str.endswith("_count")
    counter = names.str.endswith("_total") & ~hist
    req = names == "http_requests_total"
    # golden signals from request counters and duration histograms (2-step windows: a 5-minute rate
    # window would dilute a 2-minute fault)
    if (req | names.str.endswith("_bucket")).any():
        from holoops.analyze.signals import golden_signals

        step = _step_of(m)
        sub = m[req | names.str.startswith("http_request_duration_seconds")]
        try:
            gs = golden_signals(sub, fleet, step=step, window=f"{int(2 * pd.Timedelta(step).total_seconds())}s")
        except Exception:  # noqa: BLE001 - a golden-signal problem must not stop the rest
            gs = None
        if gs is not None and len(gs):
            for svc, g in gs.groupby("service", sort=False):
                g = g.set_index("ts").sort_index()
                for col, name in (("rps", "request_rate"), ("error_ratio", "error_ratio"),
                                  ("p50_ms", "latency_p50_ms"), ("p99_ms", "latency_p99_ms")):
                    if col in g and g[col].notna().any():
                        out[(str(svc), None, name, np.nan)] = g[col].astype(float)
    rest = m[~(hist | req)]
    for keys, g in rest.groupby([rest["service"].astype(str), rest["instance"].astype(str)
                                 if "instance" in rest.columns else rest["service"].astype(str),
                                 rest["metric"].astype(str), quant[rest.index].astype(float)], dropna=False,
                                sort=False):
        svc, inst, name, q = keys
        s = g.groupby("ts")["value"].max().astype(float).sort_index()
        if name.endswith(_COUNTER_SUFFIXES) or counter[g.index].any():
            d = s.diff()
            dt = s.index.to_series().diff().dt.total_seconds()
            s = (d.where(d >= 0, s) / dt).iloc[1:]
        out[(svc, None if inst in ("None", "nan") else inst, name, q)] = s
    return out


def _step_of(m: Any) -> str:
    import pandas as pd

    ts = pd.Series(m["ts"].unique()).sort_values()
    d = ts.diff().median()
    sec = max(int(d.total_seconds()) if d == d else 60, 1)
    return f"{sec}s"


# --- traces ---------------------------------------------------------------------------------------
def _span_table(spans: Any):
    """Spans with ``self_ms`` (duration minus children), the parent's service and duration."""
    import numpy as np
    import pandas as pd

    s = spans[["trace_id", "span_id", "parent_id", "service", "operation", "start", "duration_ms", "status"]].copy()
    for c in ("trace_id", "span_id", "parent_id", "service", "operation", "status"):
        s[c] = s[c].astype(str)
    s["duration_ms"] = s["duration_ms"].astype(float)
    key = s["trace_id"] + "\x00" + s["span_id"]
    pkey = s["trace_id"] + "\x00" + s["parent_id"]
    child_sum = s.groupby(pkey)["duration_ms"].sum()
    s["self_ms"] = (s["duration_ms"] - key.map(child_sum).fillna(0.0)).clip(lower=0.0)
    err = s["status"].str.lower().isin(["error", "err", "2"])
    s["error"] = err
    child_err = err.groupby(pkey).any()
    s["child_error"] = key.map(child_err).fillna(False).astype(bool)
    idx = pd.Series(np.arange(len(s)), index=key)
    idx = idx[~idx.index.duplicated()]
    pos = pkey.map(idx)
    has = pos.notna().to_numpy()
    p = pos.fillna(0).astype(int).to_numpy()
    s["parent_service"] = np.where(has, s["service"].to_numpy()[p], None)
    s["parent_ms"] = np.where(has, s["duration_ms"].to_numpy()[p], np.nan)
    s["parent_children"] = np.where(has, pkey.map(pkey.value_counts()).to_numpy(), 0)
    return s


def trace_evidence(ds: Dataset, start: Any, end: Any, cfg: RCAConfig) -> list[Evidence]:
    import numpy as np

    sp = ds.spans
    if sp is None or not len(sp):
        return []
    import pandas as pd

    from holoops.timeutil import parse_timedelta

    b0 = start - pd.Timedelta(parse_timedelta(cfg.event_baseline))
    s = _span_table(sp[(sp["start"] >= b0) & (sp["start"] <= end)])
    base = s[s["start"] < start]
    win = s[(s["start"] >= start) & (s["start"] <= end)]
    if not len(win) or not len(base):
        return []
    out: list[Evidence] = []
    q = cfg.slow_q
    minute = base["start"].dt.floor(cfg.bucket)

    def normal_rate(slow: Any, keys: Any) -> dict[str, float]:
        """Per service: the share of slow spans its normal baseline minutes show (at least 1 - q)."""
        df = pd.DataFrame({"svc": keys, "m": minute[slow.index], "slow": slow.to_numpy(dtype=float)})
        out_r = {}
        for svc, g in df.groupby("svc", sort=False):
            per_m = g.groupby("m")["slow"].agg(["sum", "size"])
            out_r[svc] = max(1 - q, _normal_share(per_m["sum"].to_numpy(), per_m["size"].to_numpy(),
                                                  1 - q, 0.5, min_n=5))
        return out_r

    # self time per (service, operation) against its baseline quantile
    grp = base.groupby(["service", "operation"])["self_ms"]
    thr = grp.agg(lambda x: np.quantile(x, q) if len(x) >= 10 else np.nan)
    med = grp.median()
    bt = base.join(thr.rename("thr"), on=["service", "operation"])
    bt = bt[bt["thr"].notna()]
    p0 = normal_rate(bt["self_ms"] > bt["thr"], bt["service"].to_numpy())
    w = win.join(thr.rename("thr"), on=["service", "operation"]).join(med.rename("med"), on=["service", "operation"])
    w = w[w["thr"].notna()]
    for svc, g in w.groupby("service", sort=False):
        n, k = len(g), int((g["self_ms"] > g["thr"]).sum())
        p = p0.get(svc, 1 - q)
        sc = _binom_sf(k / cfg.dispersion, n / cfg.dispersion, p) if k / n > p else 0.0
        # how much slower, not only how surely: the median span against its operation's baseline median
        ratio = float(np.median(g["self_ms"] / g["med"].clip(lower=1e-6)))
        sc *= min(1.0, max(0.0, (ratio - 1.0) / (cfg.min_slowdown - 1.0)))
        if sc > 0:
            slow_ids = frozenset(g.loc[g["self_ms"] > g["thr"], "trace_id"].astype(str))
            out.append(Evidence(svc, "traces", "self time", "latency", "up", sc,
                                f"{k} of {n} spans slower than their operation's baseline p{int(q * 100)} in "
                                f"self time (normally {p:.0%}); the median span x{ratio:.2f} its operation's "
                                f"baseline median", None, slow_ids))
    # network time of calls between services: the client span minus the one server span it called
    def net(df):
        d = df[(df["parent_service"].notna()) & (df["parent_service"] != df["service"]) & (df["parent_children"] == 1)]
        return d.assign(net_ms=(d["parent_ms"] - d["duration_ms"]).clip(lower=0.0))
    nb, nw = net(base), net(win)
    if len(nb) and len(nw):
        thr = nb.groupby(["parent_service", "service"])["net_ms"].agg(
            lambda x: np.quantile(x, q) if len(x) >= 10 else np.nan)
        eb = nb.join(thr.rename("thr"), on=["parent_service", "service"])
        eb = eb[eb["thr"].notna()]
        slow_b = eb["net_ms"] > eb["thr"]
        # every call counts for both ends
        p0 = normal_rate(pd.concat([slow_b, slow_b]), np.r_[eb["parent_service"].to_numpy(), eb["service"].to_numpy()])
        e = nw.join(thr.rename("thr"), on=["parent_service", "service"])
        e = e[e["thr"].notna()]
        e = e.assign(slow=e["net_ms"] > e["thr"])
        per: dict[str, list] = {}
        for (caller, callee), g in e.groupby(["parent_service", "service"], sort=False):
            for svc in (caller, callee):
                acc = per.setdefault(svc, [0, 0, set()])
                acc[0] += int(g["slow"].sum())
                acc[1] += len(g)
                acc[2].update(g.loc[g["slow"], "trace_id"].astype(str))
        for svc, (k, n, ids) in per.items():
            p = p0.get(svc, 1 - q)
            sc = _binom_sf(k / cfg.dispersion, n / cfg.dispersion, p) if k / n > p else 0.0
            if sc > 0:
                out.append(Evidence(svc, "traces", "network time", "network", "up", sc,
                                    f"{k} of {n} calls to or from it spend longer between client and server than "
                                    f"the edge's baseline p{int(q * 100)} (normally {p:.0%})", None, frozenset(ids)))
    # errors raised here (error spans whose children did not fail)
    own_b = base[base["error"] & ~base["child_error"]].groupby("service").size()
    own_w = win[win["error"] & ~win["child_error"]].groupby("service").size()
    nb_s, nw_s = base.groupby("service").size(), win.groupby("service").size()
    for svc, k in own_w.items():
        p0 = (own_b.get(svc, 0) + 0.5) / (nb_s.get(svc, 0) + 1.0)
        sc = _binom_sf(int(k), int(nw_s.get(svc, 0)), min(p0, 0.5))
        if sc > 0:
            out.append(Evidence(svc, "traces", "own errors", "errors", "up", sc,
                                f"{int(k)} of {int(nw_s.get(svc, 0))} spans failed here (not passed up from a callee); "
                                f"baseline {p0:.1%}", None))
    return out


def _normal_share(hits: Any, totals: Any, pooled: float, q: float, min_n: int = 3) -> float:
    """The share a service's "normal" minutes show: the ``q`` quantile of the per-minute shares (minutes
    with at least ``min_n`` events), so earlier faults inside the baseline (a minority of its minutes)
    do not set what counts as normal; the pooled share when fewer than two minutes qualify."""
    import numpy as np

    ok = totals >= min_n
    if ok.sum() < 2:
        return pooled
    return float(np.quantile(hits[ok] / totals[ok], q))


def _mix_evidence(base: Any, win: Any, source: str, what: str, cfg: RCAConfig,
                  levels: Any = None) -> list[Evidence]:
    """Per service: events (templates, operations) whose share of the service's events rose or fell
    beyond chance: a binomial test against the share of the service's normal baseline minutes (low
    quantile for a rise, high for a fall; half a count of prior), less ``log10`` of the number of
    events tested (the best of many tests is no surprise)."""
    import numpy as np

    out: list[Evidence] = []
    if not len(win) or not len(base):
        return out
    minute = base["ts"].dt.floor(cfg.bucket)
    base = base.assign(_m=minute)
    for svc, w in win.groupby("service", sort=False):
        b = base[base["service"] == svc]
        n_w, n_b = len(w), len(b)
        if n_b == 0:
            continue
        mins = np.sort(b["_m"].unique())
        tot = b.groupby("_m").size().reindex(mins, fill_value=0).to_numpy()
        per = b.groupby(["event", "_m"]).size()
        bc = b["event"].value_counts()
        wc = w["event"].value_counts()
        events = list(set(wc.index) | set(bc.index))
        k_ev = len(events)
        best: list[tuple[float, str, str, int, int]] = []
        d = cfg.dispersion
        for ev in events:
            cb, cw = int(bc.get(ev, 0)), int(wc.get(ev, 0))
            pooled = (cb + cfg.prior) / (n_b + cfg.prior * k_ev)
            hits = per.loc[ev].reindex(mins, fill_value=0).to_numpy() if cb else np.zeros(len(mins))
            if cb > 0 and cw > 0:
                continue  # a share that moves is the traffic mix; what appears or vanishes is behaviour
            if cw / n_w > pooled:
                p = max(_normal_share(hits, tot, pooled, 0.5, min_n=5), cfg.prior / (n_b + cfg.prior * k_ev))
                sc = _binom_sf(cw / d, n_w / d, p) if cw / n_w > p else 0.0
                if sc > 0:
                    best.append((sc, "new" if cb == 0 else "up", ev, cb, cw))
            elif cw / n_w < pooled:
                p = max(_normal_share(hits, tot, pooled, 0.5, min_n=5), pooled)
                sc = _binom_cdf(cw / d, n_w / d, p)
                if sc > 0:
                    best.append((sc, "vanished" if cw == 0 else "down", ev, cb, cw))
        penalty = math.log10(max(k_ev, 1))
        best.sort(key=lambda t: -t[0])
        for sc, direction, ev, cb, cw in best[:3]:
            sc -= penalty
            if sc < 1.0:
                continue
            kind = "logs" if source == "logs" else "structure"
            lvl = levels.get((svc, ev)) if levels is not None else None
            if lvl in ("error", "critical", "fatal") and direction in ("new", "up"):
                kind = "errors"
            text = (f"{what} {direction}: {cw} of {n_w} in the window vs {cb} of {n_b} before: {_short(ev, 110)}")
            ids = None
            if direction in ("new", "up") and "trace_id" in w.columns:
                ids = frozenset(t for t in w.loc[w["event"] == ev, "trace_id"].astype(str)
                                if t not in ("", "None", "nan")) or None
            out.append(Evidence(str(svc), source, what, kind, direction, sc, text, None, ids))
    return out


# --- logs and events ------------------------------------------------------------------------------
def events_frame(ds: Dataset, start: Any, end: Any, cfg: RCAConfig | None = None) -> Any:
    """Every log line (as its template, :func:`holoops.analyze.patterns.mine_templates`, repeats collapsed
    by :func:`event_key`) and every span (as its operation) from ``config.event_baseline`` before
    ``start`` to the end of the data (a trace that begins in the window keeps its later events):
    ``trace_id``, ``service``, ``event``, ``kind`` (log/span), ``level``, ``ts``, ``complete`` (the trace's
    root span is in the data and ended before the data does)."""
    import pandas as pd

    from holoops.analyze.patterns import mine_templates
    from holoops.timeutil import parse_timedelta

    cfg = cfg or RCAConfig()
    b0 = start - pd.Timedelta(parse_timedelta(cfg.event_baseline))
    services = set(ds.fleet.services)
    frames = []
    parts = [x for x in (ds.earlier_logs, ds.logs) if x is not None and len(x)]
    if parts:
        logs = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        logs = logs[(logs["ts"] >= b0) & logs["service"].astype(str).isin(services)]
        if len(logs):
            res = mine_templates(logs["message"].astype(str).tolist())
            keys = [event_key(t) for t in res.templates]
            tmpl = [keys[i] for i in res.ids.tolist()]
            frames.append(pd.DataFrame({
                "trace_id": logs["trace_id"].astype(str).where(logs["trace_id"].notna(), None).to_numpy()
                if "trace_id" in logs.columns else None,
                "service": logs["service"].astype(str).to_numpy(), "event": tmpl, "kind": "log",
                "level": logs["level"].astype(str).str.lower().to_numpy() if "level" in logs.columns else "info",
                "ts": logs["ts"].array}))  # the tz-aware array as it is: to_numpy() boxes every Timestamp
    sp = ds.spans
    if sp is not None and len(sp):
        sp = sp[(sp["start"] >= b0) & sp["service"].astype(str).isin(services)]
        if len(sp):
            frames.append(pd.DataFrame({"trace_id": sp["trace_id"].astype(str).to_numpy(),
                                        "service": sp["service"].astype(str).to_numpy(),
                                        "event": sp["operation"].astype(str).to_numpy(), "kind": "span",
                                        "level": "info", "ts": sp["start"].array}))
    if not frames:
        return None
    ev = pd.concat(frames, ignore_index=True)
    ev["ts"] = pd.to_datetime(ev["ts"], utc=True)
    ev["complete"] = True
    if sp is not None and len(sp):
        # a trace whose root span is missing began before the data; one whose root ends after the last
        # span began was cut off by the end of the data: both lack events that did happen
        root = sp[sp["parent_id"].isna() | sp["parent_id"].astype(str).isin(["", "None", "nan", "0"])]
        last = sp["start"].max()
        ends = root["start"] + pd.to_timedelta(root["duration_ms"].astype(float), unit="ms")
        whole = set(root.loc[ends <= last, "trace_id"].astype(str))
        if whole:
            ev["complete"] = ev["trace_id"].astype(str).isin(whole).to_numpy()
    return ev


def event_key(template: str, longest: int = 8) -> str:
    """A template with every run of a repeated token sequence (up to ``longest`` tokens) kept once: a
    line that prints a list (``Ticket(...), Ticket(...), ...``) gives one event whatever the list's length
    (a miner that groups by token count makes one template per length)."""
    toks: list[str] = []
    for tok in str(template).split():
        if tok == "<*>" and toks and toks[-1] == "<*>":
            continue
        toks.append(tok)
    changed = True
    while changed:
        changed = False
        for n in range(1, longest + 1):
            i = 0
            while i + 2 * n <= len(toks):
                if toks[i:i + n] == toks[i + n:i + 2 * n]:
                    del toks[i + n:i + 2 * n]
                    changed = True
                else:
                    i += 1
    return " ".join(toks)


def log_evidence(ds: Dataset | None, start: Any, end: Any, cfg: RCAConfig, events: Any = None,
                 fleet: Any = None) -> list[Evidence]:
    """Templates that appear or vanish, error lines raised here, and pattern breaks (log templates and
    span operations)."""
    fleet = fleet if fleet is not None else ds.fleet
    ev = events if events is not None else events_frame(ds, start, end, cfg)
    if ev is None or not len(ev):
        return []
    logs = ev[ev["kind"] == "log"]
    base = logs[logs["ts"] < start]
    win = logs[(logs["ts"] >= start) & (logs["ts"] <= end)]
    levels = logs.groupby(["service", "event"])["level"].agg(lambda x: x.mode().iloc[0]).to_dict()
    out = _mix_evidence(base, win, "logs", "log template", cfg, levels=levels)
    spans = ev[ev["kind"] == "span"]
    out += _mix_evidence(spans[spans["ts"] < start], spans[(spans["ts"] >= start) & (spans["ts"] <= end)],
                         "traces", "operation", cfg)
    out += _error_lines(base, win, fleet, cfg)
    out += pattern_breaks(ev, start, end, cfg)
    return out


_BAD = ("error", "critical", "fatal")


def _error_lines(base: Any, win: Any, fleet: Any, cfg: RCAConfig) -> list[Evidence]:
    """Error lines a service logged itself: a line in a trace where a service it (transitively) calls also
    logged an error is that callee's error passed up, not counted here. Tested against the share of error
    lines of the service's median baseline minute."""
    import numpy as np

    from holoops.analyze.timeline import _closure

    out: list[Evidence] = []
    bad_w = win[win["level"].isin(_BAD)]
    if not len(bad_w):
        return out
    by_trace: dict[str, set[str]] = {}
    if "trace_id" in bad_w.columns:
        for t, svc in zip(bad_w["trace_id"].astype(str), bad_w["service"].astype(str), strict=True):
            if t not in ("", "None", "nan"):
                by_trace.setdefault(t, set()).add(svc)
    minute = base["ts"].dt.floor(cfg.bucket)
    for svc, g in bad_w.groupby("service", sort=False):
        callees = _closure(fleet, svc) if svc in fleet.services else set()
        tr = g["trace_id"].astype(str) if "trace_id" in g.columns else None
        own = g if tr is None else g[[not (by_trace.get(t, set()) & callees) for t in tr]]
        k, n = len(own), int((win["service"] == svc).sum())
        if not k:
            continue
        b = base[base["service"] == svc]
        pooled = (int(b["level"].isin(_BAD).sum()) + cfg.prior) / (len(b) + 2 * cfg.prior)
        mb = minute[b.index]
        per = b.assign(_bad=b["level"].isin(_BAD).astype(float), _m=mb).groupby("_m")["_bad"].agg(["sum", "size"])
        p0 = _normal_share(per["sum"].to_numpy(), per["size"].to_numpy(), pooled, 0.5) if len(per) else pooled
        p0 = min(max(p0, cfg.prior / (len(b) + 2 * cfg.prior)), 0.5)
        sc = _binom_sf(k / cfg.dispersion, n / cfg.dispersion, p0) if k / n > p0 else 0.0
        if sc >= 1.0:
            passed = len(g) - k
            ids = (frozenset(t for t in own["trace_id"].astype(str) if t not in ("", "None", "nan")) or None
                   if "trace_id" in own.columns else None)
            out.append(Evidence(str(svc), "logs", "error lines", "errors", "up", sc,
                                f"{k} of {n} log lines at error level (normally {p0:.1%})"
                                + (f"; {passed} more in traces where a service it calls failed" if passed else ""),
                                None, ids))
    del np
    return out


def pattern_breaks(events: Any, start: Any, end: Any, cfg: RCAConfig) -> list[Evidence]:
    """Per service: pairs of its events (log templates, span operations) tied together in its traces --
    in the baseline, every trace holding A holds B a fixed number of times per A (the per-trace counts
    match ``rho x count(A)`` for at least 90 % of B's occurrences, over 5 or more traces) -- and how far the
    window's traces holding A fall short of (or exceed) ``rho x count(A)``: a Poisson tail. Conditional on
    A, so a change in the traffic mix is no evidence; a fault inside the service is (an exception thrown
    between two steps, a wrong value that makes the service skip the next step or log an error after it)."""
    import numpy as np

    out: list[Evidence] = []
    if events is None or not len(events) or "trace_id" not in events.columns:
        return out
    e = events[events["trace_id"].notna() & ~events["trace_id"].astype(str).isin(["", "None", "nan"])]
    if "complete" in e.columns:
        e = e[e["complete"].astype(bool)]
    if not len(e):
        return out
    first = e.groupby("trace_id")["ts"].transform("min")
    e = e.assign(in_w=(first >= start) & (first <= end), in_b=first < start)
    kinds = e.drop_duplicates(["service", "event"]).set_index(["service", "event"])["kind"]
    for svc, g in e.groupby("service", sort=False):
        gb, gw = g[g["in_b"]], g[g["in_w"]]
        if gb["trace_id"].nunique() < 5 or not len(gw):
            continue
        names = np.unique(g["event"].astype(str).to_numpy())
        if len(names) < 2:
            continue
        col = {v: i for i, v in enumerate(names)}

        def counts(df, names=names, col=col):
            tr, tinv = np.unique(df["trace_id"].astype(str).to_numpy(), return_inverse=True)
            m = np.zeros((len(tr), len(names)))
            np.add.at(m, (tinv, [col[v] for v in df["event"].astype(str).to_numpy()]), 1.0)
            return m, tr

        (cb, _), (cw, wtr) = counts(gb), counts(gw)
        lv = g.groupby(g["event"].astype(str))["level"].agg(lambda x: x.mode().iloc[0])
        bad = np.array([lv.get(n) in ("error", "critical", "fatal", "warning", "warn") for n in names])
        # the minute each baseline trace began in (the rows of cb are the sorted trace ids)
        tmin = gb.groupby(gb["trace_id"].astype(str))["ts"].min().sort_index().dt.floor(cfg.bucket)
        minute = np.unique(tmin.to_numpy(), return_inverse=True)[1]
        best = None
        tested = 0
        for a in range(len(names)):
            rows = cb[:, a] > 0
            wrows = cw[:, a] > 0
            if rows.sum() < 5 or not wrows.any():
                continue
            ratio = np.round(cb[rows] / cb[rows, a][:, None], 2)
            wratio = np.round(cw[wrows] / cw[wrows, a][:, None], 2)
            n_b, n_w = int(rows.sum()), int(wrows.sum())
            m_rows = minute[rows]
            m_tot = np.bincount(m_rows)
            for b in range(len(names)):
                if b == a:
                    continue
                vals, cnt = np.unique(ratio[:, b], return_counts=True)
                top = int(np.argmax(cnt))
                rho = float(vals[top])
                if rho == 0 and not bad[b]:
                    continue  # a new companion of A is the traffic mix, unless it is an error
                pooled = (cnt[top] + cfg.prior) / (n_b + 2 * cfg.prior)
                if pooled < 0.5:
                    continue
                tied_b = ratio[:, b] == rho
                p_tied = _normal_share(np.bincount(m_rows, weights=tied_b, minlength=len(m_tot)), m_tot,
                                       pooled, 0.5, min_n=5)
                p_tied = min(max(p_tied, pooled), (n_b + cfg.prior) / (n_b + 2 * cfg.prior))
                if p_tied < 0.7:
                    continue
                tested += 1
                off = wratio[:, b] != rho
                d_w = int(off.sum())
                if d_w / n_w <= 1 - p_tied:
                    continue
                sc = _binom_sf(d_w / cfg.dispersion, n_w / cfg.dispersion, 1 - p_tied)
                if best is None or sc > best[0]:
                    fewer = bool((wratio[off, b] < rho).mean() >= 0.5)
                    best = (sc, a, b, n_w, n_w - d_w, rho, n_b, p_tied, fewer, frozenset(wtr[wrows][off]))
        if best is not None:
            best = (best[0] - math.log10(max(tested, 1)),) + best[1:]
        if best is None or best[0] < 1.0:
            continue
        sc, a, b, n_w, t_w, rho, n_tr, p_tied, fewer, ids = best
        src = "logs" if kinds.get((svc, names[b])) == "log" else "traces"
        out.append(Evidence(str(svc), src, "pattern break", "structure", "vanished" if fewer else "new", sc,
                            f"\"{_short(names[b])}\" came {rho:.2g}x per \"{_short(names[a])}\" in "
                            f"{p_tied:.0%} of {n_tr} baseline traces; in the window in {t_w} of {n_w}", None, ids))
    return out


def _short(text: str, n: int = 70) -> str:
    import re

    t = re.sub(r"(<\*>\s*)+", "<*> ", str(text)).strip()
    return t if len(t) <= n else t[: n - 1] + "…"


def _poisson_cdf(k: float, lam: float) -> float:
    """-log10 P(X <= k), X ~ Poisson(lam) (fractional k through the regularised gamma function)."""
    if lam <= 0 or k >= lam:
        return 0.0
    from scipy.stats import gamma

    v = float(gamma.logsf(lam, k + 1)) / math.log(10)  # P(X <= k) = Q(k+1, lam) = P(Gamma(k+1) > lam)
    return min(max(0.0, -v), 300.0) if v == v else 0.0


# --- ranking --------------------------------------------------------------------------------------
def window_of(ds: Dataset, start: Any = None, end: Any = None, at: Any = None,
              config: RCAConfig | None = None) -> tuple[Any, Any]:
    """The incident window: ``[start, end]``, or ``[at, at + config.after]``, or the dataset's window."""
    import pandas as pd

    from holoops.timeutil import parse_timedelta, utc

    cfg = config or RCAConfig()
    if at is not None:
        start = utc(at)
        end = start + pd.Timedelta(parse_timedelta(cfg.after))
    start = utc(start) if start is not None else utc(ds.window.start)
    end = utc(end) if end is not None else utc(ds.window.end)
    return start, end


def collect(ds: Dataset, start: Any, end: Any, config: RCAConfig | None = None) -> tuple[list[Evidence], list[str]]:
    """Every evidence item of every service for the window ``[start, end]`` (metrics, traces, logs), and
    notes on sources that could not be analysed."""
    cfg = config or RCAConfig()
    ds = ds.pandas()
    ev: list[Evidence] = []
    notes: list[str] = []
    for name, fn in (("metrics", metric_evidence), ("traces", trace_evidence), ("logs", log_evidence)):
        try:
            ev += fn(ds, start, end, cfg)
        except Exception as exc:  # noqa: BLE001 - one source failing must not hide the others
            notes.append(f"{name} not analysed: {type(exc).__name__}: {exc}")
    return ev, notes


def diagnose(ds: Dataset, start: Any = None, end: Any = None, *, at: Any = None,
             config: RCAConfig | None = None) -> Diagnosis:
    """Rank the services of ``ds`` as the root cause of the incident in ``[start, end]`` (or ``[at, at +
    config.after]``; default: the dataset's window), with the evidence for each; abstain when the evidence
    is too weak. The baseline is the data before ``start``."""
    from holoops.timeutil import utc

    cfg = config or RCAConfig()
    start, end = window_of(ds, start, end, at, cfg)
    ev, notes = collect(ds, start, end, cfg)
    return rank(ev, ds.fleet, start, end, cfg, notes=notes, baseline_start=utc(ds.window.start))


#: which weight of :class:`RCAConfig` each evidence feature takes
_FEATURE_WEIGHT = {"metrics:cpu": "w_cpu", "metrics:latency": "w_latency", "metrics:errors": "w_latency",
                   "metrics:client": "w_client", "self time": "w_traces", "network time": "w_traces",
                   "own errors": "w_traces"}
#: features read from individual traces (or traced log lines): a callee showing the same traces explains them
_TRACED = ("error lines", "log template", "pattern break", "operation")


def feature_of(e: Evidence) -> str:
    """The feature an evidence item counts for: ``metrics:<kind>`` or the signal (``pattern break``, ...)."""
    return f"metrics:{e.kind}" if e.source == "metrics" else e.signal


def _named_callees(evidence: list[Evidence], fleet: Any) -> dict[int, str]:
    """Log evidence (new templates, error lines) whose text names a service the logging service calls:
    ``id(evidence) -> callee``. A caller that logs about its callee reports the callee's fault."""
    import re

    from holoops.analyze.timeline import _closure

    out: dict[int, str] = {}
    pats = {n: re.compile(r"(?<![\w-])" + re.escape(a) + r"(?![\w-])", re.IGNORECASE)
            for n, svc in fleet.services.items() for a in [n]}
    for e in evidence:
        if e.source != "logs" or e.signal not in ("log template", "error lines") or e.service not in fleet.services:
            continue
        for c in sorted(_closure(fleet, e.service)):
            if c in pats and pats[c].search(e.text):
                out[id(e)] = c
                break
    return out


def _weight(cfg: RCAConfig, feature: str) -> float:
    name = _FEATURE_WEIGHT.get(feature)
    if name is None:
        name = "w_metrics" if feature.startswith("metrics:") else "w_logs"
    return float(getattr(cfg, name))


def rank(evidence: list[Evidence], fleet: Any, start: Any, end: Any, cfg: RCAConfig | None = None, *,
         notes: list[str] | None = None, baseline_start: Any = None) -> Diagnosis:
    """Suspects from evidence items.

    Per service and feature the strongest item counts (capped at ``cfg.cap``), divided by one plus the
    feature's median over all services of the fleet (what an ordinary service shows right now: a feature
    that moves everywhere, say a traffic shift, weighs less); the weighted features add up. A service whose
    traced evidence (error lines, new templates, pattern breaks) lies mostly (``victim_share`` or more) in
    traces where a service it calls shows evidence too is that callee's victim: those features count only
    for the share of its traces the callee does not explain. Below ``cfg.min_score`` no service is named."""
    import numpy as np

    cfg = cfg or RCAConfig()
    services = list(dict.fromkeys([*fleet.services, *(e.service for e in evidence)]))
    index = {s: i for i, s in enumerate(services)}
    feats = sorted({feature_of(e) for e in evidence})
    fidx = {f: j for j, f in enumerate(feats)}
    m = np.zeros((len(services), len(feats)))
    traces: dict[str, set[str]] = {}     # traces carrying a service's log/structure evidence
    shown: dict[str, set[str]] = {}      # traces carrying any of its evidence (what can explain a caller)
    from holoops.analyze.timeline import _closure

    named = _named_callees(evidence, fleet)
    explained: dict[str, list[str]] = {}
    for e in evidence:
        if id(e) in named:  # a log line about a service it calls ("call to vault took 812 ms"): that callee's
            explained.setdefault(e.service, [])
            explained[e.service] = sorted(set(explained[e.service]) | {named[id(e)]})
            continue
        i, j = index[e.service], fidx[feature_of(e)]
        m[i, j] = max(m[i, j], min(float(e.score), cfg.cap))
        if e.traces and e.score >= 1.0:
            shown.setdefault(e.service, set()).update(e.traces)
            if e.signal in _TRACED:
                traces.setdefault(e.service, set()).update(e.traces)
    ref = np.median(m, axis=0) if len(services) else np.zeros(len(feats))
    x = m / (ref + 1.0)
    share = np.zeros(len(services))
    for svc, mine in traces.items():
        if svc not in fleet.services:
            continue
        by = [c for c in sorted(_closure(fleet, svc)) if shown.get(c, set()) & mine]
        below = set().union(*(shown[c] for c in by)) if by else set()
        f = len(mine & below) / len(mine)
        if f >= cfg.victim_share:
            share[index[svc]] = f
            explained[svc] = sorted(set(explained.get(svc, [])) | set(by))
    traced = [fidx[f] for f in feats if f in _TRACED]
    x[:, traced] *= (1.0 - share)[:, None]
    w = np.array([_weight(cfg, f) for f in feats])
    total = (x * w).sum(axis=1) if len(feats) else np.zeros(len(services))
    by_service: dict[str, list[Evidence]] = {}
    for e in evidence:
        by_service.setdefault(e.service, []).append(e)
    suspects = []
    for svc, items in by_service.items():
        i = index[svc]
        per = {f: round(float(x[i, fidx[f]] * w[fidx[f]]), 2) for f in feats if x[i, fidx[f]] > 0}
        suspects.append(Suspect(svc, float(total[i]), per, items,
                                role="victim" if explained.get(svc) else "root",
                                explained_by=explained.get(svc, []), kind=_kind_of(items)))
    suspects.sort(key=lambda s: (-s.score, s.service))
    if not suspects or suspects[0].score < cfg.min_score:
        best = suspects[0] if suspects else None
        reason = ("no service deviates from its baseline" if best is None else
                  f"the strongest evidence ({best.service}, score {best.score:.1f}) is below {cfg.min_score:g}")
        return Diagnosis(start, end, baseline_start, suspects, True, reason, cfg, notes or [])
    return Diagnosis(start, end, baseline_start, suspects, False, "", cfg, notes or [])


#: words of a log line that mean code threw (an exception, a panic), not a handled error response
_THROWN = r"exception|traceback|panic|stack ?trace|segmentation fault|uncaught|unhandled"


def _kind_of(items: list[Evidence]) -> str:
    """The fault kind the evidence reads as: ``cpu_contention`` (CPU the strongest finding), ``network_delay``
    (calls to and from it slow between client and server, its own work not), ``code_exception`` (steps
    that vanish, or errors naming an exception), ``error_response`` (new errors, wrong results),
    ``latency``, else the strongest evidence's kind."""
    import re

    score: dict[str, float] = {}
    for e in items:
        score[e.kind] = max(score.get(e.kind, 0.0), e.score)
    if not score:
        return "unknown"
    top = max(score.values())
    if score.get("cpu", 0) >= 2 and score.get("cpu", 0) >= 0.5 * min(top, 8.0):
        return "cpu_contention"
    if score.get("network", 0) >= 3 and score.get("network", 0) >= 2 * score.get("latency", 0):
        return "network_delay"
    errors = [e for e in items if e.kind == "errors" or (e.source == "logs" and e.direction in ("new", "up"))]
    gone = max((e.score for e in items if e.direction in ("vanished", "down")), default=0.0)
    err = max((e.score for e in errors), default=0.0)
    thrown = any(re.search(_THROWN, e.text, re.IGNORECASE) for e in errors if e.score >= 3)
    if err >= 3 or gone >= 3:
        return "code_exception" if thrown or gone > err else "error_response"
    if score.get("latency", 0) >= 3:
        return "latency"
    return max(score, key=score.get)
