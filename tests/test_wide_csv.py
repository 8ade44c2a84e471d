"""Real CSV exports: wide metric tables, headers in any case (``TraceID``, ``StartTimeUnixNano``), pod names,
Go times, Docker json-file log cells, and a Nezha-style export folder read as a user would point holoops at it
(small hand-written files in the dataset's layout; the dataset itself is never needed)."""

from __future__ import annotations

import json

import orjson
import pandas as pd
import polars as pl
import pytest

from holoops.errors import InputFileError
from holoops.sources.exports import detect_format, read_export, read_folder
from holoops.sources.formats._canon import service_of_pod, wide_metric_name

POD = "ts-contacts-service-866bd68c97-xcqfx"
T0 = 1674981669  # 2023-01-29 08:41:09 UTC


@pytest.mark.parametrize("pod,service", [
    ("ts-contacts-service-866bd68c97-xcqfx", "ts-contacts-service"),  # Deployment: <ReplicaSet hash>-<5>
    ("ts-gateway-service-6f6cfc45b-h5m2n", "ts-gateway-service"),
    ("ts-ui-dashboard-5477b965f-2chkr", "ts-ui-dashboard"),
    ("api-v2-7d9f8b6c5-x2x4z", "api-v2"),
    ("redis-0", "redis"), ("kafka-12", "kafka"),  # StatefulSet ordinals
    ("node-exporter-x2x4z", "node-exporter"),  # DaemonSet
    ("backup-28374650-q7b2k", "backup"),  # a CronJob's Job pod
    ("vault", "vault"), ("web-frontend", "web-frontend"), ("ts-travel2-service", "ts-travel2-service"),
])
def test_service_of_pod(pod, service):
    assert service_of_pod(pod) == service
    assert pl.select(service_of_pod(pl.lit(pod))).item() == service  # the vectorised form agrees


@pytest.mark.parametrize("header,name", [
    ("PodServerLatencyP99(s)", "pod_server_latency_p99_seconds"), ("CpuUsageRate(%)", "cpu_usage_rate_percent"),
    ("MemoryUsage(Mi)", "memory_usage_mebibytes"), ("CpuUsage(m)", "cpu_usage_millicores"),
    ("PodWorkload(Ops)", "pod_workload_ops"), ("SuccessRate(%)", "success_rate_percent"),
    ("SyscallRead", "syscall_read"), ("NetworkReceiveBytes", "network_receive_bytes"),
    ("NetworkReceiveBytes(B)", "network_receive_bytes"), ("HTTPRequests", "http_requests"),
    ("LatencyP50(s)", "latency_p50_seconds"), ("Throughput (req/s)", "throughput_requests_per_second"),
])
def test_wide_metric_names(header, name):
    assert wide_metric_name(header) == name


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _go(t: int, mono: float) -> str:
    return pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S") + f".043078357 +0000 UTC m=+{mono}"


POD_METRICS = ("Time,TimeStamp,PodName,CpuUsage(m),MemoryUsage(Mi),PodServerLatencyP99(s),PodWorkload(Ops),"
               "PodSuccessRate(%),Node\n"
               + f"{_go(T0, 0.119)},{T0},{POD},2.31,330.5,0.0048,12,100,10.0.0.5\n"
               + f"{_go(T0 + 60, 60.1)},{T0 + 60},{POD},2.80,330.9,NaN,15,93.3,10.0.0.5\n"
               + f"{_go(T0 + 120, 120.1)},,{POD},abc,331.2,0.0051,,100,10.0.0.5\n")
FRONT = ("Time,TimeStamp,ServiceName,SuccessRate(%),LatencyP50(s),LatencyP99(s)\n"
         + f"{_go(T0, 0.1)},{T0},Frontend,100,0.09,0.94\n" + f"{_go(T0 + 60, 60.1)},{T0 + 60},Frontend,97.5,0.05,0.90\n")
START = 1674981768697000000
TRACES = ("TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
          f"b010,520b,root,ts-gateway-service-6f6cfc45b-h5m2n,/*,{START},{START + 318316530},318316\n"
          f"b010,a442,520b,ts-gateway-service-6f6cfc45b-h5m2n,FilteringWebHandler.handle,{START + 763387},"
          f"{START + 318072039},317308\n"
          f"b010,5e89,a442,{POD},GET /api/v1/contacts,{START + 2000000},{START + 12500000},10500\n"
          f"b010,77aa,5e89,{POD},SELECT contacts,{START + 3000000},not-a-time,1000\n")


def _log_cell(line: str, t: str) -> str:
    doc = json.dumps({"log": line + "\n", "stream": "stdout", "time": t})
    return '"' + doc.replace('"', '""') + '"'


