"""The traffic model: request rates, error probabilities, latency, restarts and events per scrape.

Everything here is a numpy array over the scrape grid (one value per scrape); the metric, log and
trace builders all read the same :class:`Model`, so the signals agree with each other.

Traffic enters at the fleet's entry service (orchestrator) with daily (peak ~15:00 UTC) and weekly
(weekends ~60 %) seasonality, ~2 %/week growth and noise, and flows along ``depends_on``: a callee's
rate is derived from its callers' rates. Errors flow the other way (a callee's 5xx become its caller's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from holoops.demo.schedule import Schedule

API_KINDS = ("store", "retrieve", "search")
API_SHARE = {"store": 0.2, "retrieve": 0.5, "search": 0.3}
FFT_CALLS_PER_SEARCH = 5  # holographic-memory -> math-core fft_correlate, sequential, small payloads
#: routes that serve only some API kinds (others serve every kind)
ROUTE_KINDS = {"fft_correlate": ("search", "retrieve"), "project": ("store",)}
#: own median latency (s) per service; others get 5 ms
OWN_MEDIAN = {"orchestrator": 0.006, "router": 0.004, "vault": 0.006, "telemetry": 0.012,
              "math-core": 0.009, "dashboard": 0.02, "holographic-memory": 0.012}
SIGMA = 0.5
#: callee errors do not reach the caller on these edges (fire-and-forget)
NO_PROPAGATE = {("orchestrator", "telemetry")}
#: CPU core-seconds per request
CPU_PER_REQ = {"holographic-memory": 0.012, "math-core": 0.004, "orchestrator": 0.002}
CODES = ("200", "404", "500", "503")


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorised error function (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7)."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


def norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + erf(x / np.sqrt(2.0)))


def rng_for(seed: int, *tags: Any) -> np.random.Generator:
    """An independent, reproducible generator per component (stable when others change)."""
    import zlib

    key = [int(seed)] + [zlib.crc32(str(t).encode()) for t in tags]
    return np.random.default_rng(key)


def smooth_noise(rng: np.random.Generator, n: int, scale: float, width: int) -> np.ndarray:
    """Slow multiplicative noise: white noise smoothed with an exponential kernel."""
    w = max(1, width)
    k = np.exp(-np.arange(4 * w) / w)
    k /= np.sqrt((k ** 2).sum())
    z = np.convolve(rng.standard_normal(n + len(k)), k, mode="valid")[:n]
    return np.exp(scale * z)


@dataclass
class Model:
    """Per-scrape state of the simulated fleet."""

    fleet: Any
    sched: Schedule
    seed: int
    services: list[str]
    entry: str
    instances: dict[str, list[str]]
    routes: dict[str, list[str]]
    kind_rate: dict[str, dict[str, np.ndarray]]  # svc -> api kind -> req/s (all instances)
    share: dict[tuple[str, int], np.ndarray]  # (svc, i) -> share of the service's traffic
    p: dict[tuple[str, int], dict[str, dict[str, np.ndarray]]]  # (svc,i) -> kind -> code -> prob
    median: dict[tuple[str, int], np.ndarray]  # seconds
    sigma: dict[tuple[str, int], np.ndarray]
    up: dict[tuple[str, int], np.ndarray]
    resets: dict[tuple[str, int], list[int]]
    events: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    present: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)  # scraped at all
    load: np.ndarray | None = None
    own_p: dict[tuple[str, int], dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    own_median: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.sched.n

    def route_kinds(self, svc: str, route: str) -> tuple[str, ...]:
        last = route.rstrip("/").rsplit("/", 1)[-1]
        if last in API_KINDS:
            return (last,)
        if last in ROUTE_KINDS:
            return ROUTE_KINDS[last]
        return API_KINDS

    def route_rate(self, svc: str, i: int, route: str) -> np.ndarray:
        """Requests/s on one instance and route."""
        kinds = self.route_kinds(svc, route)
        routes = self.routes[svc]
        same = [r for r in routes if self.route_kinds(svc, r) == kinds]
        tot = sum(self.kind_rate[svc][k] for k in kinds)
        return tot * self.share[(svc, i)] / len(same)

    def code_prob(self, svc: str, i: int, route: str, code: str) -> np.ndarray:
        kinds = self.route_kinds(svc, route)
        rates = [self.kind_rate[svc][k] for k in kinds]
        tot = sum(rates) + 1e-12
        return sum(r * self.p[(svc, i)][k][code] for r, k in zip(rates, kinds, strict=False)) / tot


def _topo(fleet) -> list[str]:
    order, seen = [], set()

    def visit(s: str) -> None:
        if s in seen:
            return
        seen.add(s)
        for u in fleet.upstream(s):
            visit(u)
        order.append(s)

    for s in fleet.services:
        visit(s)
    return order  # callers before callees


def _version_bump(tag: str, k: int = 1) -> str:
    parts = tag.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[0]}.{parts[1]}.{int(parts[2]) + k}"
    return f"{tag}-p{k}"


def build_model(fleet, sched: Schedule, seed: int) -> Model:
    """Rates, errors, latency, restarts and events for every service and instance."""
    n, step = sched.n, sched.step_s
    ts_s = sched.ts_ns // 1_000_000_000
    services = list(fleet.services)
    order = _topo(fleet)
    roots = [s for s in services if not fleet.upstream(s)]
    cap = {s: (fleet.services[s].replica_capacity_rps or 100.0) * fleet.services[s].replicas for s in services}
    entry = "orchestrator" if "orchestrator" in services else max(roots, key=lambda s: cap[s])
    instances = {s: [f"{s}-{i}:{fleet.services[s].port}" for i in range(fleet.services[s].replicas)]
                 for s in services}
    routes = {s: list(fleet.services[s].routes) or ["/"] for s in services}

    # --- entry load: daily + weekly seasonality, growth, noise ---------------------------------------
    rng = rng_for(seed, "load")
    hour = (ts_s % 86400) / 3600.0
    daily = 1.0 + 0.5 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
    dow = ((ts_s // 86400) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    weekly = np.where(dow >= 5, 0.6, 1.0)
    k = max(1, int(2 * 3600 / step))
    weekly = np.convolve(np.pad(weekly, (k, k), mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), "valid")
    growth = 1.02 ** ((ts_s - ts_s[0]) / (7 * 86400))
    noise = smooth_noise(rng, n, 0.04, int(1800 / step)) * np.exp(0.02 * rng.standard_normal(n))
    load = daily * weekly * growth * noise
    base = 0.25 * cap[entry]  # mean req/s at the entry

    kind_rate: dict[str, dict[str, np.ndarray]] = {s: {k2: np.zeros(n) for k2 in API_KINDS} for s in services}
    for s in dict.fromkeys([entry, *roots]):
        scale = base if s == entry else 0.02 * base
        for k2 in API_KINDS:
            kind_rate[s][k2] += scale * load * API_SHARE[k2]

    # --- per-instance error probabilities (own) and latency, incidents applied -----------------------
    zeros = np.zeros(n)
    own: dict[tuple[str, int], dict[str, dict[str, np.ndarray]]] = {}
    med: dict[tuple[str, int], np.ndarray] = {}
    sig: dict[tuple[str, int], np.ndarray] = {}
    up: dict[tuple[str, int], np.ndarray] = {}
    resets: dict[tuple[str, int], list[int]] = {}
    share: dict[tuple[str, int], np.ndarray] = {}
    rng = rng_for(seed, "instances")
    for s in services:
        reps = len(instances[s])
        w = 1.0 + 0.04 * rng.standard_normal(reps)
        w = w / w.sum()
        for i in range(reps):
            key = (s, i)
            share[key] = np.full(n, w[i])
            p404 = 0.012 if s == entry else 0.002
            # own 5xx baseline: small enough that, compounded up the call chain (and 5x through the
            # search fan-out), the entry service stays near a third of a 99.9 % SLO's error budget
            own[key] = {k2: {"404": np.full(n, p404), "500": np.full(n, 0.00004), "503": np.full(n, 0.00002)}
                        for k2 in API_KINDS}
            med[key] = np.full(n, OWN_MEDIAN.get(s, 0.005)) * np.exp(0.05 * rng.standard_normal())
            sig[key] = np.full(n, SIGMA)
            up[key] = np.ones(n, dtype=bool)
            resets[key] = []

    events: list[dict[str, Any]] = []
    versions = {s: (fleet.services[s].image or f"{s}:1.0.0").rsplit(":", 1)[-1] for s in services}
    not_forwarded = {s: zeros for s in services}
    outage_503: dict[tuple[str, int], np.ndarray] = {}  # callers of a down service fail fast

    def restart(s: str, idx: int, stagger: bool = True) -> None:
        for i in range(len(instances[s])):
            j = min(n - 1, idx + (i if stagger else 0))
            if 0 < j < n:
                resets[(s, i)].append(j)

    def ev(idx: int, kind: str, s: str, detail: str, **kw: Any) -> None:
        events.append({"ts_ns": int(sched.ts_ns[min(idx, n - 1)]), "kind": kind, "service": s,
                       "detail": detail, **kw})

    for inc in sched.placed:
        on, end = inc.onset, inc.end
        sl = slice(on, end)
        if inc.kind == "latency_regression":
            s = inc.service
            new = _version_bump(versions[s])
            inc.extra.update(version=new, rollback_to=versions[s])
            for i in range(len(instances[s])):
                med[(s, i)][sl] *= 3.5
                sig[(s, i)][sl] = 0.6
            ev(on, "deploy", s, f"deploy {s} {new} (image {s}:{new})", version=new)
            restart(s, on)
            if end < n:
                ev(end, "deploy", s, f"rollback {s} to {versions[s]}", version=versions[s])
                restart(s, end)
        elif inc.kind == "error_burst":
            s = inc.service
            for i in range(len(instances[s])):
                for k2 in API_KINDS:
                    own[(s, i)][k2]["503"][sl] += 0.17
                    own[(s, i)][k2]["500"][sl] += 0.03
            nf = np.zeros(n)
            nf[sl] = 0.2
            not_forwarded[s] = nf
            ev(on, "config", s, "apply route config rev 118: add shard rule 17 -> upstream 'hm-shard-7'")
            if end < n:
                ev(end, "config", s, "revert route config to rev 117")
        elif inc.kind == "gpu_memory_exhaustion":
            s, i = inc.service, 0
            climb = max(2, int(round(18 * 60 / step)))
            oom = min(end, on + climb)
            inc.extra.update(instance=instances[s][i], oom_from=oom, climb_steps=climb)
            own[(s, i)]["search"]["500"][oom:end] += 0.6
            own[(s, i)]["store"]["500"][oom:end] += 0.15
            med[(s, i)][on:end] *= 1.6
            if end < n:
                resets[(s, i)].append(end)
                ev(end, "restart", s, f"pod {instances[s][i].split(':')[0]} restarted (OOMKilled: CUDA out of memory)")
        elif inc.kind == "dependency_outage":
            s = inc.service
            for i in range(len(instances[s])):
                up[(s, i)][sl] = False
                if end < n:
                    resets[(s, i)].append(end)
            for caller in fleet.upstream(s):
                for i in range(len(instances[caller])):
                    outage_503.setdefault((caller, i), np.zeros(n))[sl] = 0.97
            if end < n:
                ev(end, "restart", s, f"{s} pods restarted by liveness probe (exit code 139)")
        elif inc.kind == "disk_exhaustion":
            ev(on, "config", inc.service, f"set log_level=debug on {inc.service} (ticket OPS-2291)")

    # --- harmless deploys: ~1/day, random service, no effect -------------------------------------------
    rng = rng_for(seed, "deploys")
    days = int(np.ceil(n * step / 86400))
    busy = [(p.onset, p.end if p.end < n else p.onset + 1) for p in sched.placed]
    pad = int(5400 / step)
    exclude = {"vault"} if sched.get("latency_regression") else set()
    candidates = [s for s in services if s not in exclude]
    bumps = dict.fromkeys(services, 0)
    for d in range(days):
        if rng.random() > 0.9:
            continue
        s = candidates[rng.integers(len(candidates))]
        tries = (d * 86400 + rng.integers(9 * 3600, 18 * 3600, size=6)) // step
        free = [int(x) for x in tries if x < n - 2 and not any(a - pad <= x <= b + pad for a, b in busy)]
        if not free:
            continue
        idx = free[0]
        bumps[s] += 1
        v = _version_bump(versions[s], 1) if s != "vault" else _version_bump(versions[s], 10 + bumps[s])
        if bumps[s] > 1:
            v = f"{v}+build.{bumps[s]}"
        ev(idx, "deploy", s, f"deploy {s} {v} (image {s}:{v})", version=v)
        restart(s, idx)

    # --- flow the rates down the dependency graph ----------------------------------------------------
    for s in order:
        for c in fleet.downstream(s):
            for k2 in API_KINDS:
                calls = 1.0
                if c == "math-core" and k2 == "search":
                    calls = float(FFT_CALLS_PER_SEARCH)
                kind_rate[c][k2] += kind_rate[s][k2] * calls * (1 - not_forwarded[s])
    # a service that is down serves nothing
    for s in services:
        downs = np.all([~up[(s, i)] for i in range(len(instances[s]))], axis=0)
        for k2 in API_KINDS:
            kind_rate[s][k2] = np.where(downs, 0.0, kind_rate[s][k2])

    # --- errors flow up (callee 5xx become caller 5xx); latency adds up along calls -------------------
    p: dict[tuple[str, int], dict[str, dict[str, np.ndarray]]] = {}
    own_med: dict[tuple[str, int], np.ndarray] = {}
    svc_p: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    svc_med: dict[str, np.ndarray] = {}
    for s in reversed(order):
        reps = len(instances[s])
        down_calls = [c for c in fleet.downstream(s) if (s, c) not in NO_PROPAGATE]
        extra = {k2: {c: np.zeros(n) for c in ("500", "503")} for k2 in API_KINDS}
        lat_add = np.zeros(n)
        tot = sum(kind_rate[s][k2] for k2 in API_KINDS) + 1e-9
        for c in down_calls:
            for k2 in API_KINDS:
                for code in ("500", "503"):
                    extra[k2][code] += svc_p[c][k2][code]
            calls = sum(kind_rate[s][k2] * (FFT_CALLS_PER_SEARCH if (c == "math-core" and k2 == "search") else 1)
                        for k2 in API_KINDS) / tot
            lat_add += calls * svc_med[c]
        cap_i = (fleet.services[s].replica_capacity_rps or 100.0)
        acc = {k2: {c: np.zeros(n) for c in CODES} for k2 in API_KINDS}
        macc = np.zeros(n)
        for i in range(reps):
            key = (s, i)
            util = tot * share[key] / cap_i
            own_med[key] = med[key] * (1 + 0.4 * util ** 2)
            med[key] = own_med[key] + lat_add
            p[key] = {}
            for k2 in API_KINDS:
                d = {code: own[key][k2][code] + extra[k2].get(code, 0.0) for code in ("404", "500", "503")}
                d["503"] = d["503"] + outage_503.get(key, 0.0)
                bad = d["404"] + d["500"] + d["503"]
                over = np.maximum(bad, 1.0)
                d = {code: v / over for code, v in d.items()}
                d["200"] = np.clip(1.0 - (d["404"] + d["500"] + d["503"]), 0.0, 1.0)
                p[key][k2] = d
                for code in CODES:
                    acc[k2][code] += d[code] * share[key]
            macc += med[key] * share[key]
        svc_p[s] = acc
        svc_med[s] = macc

    # --- scrape gaps (missed scrapes): a few a day, away from incident onsets and ends ----------------
    rng = rng_for(seed, "gaps")
    keys = [(s, i) for s in services for i in range(len(instances[s]))]
    marks = [x for pl in sched.placed for x in (pl.onset, pl.end)]
    guard = max(10, int(900 / step))
    gaps: list[dict[str, Any]] = []
    present = {key: np.ones(n, dtype=bool) for key in keys}
    for _ in range(int(rng.poisson(4 * n * step / 86400))):
        key = keys[rng.integers(len(keys))]
        idx = int(rng.integers(1, n - 3))
        length = int(rng.choice([1, 1, 1, 2, 3]))
        if any(abs(idx - m) <= guard for m in marks):
            continue
        present[key][idx:idx + length] = False
        gaps.append({"service": key[0], "instance": instances[key[0]][key[1]],
                     "start": sched.iso(idx), "scrapes": length})
    gaps.sort(key=lambda g: g["start"])
    for key in keys:
        resets[key] = sorted(set(resets[key]))
    events.sort(key=lambda e: e["ts_ns"])
    return Model(fleet=fleet, sched=sched, seed=seed, services=services, entry=entry, instances=instances,
                 routes=routes, kind_rate=kind_rate, share=share, p=p, median=med, sigma=sig, up=up,
                 resets=resets, events=events, gaps=gaps, present=present, load=load, own_p=own,
                 own_median=own_med)
