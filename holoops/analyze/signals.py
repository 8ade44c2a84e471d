"""Golden signals (traffic, errors, latency) and saturation per service, from canonical frames.

* traffic: ``sum by (...) (rate(http_requests_total[window]))`` (Prometheus semantics, see
  :mod:`holoops.analyze.counters`);
* errors: the share of that rate with a ``5xx`` code;
* latency: ``histogram_quantile`` over ``rate(http_request_duration_seconds_bucket[window])``, or
  from logs (:func:`latency_from_logs`, exact or sketch);
* ``gap``: True where a scrape gap of one of the group's targets overlaps the window (values there are
  computed from the samples that exist; nothing is interpolated).

Saturation is the worst instance's share of its limit: CPU cores (rate of
``process_cpu_seconds_total``) / ``resources.cpu.limit``, resident memory / ``memory.limit``, GPU
utilisation / 100, GPU memory ``FB_USED / (FB_USED + FB_FREE)``, disk ``1 - avail / size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from holoops.analyze.counters import (
    NS,
    _factorize,
    _from_columns,
    _metric_tables,
    _nw,
    _str_col,
    _time_grid,
    _ts_ns,
    duration_s,
    gauge_matrix,
    rate_matrix,
    scrape_gaps,
)
from holoops.analyze.counters import _series as _series_of

__all__ = ["golden_signals", "saturation", "latency_from_logs", "signal_names"]

QUANTILES = (0.5, 0.95, 0.99)
#: a pre-computed CPU gauge in cores (catalogs/signal_map.yaml, signal cpu_cores)
CPU_CORES_GAUGE = "holoops_cpu_cores"


def signal_names() -> dict[str, Any]:
    """The signal catalog (``holoops/catalogs/signals.yaml``) as a dict (cached; read-only)."""
    from holoops.catalogs import signals

    return signals()


def _gap_mask(gaps: Any, grid, window_ns: int, by: Sequence[str], keys: list) -> Any:
    """``[n_keys, len(grid)]`` bool: a scrape gap (a :func:`scrape_gaps` frame) of the key's service
    overlaps (t - window, t]."""
    import numpy as np

    gaps = _nw(gaps).to_arrow()
    mask = np.zeros((len(keys), len(grid)), dtype=bool)
    if gaps.num_rows == 0 or "service" not in by:
        return mask
    si = list(by).index("service")
    svc = _str_col(gaps, "service")
    start, end = _ts_ns(gaps, "start"), _ts_ns(gaps, "end")
    for k, key in enumerate(keys):
        for a, b in zip(start[svc == key[si]], end[svc == key[si]], strict=True):
            mask[k] |= (grid - window_ns < b) & (grid > a)
    return mask


def golden_signals(metrics: Any, fleet: Any = None, *, step: str = "1m", window: str = "5m",
                   by: Sequence[str] = ("service",), logs: Any = None, exclude_routes: Sequence[str] = ()) -> Any:
    """Traffic, errors and latency per ``by`` group every ``step``.

    Columns: ``ts``, the ``by`` columns, ``rps``, ``error_rps``, ``error_ratio``, ``p50_ms``,
    ``p95_ms``, ``p99_ms``, ``gap``, ``errors_from`` (``metrics``, or ``none`` where the request counter
    carries no status code: errors are then unknown, NaN, never a silent 0; a dataset derives coded
    counters from access logs, see :mod:`holoops.analyze.logmetrics`). Latency comes from the duration
    histogram when the metrics hold it (groups the histogram is not labelled by get NaN), else from
    ``logs`` when given. ``exclude_routes`` (health checks, scrapes) count nowhere. ``fleet`` (optional)
    restricts the services to the profile's.
    """
    import numpy as np

    names = signal_names()
    by = list(by)
    grid = _time_grid(metrics, step)
    win_ns = int(duration_s(window) * NS)
    req = names["requests"]["metric"]
    hist = names["latency"]["histogram"] + "_bucket"
    label_cols = set(_nw(metrics).columns)
    use_hist = "le" in label_cols and all(b in label_cols for b in by)
    has_code = "code" in label_cols
    # the request rates, the bucket rates and the scrape gaps are independent: they run side by side
    # (numpy and polars release the GIL), each metric split out of the frame once
    from concurrent.futures import ThreadPoolExecutor

    from holoops.analyze.counters import _threads

    wanted = [req, hist] if use_hist else [req]
    if _nw(metrics).implementation.is_pandas():  # one Arrow conversion serves both metrics
        tables = _metric_tables(metrics, wanted)
    else:
        tables = {n: _metric_tables(metrics, [n])[n] for n in wanted}
    if exclude_routes and "route" in tables[req].column_names:
        import pyarrow as pa
        import pyarrow.compute as pc

        t = tables[req]
        route = pc.cast(t.column("route"), pa.string())
        tables[req] = t.filter(pc.fill_null(pc.invert(pc.is_in(route, pa.array(sorted(exclude_routes)))), True))

    def rates(name, labels):
        return rate_matrix(metrics, name, grid, window=window, by=[*by, *labels], table=tables[name])

    with ThreadPoolExecutor(min(3, _threads())) as pool:
        req_f = pool.submit(rates, req, ["code"] if has_code else [])
        hist_f = pool.submit(rates, hist, ["le"]) if use_hist else None
        gaps_f = pool.submit(scrape_gaps, metrics)
        keys_c, mat_c = req_f.result()
        hist_res = hist_f.result() if hist_f is not None else None
        gaps = gaps_f.result()
    groups: dict[tuple, dict[str, Any]] = {}
    nb = len(by)
    for k, row in zip(keys_c, mat_c, strict=True):
        g = groups.setdefault(tuple(k[:nb]), {"rps": np.zeros(len(grid)), "err": np.zeros(len(grid)),
                                              "n": np.zeros(len(grid)), "coded": False})
        ok = ~np.isnan(row)
        g["rps"] += np.where(ok, row, 0)
        g["n"] += ok
        code = k[nb] if has_code else None
        if code is not None and code == code and str(code) not in ("", "None", "nan"):
            g["coded"] = True
            if str(code).startswith("5"):
                g["err"] += np.where(ok, row, 0)
    keys = sorted(groups, key=lambda k: tuple("" if x is None else str(x) for x in k))
    if fleet is not None and "service" in by:
        si = by.index("service")
        keys = [k for k in keys if k[si] in fleet.services]
    n = len(keys)
    rps = np.array([groups[k]["rps"] for k in keys]).reshape(n, len(grid))
    err = np.array([groups[k]["err"] if groups[k]["coded"] else np.full(len(grid), np.nan)
                    for k in keys]).reshape(n, len(grid))
    present = np.array([groups[k]["n"] > 0 for k in keys], dtype=bool).reshape(n, len(grid))
    coded = np.array([groups[k]["coded"] for k in keys], dtype=bool).reshape(n, 1)
    rps = np.where(present, rps, np.nan)
    err = np.where(present, err, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(rps > 0, err / rps, np.where(present & coded, 0.0, np.nan))
    source = np.where(coded & present, "metrics", "none").astype(object).reshape(n, len(grid))
    lat = {q: np.full((n, len(grid)), np.nan) for q in QUANTILES}
    if use_hist:
        from holoops.analyze.quantiles import histogram_quantiles

        keys_h, mat_h = hist_res
        by_group: dict[tuple, list] = {}
        for k, row in zip(keys_h, mat_h, strict=True):
            try:
                le = float(k[-1])
            except ValueError:
                continue
            by_group.setdefault(tuple(k[:-1]), []).append((le, row))
        for i, k in enumerate(keys):
            bs = sorted(by_group.get(k, []), key=lambda t: t[0])
            if len(bs) < 2:
                continue
            les = [b[0] for b in bs]
            counts = np.nan_to_num(np.array([b[1] for b in bs]).T, nan=0.0)
            for q in QUANTILES:
                lat[q][i] = histogram_quantiles(q, les, counts) * 1000.0
    elif logs is not None and len(logs) and "latency_ms" in _nw(logs).columns:
        lf = _nw(latency_from_logs(logs, by=by, step=step, window=window)).to_arrow()
        lts = _ts_ns(lf)
        lk = list(zip(*[_str_col(lf, b) for b in by], strict=True)) if by else [()] * lf.num_rows
        pos = {k: i for i, k in enumerate(keys)}
        col = {t: i for i, t in enumerate(grid.tolist())}
        for q in QUANTILES:
            vals = np.asarray(lf.column(f"p{int(q * 100)}_ms").to_numpy(zero_copy_only=False), dtype=float)
            for r, (k, t) in enumerate(zip(lk, lts.tolist(), strict=True)):
                if k in pos and t in col:
                    lat[q][pos[k], col[t]] = vals[r]
    gauges = _gauge_signals(metrics, grid, window, by, label_cols)
    if gauges:
        keys, rps, err, ratio, present, source, lat = _merge_gauges(
            gauges, fleet, by, keys, rps, err, ratio, present, coded, source, lat, len(grid))
        n = len(keys)
    gap = _gap_mask(gaps, grid, win_ns, by, keys)
    gi, ti = np.nonzero(present | gap)
    cols: dict[str, Any] = {"ts": grid[ti]}
    for j, b in enumerate(by):
        cols[b] = np.array([keys[g][j] for g in gi], dtype=object)
    cols["rps"] = rps[gi, ti]
    cols["error_rps"] = err[gi, ti]
    cols["error_ratio"] = ratio[gi, ti]
    for q in QUANTILES:
        cols[f"p{int(q * 100)}_ms"] = lat[q][gi, ti]
    cols["gap"] = gap[gi, ti]
    cols["errors_from"] = source[gi, ti] if n else np.array([], dtype=object)
    return _from_columns(cols, metrics)


def counter_totals(metrics: Any, metric: str, by: Sequence[str], *, start: Any = None) -> Any:
    """How much ``metric`` counted over the data, per ``by`` group (pandas: the ``by`` columns, ``total``).

    Per series: last minus first value, resets added back; a series that first appears later than two
    scrape intervals after ``start`` (default: the metric's first sample) was born during the data, so its
    first value counted then too (Prometheus's ``increase`` drops it: a route's first requests vanish)."""
    import numpy as np
    import pandas as pd

    from holoops.analyze.counters import _reset_corrected, _series
    from holoops.timeutil import utc

    label_cols, sid, ts, value, keys = _series(metrics, metric)
    if not len(sid):
        return pd.DataFrame(columns=[*by, "total"])
    corr = _reset_corrected(sid, value)
    starts = np.r_[0, np.flatnonzero(np.diff(sid)) + 1]
    ends = np.r_[starts[1:], len(sid)] - 1
    same = np.r_[False, sid[1:] == sid[:-1]]
    step = float(np.median(np.diff(ts)[same[1:]])) if same.any() else 0.0
    t0 = int(utc(start).value) if start is not None else int(ts.min())
    born = ts[starts] > t0 + 2 * step
    total = corr[ends] - corr[starts] + np.where(born, value[starts], 0.0)
    rows = {c: [k[label_cols.index(c)] if c in label_cols else None for k in (keys[i] for i in sid[starts])]
            for c in by}
    df = pd.DataFrame({**rows, "total": total})
    return df.groupby(list(by), dropna=False, observed=True, sort=False)["total"].sum().reset_index()


#: pre-computed gauges (canonical names, see catalogs/signal_map.yaml) golden signals fall back on
GAUGES = {"rps": "holoops_request_rate", "error_ratio": "holoops_error_ratio"}


def _gauge_signals(metrics: Any, grid, window: str, by: Sequence[str], label_cols: set) -> dict:
    """Per ``by`` group: the pre-computed gauges' request rate (summed over instances), error ratio and
    latency quantiles (worst instance), as the last sample within ``window`` at each grid time."""
    import numpy as np

    if not set(by) <= label_cols:
        return {}
    out: dict[tuple, dict[str, Any]] = {}
    for name, how in (("rps", "sum"), ("error_ratio", "max")):
        keys, mat = gauge_matrix(metrics, GAUGES[name], grid, lookback=window, by=list(by), how=how)
        for k, row in zip(keys, mat, strict=True):
            out.setdefault(tuple(k), {})[name] = row
    if "quantile" in label_cols:
        lat_metric = signal_names()["latency"]["histogram"]
        keys, mat = gauge_matrix(metrics, lat_metric, grid, lookback=window, by=[*by, "quantile"], how="max")
        for k, row in zip(keys, mat, strict=True):
            try:
                q = float(k[-1])
            except (TypeError, ValueError):
                continue
            for want in QUANTILES:
                if abs(q - want) < 1e-9:
                    out.setdefault(tuple(k[:-1]), {})[want] = row * 1000.0
    return {k: v for k, v in out.items() if any(np.isfinite(x).any() for x in v.values())}


def _merge_gauges(gauges: dict, fleet: Any, by: Sequence[str], keys: list, rps, err, ratio, present, coded,
                  source, lat, n_grid: int):
    """Golden signals of groups (or signals) the counters and histograms lack, from the gauges."""
    import numpy as np

    by = list(by)
    new = sorted((k for k in gauges if k not in set(keys)), key=lambda k: tuple(str(x) for x in k))
    if fleet is not None and "service" in by:
        si = by.index("service")
        new = [k for k in new if k[si] in fleet.services]
    if new:
        pad = np.full((len(new), n_grid), np.nan)
        keys = keys + new
        rps, err, ratio = np.vstack([rps, pad]), np.vstack([err, pad]), np.vstack([ratio, pad])
        present = np.vstack([present, np.zeros((len(new), n_grid), dtype=bool)])
        coded = np.vstack([coded, np.zeros((len(new), 1), dtype=bool)])
        source = np.vstack([np.asarray(source, dtype=object).reshape(-1, n_grid),
                            np.full((len(new), n_grid), "none", dtype=object)])
        lat = {q: np.vstack([lat[q], pad]) for q in lat}
    for i, k in enumerate(keys):
        g = gauges.get(tuple(k))
        if not g:
            continue
        if "rps" in g:
            fill = np.isnan(rps[i])
            rps[i] = np.where(fill, g["rps"], rps[i])
            present[i] |= ~np.isnan(g["rps"])
        if "error_ratio" in g and not coded[i, 0]:
            r = g["error_ratio"]
            ok = ~np.isnan(r)
            ratio[i] = np.where(ok, r, ratio[i])
            err[i] = np.where(ok, r * rps[i], err[i])
            present[i] |= ok
            source[i] = np.where(ok, "gauge", source[i])
        for q in QUANTILES:
            if q in g and np.isnan(lat[q][i]).all():
                lat[q][i] = g[q]
                present[i] |= ~np.isnan(g[q])
    return keys, rps, err, ratio, present, source, lat


def rate_window(metrics: Any, *, lo: str = "1m", hi: str = "5m") -> str:
    """The rate window for detection: four scrape intervals of the request counters (Prometheus's advice
    for ``rate()``: enough samples to survive a missed scrape), between ``lo`` and ``hi``. A fixed 5-minute
    window spreads a 2-minute fault over 5 minutes and halves it; at 15 s scrapes one minute is enough."""
    import numpy as np

    req = signal_names()["requests"]["metric"]
    try:
        _labels, sid, ts, _value, _keys = _series_of(metrics, req)
    except Exception:  # noqa: BLE001 - no counter: the default
        return hi
    if len(ts) < 3:
        return hi
    d = np.diff(ts)[np.diff(sid) == 0]
    d = d[d > 0]
    if not len(d):
        return hi
    sec = 4 * float(np.median(d)) / NS
    sec = min(max(sec, duration_s(lo)), duration_s(hi))
    return f"{int(round(sec))}s"


def route_errors(metrics: Any, fleet: Any = None, *, exclude_routes: Sequence[str] = (), start: Any = None) -> Any:
    """Requests and 5xx share per service and route over the whole data (pandas frame), from the request
    counter (:func:`counter_totals`; a dataset derives coded counters from access logs where the service's
    own carry no status code, so this covers both). ``start``: the window's start.

    Columns: ``service``, ``route``, ``requests``, ``errors``, ``error_ratio``, ``source``; routes whose
    counter has no status code have ``errors``/``error_ratio`` NaN and ``source`` ``no status code``."""
    import numpy as np
    import pandas as pd

    cols = ["service", "route", "requests", "errors", "error_ratio", "source"]
    req = signal_names()["requests"]["metric"]
    if metrics is None or not len(metrics) or "route" not in _nw(metrics).columns:
        return pd.DataFrame(columns=cols)
    has_code = "code" in _nw(metrics).columns
    by = ["service", "route", *(["code"] if has_code else [])]
    m = _nw(metrics).filter(_nw_col("metric") == req).to_native()
    if not len(m):
        return pd.DataFrame(columns=cols)
    inc = counter_totals(m, req, by, start=start)
    val = "total"
    excluded = set(exclude_routes)
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for r in inc.itertuples(index=False):
        d = r._asdict()
        if d["route"] is None or d["route"] != d["route"] or d["route"] in excluded:
            continue
        if fleet is not None and d["service"] not in fleet.services:
            continue
        e = rows.setdefault((str(d["service"]), str(d["route"])), {"requests": 0.0, "errors": 0.0, "coded": 0.0})
        v = float(d[val] or 0)
        e["requests"] += v
        code = d.get("code")
        if code is not None and code == code and str(code) not in ("", "None"):
            e["coded"] += v
            if str(code).startswith("5"):
                e["errors"] += v
    out = []
    for (svc, route), e in rows.items():
        coded = e["coded"] > 0
        out.append({"service": svc, "route": route, "requests": round(e["requests"]),
                    "errors": round(e["errors"]) if coded else np.nan,
                    "error_ratio": e["errors"] / e["coded"] if coded else np.nan,
                    "source": "status codes" if coded else "no status code"})
    return pd.DataFrame(out, columns=cols).sort_values(["service", "error_ratio", "requests"],
                                                       ascending=[True, False, False]).reset_index(drop=True)


def _nw_col(name: str):
    import narwhals as nw

    return nw.col(name).cast(nw.String)


def _pd(frame: Any):
    from holoops.frames import to_pandas

    return to_pandas(frame)


def saturation(metrics: Any, fleet: Any, *, step: str = "1m", window: str = "5m") -> Any:
    """Saturation per service and resource every ``step``: the worst instance's share of its limit.

    Columns: ``ts``, ``service``, ``resource`` (``cpu``, ``memory``, ``gpu_util``, ``gpu_memory``,
    ``disk``), ``value`` (0..1), ``used`` and ``limit`` (cores, bytes, percent, MiB, bytes).
    """
    import numpy as np

    names = signal_names()
    grid = _time_grid(metrics, step)
    rows: list[tuple[str, str, Any, Any, Any]] = []  # service, resource, share, used, limit

    def per_instance(metric: str, how: str = "last", extra: Sequence[str] = ()):
        by = ["service", "instance", *extra]
        if how == "rate":
            return rate_matrix(metrics, metric, grid, window=window, by=by)
        return gauge_matrix(metrics, metric, grid, lookback=window, by=by, how="max")

    def worst(keys, share, used, limit_of):
        out: dict[str, tuple] = {}
        for k, s, u in zip(keys, share, used, strict=True):
            svc = k[0]
            if svc not in fleet.services:
                continue
            if svc not in out:
                out[svc] = (s.copy(), u.copy())
            else:
                cur_s, cur_u = out[svc]
                better = np.nan_to_num(s, nan=-1) > np.nan_to_num(cur_s, nan=-1)
                out[svc] = (np.where(better, s, cur_s), np.where(better, u, cur_u))
        return {svc: (s, u, limit_of(svc)) for svc, (s, u) in out.items()}

    # CPU (a process counter, else a pre-computed cores gauge)
    keys, used = per_instance(names["cpu"]["metric"], "rate")
    gk, gused = per_instance(CPU_CORES_GAUGE)
    if len(gk):
        have = {k[0] for k in keys}
        extra = [i for i, k in enumerate(gk) if k[0] not in have]
        if extra:
            keys = list(keys) + [gk[i] for i in extra]
            used = np.vstack([used.reshape(-1, len(grid)), gused[extra]])
    lim = np.array([fleet.services[k[0]].resources.cpu.limit if k[0] in fleet.services else np.nan
                    for k in keys]).reshape(-1, 1)
    for svc, (s, u, limit) in worst(keys, used / lim if len(keys) else used, used,
                                    lambda s: fleet.services[s].resources.cpu.limit).items():
        rows.append((svc, "cpu", s, u, limit))
    # memory
    keys, used = per_instance(names["memory"]["metric"])
    lim = np.array([fleet.services[k[0]].resources.memory.limit_bytes if k[0] in fleet.services else np.nan
                    for k in keys]).reshape(-1, 1)
    for svc, (s, u, limit) in worst(keys, used / lim if len(keys) else used, used,
                                    lambda s: fleet.services[s].resources.memory.limit_bytes).items():
        rows.append((svc, "memory", s, u, limit))
    # GPU utilisation and memory (DCGM)
    gpu = names["gpu"]
    label_cols = set(_nw(metrics).columns)
    gextra = ["gpu"] if "gpu" in label_cols else []
    keys, used = per_instance(gpu["utilization"], extra=gextra)
    if len(keys):
        for svc, (s, u, limit) in worst(keys, used / 100.0, used, lambda s: 100.0).items():
            rows.append((svc, "gpu_util", s, u, limit))
    k_used, m_used = per_instance(gpu["memory_used"], extra=gextra)
    k_free, m_free = per_instance(gpu["memory_free"], extra=gextra)
    if len(k_used) and len(k_free):
        free = dict(zip(k_free, m_free, strict=True))
        keys = [k for k in k_used if k in free]
        u = np.array([m_used[k_used.index(k)] for k in keys])
        total = u + np.array([free[k] for k in keys])
        with np.errstate(invalid="ignore", divide="ignore"):
            share = u / total
        lim_of = {k[0]: float(np.nanmax(t)) if np.isfinite(t).any() else np.nan
                  for k, t in zip(keys, total, strict=True)}
        for svc, (s, uu, limit) in worst(keys, share, u, lambda s: lim_of.get(s, np.nan)).items():
            rows.append((svc, "gpu_memory", s, uu, limit))
    # disk
    disk = names["disk"]
    dextra = ["mountpoint"] if "mountpoint" in label_cols else []
    k_av, m_av = per_instance(disk["available"], extra=dextra)
    k_sz, m_sz = per_instance(disk["size"], extra=dextra)
    if len(k_av):
        size = dict(zip(k_sz, m_sz, strict=True))
        keep = []
        for k in k_av:
            svc = fleet.services.get(k[0])
            mount = svc.resources.disk.mount if svc is not None and svc.resources.disk else None
            if mount is not None and dextra and k[-1] != mount:
                continue
            keep.append(k)
        av = np.array([m_av[k_av.index(k)] for k in keep]).reshape(len(keep), len(grid))
        sz = []
        for k in keep:
            if k in size:
                sz.append(size[k])
            else:
                svc = fleet.services.get(k[0])
                d = svc.resources.disk if svc is not None else None
                sz.append(np.full(len(grid), float(d.size_bytes) if d else np.nan))
        sz = np.array(sz).reshape(len(keep), len(grid))
        used = sz - av
        with np.errstate(invalid="ignore", divide="ignore"):
            share = used / sz
        lim_of = {k[0]: float(np.nanmax(s)) if np.isfinite(s).any() else np.nan
                  for k, s in zip(keep, sz, strict=True)}
        for svc, (s, u, limit) in worst(keep, share, used, lambda s: lim_of.get(s, np.nan)).items():
            rows.append((svc, "disk", s, u, limit))
    cols: dict[str, list] = {"ts": [], "service": [], "resource": [], "value": [], "used": [], "limit": []}
    for svc, res, s, u, limit in rows:
        ok = ~np.isnan(s)
        cols["ts"].append(grid[ok])
        cols["service"].append(np.full(int(ok.sum()), svc, dtype=object))
        cols["resource"].append(np.full(int(ok.sum()), res, dtype=object))
        cols["value"].append(s[ok])
        cols["used"].append(u[ok])
        cols["limit"].append(np.full(int(ok.sum()), float(limit)))
    out = {k: (np.concatenate(v) if v else np.array([], dtype=object if k in ("service", "resource")
                                                      else ("int64" if k == "ts" else float)))
           for k, v in cols.items()}
    return _from_columns(out, metrics)


def latency_from_logs(logs: Any, *, by: Sequence[str] = ("service",), step: str = "1m",
                      window: str | None = None, method: str = "exact",
                      quantiles: Sequence[float] = QUANTILES, rel: float = 0.01) -> Any:
    """Latency quantiles of ``latency_ms`` in logs per ``by`` group and ``step`` bucket.

    ``method="exact"`` uses linear interpolation between order statistics (numpy's default);
    ``method="sketch"`` uses :class:`~holoops.analyze.quantiles.LogSketch` buckets (relative error
    <= ``rel`` against the order statistic at rank ``floor(q (n - 1))``). ``window`` (default: the
    step) is the trailing span each row covers, ending at ``ts``. Columns: ``ts``, ``by``, ``count``,
    ``p50_ms``, ``p95_ms``, ``p99_ms`` (one per quantile).
    """
    import numpy as np
    import pyarrow.compute as pc

    if method not in ("exact", "sketch"):
        raise ValueError(f"method must be 'exact' or 'sketch', not {method!r}")
    by = list(by)
    tbl = _nw(logs).select(["ts", "latency_ms", *by]).to_arrow()
    lat = np.asarray(pc.fill_null(pc.cast(tbl.column("latency_ms"), "float64"), np.nan)
                     .to_numpy(zero_copy_only=False), dtype=float)
    ts = _ts_ns(tbl)
    ok = ~np.isnan(lat)
    ts, lat = ts[ok], lat[ok]
    keys_cols = [_str_col(tbl, b)[ok] for b in by]
    step_ns = int(duration_s(step) * NS)
    win_ns = int(duration_s(window) * NS) if window else step_ns
    if win_ns != step_ns:
        # each row covers (ts - window, ts]: replicate records into the steps whose window holds them
        k = int(np.ceil(win_ns / step_ns))
        reps = [(ts, lat, keys_cols, 0)]
        for j in range(1, k):
            reps.append((ts + j * step_ns, lat, keys_cols, j))
        ts = np.concatenate([r[0] for r in reps])
        lat = np.concatenate([r[1] for r in reps])
        keys_cols = [np.concatenate([r[2][i] for r in reps]) for i in range(len(by))]
    # bucket end: the step boundary at or after the record (records in (t - step, t] go to t)
    bucket = -((-ts) // step_ns) * step_ns
    gid, gkeys = _factorize(*keys_cols) if by else (np.zeros(len(ts), dtype="int64"), [()])
    cell = gid.astype("int64") * (1 << 36) + (bucket // step_ns - (bucket.min() // step_ns if len(bucket) else 0))
    if method == "sketch":
        from holoops.analyze.quantiles import sketch_index, sketch_value

        vals = sketch_index(lat, rel).astype(float)
    else:
        vals = lat
    order = np.lexsort((vals, cell))
    cell, vals, bucket_s = cell[order], vals[order], bucket[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cell)) + 1] if len(cell) else np.array([], dtype=int)
    counts = np.diff(np.r_[starts, len(cell)])
    out: dict[str, Any] = {"ts": bucket_s[starts] if len(starts) else np.array([], dtype="int64")}
    cg = cell[starts] >> 36 if len(starts) else np.array([], dtype="int64")
    for j, b in enumerate(by):
        out[b] = np.array([gkeys[g][j] for g in cg], dtype=object)
    out["count"] = counts.astype("int64")
    for q in quantiles:
        if method == "sketch":
            r = starts + np.floor(q * (counts - 1)).astype("int64")
            res = sketch_value(vals[r], rel)
        else:
            pos = q * (counts - 1)
            lo = np.floor(pos).astype("int64")
            hi = np.minimum(lo + 1, counts - 1)
            frac = pos - lo
            res = vals[starts + lo] + (vals[starts + hi] - vals[starts + lo]) * frac
        out[f"p{_qname(q)}_ms"] = res
    return _from_columns(out, logs)


def _qname(q: float) -> str:
    s = f"{q * 100:g}".replace(".", "_")
    return s