LOGS = ("Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log\n"
        + "".join(f"2023-01-29T08:42:22.{i}83150913Z,16749817423{i}3150913,33.33.33.116,{pod},server,b010,5e89,"
                  f"{_log_cell(line, f'2023-01-29T08:42:22.{i}83150913Z')}\n"
                  for i, (pod, line) in enumerate([
                      (POD, "16:42:22.382 INFO  t.s.ContactsServiceImpl#532 TraceID: b010 SpanID: 5e89 [find]"),
                      (POD, "16:42:22.482 WARN  t.s.ContactsServiceImpl#540 TraceID: b010 [find][slow query]"),
                      ("ts-auth-service-7f8d7d756d-k7b9j", "16:42:22.582 ERROR a.s.TokenServiceImpl#88 bad token"),
                      ("ts-auth-service-7f8d7d756d-k7b9j", "no level in this line"),
                  ])))


@pytest.fixture
def nezha(tmp_path):
    root = tmp_path / "2023-01-29"
    _write(root / "metric" / f"{POD}_metric.csv", POD_METRICS)
    _write(root / "metric" / "front_service.csv", FRONT)
    _write(root / "trace" / "08_43_trace.csv", TRACES)
    _write(root / "log" / "08_43_log.csv", LOGS)
    _write(root / "traceid" / "08_43_traceid.csv", "b0103bb0161ad7fa352fe1828eeb643a\nffc8ca7e4c8f06c75142c880d5595d96\n")
    _write(root / "2023-01-29-fault_list.json", json.dumps(
        {"08": [{"inject_time": "2023-01-29 08:43:04", "inject_pod": POD, "inject_type": "return"}]}, indent=4))
    return root


def test_wide_pod_metrics(nezha, tmp_path):
    p = nezha / "metric" / f"{POD}_metric.csv"
    assert detect_format(p) == "csv"
    res = read_export(p, engine="polars", dead_letter=tmp_path / "dead.jsonl")
    f = res.frame
    # 3 rows x 5 metric columns, less 1 empty cell (no sample); "abc" rejected; NaN kept as a sample
    assert (res.kind, res.read, res.ingested, res.rejected) == ("metrics", 14, 13, 1)
    assert set(f["metric"]) == {"cpu_usage_millicores", "memory_usage_mebibytes", "pod_server_latency_p99_seconds",
                                "pod_workload_ops", "pod_success_rate_percent"}
    assert set(f["service"]) == {"ts-contacts-service"} and set(f["instance"]) == {POD}
    assert set(f["node"]) == {"10.0.0.5"}  # a text column is a label
    p99 = f.filter(pl.col("metric") == "pod_server_latency_p99_seconds").sort("ts")
    assert p99["value"][0] == 0.0048 and p99["value"].is_nan().to_list() == [False, True, False]
    # the epoch column wins; where it is empty, Go's time text fills in
    assert f["ts"].min() == pd.Timestamp(T0, unit="s", tz="UTC")
    go_time = pd.Timestamp(T0 + 120, unit="s", tz="UTC") + pd.Timedelta(microseconds=43078, nanoseconds=357)
    assert p99["ts"].dt.epoch("ns")[2] == go_time.value
    entry = orjson.loads((tmp_path / "dead.jsonl").read_bytes())
    assert (entry["file"], entry["line"], entry["field"], entry["reason"]) == (str(p), 4, "CpuUsage(m)",
                                                                             "mistyped_field")
    assert "'abc'" in entry["detail"] and entry["raw"].endswith("10.0.0.5")


def test_nezha_folder(nezha):
    out = read_folder(nezha, engine="polars")
    for r in out.results:
        assert r.ingested + r.rejected == r.read, r.summary()
    # metrics: 13 pod samples + 2 rows x 3 front-end metrics
    assert len(out.metrics) == 19 and out.metrics.filter(pl.col("service") == "Frontend").height == 6
    assert out.metrics.filter(pl.col("service") == "Frontend")["instance"].null_count() == 6
    # spans: "root" is no parent; the service is the pod's; duration_ms from end - start (Duration is in µs)
    s = out.spans.sort("start")
    assert s.height == 3 and s["parent_id"].to_list() == ["", "520b", "a442"]
    assert s["service"].to_list() == ["ts-gateway-service", "ts-gateway-service", "ts-contacts-service"]
    assert s["instance"].to_list()[2] == POD and set(s["status"]) == {"ok"}
    assert s["duration_ms"].to_list() == [318.31653, 317.308652, 10.5]
    assert s["operation"].to_list()[0] == "/*" and s["start"].dt.epoch("ns")[0] == START
    assert "Duration" not in s.columns and "EndTimeUnixNano" not in s.columns
    span_res = next(r for r in out.results if r.kind == "spans")
    assert (span_res.read, span_res.rejected, span_res.reasons) == (4, 1, {"bad_timestamp": 1})
    assert (span_res.samples[0]["line"], span_res.samples[0]["field"]) == (5, "EndTimeUnixNano")
    # logs: the message is the line inside the Docker json-file record; its level is parsed from it
    lg = out.logs.sort("ts")
    assert lg["message"][0] == "16:42:22.382 INFO  t.s.ContactsServiceImpl#532 TraceID: b010 SpanID: 5e89 [find]"
    assert lg["level"].to_list() == ["info", "warning", "error", "info"]
    assert lg["service"].to_list() == ["ts-contacts-service"] * 2 + ["ts-auth-service"] * 2
    assert set(lg["trace_id"]) == {"b010"} and lg["instance"][0] == POD
    assert lg["ts"].dt.epoch("ns")[0] == pd.Timestamp("2023-01-29T08:42:22.083150913Z").value
    # the trace-id lists and the fault list are not exports: not read, each with its reason
    assert set(out.unreadable) == {str(nezha / "traceid" / "08_43_traceid.csv"),
                                   str(nezha / "2023-01-29-fault_list.json")}
    assert "list of identifiers" in out.unreadable[str(nezha / "traceid" / "08_43_traceid.csv")]
    assert "keys: 08" in out.unreadable[str(nezha / "2023-01-29-fault_list.json")]
    assert "not read (1 file(s)" in out.summary() and len(out.notes) == 2


