"""Anomalies (robust seasonal baseline) and change points with deploy attribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from holoops.analyze.anomalies import (
    anomaly_runs,
    change_points,
    cusum_onsets,
    detect_anomalies,
    robust_baseline,
)

T0 = pd.Timestamp("2026-11-02T00:00:00Z")


def seasonal(days: int = 4, seed: int = 3, spike_at: str | None = "2026-11-05T14:00:00Z",
             spike_minutes: int = 15, shift_at: str | None = None) -> pd.DataFrame:
    """Per-minute p99 latency of two services with a strong daily cycle (peak 15:00) and noise."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    ts = T0 + pd.to_timedelta(np.arange(n), unit="min")
    hour = (np.arange(n) % 1440) / 60
    frames = []
    for svc, base in (("vault", 48.0), ("router", 120.0)):
        y = base * (1 + 0.6 * np.exp(-((hour - 15) ** 2) / 8)) * np.exp(0.05 * rng.standard_normal(n))
        if svc == "vault" and spike_at is not None:
            i = int((pd.Timestamp(spike_at) - T0).total_seconds() // 60)
            y[i:i + spike_minutes] *= 3.0
        if svc == "vault" and shift_at is not None:
            i = int((pd.Timestamp(shift_at) - T0).total_seconds() // 60)
            y[i:] *= 2.0
        frames.append(pd.DataFrame({"ts": ts, "service": svc, "p99_ms": y}))
    return pd.concat(frames, ignore_index=True)


def test_daily_peak_is_not_an_anomaly_but_a_spike_is():
    df = seasonal()
    an = detect_anomalies(df, "p99_ms", log=True)
    assert len(an) == 1, an
    a = an.iloc[0]
    assert a.service == "vault" and a.onset == pd.Timestamp("2026-11-05T14:00:00Z")
    assert a.end == pd.Timestamp("2026-11-05T14:14:00Z")
    assert a.score > 6 and a.value > 2.5 * a.baseline
    assert a.explanation.startswith("p99 latency of vault ") and "MADs above its 14:" in a.explanation
    assert "baseline of " in a.explanation and a.explanation.endswith("since 14:00")


def test_noise_alone_raises_nothing():
    assert len(detect_anomalies(seasonal(spike_at=None, seed=5), "p99_ms", log=True)) == 0


def test_fallback_baseline_without_history():
    x = np.r_[np.full(120, 10.0) + np.random.default_rng(1).normal(0, 0.5, 120), np.full(10, 30.0)]
    base, spread = robust_baseline(x, period=1440)
    assert base[-1] == pytest.approx(10, abs=0.5) and 0 < spread[-1] < 2
    score = (x - base) / np.fmax(spread, 1e-9)
    runs = anomaly_runs(score, threshold=6, min_points=3)
    assert runs and runs[0][0] == 120


def test_cusum_onset():
    r = np.r_[np.zeros(50), np.full(20, 3.0)]
    (on, alarm), = cusum_onsets(r, k=0.5, h=5)
    assert on == 50 and alarm == 51


def test_change_point_attributed_to_deploy():
    df = seasonal(spike_at=None, shift_at="2026-11-05T10:30:00Z")
    events = pd.DataFrame({"ts": pd.to_datetime(["2026-11-05T10:29:00Z", "2026-11-04T09:00:00Z"]),
                           "kind": ["deploy", "deploy"], "service": ["vault", "router"],
                           "detail": ["deploy vault 2.4.1", "deploy router 1.8.3"]})
    cp = change_points(df, "p99_ms", events=events)
    shift = pd.Timestamp("2026-11-05T10:30:00Z")
    v = cp[(cp.service == "vault") & ((cp.onset - shift).abs() <= pd.Timedelta(minutes=2))]
    assert len(v) == 1, cp
    first = v.iloc[0]
    assert first.direction == "up" and first.event == "deploy: deploy vault 2.4.1"
    assert first.event_ts == pd.Timestamp("2026-11-05T10:29:00Z")
    # with two days of history the seasonal baseline holds: nothing else on days 3-4
    late = cp[cp.onset >= T0 + pd.Timedelta(days=2)]
    assert len(late) == 1
    assert (cp[cp.service == "router"].event == "").all()


def test_pandas_and_polars_agree():
    df = seasonal()
    a = detect_anomalies(df, "p99_ms", log=True)
    b = detect_anomalies(pl.from_pandas(df), "p99_ms", log=True)
    assert isinstance(b, pl.DataFrame)
    assert a["score"].tolist() == pytest.approx(b["score"].to_list())
    assert a["explanation"].tolist() == b["explanation"].to_list()


def test_demo_vault_regression_attributed_to_vault_deploy():
    sim = pytest.importorskip("holoops.demo").simulate
    from holoops.analyze.signals import golden_signals
    from holoops.fleet import load_fleet

    demo = sim(days=3, seed=7, incidents=["latency_regression"])
    truth = demo.incident("latency_regression")
    gs = golden_signals(demo.metrics, load_fleet(), window="2m")
    cp = change_points(gs, "p99_ms", events=demo.events)
    v = cp[(cp.service == "vault") & (cp.direction == "up")]
    on = pd.Timestamp(truth["onset"])
    hit = v[(v.onset >= on - pd.Timedelta(minutes=2)) & (v.onset <= on + pd.Timedelta(minutes=5))]
    assert len(hit) >= 1, v
    assert truth["version"] in hit.iloc[0].event and hit.iloc[0].event_ts == on


def test_several_rows_per_step_resolve_the_same_way_in_any_order():
    """Rows of one service inside one step (duplicates, a late correction, a null) give one value per step:
    the latest row's, the largest of equally late ones; whatever the row order."""
    df = seasonal(days=2, spike_at="2026-11-03T14:00:00Z")
    extra = df.iloc[::7].copy()
    extra["p99_ms"] = extra["p99_ms"] * 1.5  # a second value at the same time
    late = df.iloc[3::11].copy()
    late["ts"] = late["ts"] + pd.Timedelta(seconds=30)  # a later sample in the same step
    late["p99_ms"] = late["p99_ms"] * 0.5
    nulls = df.iloc[5::13].assign(p99_ms=np.nan)
    messy = pd.concat([df, extra, late, nulls], ignore_index=True)
    want_a = detect_anomalies(messy, "p99_ms", log=True)
    want_c = change_points(messy, "p99_ms")
    assert len(want_a)
    rng = np.random.default_rng(0)
    for _ in range(3):
        sh = messy.iloc[rng.permutation(len(messy))]
        pd.testing.assert_frame_equal(detect_anomalies(sh, "p99_ms", log=True), want_a)
        pd.testing.assert_frame_equal(change_points(sh, "p99_ms"), want_c)
        got = detect_anomalies(pl.from_pandas(sh.reset_index(drop=True)), "p99_ms", log=True).to_pandas()
        assert got["score"].tolist() == pytest.approx(want_a["score"].tolist())


def test_a_row_years_away_does_not_size_the_series():
    from holoops.analyze.counters import TimeRangeWarning

    df = seasonal(days=2, spike_at="2026-11-03T14:00:00Z")
    bad = pd.concat([df, df.iloc[[0]].assign(ts=T0 + pd.Timedelta(seconds=200_000_000))], ignore_index=True)
    with pytest.warns(TimeRangeWarning, match=r"^detect_anomalies: 1 of 5,761 samples .* 2033-03-04"):
        got = detect_anomalies(bad, "p99_ms", log=True)
    pd.testing.assert_frame_equal(got, detect_anomalies(df, "p99_ms", log=True))
    with pytest.warns(TimeRangeWarning, match=r"^change_points: "):
        change_points(bad, "p99_ms")
