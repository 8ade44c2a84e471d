"""Demo-fleet analytics at scale, for ``bench_analytics``: holoops beside hand-written polars, DuckDB, pandas.

Steps (each contender computes the same result from the same data, loaded before the clock starts):

``golden_signals``
    per service and minute: ``rps`` = ``sum(rate(http_requests_total[5m]))``, ``error_rps`` (codes 5xx),
    ``error_ratio``, and p50/p95/p99 from ``histogram_quantile`` over
    ``sum by (service, le) (rate(http_request_duration_seconds_bucket[5m]))``. Prometheus semantics as
    holoops implements them: windows ``(t - 5m, t]``, counter resets added back, extrapolation to the
    window edges (``extrapolatedRate``), ``histogram_quantile`` with monotonic fix-up and the +Inf rule.
    The baselines do not compute holoops' ``gap`` column (scrape-gap flags); the check compares every
    other column on the rows both emit.
``critical_path``
    CRISP critical path of every trace (walk back from the root's end through the child that finished
    last), summarised per service: critical ms, share, traces, median ms per trace. The hand-written
    versions walk all traces at once, one tree level per round (joins); the ``pandas`` one is the same
    walk in pandas.
``error_patterns``
    template mining over the fleet's log messages: holoops ``mine_templates``, Drain3
    (``TemplateMiner().add_log_message`` per line, its library defaults) and the usual polars shortcut
    (mask numbers/hex/ids with regexes, then ``group_by`` the masked text).
``backtest``
    the SLO error-budget burn alerts (``ErrorBudgetBurn``: page at 14.4x over 1h and 5m or 6x over 6h
    and 30m, ticket at 3x over 1d and 2h or 1x over 3d and 6h, each with its ``for`` hold) evaluated every
    minute over the whole history. holoops runs its rule evaluator on exactly those rule groups; the
    hand-written polars version computes the same ratios with ``group_by_dynamic`` and the same holds.

Data: one simulation of the demo fleet (``BASE``: two days, about 1M metric samples, 1.1M spans and
1.1M log lines), replicated in time to the asked number of rows (copy ``k`` is shifted by ``k`` times
the simulated span; trace ids get a ``-k`` suffix). Counters restart at each copy boundary, which
``rate`` treats as a reset.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

BASE = {"days": 2, "seed": 7, "trace_sample": 0.00875, "log_sample": 0.008}
KINDS = {"golden_signals": "metrics", "critical_path": "spans", "error_patterns": "logs", "backtest": "metrics",
         "backtest_full": "metrics"}
CONTENDERS = {
    "golden_signals": ("holoops", "polars", "duckdb", "pandas"),
    "critical_path": ("holoops", "polars", "duckdb", "pandas"),
    "error_patterns": ("holoops", "polars", "drain3", "pandas"),
    "backtest": ("holoops", "polars"),
    "backtest_full": ("holoops",),
}
STEP_S, WINDOW_S = 60, 300
Q = (0.5, 0.95, 0.99)
REQ, HIST = "http_requests_total", "http_request_duration_seconds_bucket"
#: bytes of peak memory per input row (the process's peak RSS over its baseline at 10M rows, plus 15-25 %),
#: used to skip a contender that would not fit in the memory available
BYTES_PER_ROW = {
    ("golden_signals", "holoops"): 200, ("golden_signals", "polars"): 190, ("golden_signals", "duckdb"): 350,
    ("golden_signals", "pandas"): 420,
    ("critical_path", "holoops"): 300, ("critical_path", "polars"): 830, ("critical_path", "duckdb"): 1000,
    ("critical_path", "pandas"): 860,
    ("error_patterns", "holoops"): 240, ("error_patterns", "polars"): 270, ("error_patterns", "drain3"): 240,
    ("error_patterns", "pandas"): 340,
    ("backtest", "holoops"): 290, ("backtest", "polars"): 210, ("backtest_full", "holoops"): 380,
}
#: contenders whose time grows past what one benchmark run can wait for: (max rows, why)
MAX_ROWS = {
    ("error_patterns", "drain3"): (12_000_000, "Drain3 mines one line at a time in Python (~240k lines/s here)"),
    ("golden_signals", "pandas"): (12_000_000, "single-threaded pandas repeating every sample into its 5 windows"),
    ("critical_path", "pandas"): (12_000_000, "single-threaded pandas merges, one per tree level (~60 s at 10M)"),
    ("backtest_full", "holoops"): (12_000_000, "the Alertmanager simulation over months of alerts"),
}


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------
def _base(folder: Path) -> dict[str, Any]:
    """Simulate the base fleet once per work folder: Parquet per frame plus meta.json."""
    import polars as pl

    meta_path = folder / "fleet_base" / "meta.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    from holoops.demo import simulate

    d = simulate(**BASE)
    out = folder / "fleet_base"
    out.mkdir(parents=True, exist_ok=True)
    for kind in ("metrics", "spans", "logs"):
        pl.from_pandas(getattr(d, kind)).write_parquet(out / f"{kind}.parquet")
    a, b = d.window
    meta = {"span_ns": int(b.value - a.value), "truth": json.loads(json.dumps(list(d.truth), default=str))}
    meta_path.write_text(json.dumps(meta))
    return meta


def scaled(kind: str, n: int, folder: Path) -> Path:
    """``kind`` (metrics, spans, logs) of the base fleet cut or replicated in time to ``n`` rows.

    Written copy by copy (memory stays that of the base); spans are cut at a trace boundary.
    """
    import polars as pl
    import pyarrow.parquet as pq

    path = folder / f"fleet_{kind}_{n}.parquet"
    if path.exists():
        return path
    meta = _base(folder)
    base = pl.read_parquet(folder / "fleet_base" / f"{kind}.parquet")
    ts = {"metrics": "ts", "logs": "ts", "spans": "start"}[kind]
    if kind == "spans":  # each trace's spans together, so a cut falls between traces
        base = base.sort(pl.int_range(pl.len()).min().over("trace_id"), maintain_order=True)
        sizes = base.group_by("trace_id", maintain_order=True).len()
        ends = sizes["len"].cum_sum().to_numpy()
    tmp = path.with_suffix(".tmp")
    writer, left, k = None, n, 0
    while left > 0:
        part = base.with_columns(pl.col(ts) + pl.duration(nanoseconds=k * meta["span_ns"])) if k else base
        if kind == "spans" and k:
            part = part.with_columns(pl.col("trace_id") + f"-{k}")
        if len(part) > left:
            if kind == "spans":
                import numpy as np

                keep = int(ends[np.searchsorted(ends, left, side="right") - 1]) if ends[0] <= left else 0
                part = part.head(keep)
                left = 0
            else:
                part = part.head(left)
        table = part.to_arrow()
        writer = writer or pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table)
        left -= len(part)
        k += 1
        if not len(part):
            break
    writer.close()
    tmp.rename(path)
    return path


def fits(name: str, impl: str, n: int) -> str | None:
    """None when ``impl`` can run ``name`` at ``n`` rows here, else the reason it is skipped."""
    import psutil

    cap = MAX_ROWS.get((name, impl))
    if cap is not None and n > cap[0]:
        return f"skipped: over {cap[0] / 1e6:.0f}M rows ({cap[1]})"
    if impl == "duckdb":  # capped, spills past its cap (see _duck); the Arrow input is what must fit
        need = {"metrics": 60, "spans": 130, "logs": 90}[KINDS[name]] * n
    else:
        need = BYTES_PER_ROW.get((name, impl), 300) * n
    avail = psutil.virtual_memory().available
    if need > 0.8 * avail:  # (other processes on the machine need room too)
        return (f"skipped: would need about {need / 2**30:.1f} GiB at this size (peak RSS per row measured "
                f"at 10M), {avail / 2**30:.1f} GiB available")
    return None


_DATA: dict[str, Any] = {}


def load(name: str, impl: str, path: str) -> None:
    """Read the step's input into the form ``impl`` starts from (outside the clock)."""
    import polars as pl
    import psutil

    kind = KINDS[name]
    frame = pl.read_parquet(path)
    _DATA["duck_mib"] = int(0.4 * psutil.virtual_memory().available / 2**20)
    _DATA["duck_tmp"] = str(Path(path).parent / "duckdb_tmp")
    if impl == "pandas":
        _DATA["data"] = frame.to_pandas()
    elif impl == "duckdb":
        _DATA["data"] = frame.to_arrow()
    elif kind == "logs" and impl in ("drain3", "holoops"):  # the same Python list of messages
        _DATA["data"] = frame["message"].to_list()
    else:  # holoops and polars take the polars frame (holoops' engine on a CPU)
        _DATA["data"] = frame
    if name == "backtest_full":
        _DATA["truth"] = json.loads((Path(path).parent / "fleet_base" / "meta.json").read_text())["truth"]
    del frame


