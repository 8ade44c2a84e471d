"""Capacity planning: forecasts with intervals, time to exhaustion, headroom, replicas, what-if growth.

For each service and resource in the fleet profile (CPU, memory, GPU memory, disk, and request rate
against what its replicas can sustain) :func:`capacity_report`:

1. builds an hourly usage series from the metrics (:func:`usage_series`);
2. finds the latest regime: when the slope changed (a config that turned on debug logging, say), only
   the data after the change says where the series is heading (:func:`latest_regime`);
3. forecasts with a regression on a linear trend and daily (and, given two weeks of data, weekly)
   Fourier terms with AR(1) errors (OLS as statsmodels computes it, covariance widened for autocorrelation: the model class of
   SARIMAX with exogenous regressors, fitted in milliseconds instead of seconds). Intervals add the
   coefficients' own uncertainty, which grows with the horizon. Levels that accumulate (disk) are
   modelled through their increments and integrated, so their intervals widen as a drifting series'
   must;
4. backtests honestly: the last day is held back, and the model's MASE is set beside a seasonal-naive
   forecast's. A model that loses to the baseline is flagged and the baseline is used instead;
5. reads off when the forecast and its interval cross the limit: "disk on telemetry is full between 9.1
   and 12.7 days from now", the headroom at peak, and the replicas needed at a target utilisation.

``growth`` (0.3 = +30 % traffic) scales what traffic drives: request rate and CPU, and the rate at which
disks fill. Memory and GPU memory are left as they are, and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from holoops.fleet import FleetProfile

Z95 = 1.959964
#: resources whose usage scales with traffic under a what-if growth scenario
TRAFFIC_DRIVEN = {"requests", "cpu"}
#: resources that accumulate (growth scales their rate of increase, not their level)
ACCUMULATING = {"disk"}
#: the shortest regime a trend is extrapolated from (a day: one full daily cycle)
MIN_TREND_HOURS = 24


@dataclass
class Forecast:
    """One resource's forecast, its backtest and what it means for capacity."""

    service: str
    resource: str
    unit: str
    limit: float
    history: pd.Series
    mean: pd.Series
    lower: pd.Series
    upper: pd.Series
    model: str  # "regression_ar1" or "seasonal_naive"
    mase_model: float
    mase_naive: float
    model_loses: bool
    regime_start: pd.Timestamp | None
    exhaustion: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def current(self) -> float:
        return float(self.history.iloc[-1])

    @property
    def peak_forecast(self) -> float:
        """The highest value the forecast expects over the horizon."""
        return float(self.mean.max())

    @property
    def peak_upper(self) -> float:
        """The highest upper 95 % bound over the horizon."""
        return float(self.upper.max())

    @property
    def headroom(self) -> float:
        """Share of the limit left at the forecast peak (negative: over the limit)."""
        return 1.0 - self.peak_forecast / self.limit if self.limit else float("nan")


