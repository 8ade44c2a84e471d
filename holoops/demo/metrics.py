"""The metrics frame: every series the fleet's Prometheus would scrape, as one long canonical frame.

Counters start at a random pre-window value and reset to zero at restarts and deploys; histograms
come from the same lognormal latency the logs and traces use, and their ``_count`` equals the sum of
``http_requests_total`` for the instance. A target that is down (``up`` = 0) or missed a scrape has
no rows at that timestamp (only ``up`` is written while down; nothing during a missed scrape).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from holoops.demo.traffic import CODES, CPU_PER_REQ, Model, norm_cdf, rng_for

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LABELS = ("route", "code", "le", "gpu", "mountpoint", "UUID", "modelName", "Hostname")
MIB = 1024 * 1024


def counter(inc: np.ndarray, resets: list[int], start: float = 0.0) -> np.ndarray:
    """Cumulative counter from per-scrape increments, restarting from the increment at each reset."""
    cum = np.cumsum(inc, dtype=np.float64) + start
    if not resets:
        return cum
    r = np.asarray(resets, dtype=np.int64)
    seg = np.searchsorted(r, np.arange(len(inc)), side="right")
    base = np.concatenate([[0.0], cum[r - 1]])
    return cum - base[seg]


def since_reset(n: int, resets: list[int]) -> np.ndarray:
    """Scrapes since the last reset (or since the window start)."""
    idx = np.arange(n)
    if not resets:
        return idx.astype(float)
    r = np.concatenate([[0], np.asarray(resets, dtype=np.int64)])
    seg = np.searchsorted(r, idx, side="right") - 1
    return (idx - r[seg]).astype(float)


class _Series:
    """Collects series (labels + values + target) and assembles the long frame once."""

    def __init__(self, m: Model):
        self.m = m
        self.labels: list[dict[str, Any]] = []
        self.values: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []

    def add(self, metric: str, svc: str, i: int, values: np.ndarray, *, always: bool = False,
            **labels: Any) -> None:
        key = (svc, i)
        mask = self.m.present[key] if always else self.m.present[key] & self.m.up[key]
        self.labels.append({"metric": metric, "service": svc, "instance": self.m.instances[svc][i], **labels})
        self.values.append(values)
        self.masks.append(mask)

    def frame(self):
        import pandas as pd

        ts = self.m.sched.ts_ns
        counts = np.array([int(mk.sum()) for mk in self.masks])
        value = np.concatenate([v[mk] for v, mk in zip(self.values, self.masks, strict=False)])
        tcol = np.concatenate([ts[mk] for mk in self.masks])
        cols: dict[str, Any] = {"ts": pd.to_datetime(tcol, utc=True)}
        for name in ("metric", "service", "instance", *LABELS):
            raw = [lab.get(name) for lab in self.labels]
            cats = sorted({x for x in raw if x is not None})
            lookup = {c: j for j, c in enumerate(cats)}
            codes = np.array([lookup[x] if x is not None else -1 for x in raw], dtype=np.int32)
            cols[name] = pd.Categorical.from_codes(np.repeat(codes, counts), categories=cats)
        cols["value"] = value
        df = pd.DataFrame(cols)
        order = ["ts", "metric", "service", "instance", "value", *LABELS]
        df = df[order].sort_values(["ts", "metric", "service", "instance"], kind="stable", ignore_index=True)
        return df


def build_metrics(m: Model):
    """The canonical metrics frame (pandas) for the model."""
    fleet, n, step = m.fleet, m.n, m.sched.step_s
    out = _Series(m)
    rng = rng_for(m.seed, "metrics")
    ts_s = m.sched.ts_ns / 1e9
    edges = np.log(np.asarray(BUCKETS))

    for s in m.services:
        svc = fleet.services[s]
        for i, _inst in enumerate(m.instances[s]):
            key = (s, i)
            rs = m.resets[key]
            total_inc = np.zeros(n)
            per_route: dict[tuple[str, str], np.ndarray] = {}
            for route in m.routes[s]:
                rate = m.route_rate(s, i, route)
                for code in CODES:
                    lam = rate * m.code_prob(s, i, route, code) * step
                    inc = rng.poisson(np.maximum(lam, 0)).astype(np.float64)
                    inc[~m.up[key]] = 0
                    per_route[(route, code)] = inc
                    total_inc += inc
                    start = float(rng.integers(0, 5000)) * (lam.mean() / max(step, 1)) if lam.mean() > 0 else 0.0
                    out.add("http_requests_total", s, i, counter(inc, rs, round(start)), route=route, code=code)
            for cname in svc.counters:
                kind = cname.split("_")[1] if cname.startswith("holographic_") else None
                routes = [r for r in m.routes[s] if kind and r.rstrip("/").endswith(kind)]
                for code in CODES:
                    inc = sum((per_route[(r, code)] for r in routes), np.zeros(n))
                    out.add(cname, s, i, counter(inc, rs, float(rng.integers(0, 10_000))), code=code)
            # latency histogram from the same lognormal the logs/traces use
            mu = np.log(m.median[key])
            sg = m.sigma[key]
            cdf = norm_cdf((edges[None, :] - mu[:, None]) / sg[:, None])
            probs = np.diff(np.concatenate([np.zeros((n, 1)), cdf, np.ones((n, 1))], axis=1), axis=1)
            probs = np.clip(probs, 0, None)
            probs /= probs.sum(axis=1, keepdims=True)
            bins = rng.multinomial(total_inc.astype(np.int64), probs).astype(np.float64)
            cum_bins = np.cumsum(bins, axis=1)
            for j, le in enumerate([*map(_fmt_le, BUCKETS), "+Inf"]):
                out.add("http_request_duration_seconds_bucket", s, i, counter(cum_bins[:, j], rs), le=le)
            mean = np.exp(mu + sg ** 2 / 2)
            sums = total_inc * mean * np.exp(0.03 * rng.standard_normal(n))
            out.add("http_request_duration_seconds_sum", s, i, counter(sums, rs))
            out.add("http_request_duration_seconds_count", s, i, counter(total_inc, rs))
            # process
            req_rate = total_inc / step
            cores = 0.03 + req_rate * CPU_PER_REQ.get(s, 0.0008)
            cores = cores * np.exp(0.05 * rng.standard_normal(n))
            out.add("process_cpu_seconds_total", s, i, counter(cores * step, rs, float(rng.integers(100, 5000))))
            lim = svc.resources.memory.limit_bytes
            age_h = since_reset(n, rs) * step / 3600 + (0 if rs else rng.uniform(0, 48))
            # warm-up after a (re)start: caches fill over a few hours, then memory plateaus and tracks load
            warm = 0.25 * (1 - np.exp(-age_h / 6.0))
            rss = lim * (0.3 + warm + 0.02 * req_rate / (svc.replica_capacity_rps or 100))
            rss = rss * np.exp(0.01 * rng.standard_normal(n))
            out.add("process_resident_memory_bytes", s, i, np.round(rss))
            out.add("up", s, i, m.up[key].astype(np.float64), always=True)
            if svc.resources.gpu is not None:
                _gpu(m, out, s, i, req_rate, rng)
            if svc.resources.disk is not None:
                _disk(m, out, s, i, ts_s, rng)
    return out.frame()


def _fmt_le(x: float) -> str:
    return f"{x:g}" if x < 1 else f"{x:.1f}"


def _gpu(m: Model, out: _Series, s: str, i: int, req_rate: np.ndarray, rng: np.random.Generator) -> None:
    svc = m.fleet.services[s]
    gpu = svc.resources.gpu
    n, step = m.n, m.sched.step_s
    total = gpu.memory_bytes / MIB
    cap = svc.replica_capacity_rps or 90.0
    load = np.clip(req_rate / cap, 0, 1.5)
    rs = m.resets[(s, i)]
    warm = 1 - np.exp(-since_reset(n, rs) * step / 1800) if rs else np.ones(n)
    used = total * (0.30 + 0.12 * warm + 0.05 * load) * np.exp(0.004 * rng.standard_normal(n))
    util = np.clip(20 + 55 * load + 3 * rng.standard_normal(n), 0, 100)
    inc = m.sched.get("gpu_memory_exhaustion")
    if inc is not None and inc.extra.get("instance") == m.instances[s][i]:
        on, end, climb = inc.onset, inc.end, inc.extra["climb_steps"]
        limit = total * 0.995
        j = np.arange(on, min(end, n))
        frac = np.clip((j - on + 1) / climb, 0, 1)
        start = used[on - 1] if on > 0 else used[0]
        used[j] = start + (limit - start) * frac
        used[on + climb:end] = limit - np.abs(rng.normal(0, 30, max(0, min(end, n) - on - climb)))
        util[j] = np.clip(97 + 2 * rng.standard_normal(len(j)), 0, 100)
    used = np.round(np.minimum(used, total))
    host = m.instances[s][i].split(":")[0]
    import uuid

    hi, lo = (int(x) for x in rng_for(m.seed, "uuid", s, i).integers(0, 2**63, size=2))
    uid = "GPU-" + str(uuid.UUID(int=(hi << 65) | (lo << 2) | 1))
    lab = {"gpu": "0", "UUID": uid, "modelName": gpu.model, "Hostname": host}
    out.add("DCGM_FI_DEV_GPU_UTIL", s, i, np.round(util), **lab)
    out.add("DCGM_FI_DEV_FB_USED", s, i, used, **lab)
    out.add("DCGM_FI_DEV_FB_FREE", s, i, total - used, **lab)


def disk_model(m: Model, s: str, i: int) -> tuple[float, float, float, float | None, float | None]:
    """(size, used at window start, base fill bytes/s, onset-rate bytes/s, onset used) for a disk."""
    svc = m.fleet.services[s]
    size = float(svc.resources.disk.size_bytes)
    r = rng_for(m.seed, "disk", s, i)
    used0 = size * r.uniform(0.35, 0.55)
    rate0 = size * r.uniform(0.001, 0.003) / 86400  # 0.1-0.3 %/day
    inc = m.sched.get("disk_exhaustion")
    if inc is None or inc.service != s:
        return size, used0, rate0, None, None
    step = m.sched.step_s
    t_on = inc.onset * step
    used_on = used0 + rate0 * t_on
    days_after = r.uniform(9.5, 11.5)
    t_full = m.n * step + days_after * 86400
    rate1 = (size - used_on) / (t_full - t_on)
    return size, used0, rate0, rate1, used_on


def _disk(m: Model, out: _Series, s: str, i: int, ts_s: np.ndarray, rng: np.random.Generator) -> None:
    svc = m.fleet.services[s]
    step = m.sched.step_s
    size, used0, rate0, rate1, used_on = disk_model(m, s, i)
    t = np.arange(m.n) * float(step)
    used = used0 + rate0 * t
    inc = m.sched.get("disk_exhaustion")
    if rate1 is not None and inc is not None:
        t_on = inc.onset * step
        after = t >= t_on
        used[after] = used_on + rate1 * (t[after] - t_on)
        inc.extra.update(mount=svc.resources.disk.mount, size_bytes=size, fill_rate_bytes_per_s=rate1,
                         base_rate_bytes_per_s=rate0,
                         exhausts_at_ns=int(m.sched.start_ns + (t_on + (size - used_on) / rate1) * 1e9))
    used = used + rng.normal(0, 2 * MIB, m.n)
    avail = np.round(np.clip(size - used, 0, size) / 4096) * 4096
    mp = svc.resources.disk.mount
    out.add("node_filesystem_avail_bytes", s, i, avail, mountpoint=mp)
    out.add("node_filesystem_size_bytes", s, i, np.full(m.n, size), mountpoint=mp)
