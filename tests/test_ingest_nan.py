"""NaN metric samples are data (Prometheus and OpenMetrics allow them: a summary quantile with no
observations, a ratio of zeros), so every metrics reader keeps them as NaN; a NaN where a number is required
(a request's latency, a span's duration or size) is still rejected as ``nan_value``. The analyses take frames
holding NaN samples."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pytest

from holoops.sources.exports import convert_export, read_export

T0 = pd.Timestamp("2026-11-02T10:00:00Z")
T0_S = int(T0.timestamp())


def _nan_count(res) -> int:
    if isinstance(res.frame, pd.DataFrame):  # pandas has one missing value: NaN
        return int(res.frame["value"].isna().sum())
    return int(res.frame["value"].is_nan().sum())


def _write(tmp_path, fmt: str):
    """The same 4 samples (2 of them NaN) in each metrics format."""
    rows = [("up", "vault", "v:1", 1.0), ("up", "router", "r:1", float("nan")),
            ("rpc_duration_seconds", "vault", "v:1", float("nan")), ("rpc_duration_seconds_count", "vault", "v:1", 0.0)]
    p = tmp_path / f"m.{fmt}"
    if fmt == "prom":  # Prometheus text, millisecond timestamps
        p.write_text("".join(f'{m}{{job="{s}",instance="{i}"}} {"NaN" if math.isnan(v) else v} {T0_S * 1000}\n'
                             for m, s, i, v in rows))
    elif fmt == "om":  # OpenMetrics: a summary whose quantile saw no observations
        p.write_text("# TYPE up gauge\n"
                     f'up{{job="vault",instance="v:1"}} 1 {T0_S}\nup{{job="router",instance="r:1"}} NaN {T0_S}\n'
                     "# TYPE rpc_duration_seconds summary\n"
                     f'rpc_duration_seconds{{job="vault",instance="v:1",quantile="0.5"}} NaN {T0_S}\n'
                     f'rpc_duration_seconds_count{{job="vault",instance="v:1"}} 0 {T0_S}\n# EOF\n')
    elif fmt == "json":  # query_range: NaN is the string "NaN"
        p.write_text(json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": m, "job": s, "instance": i}, "values": [[T0_S, "NaN" if math.isnan(v) else str(v)]]}
            for m, s, i, v in rows]}}))
    elif fmt == "vector":  # an instant query (the general reader)
        p.write_text(json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": m, "job": s, "instance": i}, "value": [T0_S, "NaN" if math.isnan(v) else str(v)]}
            for m, s, i, v in rows]}}))
    else:
        df = pl.DataFrame({"ts": [T0.to_pydatetime()] * 4, "metric": [r[0] for r in rows],
                           "service": [r[1] for r in rows], "instance": [r[2] for r in rows],
                           "value": [r[3] for r in rows]})
        if fmt == "csv":  # polars writes NaN as "NaN"
            df.write_csv(p)
        elif fmt == "parquet":
            df.write_parquet(p)
        else:  # JSON-lines rows: NaN as the string "NaN" (JSON has no NaN)
            p.write_bytes(b"".join(orjson.dumps({"ts": T0.isoformat(), "metric": m, "service": s, "instance": i,
                                                 "value": "NaN" if math.isnan(v) else v}) + b"\n"
                                   for m, s, i, v in rows))
    return p


@pytest.mark.parametrize("fmt", ["prom", "om", "json", "vector", "csv", "parquet", "jsonl"])
@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_every_metrics_reader_keeps_nan_samples(tmp_path, fmt, engine):
    res = read_export(_write(tmp_path, fmt), engine=engine, dead_letter=tmp_path / "dl.jsonl")
    assert res.kind == "metrics" and (res.read, res.ingested, res.rejected) == (4, 4, 0), res.summary()
    assert _nan_count(res) == 2
    f = pl.from_pandas(res.frame, nan_to_null=False) if engine == "pandas" else res.frame
    assert f.filter(pl.col("value").is_nan())["service"].sort().to_list() == ["router", "vault"]
    assert not (tmp_path / "dl.jsonl").exists()


def test_jsonl_metrics_with_nan_strings_take_the_fast_path(monkeypatch, tmp_path):
    from holoops.sources.formats import jsonl_logs

    p = _write(tmp_path, "jsonl")
    got = []
    real = jsonl_logs._read_whole
    monkeypatch.setattr(jsonl_logs, "_read_whole", lambda *a: got.append(real(*a)) or got[-1])
    res = read_export(p, engine="polars")
    assert got[0] is not None and _nan_count(res) == 2


def test_streamed_conversion_keeps_nan_samples(tmp_path):
    for fmt in ("prom", "csv"):
        res = convert_export(_write(tmp_path, fmt), tmp_path / f"pq_{fmt}", partition_on=())
        back = pl.read_parquet(tmp_path / f"pq_{fmt}" / "*.parquet")
        assert res.ingested == 4 and back["value"].is_nan().sum() == 2


@pytest.mark.parametrize("case", ["jsonl_latency", "csv_latency", "jsonl_span_duration"])
def test_nan_where_a_number_is_required_is_rejected(tmp_path, case):
    p = tmp_path / "x.data"
    if case == "jsonl_latency":
        p.write_text('{"ts": "2026-11-02T10:00:00Z", "msg": "a", "latency_ms": 3.5}\n'
                     '{"ts": "2026-11-02T10:00:01Z", "msg": "b", "latency_ms": "NaN"}\n')
        field = "latency_ms"
    elif case == "csv_latency":
        p.write_text("ts,message,latency_ms\n2026-11-02T10:00:00Z,a,3.5\n2026-11-02T10:00:01Z,b,nan\n")
        field = "latency_ms"
    else:
        p.write_text('{"trace_id": "t", "span_id": "a", "start": "2026-11-02T10:00:00Z", "duration_ms": 2.0}\n'
                     '{"trace_id": "t", "span_id": "b", "start": "2026-11-02T10:00:00Z", "duration_ms": "NaN"}\n')
        field = "duration_ms"
    res = read_export(p, engine="polars")
    assert (res.read, res.ingested, res.reasons) == (2, 1, {"nan_value": 1})
    assert (res.samples[0]["field"], res.samples[0]["line"]) == (field, 3 if case == "csv_latency" else 2)


def _fleet_text(nan: bool) -> str:
    """Exposition text for vault (2 instances, 30 minutes): request counters, the latency histogram, CPU and
    memory; with ``nan``, a NaN memory gauge sample, a NaN counter sample and a NaN bucket sample."""
    lines = []
    for inst in ("a", "b"):
        for i in range(30):
            t = (T0_S + 60 * i) * 1000
            lab = f'job="vault",instance="{inst}"'
            ok, err = 600 * (i + 1), 6 * (i + 1)
            mem = "NaN" if nan and inst == "a" and i == 10 else str(256 * 2**20)
            lines += [f'up{{{lab}}} 1 {t}',
                      f'http_requests_total{{{lab},route="/v1/x",code="200"}} {"NaN" if nan and inst == "a" and i == 12 else ok} {t}',
                      f'http_requests_total{{{lab},route="/v1/x",code="500"}} {err} {t}',
                      f'process_cpu_seconds_total{{{lab}}} {30.0 * (i + 1)} {t}',
                      f'process_resident_memory_bytes{{{lab}}} {mem} {t}']
            for le, c in (("0.01", 300), ("0.05", 540), ("0.1", 600), ("+Inf", 606)):
                v = "NaN" if nan and inst == "a" and le == "0.05" and i == 14 else str(c * (i + 1))
                lines.append(f'http_request_duration_seconds_bucket{{{lab},le="{le}"}} {v} {t}')
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_golden_signals_and_saturation_take_nan_samples(tmp_path, engine):
    """A NaN gauge, counter or bucket sample does not break golden signals or saturation (the analyses treat
    a NaN sample as a missing one); minutes away from the NaN samples are unchanged."""
    from holoops.analyze.signals import golden_signals, saturation
    from holoops.fleet import load_fleet

    fleet = load_fleet()
    out = {}
    for nan in (False, True):
        p = tmp_path / f"m_{nan}.prom"
        p.write_text(_fleet_text(nan))
        res = read_export(p, engine=engine)
        assert res.rejected == 0 and _nan_count(res) == (3 if nan else 0)
        gs, sat = golden_signals(res.frame, fleet), saturation(res.frame, fleet)
        if engine == "polars":
            gs, sat = gs.to_pandas(), sat.to_pandas()
        out[nan] = gs, sat
    (gs0, sat0), (gs1, sat1) = out[False], out[True]
    assert len(gs1) == len(gs0) and len(sat1) == len(sat0)
    late = gs1.ts >= T0 + pd.Timedelta(minutes=25)  # past the NaN samples and their 5-minute windows
    for col in ("rps", "error_ratio", "p50_ms", "p99_ms"):
        assert np.isfinite(gs1.loc[late, col]).all(), col
        np.testing.assert_allclose(gs1.loc[late, col], gs0.loc[late, col], rtol=1e-9)
    mem = sat1[(sat1.resource == "memory") & (sat1.ts >= T0 + pd.Timedelta(minutes=12))]
    assert len(mem) and np.isfinite(mem["value"]).all()
