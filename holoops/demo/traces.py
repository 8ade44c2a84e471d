"""Sampled traces as the canonical spans frame, vectorised over traces (one call level at a time).

Every span is the work one service did for a call; ``peer`` is the caller's service ("" for a root),
so ``(peer, service)`` is the call edge. The call tree follows the profile: orchestrator verifies with
vault first (sequential), then calls router and telemetry concurrently; router -> holographic-memory,
which verifies with vault and then calls math-core ``fft_correlate`` k times *sequentially* with small
payloads (the batching candidate). Store requests carry large ``payload_bytes`` on router ->
holographic-memory. While a callee is down, the caller's three attempts appear as sibling error spans
(``attempt`` 1..3) of the callee, for every call the caller planned (no retry budget, no fail-fast):
the retry storm, ~3x the usual call rate on that edge.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from holoops.demo.traffic import API_KINDS, API_SHARE, FFT_CALLS_PER_SEARCH, NO_PROPAGATE, Model, rng_for

MS = 1_000_000  # ns per ms
FIRST = ("vault",)  # called first, sequentially (auth)
CONCURRENT = ("telemetry",)  # called alongside the next call


def hex_ids(values: np.ndarray, width: int = 16) -> np.ndarray:
    """uint64 array -> fixed-width lowercase hex strings (vectorised)."""
    raw = values.astype(">u8").tobytes().hex()
    out = np.frombuffer(raw.encode(), dtype=f"S{16}").astype(str)
    return out if width == 16 else np.char.zfill(out, width)


class _Spans:
    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in (
            "trace", "sid", "pid", "service", "instance", "operation", "start", "dur", "err", "peer",
            "attempt", "payload")}

    def add(self, **kw: Any) -> None:
        n = len(kw["trace"])
        for k, lst in self.cols.items():
            v = kw[k]
            lst.append(v if isinstance(v, np.ndarray) else np.full(n, v))

    def cat(self, k: str) -> np.ndarray:
        return np.concatenate(self.cols[k]) if self.cols[k] else np.array([])


def build_spans(m: Model, trace_sample: float):
    """The canonical spans frame (pandas) for the model."""
    import pandas as pd

    fleet, n, step = m.fleet, m.n, m.sched.step_s
    rng = rng_for(m.seed, "traces")
    entry = m.entry
    entry_rate = sum(m.kind_rate[entry][k] for k in API_KINDS)
    counts = rng.poisson(entry_rate * step * trace_sample)
    step_idx = np.repeat(np.arange(n), counts)
    T = len(step_idx)
    t0 = m.sched.ts_ns[step_idx] + (rng.random(T) * step * 1e9).astype(np.int64)
    kinds = np.array(API_KINDS)
    kind_idx = rng.choice(len(kinds), size=T, p=[API_SHARE[k] for k in API_KINDS])
    store_payload = rng.lognormal(np.log(3e6), 0.5, T)
    sp = _Spans()
    next_id = rng.integers(1, 2**63, size=1)[0]

    def new_ids(k: int) -> np.ndarray:
        nonlocal next_id
        # a fixed odd multiplier scrambles consecutive numbers into random-looking ids
        ids = (np.arange(next_id, next_id + k, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
        next_id += k
        return ids

    def route_of(svc: str, k: np.ndarray) -> np.ndarray:
        routes = m.routes[svc]
        table = []
        for kind in API_KINDS:
            match = [r for r in routes if kind in m.route_kinds(svc, r)]
            table.append(match[0] if match else routes[0])
        return np.array(table, dtype=object)[k]

    def payload(svc: str, caller: str, tr: np.ndarray) -> np.ndarray:
        k = kind_idx[tr]
        small = rng.lognormal(np.log(8e3), 0.4, len(tr))
        if svc == "vault":
            return rng.lognormal(np.log(600), 0.2, len(tr))
        if svc == "telemetry":
            return rng.lognormal(np.log(1500), 0.3, len(tr))
        if svc == "math-core":
            return np.where(k == 0, rng.lognormal(np.log(6e4), 0.3, len(tr)), small)
        big = store_payload[tr]
        if svc == "router":  # orchestrator forwards gzip-compressed bodies
            big = big / 6
        return np.where(k == 0, big, small)

    def emit(svc: str, tr: np.ndarray, start: np.ndarray, parent: np.ndarray, caller: str,
             attempt: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Spans of ``svc`` for traces ``tr`` starting at ``start``; returns (end ns, error)."""
        T2 = len(tr)
        if T2 == 0:
            return start, np.zeros(0, dtype=bool)
        sid = new_ids(T2)
        reps = len(m.instances[svc])
        inst = rng.integers(0, reps, T2) if reps > 1 else np.zeros(T2, dtype=np.int64)
        si = step_idx[tr]
        k = kind_idx[tr]
        own_med = np.empty(T2)
        sig = np.empty(T2)
        p_err = np.empty(T2)
        for i in range(reps):
            sel = inst == i
            own_med[sel] = m.own_median[(svc, i)][si[sel]]
            sig[sel] = m.sigma[(svc, i)][si[sel]]
            for kk, kind in enumerate(API_KINDS):
                s2 = sel & (k == kk)
                pk = m.own_p[(svc, i)][kind]
                p_err[s2] = pk["500"][si[s2]] + pk["503"][si[s2]]
        own = rng.lognormal(np.log(own_med * 1e3), sig) * MS  # ns
        err = rng.random(T2) < p_err
        t = start + (0.4 * own).astype(np.int64)
        ok = ~err
        ends = [t]
        deps = list(fleet.downstream(svc))
        deps.sort(key=lambda d: 0 if d in FIRST else 1 if d in CONCURRENT else 2)
        pending_conc: list[str] = []
        for d in deps:
            if d in CONCURRENT:
                pending_conc.append(d)
                continue
            calls = np.ones(T2, dtype=np.int64)
            if d == "math-core":
                calls = np.where(k == API_KINDS.index("search"),
                                 rng.integers(FFT_CALLS_PER_SEARCH - 2, FFT_CALLS_PER_SEARCH + 3, T2), 1)
            for c in pending_conc:  # concurrent with this call: starts together
                sel = np.flatnonzero(ok)
                e2, _ = emit(c, tr[sel], t[sel] + int(0.05 * MS), sid[sel], svc)
                full = t.copy()
                full[sel] = e2
                ends.append(full)
            pending_conc = []
            storm = np.zeros(T2, dtype=bool)  # callee down: keep issuing the planned calls, 3 attempts each
            for j in range(int(calls.max()) if T2 else 0):
                sel = np.flatnonzero((ok | storm) & (calls > j))
                if len(sel) == 0:
                    break
                s_start = t[sel] + int(0.2 * MS)
                down = np.zeros(len(sel), dtype=bool)
                for i in range(len(m.instances[d])):
                    down |= ~m.up[(d, i)][si[sel]]
                if down.any():  # retry storm: three quick failed attempts, no budget
                    dsel = sel[down]
                    a_start = s_start[down]
                    for a in (1, 2, 3):
                        a_dur = (rng.lognormal(np.log(1.2), 0.3, len(dsel)) * MS).astype(np.int64)
                        sp.add(trace=tr[dsel], sid=new_ids(len(dsel)), pid=sid[dsel], service=d,
                               instance=m.instances[d][0], operation=_op(route_of(d, kind_idx[tr[dsel]])),
                               start=a_start, dur=a_dur, err=np.ones(len(dsel), dtype=bool), peer=svc,
                               attempt=a, payload=payload(d, svc, tr[dsel]))
                        a_start = a_start + a_dur + int(0.1 * MS)
                    t[dsel] = a_start
                    err[dsel] = True
                    ok[dsel] = False
                    storm[dsel] = True
                live = sel[~down & ~storm[sel]]
                e2, ce = emit(d, tr[live], t[live] + int(0.2 * MS), sid[live], svc)
                t[live] = e2
                if (svc, d) not in NO_PROPAGATE:
                    err[live] |= ce
                    ok[live] &= ~ce
        for c in pending_conc:
            sel = np.flatnonzero(ok)
            e2, _ = emit(c, tr[sel], t[sel], sid[sel], svc)
            full = t.copy()
            full[sel] = e2
            ends.append(full)
        end = np.maximum.reduce(ends) + (0.6 * own).astype(np.int64)
        inst_names = np.array(m.instances[svc], dtype=object)[inst]
        sp.add(trace=tr, sid=sid, pid=parent, service=svc, instance=inst_names, operation=_op(route_of(svc, k)),
               start=start, dur=end - start, err=err, peer=caller, attempt=attempt, payload=payload(svc, caller, tr))
        return end, err

    emit(entry, np.arange(T), t0, np.zeros(T, dtype=np.uint64), "")
    # dashboard (or any other root) traffic is not traced here: it is a thin UI over the entry
    trace_hex = hex_ids(rng.integers(1, 2**63, size=T, dtype=np.int64).astype(np.uint64) * np.uint64(2)
                        + np.uint64(1))
    trace_lo = hex_ids(rng.integers(1, 2**63, size=T, dtype=np.int64).astype(np.uint64))
    trace_ids = np.char.add(trace_hex, trace_lo) if T else np.array([], dtype=str)
    tr = sp.cat("trace").astype(np.int64)
    pid = sp.cat("pid").astype(np.uint64)
    parent_hex = hex_ids(pid)
    parent_hex = np.where(pid == 0, "", parent_hex)
    df = pd.DataFrame({
        "trace_id": pd.array(trace_ids[tr] if T else [], dtype="str"),
        "span_id": pd.array(hex_ids(sp.cat("sid").astype(np.uint64)), dtype="str"),
        "parent_id": pd.array(parent_hex, dtype="str"),
        "service": pd.Categorical(sp.cat("service")),
        "operation": pd.Categorical(sp.cat("operation")),
        "start": pd.to_datetime(sp.cat("start").astype(np.int64), utc=True),
        "duration_ms": sp.cat("dur").astype(np.float64) / MS,
        "status": pd.Categorical(np.where(sp.cat("err").astype(bool), "error", "ok"), categories=["ok", "error"]),
        "peer": pd.Categorical(sp.cat("peer")),
        "attempt": sp.cat("attempt").astype(np.int64),
        "payload_bytes": np.round(sp.cat("payload").astype(np.float64)),
        "instance": pd.Categorical(sp.cat("instance")),
    })
    return df.sort_values(["start", "trace_id"], kind="stable", ignore_index=True)


def _op(routes: np.ndarray) -> np.ndarray:
    """Operation names: the route, or the kernel name for math-core style routes."""
    return np.array([r.rsplit("/", 1)[-1] if r.startswith("/v1/") and r.count("/") == 2 and
                     r.rsplit("/", 1)[-1] in ("fft_correlate", "project") else r for r in routes], dtype=object) \
        if len(routes) < 64 else _op_vec(routes)


def _op_vec(routes: np.ndarray) -> np.ndarray:
    uniq, inv = np.unique(routes.astype(str), return_inverse=True)
    return _op(uniq)[inv]