def _duck():
    """A DuckDB connection capped at 40 % of the memory available when the data was loaded, spilling to
    the work folder past that (DuckDB's own answer to data larger than memory)."""
    import duckdb

    return duckdb.connect(config={"memory_limit": f"{_DATA['duck_mib']}MB", "temp_directory": _DATA["duck_tmp"]})


def run(name: str, impl: str) -> Any:
    return globals()[f"{name}_{impl}"](_DATA["data"])


# --------------------------------------------------------------------------------------------------
# golden signals
# --------------------------------------------------------------------------------------------------
def _gs_out(ts, service, rps, err, ratio, p50, p95, p99) -> dict:
    """The compared columns as numpy arrays sorted by (service, ts)."""
    import numpy as np

    ts = np.asarray(ts, dtype="int64")
    service = np.asarray(service, dtype=object).astype(str)
    order = np.lexsort((ts, service))
    cols = {"ts": ts, "service": service, "rps": rps, "error_rps": err, "error_ratio": ratio,
            "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}
    return {k: np.asarray(v)[order] for k, v in cols.items()}


def golden_signals_holoops(m) -> dict:
    from holoops.analyze.signals import golden_signals

    g = golden_signals(m)
    g = g.filter(~g["rps"].is_nan())
    return _gs_out(g["ts"].dt.epoch("ns").to_numpy(), g["service"].to_numpy(), g["rps"].to_numpy(),
                   g["error_rps"].to_numpy(), g["error_ratio"].to_numpy(), g["p50_ms"].to_numpy(),
                   g["p95_ms"].to_numpy(), g["p99_ms"].to_numpy())


def _pl_rates(m, metric: str, keep: str):
    """Prometheus rate(metric[5m]) per series every minute, summed by (service, ``keep``): lazy frame."""
    import polars as pl

    step, win = f"{STEP_S}s", f"{WINDOW_S}s"
    t_lo, t_hi = m.select(pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")).row(0)
    labels = ["service", "instance", "route", "code", "le"]
    s = m.lazy().filter((pl.col("metric") == metric) & pl.col("value").is_not_nan())
    # one integer id per series (a hash of its label set); samples come in time order, a stable sort keeps it
    s = (s.select("ts", "value", "service", keep, pl.struct(labels).hash().alias("sid"))
         .sort("sid", maintain_order=True))
    prev = pl.col("value").shift(1).over("sid")
    s = s.with_columns((pl.col("value") + pl.when(pl.col("value") < prev).then(prev).otherwise(0.0)
                        .cum_sum().over("sid")).alias("corr"))
    # windows (t - 5m, t] labelled t on the minute grid; those holding 2+ samples give a rate
    w = (s.group_by_dynamic("ts", every=step, period=win, offset=f"-{WINDOW_S - STEP_S}s", closed="right",
                            label="right", group_by="sid", start_by="window")
         .agg(pl.len().alias("n"), pl.col("corr").first().alias("c0"), pl.col("corr").last().alias("c1"),
              pl.col("ts").first().alias("t0"), pl.col("ts").last().alias("t1"),
              pl.col("value").first().alias("v0"), pl.col("service").first(), pl.col(keep).first())
         .filter((pl.col("n") >= 2) & (pl.col("ts") >= t_lo) & (pl.col("ts") <= t_hi)))
    sec = 1e9
    t = pl.col("ts").dt.epoch("ns") / sec
    t0, t1 = pl.col("t0").dt.epoch("ns") / sec, pl.col("t1").dt.epoch("ns") / sec
    res = pl.col("c1") - pl.col("c0")
    sampled = t1 - t0
    avg = sampled / (pl.col("n") - 1)
    to_start = t0 - (t - WINDOW_S)
    to_end = t - t1
    to_zero = pl.when((res > 0) & (pl.col("v0") >= 0)).then(sampled * (pl.col("v0") / res)).otherwise(math.inf)
    to_start = pl.min_horizontal(pl.when(to_start >= avg * 1.1).then(avg / 2).otherwise(to_start), to_zero)
    to_end = pl.when(to_end >= avg * 1.1).then(avg / 2).otherwise(to_end)
    rate = res * ((sampled + to_start + to_end) / sampled) / WINDOW_S
    return w.with_columns(rate.alias("rate")).group_by("service", "ts", keep).agg(pl.col("rate").sum())


def golden_signals_polars(m) -> dict:
    import polars as pl

    req = _pl_rates(m, REQ, "code")
    traffic = (req.group_by("service", "ts")
               .agg(pl.col("rate").sum().alias("rps"),
                    pl.col("rate").filter(pl.col("code").cast(pl.String).str.starts_with("5")).sum()
                    .alias("error_rps"))
               .with_columns(pl.when(pl.col("rps") > 0).then(pl.col("error_rps") / pl.col("rps"))
                             .otherwise(0.0).alias("error_ratio")))
    # histogram_quantile: one column per bucket (sorted by le), made cumulative-monotonic, then the
    # first bucket whose count reaches the rank, interpolated linearly
    g = ["service", "ts"]
    h = _pl_rates(m, HIST, "le").collect()
    les = sorted({float(x) for x in h["le"].cast(pl.String).unique().to_list()})
    names = {float(x): x for x in h["le"].cast(pl.String).unique().to_list()}
    wide = (h.with_columns(pl.col("le").cast(pl.String))
            .pivot(on="le", index=g, values="rate").lazy()
            .with_columns([pl.col(names[x]).fill_null(0.0).alias(f"r{i}") for i, x in enumerate(les)]))
    cum = [pl.col("r0").alias("c0")]
    for i in range(1, len(les)):
        cum.append(pl.max_horizontal(pl.col(f"c{i - 1}"), pl.col(f"r{i}")).alias(f"c{i}"))
    for c in cum:  # each column needs the previous one
        wide = wide.with_columns(c)
    cols = []
    ok_hist = len(les) >= 2 and math.isinf(les[-1])
    obs = pl.col(f"c{len(les) - 1}")
    for q in Q:
        rank = q * obs
        val = pl.lit(None, dtype=pl.Float64)
        if ok_hist:
            chain = None
            for i, le in enumerate(les):
                c, prev = pl.col(f"c{i}"), (pl.col(f"c{i - 1}") if i else pl.lit(0.0))
                start = les[i - 1] if i else 0.0
                if i == len(les) - 1:
                    v = pl.lit(les[-2])
                elif i == 0 and le <= 0:
                    v = pl.lit(le)
                else:
                    v = pl.when(c - prev == 0).then(pl.lit(le)).otherwise(
                        start + (le - start) * ((rank - prev) / (c - prev)))
                chain = pl.when(c >= rank).then(v) if chain is None else chain.when(c >= rank).then(v)
            val = pl.when(obs > 0).then(chain.otherwise(None))
        cols.append((val * 1000.0).alias(f"p{int(q * 100)}_ms"))
    hq = wide.select(*g, *cols)
    out = traffic.join(hq, on=g, how="left").collect()
    return _gs_out(out["ts"].dt.epoch("ns").to_numpy(), out["service"].cast(pl.String).to_numpy(),
                   out["rps"].to_numpy(), out["error_rps"].to_numpy(), out["error_ratio"].to_numpy(),
                   *[out[f"p{int(q * 100)}_ms"].fill_null(float("nan")).to_numpy() for q in Q])


_DUCK_RATES = """
WITH s AS (
    SELECT epoch_ns(ts) AS tn, value, service::VARCHAR AS service, instance::VARCHAR AS instance,
           route::VARCHAR AS route, code::VARCHAR AS code, le::VARCHAR AS le
    FROM m WHERE metric = '{metric}' AND NOT isnan(value)),
p AS (SELECT *, lag(value) OVER w AS pv FROM s
      WINDOW w AS (PARTITION BY service, instance, route, code, le ORDER BY tn)),
c AS (SELECT *, value + sum(CASE WHEN value < pv THEN pv ELSE 0 END) OVER (
          PARTITION BY service, instance, route, code, le ORDER BY tn ROWS UNBOUNDED PRECEDING) AS corr
      FROM p),
x AS (SELECT service, instance, route, code, le, tn, corr, value,
             unnest(range(({g0} + ceil((tn - {g0}) / {step})::BIGINT * {step}), tn + {win}, {step})) AS t
      FROM c),
a AS (SELECT service, instance, route, code, le, t, count(*) AS n, arg_min(corr, tn) AS c0,
             arg_max(corr, tn) AS c1, min(tn) / 1e9 AS t0, max(tn) / 1e9 AS t1, arg_min(value, tn) AS v0
      FROM x WHERE t <= {t_hi} GROUP BY ALL HAVING count(*) >= 2),
e AS (SELECT *, c1 - c0 AS res, t1 - t0 AS sampled, (t1 - t0) / (n - 1) AS avg,
             t0 - (t / 1e9 - {win_s}) AS to_start0, t / 1e9 - t1 AS to_end0 FROM a),
f AS (SELECT *, least(CASE WHEN to_start0 >= avg * 1.1 THEN avg / 2 ELSE to_start0 END,
                      CASE WHEN res > 0 AND v0 >= 0 THEN sampled * (v0 / res) ELSE 'inf'::DOUBLE END) AS to_start,
             CASE WHEN to_end0 >= avg * 1.1 THEN avg / 2 ELSE to_end0 END AS to_end FROM e)
SELECT service, t, {keep}, sum(res * ((sampled + to_start + to_end) / sampled) / {win_s}) AS rate
FROM f GROUP BY ALL
"""

_DUCK_GS = """
WITH req AS ({req}),
hist AS ({hist}),
traffic AS (SELECT service, t, sum(rate) AS rps, coalesce(sum(rate) FILTER (WHERE code LIKE '5%'), 0) AS error_rps
            FROM req GROUP BY ALL),
h AS (SELECT service, t, le::DOUBLE AS le,
             max(rate) OVER (PARTITION BY service, t ORDER BY le::DOUBLE ROWS UNBOUNDED PRECEDING) AS c
      FROM hist),
h2 AS (SELECT *, coalesce(lag(c) OVER w, 0) AS c_prev, coalesce(lag(le) OVER w, 0) AS le_prev,
              row_number() OVER w - 1 AS b, max(c) OVER (PARTITION BY service, t) AS obs,
              count(*) OVER (PARTITION BY service, t) AS nb,
              max(le) FILTER (WHERE NOT isinf(le)) OVER (PARTITION BY service, t) AS top_finite,
              bool_or(isinf(le)) OVER (PARTITION BY service, t) AS has_inf
       FROM h WINDOW w AS (PARTITION BY service, t ORDER BY le)),
{quantile_ctes}
SELECT traffic.service, traffic.t, rps, error_rps,
       CASE WHEN rps > 0 THEN error_rps / rps ELSE 0 END AS error_ratio, {quantile_cols}
FROM traffic {quantile_joins}
"""

_DUCK_Q = """q{i} AS (
    SELECT service, t, CASE WHEN NOT has_inf OR nb < 2 OR obs <= 0 THEN NULL
                            WHEN b = nb - 1 THEN top_finite
                            WHEN b = 0 AND le <= 0 THEN le
                            WHEN c - c_prev = 0 THEN le
                            ELSE le_prev + (le - le_prev) * (({q} * obs - c_prev) / (c - c_prev)) END * 1000.0 AS v
    FROM h2 WHERE c >= {q} * obs QUALIFY row_number() OVER (PARTITION BY service, t ORDER BY le) = 1)"""


def golden_signals_duckdb(m) -> dict:
    import pyarrow.compute as pc

    con = _duck()
    con.register("m", m)
    lo, hi = pc.min_max(m.column("ts").cast("int64")).values()
    step, win = STEP_S * 10**9, WINDOW_S * 10**9
    g0 = -(-lo.as_py() // step) * step
    kw = {"g0": g0, "step": step, "win": win, "win_s": WINDOW_S, "t_hi": hi.as_py()}
    sql = _DUCK_GS.format(
        req=_DUCK_RATES.format(metric=REQ, keep="code", **kw),
        hist=_DUCK_RATES.format(metric=HIST, keep="le", **kw),
        quantile_ctes=",\n".join(_DUCK_Q.format(i=i, q=q) for i, q in enumerate(Q)),
        quantile_cols=", ".join(f"q{i}.v AS p{int(q * 100)}" for i, q in enumerate(Q)),
        quantile_joins=" ".join(f"LEFT JOIN q{i} USING (service, t)" for i in range(len(Q))))
    out = con.sql(sql).fetchnumpy()
    con.close()
    return _gs_out(out["t"], out["service"], out["rps"], out["error_rps"], out["error_ratio"],
                   *[_nan(out[f"p{int(q * 100)}"]) for q in Q])


def _nan(a):
    import numpy as np

    if hasattr(a, "filled"):
        return np.asarray(a.astype(float).filled(np.nan), dtype=float)
    return np.asarray(a, dtype=float)


def golden_signals_pandas(m) -> dict:
    """Plain pandas: the same windows, by repeating each sample into the grid times whose window holds it."""
    import numpy as np

    tn_all = m["ts"].to_numpy(dtype="datetime64[ns]").astype("int64")
    lo, hi = tn_all.min(), tn_all.max()
    step, win = STEP_S * 10**9, WINDOW_S * 10**9
    g0 = -(-lo // step) * step

    def rates(metric, keep):
        labels = ["service", "instance", "route", "code", "le"]
        s = m.loc[m["metric"] == metric, ["ts", "value", *labels]]
        s = s[s["value"].notna()]
        s = s.assign(tn=s["ts"].to_numpy(dtype="datetime64[ns]").astype("int64"))
        s["sid"] = s.groupby(labels, observed=True, dropna=False, sort=False).ngroup()
        s = s.sort_values(["sid", "tn"], kind="stable")
        prev = s.groupby("sid", sort=False)["value"].shift(1)
        s["corr"] = s["value"] + prev.where(s["value"] < prev, 0.0).groupby(s["sid"], sort=False).cumsum()
        first_t = g0 + -(-(s["tn"].to_numpy() - g0) // step) * step
        k = (s["tn"].to_numpy() + win - first_t + step - 1) // step
        rep = np.repeat(np.arange(len(s)), k)
        off = np.arange(len(rep)) - np.repeat(np.cumsum(k) - k, k)
        x = s.iloc[rep].reset_index(drop=True)
        x["t"] = first_t[rep] + off * step
        x = x[x["t"] <= hi]
        a = x.groupby(["sid", "t"], sort=False).agg(
            n=("tn", "size"), c0=("corr", "first"), c1=("corr", "last"), t0=("tn", "first"),
            t1=("tn", "last"), v0=("value", "first"), service=("service", "first"), key=(keep, "first"))
        a = a[a["n"] >= 2].reset_index()
        t = a["t"] / 1e9
        t0, t1 = a["t0"] / 1e9, a["t1"] / 1e9
        res = a["c1"] - a["c0"]
        sampled = t1 - t0
        avg = sampled / (a["n"] - 1)
        to_start = t0 - (t - WINDOW_S)
        to_end = t - t1
        to_zero = (sampled * (a["v0"] / res)).where((res > 0) & (a["v0"] >= 0), np.inf)
        to_start = np.minimum(to_start.where(to_start < avg * 1.1, avg / 2), to_zero)
        to_end = to_end.where(to_end < avg * 1.1, avg / 2)
        a["rate"] = res * ((sampled + to_start + to_end) / sampled) / WINDOW_S
        return a.groupby(["service", "t", "key"], observed=True)["rate"].sum().reset_index()

    req = rates(REQ, "code")
    req["err"] = req["rate"].where(req["key"].astype(str).str.startswith("5"), 0.0)
    tr = req.groupby(["service", "t"], observed=True)[["rate", "err"]].sum().reset_index()
    tr["ratio"] = (tr["err"] / tr["rate"]).where(tr["rate"] > 0, 0.0)
    h = rates(HIST, "le")
    h["le"] = h["key"].astype(str).astype(float)
    h = h.sort_values(["service", "t", "le"])
    grp = h.groupby(["service", "t"], observed=True, sort=False)
    h["c"] = grp["rate"].cummax()
    h["c_prev"] = grp["c"].shift(1).fillna(0.0)
    h["le_prev"] = grp["le"].shift(1).fillna(0.0)
    h["b"] = grp.cumcount()
    h["obs"] = grp["c"].transform("max")
    h["nb"] = grp["le"].transform("size")
    h["top"] = h["le"].where(np.isfinite(h["le"])).groupby([h["service"], h["t"]], observed=True).transform("max")
    h["has_inf"] = np.isinf(h["le"]).groupby([h["service"], h["t"]], observed=True).transform("any")
    out = tr
    for q in Q:
        hit = h[h["c"] >= q * h["obs"]].groupby(["service", "t"], observed=True, sort=False).head(1).copy()
        count = hit["c"] - hit["c_prev"]
        v = hit["le_prev"] + (hit["le"] - hit["le_prev"]) * ((q * hit["obs"] - hit["c_prev"]) / count)
        v = v.where(count != 0, hit["le"])
        v = v.where(~((hit["b"] == 0) & (hit["le"] <= 0)), hit["le"])
        v = v.where(hit["b"] != hit["nb"] - 1, hit["top"])
        v = v.where(hit["has_inf"] & (hit["nb"] >= 2) & (hit["obs"] > 0))
        hit[f"p{int(q * 100)}"] = v * 1000.0
        out = out.merge(hit[["service", "t", f"p{int(q * 100)}"]], on=["service", "t"], how="left")
    return _gs_out(out["t"], out["service"].astype(str), out["rate"], out["err"], out["ratio"],
                   *[out[f"p{int(q * 100)}"].to_numpy(dtype=float) for q in Q])


def _check_golden(ref: dict, other: dict) -> str:
    import numpy as np

    keys_r = list(zip(ref["service"].tolist(), ref["ts"].tolist(), strict=True))
    keys_o = list(zip(other["service"].tolist(), other["ts"].tolist(), strict=True))
    pos = {k: i for i, k in enumerate(keys_r)}
    common = [(pos[k], j) for j, k in enumerate(keys_o) if k in pos]
    if not common:
        return "NO common rows", "no common rows"
    ir, io = (np.array(x) for x in zip(*common, strict=True))
    worst = 0.0
    for c in ("rps", "error_rps", "error_ratio", "p50_ms", "p95_ms", "p99_ms"):
        a, b = np.asarray(ref[c], float)[ir], np.asarray(other[c], float)[io]
        both = ~np.isnan(a) & ~np.isnan(b)
        if (np.isnan(a) != np.isnan(b)).sum():
            text = f"{c}: NaN in {int((np.isnan(a) != np.isnan(b)).sum())} rows of one side only"
            return text, text
        rel = np.abs(a[both] - b[both]) / np.maximum(np.abs(a[both]), 1e-12)
        worst = max(worst, float(rel.max()) if len(rel) else 0.0)
    extra = f", rows {len(keys_r):,} vs {len(keys_o):,}" if len(keys_r) != len(keys_o) else ""
    return f"max rel diff {worst:.1e}", f"max rel diff {worst:.1e} over {len(common):,} rows{extra}"


# --------------------------------------------------------------------------------------------------
# critical path (CRISP), summarised per service
# --------------------------------------------------------------------------------------------------
def _cp_out(service, total, traces, median) -> dict:
    import numpy as np

    service = np.asarray(service, dtype=object).astype(str)
    total = np.asarray(total, dtype=float)
    order = np.argsort(service)
    return {"service": service[order], "critical_ms_total": total[order],
            "share": (total / max(total.sum(), 1e-12))[order],
            "traces": np.asarray(traces, dtype=np.int64)[order],
            "median_ms_per_trace": np.asarray(median, dtype=float)[order]}


def critical_path_holoops(spans) -> dict:
    from holoops.analyze.comms import critical_path_summary

    s = critical_path_summary(spans)
    return _cp_out(s["service"].astype(str), s["critical_ms_total"], s["traces"], s["median_ms_per_trace"])


def critical_path_polars(spans) -> dict:
    """The walk of every trace at once in polars, one tree level per round.

    Children of a span in the order the walk meets them (latest end first); the walk stands at
    ``point_k`` when it reaches child k: the span's own point until a child was taken, then the
    later of the span's start and the earliest start of the children before k (a running minimum).
    """
    import polars as pl

    s = (spans.lazy()
         .select("trace_id", "span_id", pl.col("parent_id").fill_null(""), "service",
                 (pl.col("start").dt.epoch("ns") / 1e6).alias("start"))
         .with_columns((pl.col("start") + spans.lazy().select("duration_ms").collect()["duration_ms"]).alias("end"))
         .collect())
    ids = s.group_by("trace_id", "span_id").len().select("trace_id", "span_id")
    s = s.join(ids.rename({"span_id": "parent_id"}).with_columns(pl.lit(True).alias("has_parent")),
               on=["trace_id", "parent_id"], how="left").with_columns(pl.col("has_parent").fill_null(False))
    roots = (s.filter(~pl.col("has_parent")).sort(pl.col("end") - pl.col("start"), descending=True)
             .group_by("trace_id", maintain_order=True).first()
             .select("trace_id", "span_id", "service", "start", "end",
                     (pl.col("end") - pl.col("start")).alias("trace_ms")))
    kids = (s.filter(pl.col("has_parent")).sort(["trace_id", "parent_id", "end", "start"],
                                               descending=[False, False, True, False])
            .with_columns(pl.col("start").cum_min().over("trace_id", "parent_id").alias("run_min"))
            .with_columns(pl.col("run_min").shift(1).over("trace_id", "parent_id")
                          .fill_null(float("inf")).alias("before")))
    min_all = kids.group_by("trace_id", "parent_id").agg(pl.col("start").min().alias("min_all"))
    frontier = roots.select("trace_id", "span_id", "service", "start", pl.col("end").alias("p0"))
    parts = []
    while frontier.height:
        j = frontier.join(kids.select("trace_id", pl.col("parent_id").alias("span_id"),
                                      pl.col("span_id").alias("kid"), pl.col("service").alias("kid_service"),
                                      pl.col("start").alias("k_start"), pl.col("end").alias("k_end0"),
                                      "before"), on=["trace_id", "span_id"], how="inner")
        point = (pl.when(pl.col("before") >= pl.col("p0")).then(pl.col("p0"))
                 .otherwise(pl.max_horizontal("before", "start")))
        j = (j.with_columns(point.alias("point")).filter(pl.col("k_start") < pl.col("point"))
             .with_columns(pl.min_horizontal("k_end0", "point").alias("k_end")))
        gaps = j.group_by("trace_id", "span_id").agg((pl.col("point") - pl.col("k_end")).sum().alias("gaps"))
        last = (pl.when(pl.col("min_all").is_null() | (pl.col("min_all") >= pl.col("p0"))).then(pl.col("p0"))
                .otherwise(pl.max_horizontal("min_all", "start")))
        node = (frontier.join(min_all.rename({"parent_id": "span_id"}), on=["trace_id", "span_id"], how="left")
                .join(gaps, on=["trace_id", "span_id"], how="left")
                .select("trace_id", "service",
                        (pl.col("gaps").fill_null(0.0)
                         + pl.max_horizontal(last - pl.col("start"), pl.lit(0.0)))
                        .alias("critical_ms")))
        parts.append(node)
        frontier = j.select("trace_id", pl.col("kid").alias("span_id"), pl.col("kid_service").alias("service"),
                            pl.col("k_start").alias("start"), pl.col("k_end").alias("p0"))
    cp = pl.concat(parts).filter(pl.col("critical_ms") > 0)
    per_trace = cp.group_by("trace_id", "service").agg(pl.col("critical_ms").sum())
    out = (per_trace.group_by("service")
           .agg(pl.col("critical_ms").sum().alias("total"), pl.len().alias("traces"),
                pl.col("critical_ms").median().alias("median")))
    return _cp_out(out["service"].cast(pl.String), out["total"], out["traces"], out["median"])


_DUCK_CP = """
CREATE TEMP TABLE s AS
    SELECT trace_id, span_id, coalesce(parent_id, '') AS parent_id, service::VARCHAR AS service,
           epoch_ns(start) / 1e6 AS start_ms, epoch_ns(start) / 1e6 + duration_ms AS end_ms FROM spans;
CREATE TEMP TABLE linked AS
    SELECT s.*, p.trace_id IS NOT NULL AS has_parent FROM s
    LEFT JOIN (SELECT DISTINCT trace_id, span_id FROM s) p ON p.trace_id = s.trace_id AND p.span_id = s.parent_id;
CREATE TEMP TABLE roots AS
    SELECT trace_id, span_id, service, start_ms, end_ms, end_ms - start_ms AS trace_ms FROM linked
    WHERE NOT has_parent QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY end_ms - start_ms DESC) = 1;
CREATE TEMP TABLE kids AS
    SELECT trace_id, parent_id, span_id, service, start_ms, end_ms,
           coalesce(min(start_ms) OVER (PARTITION BY trace_id, parent_id ORDER BY end_ms DESC, start_ms
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 'inf'::DOUBLE) AS before,
           min(start_ms) OVER (PARTITION BY trace_id, parent_id) AS min_all
    FROM linked WHERE has_parent;
CREATE TEMP TABLE walk AS
    WITH RECURSIVE w(trace_id, span_id, service, start_ms, p0) AS (
        SELECT trace_id, span_id, service, start_ms, end_ms FROM roots
        UNION ALL
        SELECT k.trace_id, k.span_id, k.service, k.start_ms,
               least(k.end_ms, CASE WHEN k.before >= w.p0 THEN w.p0 ELSE greatest(k.before, w.start_ms) END)
        FROM w JOIN kids k ON k.trace_id = w.trace_id AND k.parent_id = w.span_id
        WHERE k.start_ms < CASE WHEN k.before >= w.p0 THEN w.p0 ELSE greatest(k.before, w.start_ms) END)
    SELECT * FROM w;
WITH taken AS (
    SELECT w.trace_id, w.span_id, sum(pt - least(k.end_ms, pt)) AS gaps, any_value(k.min_all) AS min_all
    FROM walk w
    JOIN kids k ON k.trace_id = w.trace_id AND k.parent_id = w.span_id,
    LATERAL (SELECT CASE WHEN k.before >= w.p0 THEN w.p0 ELSE greatest(k.before, w.start_ms) END AS pt)
    WHERE k.start_ms < pt GROUP BY ALL),
mins AS (SELECT DISTINCT trace_id, parent_id AS span_id, min_all FROM kids),
cp AS (
    SELECT w.trace_id, w.service,
           coalesce(t.gaps, 0) + greatest(CASE WHEN m.min_all IS NULL OR m.min_all >= w.p0 THEN w.p0
                                               ELSE greatest(m.min_all, w.start_ms) END - w.start_ms, 0) AS critical_ms
    FROM walk w LEFT JOIN taken t USING (trace_id, span_id) LEFT JOIN mins m USING (trace_id, span_id)),
per_trace AS (SELECT trace_id, service, sum(critical_ms) AS ms FROM cp WHERE critical_ms > 0 GROUP BY ALL)
SELECT service, sum(ms) AS total, count(*) AS traces, median(ms) AS median FROM per_trace GROUP BY service
"""


def critical_path_duckdb(spans) -> dict:
    """The same walk as SQL: window functions for the sibling order, a recursive CTE for the walk."""

    con = _duck()
    con.register("spans", spans)
    stmts = [x for x in _DUCK_CP.split(";") if x.strip()]
    for st in stmts[:-1]:
        con.execute(st)
    out = con.sql(stmts[-1]).fetchnumpy()
    con.close()
    return _cp_out(out["service"], out["total"], out["traces"], out["median"])


def critical_path_pandas(spans) -> dict:
    """The same level-by-level walk with pandas merges and grouped cumulative minima."""
    import numpy as np
    import pandas as pd

    s = pd.DataFrame({"trace_id": spans["trace_id"], "span_id": spans["span_id"],
                      "parent_id": spans["parent_id"].fillna(""), "service": spans["service"].astype(str)})
    s["start"] = spans["start"].to_numpy(dtype="datetime64[ns]").astype("int64") / 1e6
    s["end"] = s["start"] + spans["duration_ms"].to_numpy(dtype=float)
    ids = s[["trace_id", "span_id"]].drop_duplicates().rename(columns={"span_id": "parent_id"})
    ids["has_parent"] = True
    s = s.merge(ids, on=["trace_id", "parent_id"], how="left")
    s["has_parent"] = s["has_parent"].fillna(False).astype(bool)
    r = s[~s["has_parent"]].assign(d=lambda x: x["end"] - x["start"])
    roots = r.sort_values("d", ascending=False, kind="stable").drop_duplicates("trace_id")
    kids = s[s["has_parent"]].sort_values(["trace_id", "parent_id", "end", "start"],
                                          ascending=[True, True, False, True], kind="stable")
    g = kids.groupby(["trace_id", "parent_id"], sort=False)["start"]
    kids = kids.assign(before=g.cummin().groupby([kids["trace_id"], kids["parent_id"]], sort=False)
                       .shift(1).fillna(np.inf), min_all=g.transform("min"))
    mins = kids[["trace_id", "parent_id", "min_all"]].drop_duplicates().rename(columns={"parent_id": "span_id"})
    kk = kids[["trace_id", "parent_id", "span_id", "service", "start", "end", "before"]].rename(
        columns={"parent_id": "span_id", "span_id": "kid", "service": "kid_service", "start": "k_start",
                 "end": "k_end0"})
    frontier = roots[["trace_id", "span_id", "service", "start"]].assign(p0=roots["end"])
    parts = []
    while len(frontier):
        j = frontier.merge(kk, on=["trace_id", "span_id"])
        point = np.where(j["before"] >= j["p0"], j["p0"], np.maximum(j["before"], j["start"]))
        j = j.assign(point=point)
        j = j[j["k_start"] < j["point"]]
        j = j.assign(k_end=np.minimum(j["k_end0"], j["point"]))
        gaps = (j["point"] - j["k_end"]).groupby([j["trace_id"], j["span_id"]]).sum().rename("gaps").reset_index()
        node = frontier.merge(mins, on=["trace_id", "span_id"], how="left").merge(gaps, on=["trace_id", "span_id"],
                                                                                   how="left")
        m = node["min_all"]
        last = np.where(m.isna() | (m >= node["p0"]), node["p0"], np.maximum(m, node["start"]))
        node["critical_ms"] = node["gaps"].fillna(0.0) + np.maximum(last - node["start"], 0.0)
        parts.append(node[["trace_id", "service", "critical_ms"]])
        frontier = j[["trace_id", "kid", "kid_service", "k_start", "k_end"]].rename(
            columns={"kid": "span_id", "kid_service": "service", "k_start": "start", "k_end": "p0"})
    cp = pd.concat(parts)
    cp = cp[cp["critical_ms"] > 0]
    per_trace = cp.groupby(["trace_id", "service"], sort=False)["critical_ms"].sum().reset_index()
    out = per_trace.groupby("service")["critical_ms"].agg(["sum", "size", "median"]).reset_index()
    return _cp_out(out["service"], out["sum"], out["size"], out["median"])


def _check_cp(ref: dict, other: dict) -> str:
    import numpy as np

    if list(ref["service"]) != list(other["service"]):
        return "services DIFFER", f"services differ: {list(other['service'])}"
    worst = 0.0
    for c in ("critical_ms_total", "share", "median_ms_per_trace"):
        a, b = np.asarray(ref[c], float), np.asarray(other[c], float)
        worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-12))))
    same_traces = bool((ref["traces"] == other["traces"]).all())
    traces = "traces equal" if same_traces else "traces DIFFER"
    return (f"max rel diff {worst:.1e}, {traces}",
            f"max rel diff {worst:.1e} over {len(ref['service'])} services, {traces}")


# --------------------------------------------------------------------------------------------------
# error patterns: template mining over the log messages
# --------------------------------------------------------------------------------------------------
SAMPLE_IDS = 200_000  # per-line template ids returned for the agreement check (the first lines)
#: what a polars user writes: mask the usual variables (ids, hex, IPs, numbers with units), group by the rest
PL_MASKS = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<*>"),
    (r"\b0x[0-9a-fA-F]+\b|[0-9a-fA-F]{8,}", "<*>"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<*>"),
    (r"-?\d+(?:\.\d+)?(?:[a-zA-Z]{1,3}\b)?", "<*>"),
)


def _lines(logs) -> list:
    return logs if isinstance(logs, list) else logs["message"].to_list()


def error_patterns_holoops(logs) -> dict:
    """holoops' miner on the message list (the same list Drain3 gets)."""
    from holoops.analyze.patterns import mine_templates

    res = mine_templates(logs)
    return {"templates": len(res), "ids": res.ids[:SAMPLE_IDS].copy()}


def error_patterns_drain3(lines) -> dict:
    """Drain3 with its library defaults, one ``add_log_message`` per line (as its README shows)."""
    import logging

    import numpy as np
    from drain3 import TemplateMiner

    logging.getLogger("drain3").setLevel(logging.WARNING)
    tm = TemplateMiner()
    add = tm.add_log_message
    ids = [add(m)["cluster_id"] for m in lines]
    return {"templates": len(tm.drain.clusters), "ids": np.asarray(ids[:SAMPLE_IDS])}


def error_patterns_polars(logs) -> dict:
    """Regex masks, then one group per distinct masked message."""
    import polars as pl

    expr = pl.col("message")
    for pat, rep in PL_MASKS:
        expr = expr.str.replace_all(pat, rep)
    t = logs.lazy().select(expr.alias("t")).with_columns(pl.col("t").rank("dense").alias("id")).collect()
    return {"templates": int(t["id"].max() or 0), "ids": t["id"].head(SAMPLE_IDS).to_numpy()}


def error_patterns_pandas(logs) -> dict:
    """The same regex masks with pandas string methods, then ``factorize``."""
    import pandas as pd

    s = logs["message"]
    for pat, rep in PL_MASKS:
        s = s.str.replace(pat, rep, regex=True)
    codes, uniq = pd.factorize(s)
    return {"templates": len(uniq), "ids": codes[:SAMPLE_IDS].copy()}


def _check_patterns(ref: dict, other: dict) -> str:
    from holoops.analyze.patterns import grouping_accuracy

    ga = grouping_accuracy(ref["ids"], other["ids"])
    return (f"{other['templates']:,} templates (holoops {ref['templates']:,}), agreement {ga:.3f}",
            f"{other['templates']:,} templates vs holoops {ref['templates']:,}; grouping agreement with "
            f"holoops {ga:.4f} on the first {len(ref['ids']):,} lines")


# --------------------------------------------------------------------------------------------------
# alert backtest: the SLO error-budget burn alerts, evaluated every minute over the whole history
# --------------------------------------------------------------------------------------------------
def _burn_groups():
    """holoops' SLO rule groups cut to the error SLI: its recording rules and ErrorBudgetBurn."""
    from holoops.alerting.catalog import RuleGroup
    from holoops.alerting.slo_rules import build_slo_groups
    from holoops.fleet import load_fleet

    out = []
    for g in build_slo_groups(load_fleet()):
        rules = [r for r in g.rules if r.name.startswith("slo:sli_error:") or r.name == "ErrorBudgetBurn"]
        out.append(RuleGroup(g.name, rules))
    return out


def _firing_out(keys: list[tuple[str, str]], firing, n_steps: int, s0: float) -> dict:
    import numpy as np

    return {"s0": s0, "n_steps": n_steps,
            "firing": {k: np.packbits(np.asarray(f, dtype=bool)) for k, f in zip(keys, firing, strict=True)}}


def backtest_holoops(m) -> dict:
    """holoops' rule evaluator (PromQL subset + ``for`` holds) on exactly those rules."""
    import numpy as np

    from holoops.alerting.backtest import evaluate_groups
    from holoops.alerting.promql_eval import Store

    store = Store(m, {REQ})
    t0, t1 = store.time_range()
    steps = np.arange(np.ceil(t0 / STEP_S) * STEP_S, np.floor(t1 / STEP_S) * STEP_S + STEP_S / 2, STEP_S)
    keys, firing = [], []
    for a in evaluate_groups(_burn_groups(), store, steps):
        for lb, f in zip(a.labels, a.firing, strict=True):
            keys.append((lb["service"], lb["severity"]))
            firing.append(f)
    return _firing_out(keys, firing, len(steps), float(steps[0]))


def backtest_polars(m) -> dict:
    """The same alerts by hand: per window, rate() of every series (``[t - w, t]``, the evaluator's
    window; counter resets added back; Prometheus extrapolation) with ``group_by_dynamic``, summed per
    service, 5xx over all; then the burn conditions and the ``for`` holds."""
    import numpy as np
    import polars as pl

    from holoops.alerting.slo_rules import load_policy
    from holoops.fleet import load_fleet
    from holoops.timeutil import parse_duration

    fleet, policy = load_fleet(), load_policy()
    s = (m.lazy().filter((pl.col("metric") == REQ) & pl.col("value").is_not_nan())
         .select("ts", "value", "service", pl.col("code").cast(pl.String).str.contains("^5..$").alias("e5"),
                 pl.struct("service", "instance", "route", "code", "le").hash().alias("sid"))
         .sort("sid", maintain_order=True)
         .with_columns(pl.col("value").shift(1).over("sid").alias("prev"))
         .with_columns((pl.col("value") + pl.when(pl.col("value") < pl.col("prev")).then(pl.col("prev"))
                        .otherwise(0.0).cum_sum().over("sid")).alias("cum"))
         .collect())
    t_lo, t_hi = s.select(pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")).row(0)
    s0 = math.ceil(t_lo.timestamp() / STEP_S) * STEP_S
    s1 = math.floor(t_hi.timestamp() / STEP_S) * STEP_S
    steps = pl.DataFrame({"t": pl.datetime_range(pl.from_epoch(pl.lit(s0), "s").dt.replace_time_zone("UTC"),
                                                  pl.from_epoch(pl.lit(s1), "s").dt.replace_time_zone("UTC"),
                                                  f"{STEP_S}s", eager=True, time_unit="ns", time_zone="UTC")})
    ratios = None
    for w in policy["windows"]:
        rng = float(parse_duration(w))
        win = (s.lazy().group_by_dynamic("ts", every=f"{STEP_S}s", period=f"{int(rng)}s",
                                         offset=f"-{int(rng) - STEP_S}s", closed="both", label="right",
                                         group_by="sid", start_by="window")
               .agg(pl.len().alias("n"), pl.col("cum").first().alias("c0"), pl.col("cum").last().alias("c1"),
                    pl.col("ts").first().alias("t0"), pl.col("ts").last().alias("t1"),
                    pl.col("value").first().alias("v0"), pl.col("service").first(), pl.col("e5").first())
               .filter(pl.col("n") >= 2))
        t = pl.col("ts").dt.epoch("ns") / 1e9
        t0, t1 = pl.col("t0").dt.epoch("ns") / 1e9, pl.col("t1").dt.epoch("ns") / 1e9
        res = pl.col("c1") - pl.col("c0")
        sampled = t1 - t0
        avg = sampled / pl.max_horizontal(pl.col("n") - 1, 1)
        to_start = t0 - (t - rng)
        to_end = t - t1
        zero = pl.when(res > 0).then(sampled * (pl.col("v0") / res)).otherwise(math.inf)
        to_start = pl.when((res > 0) & (pl.col("v0") >= 0) & (zero < to_start)).then(zero).otherwise(to_start)
        thr = avg * 1.1
        ext = (sampled + pl.when(to_start < thr).then(to_start).otherwise(avg / 2)
               + pl.when(to_end < thr).then(to_end).otherwise(avg / 2))
        rate = res * (ext / sampled) / rng
        r = (win.with_columns(rate.alias("r")).filter(pl.col("ts").is_between(steps["t"][0], steps["t"][-1]))
             .group_by("service", "ts")
             .agg(pl.col("r").sum().alias("all"), pl.col("r").filter(pl.col("e5")).sum().alias("err"),
                  pl.col("e5").any().alias("has_err"))
             .select("service", pl.col("ts").alias("t"),
                     pl.when(pl.col("has_err")).then(pl.col("err") / pl.col("all")).alias(w)))
        ratios = r if ratios is None else ratios.join(r, on=["service", "t"], how="full", coalesce=True)
    ratios = ratios.collect()
    keys, firing = [], []
    for name, svc in fleet.services.items():
        budget = round(1 - svc.slo.availability, 10)
        sv = steps.join(ratios.filter(pl.col("service") == name).drop("service"), on="t", how="left")
        for severity in ("critical", "warning"):
            pairs = [b for b in policy["burn_rates"] if b["severity"] == severity]
            present = np.zeros(sv.height, dtype=bool)
            for b in pairs:
                thr = b["factor"] * budget
                present |= _over(sv[b["long"]], thr) & _over(sv[b["short"]], thr)
            for_s = float(parse_duration(policy["for"][severity]))
            idx = np.arange(len(present))
            start = np.clip(np.maximum.accumulate(np.where(~present, idx, -1)) + 1, 0, len(present) - 1)
            age = (idx - start) * STEP_S
            keys.append((name, severity))
            firing.append(present & (age >= for_s - 1e-9))
    return _firing_out(keys, firing, steps.height, float(s0))


def _over(c, thr: float):
    """Present (not null, not NaN) and above ``thr``: a PromQL ``> thr`` filter, as a numpy mask."""
    return (c.is_not_null() & ~c.is_nan() & (c > thr)).to_numpy()


def backtest_full_holoops(m) -> dict:
    """The whole ``holoops alerts backtest``: every catalog and SLO rule, Alertmanager, detection."""
    from holoops.analyze.alerts import backtest

    r = backtest(m, _DATA.get("truth") or [])
    return {"notifications": len(r.notifications), "detections": len(r.detections)}


def _check_backtest(ref: dict, other: dict) -> str:
    import numpy as np

    if (ref["s0"], ref["n_steps"]) != (other["s0"], other["n_steps"]):
        text = f"different step grids: {ref['s0'], ref['n_steps']} vs {other['s0'], other['n_steps']}"
        return text, text
    n, diff, fired = ref["n_steps"], 0, 0
    for k in sorted(set(ref["firing"]) | set(other["firing"])):
        a = np.unpackbits(ref["firing"].get(k, np.zeros(0, np.uint8)), count=n).astype(bool) \
            if k in ref["firing"] else np.zeros(n, bool)
        b = np.unpackbits(other["firing"][k], count=n).astype(bool) if k in other["firing"] else np.zeros(n, bool)
        diff += int((a != b).sum())
        fired += int(a.sum())
    return (f"{diff:,} of {n * len(ref['firing']):,} cells differ",
            f"firing (service, severity, minute) cells: {fired:,} in holoops, {diff:,} differ "
            f"of {n * len(ref['firing']):,}")
