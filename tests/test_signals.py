"""Golden signals, saturation, counters (Prometheus rate semantics), histogram_quantile and the sketch."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from holoops.analyze.counters import increase, rate, scrape_gaps
from holoops.analyze.quantiles import LogSketch, histogram_quantile, histogram_quantiles
from holoops.analyze.signals import golden_signals, latency_from_logs, saturation
from holoops.fleet import load_fleet

T0 = pd.Timestamp("2026-11-02T00:00:00Z")


@pytest.fixture(scope="module")
def fleet():
    return load_fleet()


def _frame(rows):
    df = pd.DataFrame(rows, columns=["ts", "metric", "service", "instance", "route", "code", "le", "gpu",
                                     "mountpoint", "value"])
    return df


def synthetic_metrics(minutes: int = 60, gap=(20, 24)) -> pd.DataFrame:
    """vault with 2 instances: 600 ok + 6 errors/min, a histogram, CPU, memory; GPU/disk on holographic-memory;
    instance b misses scrapes [gap); instance a restarts (counter reset) at minute 40."""
    rows = []
    for inst in ("a", "b"):
        ok = err = cpu = 0.0
        cum = np.zeros(4)
        for i in range(minutes):
            t = T0 + pd.Timedelta(minutes=i)
            if inst == "a" and i == 40:
                ok = err = cpu = 0.0
                cum[:] = 0
            ok += 600
            err += 6
            cpu += 30.0
            cum += np.array([300, 540, 600, 606])  # le 0.01, 0.05, 0.1, +Inf
            if inst == "b" and gap[0] <= i < gap[1]:
                continue
            rows.append((t, "up", "vault", inst, None, None, None, None, None, 1.0))
            rows.append((t, "http_requests_total", "vault", inst, "/v1/token/verify", "200", None, None, None, ok))
            rows.append((t, "http_requests_total", "vault", inst, "/v1/token/verify", "500", None, None, None, err))
            for le, c in zip(("0.01", "0.05", "0.1", "+Inf"), cum, strict=True):
                rows.append((t, "http_request_duration_seconds_bucket", "vault", inst, None, None, le, None, None, c))
            rows.append((t, "process_cpu_seconds_total", "vault", inst, None, None, None, None, None, cpu))
            rows.append((t, "process_resident_memory_bytes", "vault", inst, None, None, None, None, None,
                         256 * 2**20 if inst == "a" else 384 * 2**20))
    for i in range(minutes):
        t = T0 + pd.Timedelta(minutes=i)
        rows.append((t, "DCGM_FI_DEV_FB_USED", "holographic-memory", "hm-0", None, None, None, "0", None, 20000.0))
        rows.append((t, "DCGM_FI_DEV_FB_FREE", "holographic-memory", "hm-0", None, None, None, "0", None, 60000.0))
        rows.append((t, "DCGM_FI_DEV_GPU_UTIL", "holographic-memory", "hm-0", None, None, None, "0", None, 40.0))
        rows.append((t, "node_filesystem_avail_bytes", "holographic-memory", "hm-0", None, None, None, None,
                     "/var/lib/holographic", 75 * 2**30))
        rows.append((t, "node_filesystem_size_bytes", "holographic-memory", "hm-0", None, None, None, None,
                     "/var/lib/holographic", 100 * 2**30))
    return _frame(rows)


# --- histogram_quantile ------------------------------------------------------------------------------
BUCKETS = [(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (math.inf, 50.0)]


@pytest.mark.parametrize(("q", "expected"), [
    (0.5, 0.1 + 0.4 * (15 / 20)),    # rank 25 in (0.1, 0.5]: 15 of its 20
    (0.05, 0.1 * (2.5 / 10)),         # first bucket starts at 0
    (0.7, 0.5 + 0.5 * (5 / 10)),      # rank 35 in (0.5, 1]
    (0.9, 1.0),                        # rank 45 in +Inf bucket -> highest finite bound
    (0.0, 0.0),
    (-0.1, -math.inf),
    (1.1, math.inf),
])
def test_histogram_quantile_hand_computed(q, expected):
    assert histogram_quantile(q, BUCKETS) == pytest.approx(expected)


def test_histogram_quantile_edge_cases():
    assert math.isnan(histogram_quantile(0.5, [(0.1, 1), (0.5, 2)]))  # no +Inf
    assert math.isnan(histogram_quantile(0.5, [(0.1, 0), (math.inf, 0)]))  # no observations
    assert math.isnan(histogram_quantile(0.5, [(math.inf, 5)]))  # fewer than 2 buckets
    # non-monotonic counts are fixed up like Prometheus does
    assert histogram_quantile(0.75, [(0.1, 10), (0.5, 8), (1.0, 20), (math.inf, 20)]) == pytest.approx(0.75)
    # vectorised version agrees with the scalar one
    les = [b[0] for b in BUCKETS]
    counts = np.array([[b[1] for b in BUCKETS], [5, 5, 9, 10]], dtype=float)
    for q in (0.05, 0.5, 0.7, 0.9, 0.99):
        got = histogram_quantiles(q, les, counts)
        assert got[0] == pytest.approx(histogram_quantile(q, BUCKETS))
        assert got[1] == pytest.approx(histogram_quantile(q, list(zip(les, counts[1], strict=True))))


# --- sketch --------------------------------------------------------------------------------------------
def test_sketch_relative_error_and_merge():
    rng = np.random.default_rng(1)
    x = rng.lognormal(3, 1.2, 200_000)
    sk = LogSketch(rel=0.01).add(x)
    for q in (0.01, 0.5, 0.9, 0.95, 0.99, 0.999):
        exact = np.quantile(x, q, method="lower")
        assert abs(sk.quantile(q) - exact) / exact <= 0.01 + 1e-12
    a, b = LogSketch().add(x[:70_000]), LogSketch().add(x[70_000:])
    assert a.merge(b).counts == sk.counts and a.n == len(x)
    with pytest.raises(ValueError):
        LogSketch(rel=0.02).merge(LogSketch())


def test_latency_from_logs_sketch_within_one_percent():
    rng = np.random.default_rng(2)
    n = 30_000
    logs = pd.DataFrame({
        "ts": T0 + pd.to_timedelta(rng.integers(0, 600, n), unit="s"),
        "service": rng.choice(["vault", "router"], n), "level": "info", "message": "GET",
        "route": rng.choice(["/a", "/b"], n), "latency_ms": rng.lognormal(2, 1, n)})
    exact = latency_from_logs(logs, by=("service", "route"), step="5m")
    sketch = latency_from_logs(logs, by=("service", "route"), step="5m", method="sketch")
    assert len(exact) == len(sketch) == 2 * 2 * 3  # buckets end at 00:00 (t=0 records), 00:05, 00:10
    # sketch vs the order statistic it estimates
    lo = logs.assign(b=(logs.ts.dt.ceil("5min")))
    for _, row in sketch.iterrows():
        sub = lo[(lo.b == row.ts) & (lo.service == row.service) & (lo.route == row.route)].latency_ms
        for q in (0.5, 0.95, 0.99):
            ref = np.quantile(sub, q, method="lower")
            assert abs(row[f"p{int(q * 100)}_ms"] - ref) / ref <= 0.01 + 1e-12
    for _, row in exact.iterrows():
        sub = lo[(lo.b == row.ts) & (lo.service == row.service) & (lo.route == row.route)].latency_ms
        assert row.p99_ms == pytest.approx(np.quantile(sub, 0.99))
    pe = latency_from_logs(pl.from_pandas(logs), by=("service", "route"), step="5m")
    assert np.allclose(pe["p99_ms"].to_numpy(), exact.p99_ms.to_numpy())


# --- counters ------------------------------------------------------------------------------------------
def _counter(values, times_s):
    return pd.DataFrame({"ts": [T0 + pd.Timedelta(seconds=s) for s in times_s], "metric": "c",
                         "service": "s", "instance": "i", "value": values})


def test_rate_and_increase_prometheus_semantics_with_reset():
    df = _counter([100, 160, 220, 10, 70], [60, 120, 180, 240, 300])
    # window (0s, 300s]: reset-corrected increase 190 over 240 s sampled; the start gap (60 s) is below
    # 1.1 x the average interval so it is extrapolated in full; the zero point (126 s back) is further.
    inc = increase(df, "c", step="5m", window="5m")
    r = rate(df, "c", step="5m", window="5m")
    assert inc.loc[inc.ts == T0 + pd.Timedelta(seconds=300), "increase"].item() == pytest.approx(190 * 300 / 240)
    assert r.loc[r.ts == T0 + pd.Timedelta(seconds=300), "rate"].item() == pytest.approx(190 * 300 / 240 / 300)
    simple = increase(df, "c", step="5m", window="5m", extrapolate=False)
    assert simple.loc[simple.ts == T0 + pd.Timedelta(seconds=300), "increase"].item() == pytest.approx(190)
    # zero-point clamp: a counter that starts near 0 is not extrapolated below zero
    df2 = _counter([5, 65, 125], [120, 180, 240])
    inc2 = increase(df2, "c", step="1m", window="4m")
    # sampled 120 s, increase 120; start gap 120 s >= 1.1*60 -> avg/2 = 30 s, but the zero point is 5 s back
    assert inc2.loc[inc2.ts == T0 + pd.Timedelta(seconds=240), "increase"].item() == pytest.approx(120 * 125 / 120)
    # a gap to the window start beyond 1.1 intervals extrapolates by half an interval only
    inc3 = increase(_counter([1000, 1060, 1120], [0, 60, 120]), "c", step="1m", window="5m")
    row = inc3.loc[inc3.ts == T0 + pd.Timedelta(seconds=120), "increase"].item()
    assert row == pytest.approx(120 * (120 + 30) / 120)


def test_rate_same_on_pandas_and_polars():
    m = synthetic_metrics()
    a = rate(m, "http_requests_total", by=("service", "code"))
    b = rate(pl.from_pandas(m), "http_requests_total", by=("service", "code"))
    assert isinstance(b, pl.DataFrame)
    assert a["rate"].tolist() == pytest.approx(b["rate"].to_list())
    assert a["code"].astype(str).tolist() == b["code"].to_list()


def test_scrape_gaps_flagged_not_interpolated(fleet):
    m = synthetic_metrics()
    gaps = scrape_gaps(m)
    assert len(gaps) == 1
    g = gaps.iloc[0]
    assert (g.service, g.instance, g.reason) == ("vault", "b", "no samples")
    assert g.start == T0 + pd.Timedelta(minutes=19) and g.end == T0 + pd.Timedelta(minutes=24)
    assert g.missing_s == pytest.approx(240)
    gs = golden_signals(m, fleet)
    flagged = gs[gs.gap]
    assert len(flagged) and flagged.ts.min() == T0 + pd.Timedelta(minutes=20)
    assert not gs[gs.ts >= T0 + pd.Timedelta(minutes=30)].gap.any()


def test_golden_signals_values(fleet):
    m = synthetic_metrics()
    gs = golden_signals(m, fleet, window="5m").set_index("ts")
    row = gs.loc[T0 + pd.Timedelta(minutes=15)]
    assert row.rps == pytest.approx(2 * 606 / 60)
    assert row.error_ratio == pytest.approx(6 / 606)
    # 300/606 below 10 ms, 540/606 below 50 ms, 600/606 below 100 ms
    assert row.p50_ms == pytest.approx(10 + 40 * (303 - 300) / 240)
    assert row.p99_ms == pytest.approx(50 + 50 * (0.99 * 606 - 540) / 60)
    # the counter reset of instance a at minute 40 does not dent the rate
    later = gs.loc[T0 + pd.Timedelta(minutes=43)]
    assert later.rps == pytest.approx(2 * 606 / 60, rel=0.02)


def test_saturation(fleet):
    sat = saturation(synthetic_metrics(), fleet)
    at = sat[sat.ts == T0 + pd.Timedelta(minutes=15)].set_index(["service", "resource"])
    assert at.loc[("vault", "cpu"), "value"] == pytest.approx(0.5)  # 0.5 cores of a 1-core limit
    assert at.loc[("vault", "memory"), "value"] == pytest.approx(384 / 512)  # worst instance
    assert at.loc[("holographic-memory", "gpu_memory"), "value"] == pytest.approx(0.25)
    assert at.loc[("holographic-memory", "gpu_util"), "value"] == pytest.approx(0.4)
    assert at.loc[("holographic-memory", "disk"), "value"] == pytest.approx(0.25)
    sp = saturation(pl.from_pandas(synthetic_metrics()), fleet)
    assert sp["value"].to_list() == pytest.approx(sat["value"].tolist())


@pytest.fixture(scope="module")
def demo():
    sim = pytest.importorskip("holoops.demo").simulate
    return sim(days=2, seed=7, incidents=["latency_regression", "error_burst"])


def test_golden_signals_on_demo_pandas_equals_polars(demo, fleet):
    a = golden_signals(demo.metrics, fleet)
    b = golden_signals(pl.from_pandas(demo.metrics), fleet)
    assert len(a) == len(b)
    for col in ("rps", "error_ratio", "p50_ms", "p95_ms", "p99_ms"):
        assert np.allclose(a[col].to_numpy(), b[col].to_numpy(), equal_nan=True), col
    assert a["gap"].tolist() == b["gap"].to_list()


def test_golden_signals_see_the_demo_incidents(demo, fleet):
    gs = golden_signals(demo.metrics, fleet)
    lat = demo.incident("latency_regression")
    on = pd.Timestamp(lat["onset"])
    v = gs[gs.service == "vault"].set_index("ts")
    before = v.loc[on - pd.Timedelta(minutes=30):on - pd.Timedelta(minutes=10), "p99_ms"].median()
    during = v.loc[on + pd.Timedelta(minutes=10):on + pd.Timedelta(minutes=40), "p99_ms"].median()
    assert during > 2.5 * before
    burst = demo.incident("error_burst")
    on = pd.Timestamp(burst["onset"])
    r = gs[gs.service == "router"].set_index("ts")
    assert r.loc[on + pd.Timedelta(minutes=10):on + pd.Timedelta(minutes=30), "error_ratio"].median() > 0.15
    assert r.loc[on - pd.Timedelta(minutes=60):on - pd.Timedelta(minutes=5), "error_ratio"].max() < 0.05
    sat = saturation(demo.metrics, fleet)
    assert set(sat.resource) >= {"cpu", "memory", "gpu_util", "gpu_memory", "disk"}
    assert sat.value.between(0, 1.01).all()


# --- the vectorised kernels against the straightforward versions -----------------------------------------
def _reference_series_rate(sid, ts, value, grid, window_ns, extrapolate=True, as_rate=True):
    """One series at a time (holoops' loop before it was vectorised), kept as the oracle."""
    NS = 1_000_000_000
    n_series = int(sid.max()) + 1
    out = np.full((n_series, len(grid)), np.nan)
    same = np.r_[False, sid[1:] == sid[:-1]]
    prev = np.r_[np.nan, value[:-1]]
    add = np.where(same & (value < prev), prev, 0.0)
    csum = np.cumsum(add)
    starts = np.r_[0, np.flatnonzero(~same[1:]) + 1]
    first_of = np.repeat(starts, np.diff(np.r_[starts, len(sid)]))
    corr = value + (csum - (csum[first_of] - add[first_of]))
    t0 = min(int(ts.min()), int(grid[0]) - window_ns) - 1
    key = sid * (1 << 40) + (ts - t0) // 1_000_000
    g_end, g_start = (grid - t0) // 1_000_000, (grid - window_ns - t0) // 1_000_000
    for s in range(n_series):
        k_hi = np.searchsorted(key, s * (1 << 40) + g_end, side="right") - 1
        k_lo = np.searchsorted(key, s * (1 << 40) + g_start, side="right")
        n = k_hi - k_lo + 1
        ok = n >= 2
        lo, hi = k_lo[ok], k_hi[ok]
        res = corr[hi] - corr[lo]
        t_first, t_last = ts[lo] / NS, ts[hi] / NS
        sampled = t_last - t_first
        with np.errstate(divide="ignore", invalid="ignore"):
            if extrapolate:
                rng_end = grid[ok] / NS
                to_start = t_first - (rng_end - window_ns / NS)
                to_end = rng_end - t_last
                avg = sampled / (n[ok] - 1)
                first_v = value[lo]
                to_zero = np.where((res > 0) & (first_v >= 0), sampled * (first_v / res), np.inf)
                thr = avg * 1.1
                to_start = np.minimum(np.where(to_start >= thr, avg / 2, to_start), to_zero)
                to_end = np.where(to_end >= thr, avg / 2, to_end)
                res = res * ((sampled + to_start + to_end) / sampled)
                if as_rate:
                    res = res / (window_ns / NS)
            elif as_rate:
                res = res / sampled
        out[s, ok] = res
    return out


@pytest.mark.parametrize("extrapolate", [True, False])
def test_series_rate_equals_the_per_series_loop(extrapolate):
    from holoops.analyze.counters import _aggregate, series_rate

    rng = np.random.default_rng(4)
    sids, tss, vals = [], [], []
    for s in range(37):
        t = np.cumsum(rng.choice([15, 30, 30, 60, 61.5, 240], 400)) * 1e9 + rng.integers(0, 10**9)
        v = np.cumsum(rng.exponential(5, 400))
        v[rng.random(400) < 0.02] = 0.0  # resets
        keep = rng.random(400) > 0.1  # scrape gaps
        sids.append(np.full(keep.sum(), s))
        tss.append(t[keep].astype(np.int64))
        vals.append(v[keep])
    sid, ts, v = np.concatenate(sids), np.concatenate(tss), np.concatenate(vals)
    grid = np.arange(int(ts.min()) // (60 * 10**9) * 60 * 10**9, int(ts.max()), 60 * 10**9, dtype=np.int64)
    got = series_rate(sid, ts, v, grid, 300 * 10**9, extrapolate=extrapolate)
    want = _reference_series_rate(sid, ts, v, grid, 300 * 10**9, extrapolate=extrapolate)
    assert np.array_equal(got, want, equal_nan=True)  # bit for bit
    fine = np.arange(grid[0], grid[-1], 5 * 10**8, dtype=np.int64)  # a long grid: several blocks, threads
    assert np.array_equal(series_rate(sid, ts, v, fine, 300 * 10**9, extrapolate=extrapolate),
                          _reference_series_rate(sid, ts, v, fine, 300 * 10**9, extrapolate=extrapolate),
                          equal_nan=True)
    # the per-group sums add rows in the order np.add.at does
    gid = rng.integers(0, 5, len(got))
    summed = np.zeros((5, got.shape[1]))
    count = np.zeros((5, got.shape[1]))
    np.add.at(summed, gid, np.where(np.isnan(got), 0.0, got))
    np.add.at(count, gid, ~np.isnan(got))
    assert np.array_equal(_aggregate(got, gid, 5), np.where(count > 0, summed, np.nan), equal_nan=True)


def test_factorize_codes_dictionary_columns_like_strings():
    import pyarrow as pa

    from holoops.analyze.counters import _factorize

    a = pa.array(["b", None, "a", "b", "c", "a", None])
    b = pa.array(["x", "y", "x", None, "x", "y", "y"])
    ids_s, keys_s = _factorize(a, b)
    ids_d, keys_d = _factorize(a.dictionary_encode(), pa.chunked_array([b[:3].dictionary_encode(),
                                                                         b[3:].dictionary_encode()]))
    assert keys_s == keys_d == sorted(keys_s)
    assert ids_s.tolist() == ids_d.tolist()
    assert keys_s[ids_s[1]] == ("", "y")  # nulls count as ''


# --- a bad timestamp never sizes a grid --------------------------------------------------------------------
def _with_outlier(m: pd.DataFrame, offset_s: float, metric: str = "http_requests_total") -> pd.DataFrame:
    """``m`` plus one sample of ``metric`` ``offset_s`` after the first one (before it when negative)."""
    row = m[m.metric == metric].iloc[[0]].copy()
    row["ts"] = T0 + pd.Timedelta(seconds=offset_s)
    row["value"] = row["value"] + 1
    return pd.concat([m, row], ignore_index=True)


@pytest.mark.parametrize("offset_s", [200_000_000, -T0.value / 1e9])  # six years ahead; the Unix epoch
def test_one_bad_timestamp_is_left_out_and_named(fleet, offset_s):
    """The grid covers the span of the bulk of the samples; a TimeRangeWarning names the one left out.
    (Before: a sample 200,000,000 s ahead made golden_signals build an 8.2 GiB grid.)"""
    import tracemalloc

    from holoops.analyze.counters import TimeRangeWarning
    from holoops.analyze.slo import slo_report
    from holoops.analyze.timeline import detect_incidents

    m = synthetic_metrics()
    bad = _with_outlier(m, offset_s)
    for engine_m in (bad, pl.from_pandas(bad)):
        tracemalloc.start()
        with pytest.warns(TimeRangeWarning) as rec:
            gs = golden_signals(engine_m, fleet)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 200 * 2**20
        msg = str(rec[0].message)
        when = (T0 + pd.Timedelta(seconds=offset_s)).strftime("%Y-%m-%d %H:%M")
        assert msg.startswith("golden_signals: 1 of ") and when in msg and "2026-11-02 00:00:00" in msg
        want = golden_signals(m, fleet)
        got = gs if isinstance(gs, pd.DataFrame) else gs.to_pandas()
        pd.testing.assert_frame_equal(got.drop(columns="gap"), want.drop(columns="gap"), check_dtype=False)
    with pytest.warns(TimeRangeWarning):
        r = rate(bad, "http_requests_total", by=("service", "code"))
    pd.testing.assert_frame_equal(r, rate(m, "http_requests_total", by=("service", "code")))
    with pytest.warns(TimeRangeWarning):
        sat = saturation(bad, fleet)
    pd.testing.assert_frame_equal(sat, saturation(m, fleet))
    with pytest.warns(TimeRangeWarning, match="^(slo_report|burn_rates): "):
        slo = slo_report(bad, fleet)
    pd.testing.assert_frame_equal(slo.summary, slo_report(m, fleet).summary)
    with pytest.warns(TimeRangeWarning, match="^health_signals: "):
        detect_incidents({"metrics": bad}, fleet)


def test_series_rate_ignores_samples_no_window_reaches():
    """A sample decades away from the grid (more than the kernel's 34-year key field) changes nothing."""
    from holoops.analyze.counters import series_rate

    ts = (T0.value + np.arange(0, 600, 60) * 10**9).astype("int64")
    v = np.arange(10, dtype=float) * 60
    grid = ts[5:]
    want = series_rate(np.zeros(10, dtype="int64"), ts, v, grid, 300 * 10**9)
    got = series_rate(np.zeros(11, dtype="int64"), np.r_[0, ts], np.r_[5.0, v], grid, 300 * 10**9)
    np.testing.assert_array_equal(got, want)


def test_data_really_spread_wider_than_a_grid_names_span_and_step(fleet):
    """Half the samples 200 days after the other half is no outlier: a clear error, not a guess."""
    from holoops.errors import ParameterError

    m = synthetic_metrics()
    later = m.assign(ts=m["ts"] + pd.Timedelta(days=200))
    with pytest.raises(ParameterError, match=r"golden_signals.*200\.0 days.*step='1m'.*288,0\d\d grid points"):
        golden_signals(pd.concat([m, later], ignore_index=True), fleet)
    gs = golden_signals(pd.concat([m, later], ignore_index=True), fleet, step="1h")  # a coarser step fits
    assert len(gs)


# --- a window without data ---------------------------------------------------------------------------------
def test_an_empty_window_gives_empty_results(fleet):
    from holoops.analyze.capacity import usage_series
    from holoops.analyze.slo import slo_report
    from holoops.analyze.timeline import detect_incidents

    empty = synthetic_metrics().iloc[:0]
    for m in (empty, pl.from_pandas(empty)):
        assert len(saturation(m, fleet)) == 0 and len(scrape_gaps(m)) == 0
        assert len(rate(m, "http_requests_total")) == 0 and len(increase(m, "http_requests_total")) == 0
        assert len(slo_report(m, fleet).summary) == 0 and len(detect_incidents({"metrics": m}, fleet)) == 0
    assert usage_series(empty, fleet) == []


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_golden_signals_of_an_empty_window(fleet, engine):
    empty = synthetic_metrics().iloc[:0]
    assert len(golden_signals(empty if engine == "pandas" else pl.from_pandas(empty), fleet)) == 0
