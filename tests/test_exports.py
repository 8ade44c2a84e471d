"""Round trips through every export format, content sniffing, engine parity, UTC, and the demo folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from holoops.sources.exports import detect_format, read_export, read_folder

T0 = pd.Timestamp("2026-11-02T10:00:00Z")
T0_S = int(T0.timestamp())


def _logs() -> pd.DataFrame:
    return pd.DataFrame({
        "ts": [T0 + pd.Timedelta(seconds=i) for i in range(4)],
        "service": ["router", "vault", "router", "vault"],
        "level": ["info", "error", "warning", "info"],
        "message": ["GET /search 200", "upstream timeout", "slow", "ok"],
        "status": [200, 503, 200, 200],
        "latency_ms": [12.5, 1500.0, 300.25, 4.0],
    })


def _write_jsonl(path, df):
    with open(path, "w") as fh:
        for r in df.to_dict("records"):
            r = dict(r, ts=r["ts"].isoformat().replace("+00:00", "Z"), msg=r.pop("message"))
            fh.write(json.dumps(r) + "\n")


def _check_logs(res, want=None):
    want = _logs() if want is None else want
    f = res.frame
    assert res.kind == "logs" and res.read == res.ingested == len(want) and res.rejected == 0
    assert str(f["ts"].dtype) == "datetime64[ns, UTC]"
    assert list(f["ts"]) == list(want["ts"])
    for c in [c for c in ("service", "level", "message", "status", "latency_ms") if c in want]:
        assert list(f[c]) == list(want[c]), c


def test_jsonl_app_logs_round_trip_and_misleading_extension(tmp_path):
    p = tmp_path / "logs.csv"  # JSON lines with a misleading extension
    _write_jsonl(p, _logs())
    assert detect_format(p) == "jsonl"
    _check_logs(read_export(p))


def test_loki_and_elasticsearch_jsonl(tmp_path):
    want = _logs()
    loki = tmp_path / "loki.txt"
    es = tmp_path / "es.json"
    with open(loki, "w") as fl, open(es, "w") as fe:
        for r in want.to_dict("records"):
            ns = str(int(r["ts"].value))
            fl.write(json.dumps({"labels": {"service": r["service"], "level": r["level"], "instance": "i-0"},
                                 "line": r["message"], "timestamp": ns}) + "\n")
            fe.write(json.dumps({"@timestamp": r["ts"].isoformat(), "log": r["message"], "level": r["level"],
                                 "kubernetes": {"container_name": r["service"]}}) + "\n")
    lk = read_export(loki)
    _check_logs(lk, want.drop(columns=["status", "latency_ms"]))
    assert set(lk.frame["instance"]) == {"i-0"}
    _check_logs(read_export(es), want.drop(columns=["status", "latency_ms"]))


def test_text_logs_default_and_custom_format(tmp_path):
    want = _logs()
    p = tmp_path / "app.log"
    p.write_text("".join(f"{r.ts.isoformat()} {r.level.upper()} {r.service}: {r.message}\n"
                         for r in want.itertuples()) + "garbage line\n")
    res = read_export(p)
    assert res.format == "text_logs" and (res.read, res.rejected) == (5, 1)
    assert res.samples[0]["line"] == 5 and res.samples[0]["reason"] == "bad_line"
    assert list(res.frame["message"]) == list(want["message"])
    assert list(res.frame["ts"]) == list(want["ts"])
    q = tmp_path / "custom.txt"
    q.write_text("1793613600|router|hello\n1793613601|vault|bye\n")
    res = read_export(q, line_format=r"^(?P<ts>\d+)\|(?P<service>[^|]+)\|(?P<message>.*)$")
    assert list(res.frame["service"]) == ["router", "vault"] and res.frame["ts"].iloc[0] == T0


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_dumps_of_every_frame(tmp_path, fmt):
    frames = {
        "logs": _logs(),
        "metrics": pd.DataFrame({"ts": [T0, T0], "metric": ["up", "up"], "service": ["router", "vault"],
                                 "instance": ["a:1", "b:1"], "value": [1.0, 0.0], "route": ["/x", None]}),
        "spans": pd.DataFrame({"trace_id": ["t1", "t1"], "span_id": ["s1", "s2"], "parent_id": ["", "s1"],
                               "service": ["router", "vault"], "operation": ["GET", "read"],
                               "start": [T0, T0], "duration_ms": [3.0, 1.5], "status": ["ok", "error"]}),
        "events": pd.DataFrame({"ts": [T0], "kind": ["deploy"], "service": ["vault"], "detail": ["vault 2.4.1"]}),
    }
    for kind, df in frames.items():
        p = tmp_path / f"{kind}.data"  # no telling extension
        df.to_csv(p, index=False) if fmt == "csv" else df.to_parquet(p)
        assert detect_format(p) == fmt
        res = read_export(p)
        assert res.kind == kind and res.rejected == 0 and res.ingested == len(df)
        for c in df.columns:
            got, exp = list(res.frame[c]), list(df[c])
            if c in ("parent_id", "route"):
                got, exp = [x or "" for x in got], [x or "" for x in exp]
            assert got == exp, (kind, c)


def _query_range(n_series=3, n=5):
    return {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "http_requests_total", "job": f"svc{i}", "instance": f"h{i}:80", "code": "200"},
         "values": [[T0_S + 60 * j, str(float(i * 100 + j))] for j in range(n)]} for i in range(n_series)]}}


def test_query_range_and_vector_json(tmp_path):
    p = tmp_path / "qr.prom"
    p.write_text(json.dumps(_query_range()))
    res = read_export(p)
    f = res.frame
    assert res.format == "prom_json" and res.read == res.ingested == 15
    assert set(f["service"]) == {"svc0", "svc1", "svc2"} and set(f["code"]) == {"200"}
    assert f["value"].sum() == sum(i * 100 + j for i in range(3) for j in range(5))
    assert f["ts"].min() == T0
    v = tmp_path / "vec.json"
    v.write_text(json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "service": "vault"}, "value": [T0_S, "1"]},
        {"metric": {"__name__": "up", "service": "router"}, "value": [T0_S, "fast"]}]}}))
    res = read_export(v)
    assert (res.ingested, res.rejected) == (1, 1)
    assert res.samples[0]["record"] == "data.result[1].value" and res.samples[0]["reason"] == "mistyped_field"


def test_exposition_text_with_timestamps(tmp_path):
    p = tmp_path / "metrics.txt"
    p.write_text(
        "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
        f'http_requests_total{{service="router",instance="r:80",code="200",route="/a"}} 10 {T0_S * 1000}\n'
        f'http_requests_total{{job="vault",instance="v:80",code="500"}} 2.5e1 {T0_S}.000\n'
        f'http_request_duration_seconds_bucket{{job="vault",le="+Inf"}} +Inf {T0_S}\n'
        'process_resident_memory_bytes 1.5e6\n# EOF\n')
    res = read_export(p, scrape_time="2026-11-02T10:00:00Z")
    f = res.frame
    assert res.format == "openmetrics" and res.read == res.ingested == 4
    assert list(f["service"])[:2] == ["router", "vault"]
    assert list(f["value"])[:2] == [10.0, 25.0] and np.isinf(f["value"].iloc[2])
    assert (f["ts"] == T0).all() and list(f["le"])[2] == "+Inf"


def _jaeger():
    return {"data": [{"traceID": "t1", "spans": [
        {"traceID": "t1", "spanID": "s1", "operationName": "GET /search", "references": [],
         "startTime": T0_S * 1_000_000, "duration": 3000, "processID": "p1",
         "tags": [{"key": "peer.service", "type": "string", "value": "vault"}]},
        {"traceID": "t1", "spanID": "s2", "operationName": "vault.read", "processID": "p2",
         "references": [{"refType": "CHILD_OF", "traceID": "t1", "spanID": "s1"}],
         "startTime": T0_S * 1_000_000 + 500, "duration": 1500, "tags": [{"key": "error", "value": True}]}],
        "processes": {"p1": {"serviceName": "router"}, "p2": {"serviceName": "vault"}}}]}


def _otlp():
    def sp(sid, parent, name, start_ns, dur_ms, code):
        return {"traceId": "t1", "spanId": sid, "parentSpanId": parent, "name": name,
                "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + int(dur_ms * 1e6)),
                "status": {"code": code}, "attributes": [{"key": "peer.service", "value": {"stringValue": "vault"}}]}
    t = T0_S * 1_000_000_000
    return {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "router"}}]},
         "scopeSpans": [{"spans": [sp("s1", "", "GET /search", t, 3.0, 0)]}]},
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "vault"}}]},
         "scopeSpans": [{"spans": [sp("s2", "s1", "vault.read", t + 500_000, 1.5, 2)]}]}]}


@pytest.mark.parametrize("doc", [_jaeger, _otlp])
def test_traces_jaeger_and_otlp(tmp_path, doc):
    p = tmp_path / "traces.txt"
    p.write_text(json.dumps(doc(), indent=2))
    res = read_export(p)
    f = res.frame
    assert res.kind == "spans" and res.read == res.ingested == 2
    assert list(f["span_id"]) == ["s1", "s2"] and list(f["parent_id"]) == ["", "s1"]
    assert list(f["service"]) == ["router", "vault"] and list(f["status"]) == ["ok", "error"]
    assert list(f["duration_ms"]) == [3.0, 1.5] and f["start"].iloc[0] == T0
    assert str(f["start"].dtype) == "datetime64[ns, UTC]"


def test_pandas_and_polars_frames_equal(tmp_path):
    import polars as pl
    from polars.testing import assert_frame_equal

    p = tmp_path / "logs.jsonl"
    _write_jsonl(p, _logs())
    q = tmp_path / "qr.json"
    q.write_text(json.dumps(_query_range()))
    for path in (p, q):
        a = read_export(path, engine="pandas").frame
        b = read_export(path, engine="polars").frame
        assert isinstance(b, pl.DataFrame)
        assert b.schema[("ts")] == pl.Datetime("ns", "UTC")
        assert_frame_equal(pl.from_pandas(a), b, check_dtypes=False)


def test_read_folder_prefers_one_format_per_frame(tmp_path):
    _write_jsonl(tmp_path / "logs.jsonl", _logs())
    (tmp_path / "metrics_query_range.json").write_text(json.dumps(_query_range()))
    (tmp_path / "metrics.prom").write_text(f'up{{job="x"}} 1 {T0_S}\n')  # same frame, less preferred
    (tmp_path / "traces_jaeger.json").write_text(json.dumps(_jaeger()))
    (tmp_path / "ground_truth.json").write_text("{}")
    (tmp_path / "notes.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = read_folder(tmp_path)
    assert len(out.logs) == 4 and len(out.metrics) == 15 and len(out.spans) == 2 and len(out.events) == 0
    assert list(out.events.columns)[:4] == ["ts", "kind", "service", "detail"]
    assert "metrics.prom" in " ".join(out.skipped) and out.rejected == 0
    # what could not be read is said, with why; files left out on purpose are not "unreadable"
    assert out.unreadable == {str(tmp_path / "notes.png"): "a PNG image"}
    assert out.notes == [f"not read: {tmp_path / 'notes.png'}: a PNG image"]
    assert out.skipped[str(tmp_path / "ground_truth.json")] == "not an export"


def test_read_folder_lists_unreadable_files_and_reads_the_rest(tmp_path):
    _write_jsonl(tmp_path / "logs.jsonl", _logs())
    (tmp_path / "nums.csv").write_text("1,2,3\n4,5,6\n")  # no header
    (tmp_path / "broken.parquet").write_bytes(b"PAR1" + b"\x00" * 64)  # a damaged footer
    (tmp_path / "events.csv").write_text("ts,kind,detail\n")  # a header only: read, no rows
    (tmp_path / "empty.log").write_text("")
    out = read_folder(tmp_path)
    assert len(out.logs) == 4 and len(out.events) == 0
    assert set(out.unreadable) == {str(tmp_path / n) for n in ("nums.csv", "broken.parquet", "empty.log")}
    assert "no usable header" in out.unreadable[str(tmp_path / "nums.csv")]
    assert "parquet" in out.unreadable[str(tmp_path / "broken.parquet")].lower()
    assert out.unreadable[str(tmp_path / "empty.log")] == "an empty file"
    assert "not read (1 file(s): " in out.summary() and "logs: 1 file(s), read 4, ingested 4" in out.summary()


def test_read_folder_with_nothing_readable_is_an_error(tmp_path):
    from holoops.errors import InputFileError

    with pytest.raises(InputFileError, match="an empty folder"):
        read_folder(tmp_path)
    (tmp_path / "ground_truth.json").write_text("{}")
    with pytest.raises(InputFileError, match=r"no export files \(1 file"):
        read_folder(tmp_path)
    for i in range(7):
        (tmp_path / f"img{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "ids.txt").write_text("ffc8ca7e4c8f06c75142c880d5595d96\n5d0bbaa5c74d96842aabc39c7b39d067\n")
    with pytest.raises(InputFileError) as err:
        read_folder(tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path}: expected an export folder with at least one readable export, found no "
                          "readable export among 9 file(s) (ids.txt: a list of identifiers")
    assert "img0.png: a PNG image" in msg and msg.endswith("; and 3 more)")


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    demo_mod = pytest.importorskip("holoops.demo")
    simulate = getattr(demo_mod, "simulate", None)
    if simulate is None:
        pytest.skip("holoops.demo.simulate is not there yet")
    pytest.importorskip("holoops.demo.writers", reason="holoops.demo writers are not there yet")
    folder = tmp_path_factory.mktemp("demo_export")
    demo = simulate(days=1)
    demo.write(folder)
    return demo, folder


@pytest.mark.parametrize("prefer", [
    ("parquet",), ("jsonl", "prom_json", "jaeger"), ("csv",), ("openmetrics", "otlp", "jsonl"),
], ids=["parquet", "jsonl+query_range+jaeger", "csv", "openmetrics+otlp"])
def test_demo_folder_round_trip(demo_folder, prefer):
    """Reading the demo export back (each format family) gives the frames simulate() holds in memory."""
    demo, folder = demo_folder
    back = read_folder(folder, prefer=prefer + tuple(f for f in ("parquet", "csv", "jsonl") if f not in prefer))
    assert back.rejected == 0, [r.summary() for r in back.results if r.rejected]
    for kind, num in (("metrics", "value"), ("logs", "latency_ms"), ("spans", "duration_ms"), ("events", None)):
        mem, got = getattr(demo, kind), getattr(back, kind)
        assert len(got) == len(mem), kind
        if num and num in mem.columns:
            assert got[num].sum() == pytest.approx(mem[num].sum(), rel=1e-6, nan_ok=True), kind
        tcol = "start" if kind == "spans" else "ts"
        assert str(got[tcol].dtype) == "datetime64[ns, UTC]"
        # text formats carry µs (JSON/CSV) or ms (exposition) precision; Parquet carries ns
        tol = pd.Timedelta(0) if prefer == ("parquet",) else pd.Timedelta("1ms")
        assert abs(got[tcol].min() - mem[tcol].min()) <= tol and abs(got[tcol].max() - mem[tcol].max()) <= tol, kind


def test_exposition_without_type_lines_is_not_taken_for_a_headerless_csv(tmp_path):
    """Commas between labels made plain exposition text (no # TYPE/HELP lines) look like a CSV with no
    usable header; its line shape decides. A real headerless CSV is still refused."""
    from holoops.errors import InputFileError

    p = tmp_path / "scrape.txt"
    p.write_text(f'up{{job="vault",instance="v:1"}} 1 {T0_S}\nup{{job="router",instance="r:1"}} 0 {T0_S}\n')
    assert detect_format(p) == "openmetrics" and read_export(p).ingested == 2
    q = tmp_path / "nums.csv"
    q.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(InputFileError, match="no usable header"):
        detect_format(q)