# --------------------------------------------------------------------------------------------------
# usage series
# --------------------------------------------------------------------------------------------------
def usage_series(metrics: Any, fleet: FleetProfile, *, step: str = "1h") -> list[dict[str, Any]]:
    """Hourly usage per service and resource, with the limit it is measured against.

    Returns dicts with service, resource, unit, limit, series (pandas Series, UTC index).
    CPU is cores summed over instances against limit × replicas; memory is the busiest instance against
    its limit; GPU memory is DCGM_FI_DEV_FB_USED against used + free; disk is size − available;
    requests are req/s summed over instances against replica_capacity_rps × replicas.
    """
    import numpy as np
    import pandas as pd

    from holoops.analyze.counters import NS, _grid_bounds, _to_arrow, _ts_ns, gauge_matrix, rate_matrix
    from holoops.catalogs import signals
    sig = signals()
    m = metrics  # any engine: the matrices read it through Arrow, no pandas round trip
    # the 5-minute grid over the samples' times (a sample with a timestamp years away does not size it:
    # see counters._grid_bounds)
    ts = _ts_ns(_to_arrow(m, ["ts"]).drop_null())
    if not len(ts):
        return []
    lo, hi = _grid_bounds(ts, 300 * NS, step="5m", what="capacity usage_series")
    t0, t1 = pd.Timestamp(lo, tz="UTC").ceil("5min"), pd.Timestamp(hi, tz="UTC").floor("5min")
    grid_idx = pd.date_range(t0, t1, freq="5min", tz="UTC")
    grid = grid_idx.as_unit("ns").asi8

    def frame(keys, mat, how):
        out = {}
        for key, row in zip(keys, mat, strict=True):
            # each value stands for the hour that ENDS at its timestamp (a "last" sample is read then)
            s = pd.Series(row, index=grid_idx).resample(step, closed="right", label="right").agg(how).dropna()
            out[key[0]] = s
        return out

    def rates(metric):
        return frame(*rate_matrix(m, metric, grid, window="15m", by=("service",)), "mean")

    def gauges(metric, how="max", agg="max"):
        return frame(*gauge_matrix(m, metric, grid, lookback="5m", by=("service",), how=how), agg)

    out: list[dict[str, Any]] = []
    cpu, mem = rates(sig["cpu"]["metric"]), gauges(sig["memory"]["metric"])
    req = rates(sig["requests"]["metric"])
    fb_used, fb_free = gauges(sig["gpu"]["memory_used"]), gauges(sig["gpu"]["memory_free"], agg="min")
    avail, size = gauges(sig["disk"]["available"], how="mean", agg="last"), gauges(sig["disk"]["size"])
    for name, svc in fleet.services.items():
        res = svc.resources
        if name in cpu:
            out.append(dict(service=name, resource="cpu", unit="cores", series=cpu[name],
                            limit=res.cpu.limit * svc.replicas))
        if name in mem:
            out.append(dict(service=name, resource="memory", unit="bytes", series=mem[name],
                            limit=float(res.memory.limit_bytes)))
        if name in req and svc.replica_capacity_rps:
            out.append(dict(service=name, resource="requests", unit="req/s", series=req[name],
                            limit=svc.replica_capacity_rps * svc.replicas))
        if res.gpu and name in fb_used:
            used = fb_used[name]
            total = (used + fb_free[name]).median() if name in fb_free else np.nan
            limit = float(total) if total == total else res.gpu.memory_bytes / 2**20
            out.append(dict(service=name, resource="gpu_memory", unit="MiB", series=used, limit=limit))
        if res.disk and name in avail:
            total = float(size[name].median()) if name in size else float(res.disk.size_bytes)
            out.append(dict(service=name, resource="disk", unit="bytes", series=total - avail[name],
                            limit=total))
    return out


