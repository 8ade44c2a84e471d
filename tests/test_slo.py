"""SLOs: error budgets and multi-window burn rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from holoops.analyze.slo import burn_rates, sli_counts, slo_report
from holoops.fleet import load_fleet

T0 = pd.Timestamp("2026-11-02T00:00:00Z")


@pytest.fixture(scope="module")
def fleet():
    return load_fleet()


def vault_metrics(hours: int = 12, err_per_min: float = 0.5, burst_from: int | None = None,
                  burst_minutes: int | None = None) -> pd.DataFrame:
    """vault: 1000 requests/min; ``err_per_min`` 5xx/min (0.05 %) and a 20 % burst from minute ``burst_from``
    (to the end, or for ``burst_minutes``); a latency histogram with 0.5 % of requests over 50 ms."""
    n = hours * 60
    ok_inc = np.full(n, 1000.0 - err_per_min)
    err_inc = np.full(n, err_per_min)
    if burst_from is not None:
        stop = None if burst_minutes is None else burst_from + burst_minutes
        err_inc[burst_from:stop] = 200.0
        ok_inc[burst_from:stop] = 800.0
    ts = T0 + pd.to_timedelta(np.arange(n), unit="min")
    rows = []
    for code, inc in (("200", ok_inc), ("500", err_inc)):
        rows.append(pd.DataFrame({"ts": ts, "metric": "http_requests_total", "service": "vault", "instance": "v-0",
                                  "code": code, "le": None, "value": np.cumsum(inc)}))
    tot = ok_inc + err_inc
    for le, share in (("0.01", 0.7), ("0.05", 0.995), ("+Inf", 1.0)):
        rows.append(pd.DataFrame({"ts": ts, "metric": "http_request_duration_seconds_bucket", "service": "vault",
                                  "instance": "v-0", "code": None, "le": le, "value": np.cumsum(tot * share)}))
    return pd.concat(rows, ignore_index=True)


def test_budget_and_burn_in_steady_state(fleet):
    rep = slo_report(vault_metrics(err_per_min=0.4), fleet)
    row = next(r for r in rep.rows if r["service"] == "vault" and r["sli"] == "availability")
    # target 99.95 % -> 0.05 % allowed; 0.04 % errors burns the budget at 0.8x, 20 % of it stays
    assert row["burn_1h"] == pytest.approx(0.8, rel=1e-6)
    assert row["budget_remaining"] == pytest.approx(0.2, rel=1e-6)
    assert row["status"] == "ok"
    assert slo_report(vault_metrics(err_per_min=0.6), fleet).rows[0]["status"] == "warning"  # 3d/6h > 1x: a ticket
    lat = next(r for r in rep.rows if r["sli"] == "latency")
    # 0.5 % slower than 50 ms against a 1 % allowance (p99 < 50 ms): half the budget left
    assert lat["burn_1h"] == pytest.approx(0.5, rel=1e-6)
    assert lat["budget_remaining"] == pytest.approx(0.5, rel=1e-6)
    assert "data's window" in rep.window_note and "30d" in rep.window_note


def test_spent_budget_is_a_warning_when_the_burn_is_over(fleet):
    """A 10-minute 20 % burst spends the 12 h budget (360 errors of 720k requests) and is over long before
    the end: no burn alert is open, but the budget is exhausted -- a warning with the minute it ran out."""
    rep = slo_report(vault_metrics(err_per_min=0.1, burst_from=60, burst_minutes=10), fleet)
    row = next(r for r in rep.rows if r["service"] == "vault" and r["sli"] == "availability")
    # one severity scale: no burn alert is open, but a spent budget is a warning, never a green "ok"
    assert row["status"] == "warning" and row["firing"] is None and row["budget_remaining"] < 0
    assert T0 + pd.Timedelta(minutes=60) <= row["exhausted_at"] < T0 + pd.Timedelta(minutes=70)
    spent = [f for f in rep.findings() if f.kind == "slo_budget_exhausted"]
    assert len(spent) == 1 and spent[0].severity == "warning" and spent[0].service == "vault"
    assert spent[0].onset == row["exhausted_at"] and "exhausted" in rep._repr_html_()
    # a budget with room left raises nothing
    steady = slo_report(vault_metrics(err_per_min=0.4), fleet)
    assert not steady.findings() and all(r["exhausted_at"] is None for r in steady.rows)


def test_fast_burn_pages(fleet):
    m = vault_metrics(err_per_min=0.25, burst_from=12 * 60 - 70)
    rep = slo_report(m, fleet)
    row = next(r for r in rep.rows if r["service"] == "vault" and r["sli"] == "availability")
    assert row["burn_5m"] == pytest.approx(0.2 / 0.0005)
    assert row["status"] == "critical"  # pages
    assert row["alert_since"] is not None
    alerts = rep.alerts
    assert ((alerts.service == "vault") & (alerts.rule == "1h/5m > 14.4x")).any()
    assert rep.findings()[0].severity == "critical"
    html = rep._repr_html_()
    assert "<h4>vault</h4>" in html and "critical" in html
    br = burn_rates(m, fleet, windows=("5m", "1h"))
    assert set(br.window) == {"5m", "1h"}


def test_pandas_and_polars_agree(fleet):
    m = vault_metrics(burst_from=600)
    a, b = slo_report(m, fleet), slo_report(pl.from_pandas(m), fleet)
    assert isinstance(b.summary, pl.DataFrame)
    for col in ("sli_value", "budget_remaining", "burn_5m", "burn_1h", "burn_6h"):
        assert np.allclose(a.summary[col].to_numpy(dtype=float), b.summary[col].to_numpy(), equal_nan=True)
    ca, cb = sli_counts(m, fleet), sli_counts(pl.from_pandas(m), fleet)
    assert ca["bad"].tolist() == pytest.approx(cb["bad"].to_list())


def test_demo_error_burst_pages_router(fleet):
    sim = pytest.importorskip("holoops.demo").simulate
    demo = sim(days=2, seed=7, incidents=["error_burst"])
    burst = demo.incident("error_burst")
    br = burn_rates(demo.metrics, fleet, windows=("5m", "1h"))
    r = br[(br.service == "router") & (br.sli == "availability")].set_index(["window", "ts"])
    at = pd.Timestamp(burst["onset"]) + pd.Timedelta(minutes=30)
    assert r.loc[("5m", at), "burn"] > 14.4 and r.loc[("1h", at), "burn"] > 14.4
    quiet_end = pd.Timestamp(burst["onset"]) - pd.Timedelta(hours=2)
    q = br[(br.window == "1h") & (br.ts < quiet_end) & (br.ts > demo.window[0] + pd.Timedelta(hours=2))]
    assert q.burn.max() < 14.4
    rep = slo_report(demo.metrics, fleet)
    assert {r["service"] for r in rep.rows} == set(fleet.services)
