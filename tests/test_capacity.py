"""Capacity planning: exhaustion intervals that contain the truth, no alarms on steady resources,
an honest backtest against seasonal naive, and growth scenarios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from holoops.analyze.capacity import capacity_report, latest_regime
from holoops.fleet import load_fleet

START = pd.Timestamp("2026-11-02T00:00:00Z")
DAYS = 10
SIZE = 200 * 2**30
BREAK_H = 24 * 7 + 10  # debug logging turned on
SLOW, FAST = 0.4 * 2**30 / 24, 0.45 * 2**30  # bytes per hour before / after


def _synthetic_metrics() -> tuple[pd.DataFrame, pd.Timestamp]:
    """Telemetry's disk fills slowly, then fast from BREAK_H; math-core's CPU is steady and seasonal."""
    rng = np.random.default_rng(3)
    ts = pd.date_range(START, periods=DAYS * 24 * 12, freq="5min", tz="UTC")
    h = np.arange(len(ts)) / 12.0
    daily = 1 + 0.5 * np.sin(2 * np.pi * (h - 9) / 24)
    # the fill rate follows traffic; the used bytes are its running sum
    rate = np.where(h < BREAK_H, SLOW, FAST) * daily * rng.lognormal(0, 0.3, len(ts))
    used = 60 * 2**30 + np.cumsum(rate / 12)
    cpu_cores = 1.2 * daily + rng.normal(0, 0.05, len(ts))
    cpu_counter = np.cumsum(np.clip(cpu_cores, 0, None) * 300)
    rows = [
        pd.DataFrame({"ts": ts, "metric": "node_filesystem_avail_bytes", "service": "telemetry",
                      "instance": "telemetry-0:8003", "value": SIZE - used, "mountpoint": "/var/lib/telemetry"}),
        pd.DataFrame({"ts": ts, "metric": "node_filesystem_size_bytes", "service": "telemetry",
                      "instance": "telemetry-0:8003", "value": float(SIZE), "mountpoint": "/var/lib/telemetry"}),
        pd.DataFrame({"ts": ts, "metric": "process_cpu_seconds_total", "service": "math-core",
                      "instance": "math-core-0:8004", "value": cpu_counter, "mountpoint": None}),
    ]
    # truth: the average daily fill rate after the break continues until the disk is full
    end_used = used[-1]
    hours_left = (SIZE - end_used) / (FAST * np.exp(0.3**2 / 2))  # mean of the lognormal noise
    return pd.concat(rows, ignore_index=True), ts[-1] + pd.Timedelta(hours=hours_left)


@pytest.fixture(scope="module")
def report():
    metrics, truth = _synthetic_metrics()
    return capacity_report(metrics, load_fleet(), horizon_days=30), truth


def test_regime_break_found():
    idx = pd.date_range(START, periods=200, freq="1h", tz="UTC")
    y = pd.Series(np.where(np.arange(200) < 150, np.arange(200) * 0.1, 15 + (np.arange(200) - 150) * 2.0), idx)
    assert abs((latest_regime(y) - idx[150]) / pd.Timedelta(hours=1)) <= 3
    assert latest_regime(pd.Series(np.arange(200) * 0.5, idx)) is None


def test_disk_exhaustion_interval_contains_truth(report):
    rep, truth = report
    disk = rep.get("telemetry", "disk")
    ex = disk.exhaustion
    assert ex["within_horizon"]
    assert ex["earliest"] <= truth <= ex["latest"], (ex, truth)
    assert ex["latest_days"] - ex["earliest_days"] < 10  # an interval an operator can act on
    assert disk.regime_start is not None
    assert "telemetry" in rep.summary()[0] and "disk" in rep.summary()[0]


def test_steady_resource_raises_no_alarm(report):
    rep, _ = report
    cpu = rep.get("math-core", "cpu")
    assert not cpu.exhaustion["within_horizon"]
    assert [f.resource for f in rep.alarms()] == ["disk"]


def test_backtest_reports_mase_against_seasonal_naive(report):
    rep, _ = report
    t = rep.table()
    assert t["MASE"].notna().all() and t["MASE_naive"].notna().all()
    for f in rep.forecasts:
        assert f.model_loses == (f.mase_model > f.mase_naive)
        assert f.model == ("seasonal_naive" if f.model_loses else "regression_ar1")
    assert "MASE" in rep._repr_html_()


def test_growth_scenario_scales_traffic_driven_resources():
    metrics, _ = _synthetic_metrics()
    fleet = load_fleet()
    base = capacity_report(metrics, fleet, resources=["cpu", "disk"])
    grown = capacity_report(metrics, fleet, resources=["cpu", "disk"], growth=0.3)
    assert grown.get("math-core", "cpu").peak_forecast == pytest.approx(
        base.get("math-core", "cpu").peak_forecast * 1.3, rel=1e-6)
    assert grown.get("telemetry", "disk").exhaustion["likely"] < base.get("telemetry", "disk").exhaustion["likely"]
    need = grown.replicas_needed(grown.get("math-core", "cpu"))
    assert need is not None and need >= base.replicas_needed(base.get("math-core", "cpu"))


def test_demo_fleet_disk_exhaustion_and_no_false_alarms(demo_week):
    """On the demo fleet: telemetry's filling disk gets an interval holding the true exhaustion time,
    and no other resource of any service is predicted to run out."""
    rep = capacity_report(demo_week.metrics, load_fleet(), horizon_days=30)
    truth = pd.Timestamp(demo_week.incident("disk_exhaustion")["exhausts_at"])
    ex = rep.get("telemetry", "disk").exhaustion
    assert ex["earliest"] <= truth <= ex["latest"], (ex, truth)
    assert [(f.service, f.resource) for f in rep.alarms()] == [("telemetry", "disk")]
    table = rep.table()
    assert table["MASE"].notna().all() and table["MASE_naive"].notna().all()  # every forecast is backtested


def test_a_sample_years_away_does_not_size_the_usage_grid():
    """One sample with a timestamp six years ahead: the 5-minute grid covers the rest, a warning names it."""
    from holoops.analyze.capacity import usage_series
    from holoops.analyze.counters import TimeRangeWarning

    metrics, _ = _synthetic_metrics()
    metrics = metrics[metrics["ts"] < START + pd.Timedelta(days=2)]
    bad = pd.concat([metrics, metrics.iloc[[5]].assign(ts=START + pd.Timedelta(seconds=200_000_000))])
    with pytest.warns(TimeRangeWarning, match=r"^capacity usage_series: 1 of .* 2033-03-04"):
        got = usage_series(bad.sample(frac=1, random_state=0), load_fleet())
    want = usage_series(metrics, load_fleet())
    assert [(i["service"], i["resource"], i["limit"]) for i in got] == \
        [(i["service"], i["resource"], i["limit"]) for i in want]
    for a, b in zip(got, want, strict=True):
        pd.testing.assert_series_equal(a["series"], b["series"])