# --------------------------------------------------------------------------------------------------
# modelling
# --------------------------------------------------------------------------------------------------
def latest_regime(y: pd.Series, *, min_points: int = 24, penalty: float = 10.0) -> pd.Timestamp | None:
    """Start of the latest linear regime of ``y`` (daily cycle removed first), or None.

    The break that best splits the series into two lines is kept when it lowers the BIC by more than
    ``penalty`` (each side at least ``min_points``). The search then repeats inside the later part with
    half that minimum, accepting a break there only where the slope at least halves: a restart followed
    by a warm-up and a plateau ends at the plateau, where the series is heading now.
    """
    start = None
    part = _without_daily_cycle(y)
    need, flattening = min_points, False
    while True:
        found = _best_break(part.to_numpy(dtype=float), need, penalty)
        if found is None:
            return start
        k, before, after = found
        if flattening and abs(after) > 0.5 * abs(before):
            return start
        start = part.index[k]
        part = part.iloc[k:]
        need, flattening = max(min_points // 2, 6), True


def _ols(y, x):
    """Ordinary least squares as statsmodels' ``OLS(y, x).fit()`` computes it (pseudo-inverse; covariance
    ``scale * pinv(x) pinv(x)'`` with ``scale = ssr / (n - rank)``), in numpy: importing statsmodels costs a
    notebook 1-2 s. Returns (params, residuals, covariance)."""
    import numpy as np

    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    pinv = np.linalg.pinv(x)
    params = pinv @ y
    resid = y - x @ params
    dof = max(1, len(y) - int(np.linalg.matrix_rank(x)))
    return params, resid, (resid @ resid / dof) * (pinv @ pinv.T)


def _without_daily_cycle(y: pd.Series) -> pd.Series:
    """``y`` minus its daily Fourier component (fitted with a trend), when there are 2+ days of it."""
    if len(y) < 48:
        return y
    step = y.index[1] - y.index[0]
    x = _design(y.index, y.index[0], step, [(24.0, 3)], trend=True)
    params, _, _ = _ols(y.to_numpy(dtype=float), x.to_numpy())
    seasonal = x.iloc[:, 2:].to_numpy() @ params[2:]
    return y - seasonal


def _best_break(v, min_points: int, penalty: float) -> tuple[int, float, float] | None:
    """(index, slope before, slope after) of the best two-line split, or None when one line will do."""
    import numpy as np

    n = len(v)
    if n < 2 * min_points:
        return None
    t = np.arange(n, dtype=float)

    def fit(a, b):
        coef = np.polyfit(t[a:b], v[a:b], 1)
        return float(((np.polyval(coef, t[a:b]) - v[a:b]) ** 2).sum()), float(coef[0])

    base, _ = fit(0, n)
    if base <= 1e-12 * max(float(np.var(v)) * n, 1e-300):  # a perfect line: nothing to split
        return None
    best, best_k = base, None
    for k in range(min_points, n - min_points + 1, 2):
        s = fit(0, k)[0] + fit(k, n)[0]
        if s < best:
            best, best_k = s, k
    if best_k is None:
        return None
    bic_gain = n * math.log(max(base, 1e-300) / max(best, 1e-300)) - 3 * math.log(n)
    if bic_gain <= penalty:
        return None
    return best_k, fit(0, best_k)[1], fit(best_k, n)[1]


def _fourier(index: pd.DatetimeIndex, periods_h: list[tuple[float, int]]):
    import numpy as np
    import pandas as pd

    hours = (index - pd.Timestamp("2000-01-01", tz="UTC")) / pd.Timedelta(hours=1)
    cols = {}
    for period, order in periods_h:
        for k in range(1, order + 1):
            w = 2 * np.pi * k * np.asarray(hours) / period
            cols[f"s{period:g}_{k}"] = np.sin(w)
            cols[f"c{period:g}_{k}"] = np.cos(w)
    return pd.DataFrame(cols, index=index)


def _design(index: pd.DatetimeIndex, t0: pd.Timestamp, step: pd.Timedelta, periods, trend: bool):
    import numpy as np
    import pandas as pd

    x = _fourier(index, periods) if periods else pd.DataFrame(index=index)
    if trend:
        x.insert(0, "trend_t", np.asarray((index - t0) / step, dtype=float))
    x.insert(0, "const", 1.0)
    return x


def _regression_ar1(y: pd.Series, horizon: int, *, trend: bool = True):
    """OLS on [1, t, Fourier terms] with AR(1) residual dynamics (:func:`_ols`).

    Returns what a forecast needs: the future index and design matrix, the coefficients and their
    covariance, inflated by (1+ρ)/(1-ρ) for positively autocorrelated residuals so they do not make the
    trend look surer than it is (Newey-West underestimates badly on the few days a regime may have),
    the last residual, its AR(1) coefficient ρ and the innovation variance σ².
    """
    import numpy as np
    import pandas as pd

    step = y.index[1] - y.index[0]
    future = pd.date_range(y.index[-1] + step, periods=horizon, freq=step)
    periods = [(24.0, 3)] if len(y) >= 36 else []
    if len(y) >= 24 * 14:
        periods.append((168.0, 2))
    x_hist = _design(y.index, y.index[0], step, periods, trend)
    x_fut = _design(future, y.index[0], step, periods, trend)
    params, resid, cov = _ols(y.to_numpy(dtype=float), x_hist.to_numpy())
    rho = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if len(resid) > 3 and resid.std() > 0 else 0.0
    rho = float(np.clip(rho if rho == rho else 0.0, -0.98, 0.98))
    innov = resid[1:] - rho * resid[:-1]
    sigma2 = float(np.var(innov)) if len(innov) > 1 else 0.0
    # AR(1) errors: n correlated residuals carry the information of n(1-ρ)/(1+ρ) independent ones
    inflate = (1 + rho) / (1 - rho) if rho > 0 else 1.0
    return future, x_fut.to_numpy(), params, cov * inflate, resid[-1], rho, sigma2


def _fit_trend_model(y: pd.Series, horizon: int, *, trend: bool = True):
    """Forecast a level: regression on trend + seasonality with AR(1) errors; returns (mean, sd).

    sd² = the AR(1) forecast-error variance σ²(1-ρ^2h)/(1-ρ²) plus the coefficients' own uncertainty
    x_h' Σ x_h, which grows with the horizon through the trend term.
    """
    import numpy as np
    import pandas as pd

    future, xf, beta, cov, last, rho, sigma2 = _regression_ar1(y, horizon, trend=trend)
    h = np.arange(1, horizon + 1, dtype=float)
    mean = xf @ beta + last * rho**h
    noise = sigma2 * (1 - rho ** (2 * h)) / (1 - rho**2)
    param = np.einsum("ij,jk,ik->i", xf, cov, xf)
    return pd.Series(mean, index=future), pd.Series(np.sqrt(noise + np.clip(param, 0, None)), index=future)


def _fit_accumulating(y: pd.Series, horizon: int):
    """Forecast a level that accumulates (disk): model the per-step increments, then integrate.

    Increments get a regression on [1, Fourier terms] with AR(1) errors. The level's variance after h
    steps is S_h' Σ S_h, the uncertainty of the summed mean increments (S_h = the summed design rows),
    plus h·σ²/(1-ρ)², the long-run variance of h summed AR(1) errors: an integrated series drifts, and
    its interval must widen like it.
    """
    import numpy as np
    import pandas as pd

    d = y.diff().dropna()
    future, xf, beta, cov, last, rho, sigma2 = _regression_ar1(d, horizon, trend=False)
    h = np.arange(1, horizon + 1, dtype=float)
    mean = float(y.iloc[-1]) + np.cumsum(xf @ beta + last * rho**h)
    s = np.cumsum(xf, axis=0)
    param = np.einsum("ij,jk,ik->i", s, cov, s)
    noise = h * sigma2 / (1 - rho) ** 2
    return pd.Series(mean, index=future), pd.Series(np.sqrt(noise + np.clip(param, 0, None)), index=future)


def _seasonal_naive(y: pd.Series, horizon: int, m: int):
    """Repeat the last season; the interval grows with the number of seasons ahead."""
    import numpy as np
    import pandas as pd

    step = y.index[1] - y.index[0]
    future = pd.date_range(y.index[-1] + step, periods=horizon, freq=step)
    m = min(m, len(y))
    last = y.to_numpy()[-m:]
    mean = pd.Series(np.resize(last, horizon), index=future)
    resid = (y - y.shift(m)).dropna()
    sigma = float(resid.std()) if len(resid) > 2 else float(y.std() or 0.0)
    k = np.floor(np.arange(horizon) / m) + 1
    return mean, pd.Series(sigma * np.sqrt(k), index=future)


def _mase(actual, forecast, train: pd.Series, m: int) -> float:
    import numpy as np

    scale = np.mean(np.abs(np.diff(train.to_numpy(), n=1) if len(train) <= m
                           else train.to_numpy()[m:] - train.to_numpy()[:-m]))
    err = np.mean(np.abs(np.asarray(actual) - np.asarray(forecast)))
    return float(err / scale) if scale > 0 else float("inf") if err > 0 else 0.0


def forecast_resource(item: dict[str, Any], *, horizon_days: float = 30, growth: float = 0.0,
                      holdout_hours: int = 24) -> Forecast:
    """Forecast one usage series (a dict from :func:`usage_series`) and read off exhaustion."""
    import numpy as np

    y: pd.Series = item["series"].astype(float)
    y = y[~y.isna()]
    step_h = (y.index[1] - y.index[0]) / np.timedelta64(1, "h")
    m = int(round(24 / step_h))
    horizon = int(horizon_days * 24 / step_h)
    # traffic-driven series carry a weekly cycle a week of data cannot tell from a change of regime
    regime = None if item["resource"] in TRAFFIC_DRIVEN else latest_regime(y)
    fit_y = y[y.index >= regime] if regime is not None else y
    notes = []
    if regime is not None:
        notes.append(f"slope changed at {regime:%Y-%m-%d %H:%M} UTC; forecasting from the data since")
    trend = len(fit_y) * step_h >= MIN_TREND_HOURS
    if not trend:
        notes.append(f"only {len(fit_y) * step_h:.0f} h since that change: too little to estimate a trend, "
                     "forecasting its level and daily cycle")

    # backtest on a held-back tail: of the regime when it is long enough, else of the whole history
    # (same model, so every forecast carries its MASE against seasonal naive)
    if item["resource"] in ACCUMULATING:
        fit = _fit_accumulating
    else:
        def fit(series, h):
            return _fit_trend_model(series, h, trend=trend)
    back = fit_y if len(fit_y) >= m + 6 + min(holdout_hours, len(fit_y) // 4) else y
    hold = min(holdout_hours, max(len(back) // 4, 1))
    train, test = back.iloc[:-hold], back.iloc[-hold:]
    mase_model = mase_naive = float("nan")
    model_loses = False
    if len(train) >= m + 6:
        mt, _ = fit(train, hold)
        nt, _ = _seasonal_naive(train, hold, m)
        mase_model = _mase(test, mt, train, m)
        mase_naive = _mase(test, nt, train, m)
        model_loses = mase_model > mase_naive
    if model_loses:
        mean, sd = _seasonal_naive(y, horizon, m)
        model = "seasonal_naive"
        notes.append(f"the regression model lost to seasonal naive on the backtest (MASE {mase_model:.2f} vs "
                     f"{mase_naive:.2f}); using the baseline")
    else:
        mean, sd = fit(fit_y, horizon)
        model = "regression_ar1"

    resource = item["resource"]
    if growth:
        if resource in TRAFFIC_DRIVEN:
            mean = mean * (1 + growth)
            sd = sd * (1 + growth)
        elif resource in ACCUMULATING:
            mean = y.iloc[-1] + (mean - y.iloc[-1]) * (1 + growth)
        else:
            notes.append(f"growth scenario does not change {resource} (not traffic-driven)")
    lower, upper = mean - Z95 * sd, mean + Z95 * sd
    # physical bounds: no resource is used below zero (no negative memory in a band); the crossing of the
    # limit above is what the forecast is for, so the upper side is left as it is
    lower, mean = lower.clip(lower=0.0), mean.clip(lower=0.0)
    fc = Forecast(item["service"], resource, item["unit"], float(item["limit"]), y, mean, lower, upper, model,
                  mase_model, mase_naive, model_loses, regime, notes=notes)
    fc.exhaustion = _exhaustion(fc)
    return fc


def _exhaustion(fc: Forecast) -> dict[str, Any]:
    """When the forecast (and its 95 % band) first reaches the limit, as times and days from now."""
    now = fc.history.index[-1]

    def first(series):
        """First crossing of the limit, interpolated between forecast steps."""
        above = (series >= fc.limit).to_numpy()
        if not above.any():
            return None
        i = int(above.argmax())
        t1, v1 = series.index[i], float(series.iloc[i])
        t0, v0 = (now, float(fc.history.iloc[-1])) if i == 0 else (series.index[i - 1], float(series.iloc[i - 1]))
        frac = (fc.limit - v0) / (v1 - v0) if v1 != v0 else 1.0
        return t0 + (t1 - t0) * min(max(frac, 0.0), 1.0)

    likely, earliest, latest = first(fc.mean), first(fc.upper), first(fc.lower)

    def days(t):
        return None if t is None else (t - now).total_seconds() / 86400

    return {"likely": likely, "earliest": earliest, "latest": latest,
            "likely_days": days(likely), "earliest_days": days(earliest), "latest_days": days(latest),
            "within_horizon": likely is not None}


# --------------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------------
@dataclass
class CapacityReport:
    """Every forecast, with a table and figures that display in notebooks."""

    forecasts: list[Forecast]
    horizon_days: float
    growth: float
    target_utilisation: float
    fleet: FleetProfile

    def get(self, service: str, resource: str) -> Forecast:
        for f in self.forecasts:
            if f.service == service and f.resource == resource:
                return f
        raise KeyError(f"no forecast for {service}/{resource}")

    def replicas_needed(self, f: Forecast) -> int | None:
        """Replicas that keep the forecast peak at the target utilisation (request rate and CPU)."""
        svc = self.fleet.services.get(f.service)
        if svc is None or f.resource not in TRAFFIC_DRIVEN:
            return None
        per_replica = f.limit / svc.replicas
        return max(1, math.ceil(f.peak_forecast / (per_replica * self.target_utilisation)))

    def alarms(self) -> list[Forecast]:
        """Resources whose most likely exhaustion falls inside the horizon."""
        return [f for f in self.forecasts if f.exhaustion.get("within_horizon")]

    def table(self) -> pd.DataFrame:
        import pandas as pd

        rows = []
        for f in self.forecasts:
            ex = f.exhaustion
            if ex["within_horizon"]:
                lo = ex["earliest_days"]
                hi = ex["latest_days"]
                when = (f"{lo:.1f}–{hi:.1f} d (likely {ex['likely_days']:.1f})" if hi is not None
                        else f"from {lo:.1f} d (likely {ex['likely_days']:.1f})")
            elif ex["earliest"] is not None:
                when = f"possible from {ex['earliest_days']:.1f} d (unlikely within {self.horizon_days:g} d)"
            else:
                when = f"not within {self.horizon_days:g} d"
            rows.append({
                "service": f.service, "resource": f.resource, "unit": f.unit,
                "current": f.current, "peak_forecast": f.peak_forecast, "peak_upper95": f.peak_upper,
                "limit": f.limit,
                "peak_utilisation": f.peak_forecast / f.limit if f.limit else float("nan"),
                "headroom": f.headroom, "exhaustion": when, "model": f.model,
                "MASE": f.mase_model, "MASE_naive": f.mase_naive,
                "replicas_needed": self.replicas_needed(f),
            })
        return pd.DataFrame(rows)

    def summary(self) -> list[str]:
        """Sentences an operator can paste into a ticket."""
        out = []
        for f in self.alarms():
            ex = f.exhaustion
            what = f"{f.resource.replace('_', ' ')} on {f.service} is full"
            if ex["latest_days"] is not None:
                when = f"between {ex['earliest_days']:.1f} and {ex['latest_days']:.1f} days from now"
            else:
                when = f"from {ex['earliest_days']:.1f} days from now (the upper bound is past the horizon)"
            out.append(f"{what} {when}, most likely {ex['likely']:%Y-%m-%d %H:%M} UTC")
        return out or [f"no resource reaches its limit within {self.horizon_days:g} days"]

    def _repr_html_(self) -> str:
        t = self.table()
        fmt = {"current": "{:,.3g}", "peak_forecast": "{:,.3g}", "peak_upper95": "{:,.3g}", "limit": "{:,.3g}",
               "peak_utilisation": "{:.0%}", "headroom": "{:.0%}", "MASE": "{:.2f}", "MASE_naive": "{:.2f}"}
        for col, f in fmt.items():
            t[col] = t[col].map(lambda v, f=f: "" if v != v else f.format(v))
        head = "".join(f"<li>{s}</li>" for s in self.summary())
        growth = f" with +{self.growth:.0%} traffic" if self.growth else ""
        return (f"<h4>Capacity over the next {self.horizon_days:g} days{growth}</h4><ul>{head}</ul>"
                + t.to_html(index=False, escape=True))

    def figure(self, service: str, resource: str):
        """History, forecast and 95 % band against the limit."""
        import plotly.graph_objects as go

        f = self.get(service, resource)
        fig = go.Figure()
        fig.add_scatter(x=f.history.index, y=f.history.values, name="history", line=dict(color="#1f77b4"))
        fig.add_scatter(x=f.upper.index, y=f.upper.values, line=dict(width=0), showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=f.lower.index, y=f.lower.values, fill="tonexty", line=dict(width=0),
                        fillcolor="rgba(255,127,14,0.2)", name="95% interval")
        fig.add_scatter(x=f.mean.index, y=f.mean.values, name=f"forecast ({f.model})",
                        line=dict(color="#ff7f0e", dash="dash"))
        fig.add_hline(y=f.limit, line=dict(color="#d62728"), annotation_text="limit")
        if f.regime_start is not None:
            fig.add_vline(x=f.regime_start, line=dict(color="grey", dash="dot"))
        fig.update_layout(title=f"{resource} on {service} ({f.unit})", height=320,
                          margin=dict(l=40, r=20, t=40, b=30))
        return fig


def capacity_report(metrics: Any, fleet: FleetProfile, *, horizon_days: float = 30, growth: float = 0.0,
                    target_utilisation: float = 0.7, services: list[str] | None = None,
                    resources: list[str] | None = None) -> CapacityReport:
    """Forecast every (service, resource) in the profile and read off exhaustion and headroom."""
    items = usage_series(metrics, fleet)
    items = [i for i in items if (services is None or i["service"] in services)
             and (resources is None or i["resource"] in resources) and len(i["series"]) >= 12]
    forecasts = [forecast_resource(i, horizon_days=horizon_days, growth=growth) for i in items]
    return CapacityReport(forecasts, horizon_days, growth, target_utilisation, fleet)