def test_headers_match_ignoring_case_and_separators(tmp_path):
    logs = _write(tmp_path / "logs.csv", "TimeStamp,Service-Name,LogLevel,Message,Trace.ID\n"
                                         "2026-11-02T10:00:00Z,vault,ERROR,upstream timeout,t1\n")
    res = read_export(logs, engine="polars")
    assert res.kind == "logs" and res.frame.row(0, named=True) | {"ts": None} == {
        "ts": None, "service": "vault", "level": "error", "message": "upstream timeout", "trace_id": "t1"}
    spans = _write(tmp_path / "spans.csv", "traceId,SPAN_ID,ParentSpanID,ServiceName,operation_name,StartTime,"
                                           "Duration\nt1,s1,,router,GET /,2026-11-02T10:00:00Z,1500\n")
    f = read_export(spans, engine="polars").frame  # a bare Duration is microseconds (Jaeger, Zipkin)
    assert f.row(0, named=True) | {"start": None} == {
        "trace_id": "t1", "span_id": "s1", "parent_id": "", "service": "router", "operation": "GET /",
        "start": None, "duration_ms": 1.5, "status": "ok"}
    metrics = _write(tmp_path / "metrics.csv", "Time,__name__,Job,Value\n"
                                               "2023-01-29 08:41:09.5 +0000 UTC m=+0.119240217,up,vault,1\n")
    m = read_export(metrics, engine="polars").frame
    assert m.row(0, named=True) == {"ts": pd.Timestamp("2023-01-29T08:41:09.5Z").to_pydatetime(), "metric": "up",
                                    "service": "vault", "instance": None, "value": 1.0}


def test_a_row_with_too_many_cells_is_rejected_not_glued(tmp_path):
    """Two broken cells whose quotes do not balance (as in Nezha's log/10_06_log.csv, lines 631 and 760)
    made the quote-balancing parser glue the rows between them into one row, whose extra cells it then
    dropped: 129 log lines vanished without a dead-letter entry. Now the row with too many cells is rejected
    with its line, the one that still has as many cells as the header is kept as it reads, and the rows
    between them are read."""
    good = [f'2023-01-29T08:42:2{i}Z,p-0,"{{""log"":""line {i}\\n""}}"' for i in range(5)]
    broken = '2023-01-29T08:42:30Z,p-0,"{""log"":""cut\\n""}"tail of another"",""x"":""y""}",extra'
    glued = '2023-01-29T08:42:40Z,p-0,"{""log"":""glued\\n""}":""2023""}"'
    p = _write(tmp_path / "logs.csv", "Timestamp,PodName,Log\n"
               + "\n".join(good[:2] + [broken] + good[2:4] + [glued] + good[4:]) + "\n")
    res = read_export(p, engine="polars")
    assert (res.read, res.ingested, res.rejected) == (7, 6, 1)
    assert res.samples[0]["line"] == 4 and res.samples[0]["reason"] == "bad_line"
    assert "5 cells where the header has 3" in res.samples[0]["detail"]
    msgs = res.frame["message"].to_list()
    assert [m for m in msgs if m.startswith("line")] == [f"line {i}" for i in range(5)]
    assert msgs[4].startswith('{"log":"glued')  # not a Docker record any more: kept as it reads


def test_nothing_readable_in_a_nezha_like_folder_is_an_error(tmp_path):
    _write(tmp_path / "traceid" / "08_43_traceid.csv", "ffc8ca7e4c8f06c75142c880d5595d96\n")
    _write(tmp_path / "fault_list.json", '{\n  "08": []\n}\n')
    with pytest.raises(InputFileError, match="no readable export among 2 file") as err:
        read_folder(tmp_path)
    assert str(tmp_path) in str(err.value) and "traceid/08_43_traceid.csv: a list of identifiers" in str(err.value)
