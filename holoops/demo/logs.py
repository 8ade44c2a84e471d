"""The logs frame: sampled access logs plus warning/error lines with variable parts.

Access lines are a ``log_sample`` share of each service's requests, drawn from the same rates, error
probabilities and latency as the metrics; the traced requests among them carry their trace's id. Incident lines appear at the right services during each
incident; background noise (auth failures, validation errors, slow queries) runs at low steady rates.
Error lines take the ``trace_id`` of an error span of the same service close in time when one exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from holoops.demo.traffic import CODES, Model, rng_for

LEVEL = {"200": "info", "404": "warning", "500": "error", "503": "error"}


def _fmt(template: str, *cols: Any) -> np.ndarray:
    """Vectorised ``template.format`` over equal-length arrays (polars does the string work)."""
    import polars as pl

    from holoops.demo.writers import fmt

    n = max((len(c) for c in cols if isinstance(c, np.ndarray)), default=0)
    if n == 0:
        return np.array([], dtype=object)
    frame = pl.DataFrame({f"c{i}": np.asarray(c).astype(str) for i, c in enumerate(cols)})
    return frame.select(fmt(template, *[pl.col(f"c{i}") for i in range(len(cols))])).to_series().to_numpy()


class _Lines:
    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, ts: np.ndarray, service: str | np.ndarray, level: str | np.ndarray, message: np.ndarray,
            instance: str | np.ndarray = "", status: Any = -1, latency: Any = np.nan, route: Any = "",
            trace: Any = "") -> None:
        n = len(ts)
        if n == 0:
            return

        def full(v: Any, dtype: Any = object) -> np.ndarray:
            return v if isinstance(v, np.ndarray) else np.full(n, v, dtype=dtype)

        self.parts.append({"ts": ts.astype(np.int64), "service": full(service), "level": full(level),
                           "message": full(message), "instance": full(instance),
                           "status": full(status, np.int64), "latency_ms": full(latency, np.float64),
                           "route": full(route), "trace_id": full(trace)})


def _times(m: Model, rng: np.random.Generator, per_min: np.ndarray | float, mask: np.ndarray | None = None
           ) -> np.ndarray:
    """Poisson event times (ns) at ``per_min`` lines/minute (per scrape array or constant)."""
    step = m.sched.step_s
    lam = np.broadcast_to(np.asarray(per_min, dtype=float) * step / 60.0, (m.n,)).copy()
    if mask is not None:
        lam = np.where(mask, lam, 0.0)
    c = rng.poisson(lam)
    idx = np.repeat(np.arange(m.n), c)
    return m.sched.ts_ns[idx] + (rng.random(len(idx)) * step * 1e9).astype(np.int64)


def _hex(rng: np.random.Generator, n: int, width: int = 32) -> np.ndarray:
    from holoops.demo.traces import hex_ids

    a = hex_ids(rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64))
    if width <= 16:
        return a.astype(f"U{width}")
    b = hex_ids(rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64))
    return np.char.add(a, b)


def _window(m: Model, kind: str) -> tuple[np.ndarray, Any] | tuple[None, None]:
    p = m.sched.get(kind)
    if p is None:
        return None, None
    mask = np.zeros(m.n, dtype=bool)
    mask[p.onset:min(p.end, m.n)] = True
    return mask, p


def _span_access(m: Model, spans: Any, out: _Lines) -> None:
    """One access line per served span (same trace_id, status and latency), skipping down targets."""
    step = m.sched.step_s
    start = spans["start"].array.asi8
    dur = spans["duration_ms"].to_numpy()
    inst = spans["instance"].astype(str).to_numpy()
    svc = spans["service"].astype(str).to_numpy()
    idx = np.clip((start - m.sched.start_ns) // (step * 10**9), 0, m.n - 1)
    keep = np.ones(len(spans), dtype=bool)
    by_name = {name: (s, i) for s, names in m.instances.items() for i, name in enumerate(names)}
    for name, key in by_name.items():
        sel = inst == name
        keep[sel] = m.up[key][idx[sel]]
    err = spans["status"].astype(str).to_numpy() == "error"
    gpu = m.sched.get("gpu_memory_exhaustion")
    oom = np.zeros(len(spans), dtype=bool)
    if gpu is not None:
        oom = (inst == gpu.extra["instance"]) & (idx >= gpu.extra["oom_from"]) & (idx < gpu.end)
    status = np.where(err, np.where(oom, 500, 503), 200)
    op = spans["operation"].astype(str).to_numpy()
    uniq, inv = np.unique(op, return_inverse=True)
    uroute = [u if u.startswith("/") else f"/v1/{u}" for u in uniq]
    route = np.array(uroute, dtype=object)[inv]
    method = np.array(["GET" if ("retrieve" in r or r.startswith("/ui")) else "POST" for r in uroute],
                      dtype=object)[inv]
    lat = np.round(dur, 1)
    ts = np.minimum(start + (dur * 1e6).astype(np.int64), m.sched.start_ns + m.n * step * 10**9 - 1000)
    k = keep
    msg = _fmt("{} {} HTTP/1.1 {} {}ms", method[k], route[k], status[k], lat[k])
    level = np.where(status[k] >= 500, "error", "info").astype(object)
    out.add(ts[k], svc[k].astype(object), level, msg, inst[k].astype(object), status[k].astype(np.int64), lat[k],
            route[k], spans["trace_id"].astype(str).to_numpy()[k].astype(object))


def build_logs(m: Model, log_sample: float, spans: Any = None, trace_sample: float = 0.0):
    """The canonical logs frame (pandas) for the model.

    Traced requests log their access lines with the trace's id; the other requests are sampled at
    ``log_sample - trace_sample`` so that a ``log_sample`` share of all requests is logged.
    """
    import pandas as pd

    fleet, n, step = m.fleet, m.n, m.sched.step_s
    rng = rng_for(m.seed, "logs")
    out = _Lines()
    if spans is not None and len(spans) and trace_sample > 0:
        _span_access(m, spans, out)
        log_sample = max(log_sample - trace_sample, 0.0)

    # --- access logs ---------------------------------------------------------------------------------
    for s in m.services:
        for i, inst in enumerate(m.instances[s]):
            key = (s, i)
            mu_all = np.log(m.median[key] * 1e3)
            for route in m.routes[s]:
                rate = m.route_rate(s, i, route)
                method = "GET" if ("retrieve" in route or route.startswith("/ui") or route == "/") else "POST"
                for code in CODES:
                    lam = rate * m.code_prob(s, i, route, code) * step * log_sample
                    lam = np.where(m.up[key], lam, 0.0)
                    c = rng.poisson(lam)
                    idx = np.repeat(np.arange(n), c)
                    k = len(idx)
                    if k == 0:
                        continue
                    ts = m.sched.ts_ns[idx] + (rng.random(k) * step * 1e9).astype(np.int64)
                    lat = rng.lognormal(mu_all[idx], m.sigma[key][idx])
                    if code in ("500", "503"):
                        lat = lat * rng.uniform(0.05, 1.0, k)
                    lat = np.round(lat, 1)
                    msg = _fmt(f"{method} {route} HTTP/1.1 {code} {{}}ms", lat)
                    out.add(ts, s, LEVEL[code], msg, inst, int(code), lat, route,
                            _hex(rng, k))

    # --- background noise ----------------------------------------------------------------------------
    load = m.load / m.load.mean()
    svcs = set(m.services)
    if "vault" in svcs:
        ts = _times(m, rng, 0.4 * load)
        out.add(ts, "vault", "warning", _fmt("authentication failed for api key ak_{}: signature mismatch",
                                             _hex(rng, len(ts), 8)), m.instances["vault"][0])
        ts = _times(m, rng, 0.05)
        out.add(ts, "vault", "warning", _fmt("token verify slow: {}ms (threshold 50ms)",
                                             rng.integers(51, 140, len(ts))), m.instances["vault"][-1])
    if m.entry in svcs:
        ts = _times(m, rng, 0.3 * load)
        out.add(ts, m.entry, "warning",
                _fmt("request validation failed: field 'vector' expected length 1024, got {}",
                     rng.choice([0, 256, 512, 768, 1023, 2048], len(ts))), m.instances[m.entry][0], 422)
    if "holographic-memory" in svcs:
        ts = _times(m, rng, 0.2 * load)
        out.add(ts, "holographic-memory", "warning",
                _fmt("slow query: retrieve key={} took {}ms", _hex(rng, len(ts), 12), rng.integers(300, 2500, len(ts))),
                m.instances["holographic-memory"][1 % len(m.instances["holographic-memory"])])
    if "telemetry" in svcs:
        ts = _times(m, rng, 0.02)
        out.add(ts, "telemetry", "warning", _fmt("dropped {} events: ingest queue full (capacity 10000)",
                                                 rng.integers(1, 400, len(ts))), m.instances["telemetry"][0])

    # --- incident lines ------------------------------------------------------------------------------
    mask, p = _window(m, "latency_regression")
    if mask is not None:
        for inst in m.instances[p.service]:
            ts = _times(m, rng, 12.0 * load, mask)
            out.add(ts, p.service, "warning", _fmt("token verify slow: {}ms (threshold 50ms)",
                                                   rng.integers(51, 480, len(ts))), inst)
        for caller in ("orchestrator", "holographic-memory"):
            if caller in svcs:
                ts = _times(m, rng, 3.0 * load, mask)
                out.add(ts, caller, "warning", _fmt("auth call to vault took {}ms (budget 40ms)",
                                                    rng.integers(41, 500, len(ts))), m.instances[caller][0])
    mask, p = _window(m, "error_burst")
    if mask is not None:
        on = np.zeros(n, dtype=bool)
        on[p.onset] = True
        for inst in m.instances[p.service]:
            ts = _times(m, rng, 6.0, on)
            out.add(ts, p.service, "error", _fmt("route config rejected: unknown upstream 'hm-shard-{}' in rule {}",
                                                 rng.choice([7], len(ts)), rng.choice([17], len(ts))), inst)
            ts = _times(m, rng, 25.0 * load, mask)
            out.add(ts, p.service, "error",
                    _fmt("no healthy upstream for {}: cluster 'hm-shard-7' has 0 endpoints (rule 17)",
                         rng.choice(np.array(m.routes[p.service]), len(ts))), inst, 503)
        if m.entry in svcs:
            ts = _times(m, rng, 20.0 * load, mask)
            out.add(ts, m.entry, "error", _fmt("upstream router returned 503 for {} (request_id={})",
                                               rng.choice(np.array(m.routes[m.entry]), len(ts)), _hex(rng, len(ts), 12)),
                    rng.choice(np.array(m.instances[m.entry], dtype=object), len(ts)), 503)
    mask, p = _window(m, "gpu_memory_exhaustion")
    if mask is not None:
        inst = p.extra["instance"]
        oom = p.extra["oom_from"]
        climb = mask.copy()
        climb[oom:] = False
        boom = mask.copy()
        boom[:oom] = False
        ts = _times(m, rng, 4.0, climb)
        out.add(ts, p.service, "warning", _fmt("GPU memory high: {}% of 80.0 GiB in use (search batch size {})",
                                               np.round(rng.uniform(60, 99, len(ts)), 1),
                                               rng.choice([512, 1024, 2048, 4096], len(ts))), inst)
        ts = _times(m, rng, 30.0, boom)
        k = len(ts)
        out.add(ts, p.service, "error",
                _fmt("CUDA out of memory. Tried to allocate {} GiB (GPU 0; 79.35 GiB total capacity; {} GiB already "
                     "allocated; {} MiB free; {} GiB reserved in total by PyTorch)",
                     np.char.mod("%.2f", rng.choice([0.5, 1.0, 2.0, 4.0], k) * rng.uniform(0.9, 1.1, k)),
                     np.char.mod("%.2f", rng.uniform(77.5, 78.9, k)), rng.integers(3, 400, k),
                     np.char.mod("%.2f", rng.uniform(78.9, 79.3, k))), inst, 500, np.nan, "/api/v1/search")
        if p.end < n:
            e = np.zeros(n, dtype=bool)
            e[p.end] = True
            ts = m.sched.ts_ns[[p.end]] + np.int64(5e9)
            out.add(ts, p.service, "info", np.array([f"Started server process [{rng.integers(7, 400)}]"],
                                                    dtype=object), inst)
    mask, p = _window(m, "dependency_outage")
    if mask is not None:
        for caller in m.fleet.upstream(p.service):
            for inst in m.instances[caller]:
                ts = _times(m, rng, 60.0 * load, mask)
                k = len(ts)
                ips = np.array([f"10.0.3.{7 + j}" for j in range(len(m.instances[p.service]))])
                out.add(ts, caller, "error",
                        _fmt("upstream {} unavailable: connect ECONNREFUSED {}:{} (attempt {}/3)",
                             np.full(k, p.service), rng.choice(ips, k),
                             np.full(k, fleet.services[p.service].port), rng.integers(1, 4, k)), inst, 503)
        for up in ("router", m.entry):
            if up in svcs:
                ts = _times(m, rng, 15.0 * load, mask)
                out.add(ts, up, "error", _fmt("upstream {} returned 503 Service Unavailable ({} ms)",
                                              np.full(len(ts), "holographic-memory" if up == "router" else "router"),
                                              rng.integers(2, 30, len(ts))), m.instances[up][0], 503)
        ts = m.sched.ts_ns[[p.onset]] - np.int64(20e9)
        for inst in m.instances[p.service]:
            out.add(ts, p.service, "critical", np.array(["fatal: worker fft-3 received SIGSEGV in "
                                                         "cufftExecC2C; core dumped"], dtype=object), inst)
    mask, p = _window(m, "disk_exhaustion")
    if mask is not None:
        from holoops.demo.metrics import disk_model

        ts = _times(m, rng, 8.0 * load, mask)
        k = len(ts)
        out.add(ts, p.service, "debug", _fmt("flushed batch {} ({} events, {} KiB) to segment {}",
                                             rng.integers(10**6, 10**7, k), rng.integers(10, 5000, k),
                                             rng.integers(4, 4096, k), rng.integers(1000, 1200, k)),
                m.instances[p.service][0])
        size, used0, rate0, rate1, used_on = disk_model(m, p.service, 0)
        if rate1 is not None:
            every = max(1, int(600 / step))
            idx = np.arange(p.onset, n, every)
            t = idx * float(step)
            pct = 100 * (used_on + rate1 * (t - p.onset * step)) / size
            msg = _fmt("disk usage {}% on {} (fill rate {} GiB/day)", np.char.mod("%.1f", pct),
                       np.full(len(idx), fleet.services[p.service].resources.disk.mount),
                       np.full(len(idx), f"{rate1 * 86400 / 2**30:.1f}"))
            out.add(m.sched.ts_ns[idx], p.service, np.where(pct >= 65, "warning", "info").astype(object), msg,
                    m.instances[p.service][0])

    cols = {k: np.concatenate([pt[k] for pt in out.parts]) for k in out.parts[0]}
    if spans is not None and len(spans):
        _link_traces(cols, spans)
    order = np.argsort(cols["ts"], kind="stable")
    status = pd.array(cols["status"][order], dtype="Int64")
    status[cols["status"][order] < 0] = pd.NA
    df = pd.DataFrame({
        "ts": pd.to_datetime(cols["ts"][order], utc=True),
        "service": pd.Categorical(cols["service"][order]),
        "level": pd.Categorical(cols["level"][order]),
        "message": pd.array(cols["message"][order].astype(str), dtype="str"),
        "status": status,
        "latency_ms": cols["latency_ms"][order],
        "route": pd.Categorical(np.where(cols["route"][order] == "", None, cols["route"][order])),
        "trace_id": pd.array(cols["trace_id"][order].astype(str), dtype="str"),
        "instance": pd.Categorical(cols["instance"][order]),
    })
    return df


def _link_traces(cols: dict[str, np.ndarray], spans: Any) -> None:
    """Give error lines the trace_id of the nearest error span of the same service (within 60 s)."""
    err = spans[spans["status"] == "error"]
    if not len(err):
        return
    starts = err["start"].array.asi8
    svc = err["service"].astype(str).to_numpy()
    tid = err["trace_id"].astype(str).to_numpy()
    lines_err = cols["level"] == "error"
    for s in np.unique(svc):
        sel = np.flatnonzero(svc == s)
        o = np.argsort(starts[sel])
        st, ti = starts[sel][o], tid[sel][o]
        li = np.flatnonzero(lines_err & (cols["service"] == s) & (cols["status"] != 200))
        if not len(li):
            continue
        j = np.clip(np.searchsorted(st, cols["ts"][li]), 1, len(st) - 1) if len(st) > 1 else np.zeros(len(li), int)
        if len(st) > 1:
            left = np.abs(cols["ts"][li] - st[j - 1]) <= np.abs(cols["ts"][li] - st[j])
            j = np.where(left, j - 1, j)
        close = np.abs(cols["ts"][li] - st[j]) <= 60 * 10**9
        # one line per error span at most: keep the first line that claims a span
        jj = j[close]
        _, first = np.unique(jj, return_index=True)
        take = li[close][first]
        cols["trace_id"][take] = ti[jj[first]]
