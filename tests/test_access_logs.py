"""HTTP access logs (uvicorn, nginx/Apache common and combined, gunicorn, behind a container runtime's time)
into the logs frame: statuses, routes, levels, tracebacks joined, times estimated where the lines carry none."""

from __future__ import annotations

import os

import orjson
import pandas as pd
import polars as pl
import pytest

from holoops.sources.exports import detect_format, read_export, read_folder
from holoops.sources.formats.access_log import file_birth_ns

TRACEBACK = """ERROR:    Exception in ASGI application
Traceback (most recent call last):
  File "/srv/venv/lib/python3.11/site-packages/fastapi/encoders.py", line 347, in jsonable_encoder
    data = dict(obj)
           ^^^^^^^^^
TypeError: 'coroutine' object is not iterable

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/venv/lib/python3.11/site-packages/uvicorn/protocols/http/h11_impl.py", line 407, in run_asgi
    result = await app(  # type: ignore[func-returns-value]
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
ValueError: [TypeError("'coroutine' object is not iterable")]
"""

#: uvicorn's default log, as HolographicMemory writes it: 29 records (18 access lines, LEVEL: lines, 2 tracebacks
#: of 14 lines, a Python warning of 3 lines); no times
UVICORN = ("""INFO:     Started server process [3355]
INFO:     Waiting for application startup.
INFO:     Application startup complete.
INFO:     Uvicorn running on http://127.0.0.1:18000 (Press CTRL+C to quit)
INFO:     127.0.0.1:41784 - "GET /healthz HTTP/1.1" 200 OK
INFO:     127.0.0.1:41810 - "GET /metrics HTTP/1.1" 200 OK
INFO:services.holographic-memory.api.app_soa:Initialized orchestrator with GPU: False, Grid size: 64
ERROR:services.holographic-memory.api.app_soa:Retrieve error: 404: Document not found
INFO:     127.0.0.1:41812 - "GET /download/04901567a55349f6 HTTP/1.1" 500 Internal Server Error
INFO:     127.0.0.1:41824 - "POST /store HTTP/1.1" 200 OK
INFO:     127.0.0.1:41834 - "POST /store?replicas=2 HTTP/1.1" 200 OK
INFO:     127.0.0.1:41840 - "GET /stats HTTP/1.1" 500 Internal Server Error
""" + TRACEBACK + """INFO:     127.0.0.1:41850 - "POST /search HTTP/1.1" 500 Internal Server Error
INFO:     127.0.0.1:41852 - "GET /no-such-route HTTP/1.1" 404 Not Found
INFO:     127.0.0.1:41860 - "POST /store HTTP/1.1" 200 OK
/usr/lib/python3.11/copy.py:102: RuntimeWarning: coroutine 'Orchestrator.get_system_status' was never awaited
  return _reconstruct(x, None, *rv)
RuntimeWarning: Enable tracemalloc to get the object allocation traceback
INFO:     127.0.0.1:41870 - "GET /stats HTTP/1.1" 500 Internal Server Error
""" + TRACEBACK + """INFO:     127.0.0.1:41880 - "GET /download/7f3a HTTP/1.1" 200 OK
WARNING:  Invalid HTTP request received.
INFO:     127.0.0.1:41890 - "POST /store HTTP/1.1" 200 OK
INFO:     127.0.0.1:41892 - "POST /search HTTP/1.1" 500 Internal Server Error
INFO:     127.0.0.1:41894 - "GET /healthz HTTP/1.1" 200 OK
INFO:     127.0.0.1:41896 - "POST /store HTTP/1.1" 200 OK
INFO:     127.0.0.1:41898 - "GET /no-such-route HTTP/1.1" 404 Not Found
INFO:     127.0.0.1:41900 - "GET /stats HTTP/1.1" 500 Internal Server Error
INFO:     [::1]:41902 - "GET /healthz HTTP/1.1" 200 OK
INFO:     Shutting down
""")
SPAN = ("2026-11-02T10:00:00Z", "2026-11-02T10:28:00Z")  # 29 records: one a minute


@pytest.fixture
def uvicorn_log(tmp_path):
    p = tmp_path / "access-18000.log"
    p.write_text(UVICORN)
    return p


def test_uvicorn_log_records_statuses_levels_and_tracebacks(uvicorn_log):
    assert detect_format(uvicorn_log) == "access_log"
    res = read_export(uvicorn_log, engine="polars", service="holographic-memory", instance="127.0.0.1:18000",
                      log_span=SPAN)
    f = res.frame
    assert res.kind == "logs" and res.format == "access_log"
    assert (res.read, res.ingested, res.rejected) == (29, 29, 0)
    assert res.ingested + res.rejected == res.read
    access = f.filter(pl.col("status").is_not_null())
    assert access.height == 18
    by_status = dict(access.group_by("status").len().iter_rows())
    assert by_status == {200: 10, 404: 2, 500: 6}
    app = access.filter(~pl.col("route").is_in(["/metrics", "/healthz"]))
    assert dict(app.group_by("status").len().iter_rows()) == {200: 6, 404: 2, 500: 6}
    assert dict(app.group_by("route").len().iter_rows())["/store"] == 5  # "/store?replicas=2" counted there
    assert set(access["method"]) == {"GET", "POST"}
    assert set(access["client"]) == {"127.0.0.1", "::1"}
    # levels: 5xx error, 4xx warning, other access lines info; the others their own
    lv = dict(zip(f["message"], f["level"], strict=True))
    assert lv['INFO:     127.0.0.1:41840 - "GET /stats HTTP/1.1" 500 Internal Server Error'] == "error"
    assert lv['INFO:     127.0.0.1:41852 - "GET /no-such-route HTTP/1.1" 404 Not Found'] == "warning"
    assert lv["WARNING:  Invalid HTTP request received."] == "warning"
    assert lv["INFO:     Shutting down"] == "info"
    assert dict(f.group_by("level").len().iter_rows()) == {"info": 16, "warning": 4, "error": 9}
    # each traceback is one record: the ERROR line with every line after it, blank lines inside kept
    tb = f.filter(pl.col("message").str.starts_with("ERROR:    Exception in ASGI application"))
    assert tb.height == 2 and set(tb["level"]) == {"error"}
    assert tb["message"][0] == TRACEBACK.rstrip("\n")
    warn = f.filter(pl.col("message").str.contains("RuntimeWarning: coroutine"))
    assert warn.height == 1 and warn["level"][0] == "warning" and warn["message"][0].count("\n") == 2
    # service and instance from the caller; the frame is canonical
    assert set(f["service"]) == {"holographic-memory"} and set(f["instance"]) == {"127.0.0.1:18000"}
    assert f.schema["ts"] == pl.Datetime("ns", "UTC") and f.schema["status"] == pl.Int64
    assert "latency_ms" not in f.columns  # uvicorn's default line has no duration


def test_uvicorn_times_are_spread_over_the_span_and_noted(uvicorn_log):
    res = read_export(uvicorn_log, log_span=SPAN)
    ts = res.frame["ts"]
    assert ts.iloc[0] == pd.Timestamp(SPAN[0]) and ts.iloc[-1] == pd.Timestamp(SPAN[1])
    assert (ts.diff().dropna() == pd.Timedelta(minutes=1)).all()  # evenly, in file order
    assert res.normalised == {"estimated_ts": 29}
    assert res.notes == ["access-18000.log: no timestamps; 29 records placed between 2026-11-02 10:00:00 and "
                         "2026-11-02 10:28:00 UTC (log_span)"]


def test_uvicorn_times_default_to_the_files_life(uvicorn_log):
    """Without log_span the records lie between the file's creation (statx where the OS records it) and its
    last write; a file whose creation time is unknown, or later than its last write (a copy that kept the
    mtime), has them all at its last write."""
    last = pd.Timestamp.now(tz="UTC").floor("s") + pd.Timedelta(hours=1)
    os.utime(uvicorn_log, ns=(last.value, last.value))
    birth = file_birth_ns(uvicorn_log)
    res = read_export(uvicorn_log)
    ts = res.frame["ts"]
    assert ts.iloc[-1] == last and ts.is_monotonic_increasing
    if birth is None:
        assert (ts == last).all() and "at the file's last write" in res.notes[0]
    else:
        assert ts.iloc[0].value == birth
        assert "between the file's creation" in res.notes[0] and "and its last write" in res.notes[0]
    past = pd.Timestamp("2026-11-02T09:40:00Z")  # before the creation: the creation time is not believed
    os.utime(uvicorn_log, ns=(past.value, past.value))
    res = read_export(uvicorn_log)
    assert (res.frame["ts"] == past).all()
    assert res.notes[0].endswith("at the file's last write 2026-11-02 09:40:00 UTC (the OS gives no creation time)")


def test_file_birth_time_is_the_creation_time(tmp_path):
    p = tmp_path / "new.log"
    p.write_text("x\n")
    birth = file_birth_ns(p)
    if birth is None:
        pytest.skip("this file system or kernel does not record creation times")
    st = os.stat(p)
    assert abs(birth - st.st_mtime_ns) < 5_000_000_000  # created just now, with the data
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 3_600_000_000_000))
    assert file_birth_ns(p) == birth  # a later write moves mtime, not the creation time


def test_file_birth_time_without_a_libc_statx_wrapper(tmp_path, monkeypatch):
    """glibc before 2.28 has no ``statx``: the system call is made through ``syscall`` instead."""
    import ctypes
    import platform

    from holoops.sources.formats.access_log import _STATX_NR

    p = tmp_path / "new.log"
    p.write_text("x\n")
    birth = file_birth_ns(p)
    if birth is None or platform.machine() not in _STATX_NR:
        pytest.skip("no creation time here, or no known statx system call number")
    real = ctypes.CDLL

    class NoStatx:
        def __init__(self, *a, **k):
            self._lib = real(*a, **k)

        def __getattr__(self, name):
            if name == "statx":
                raise AttributeError(name)
            return getattr(self._lib, name)

    monkeypatch.setattr(ctypes, "CDLL", NoStatx)
    assert file_birth_ns(p) == birth


COMBINED = (
    '10.0.0.7 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 '
    '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)" 0.005\n'
    '10.0.0.8 - - [10/Oct/2000:13:55:37 -0700] "POST /api/v1/items HTTP/1.1" 503 - "-" "curl/8.0, like \\"x\\"" 1.250\n'
    '10.0.0.9 - - [10/Oct/2000:13:55:38 -0700] "GET /missing HTTP/1.1" 404 153 "-" "kube-probe/1.29" 0.000\n'
    '10.0.0.9 - - [99/Foo/2000:13:55:39 -0700] "GET /bad-time HTTP/1.1" 200 1 "-" "x" 0.001\n'
    '10.0.0.1 - - [10/Oct/2000:13:55:40 -0700] "\\x16\\x03\\x01" 400 157 "-" "-" 0.000\n'
)


def test_nginx_combined_with_request_time(tmp_path):
    p = tmp_path / "access.log"
    p.write_text(COMBINED)
    assert detect_format(p) == "access_log"
    res = read_export(p, engine="polars", service="edge", dead_letter=tmp_path / "dead.jsonl")
    f = res.frame
    assert (res.read, res.ingested, res.rejected) == (5, 4, 1)
    assert res.reasons == {"bad_timestamp": 1}
    entry = orjson.loads((tmp_path / "dead.jsonl").read_bytes().splitlines()[0])
    assert (entry["file"], entry["line"], entry["field"], entry["reason"]) == (str(p), 4, "ts", "bad_timestamp")
    assert "99/Foo/2000" in entry["detail"] and entry["raw"].startswith("10.0.0.9")
    assert f["ts"].to_list()[0] == pd.Timestamp("2000-10-10T20:55:36Z")  # -0700 -> UTC
    assert f["status"].to_list() == [200, 503, 404, 400]
    assert f["route"].to_list() == ["/apache_pb.gif", "/api/v1/items", "/missing", None]
    assert f["level"].to_list() == ["info", "error", "warning", "warning"]
    assert f["latency_ms"].to_list() == pytest.approx([5.0, 1250.0, 0.0, 0.0])
    assert f["client"].to_list()[:2] == ["10.0.0.7", "10.0.0.8"]
    assert res.normalised == {} and res.notes == []  # every line has its time


def test_common_format_and_gunicorn_durations(tmp_path):
    common = tmp_path / "common.log"
    common.write_text('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326\n')
    assert detect_format(common) == "access_log"
    f = read_export(common).frame
    assert f["route"].tolist() == ["/apache_pb.gif"] and "latency_ms" not in f.columns
    # gunicorn: access_log_format default + %(D)s (whole microseconds), its error lines carry their own time
    gun = tmp_path / "gunicorn.log"
    gun.write_text(
        "[2026-11-02 10:00:00 +0000] [7] [INFO] Starting gunicorn 22.0.0\n"
        "[2026-11-02 10:00:00 +0000] [9] [INFO] Booting worker with pid: 9\n"
        '10.1.0.4 - - [02/Nov/2026:10:00:05 +0000] "GET /search?q=a HTTP/1.1" 200 512 "-" "python-requests/2.31" 15250\n'
        '10.1.0.4 - - [02/Nov/2026:10:00:06 +0000] "GET /search HTTP/1.1" 504 0 "-" "python-requests/2.31" 30001000\n'
        "[2026-11-02 10:00:07 +0000] [7] [CRITICAL] WORKER TIMEOUT (pid:9)\n")
    assert detect_format(gun) == "access_log"
    res = read_export(gun, engine="polars")
    f = res.frame
    assert res.read == res.ingested == 5 and not res.normalised.get("estimated_ts")
    assert f["level"].to_list() == ["info", "info", "info", "error", "critical"]
    assert f["latency_ms"].to_list()[2:4] == [15.25, 30001.0]
    assert f["ts"].to_list()[-1] == pd.Timestamp("2026-11-02T10:00:07Z")
    ms = read_export(gun, engine="polars", duration_unit="ms").frame  # gunicorn's %(M)s: milliseconds
    assert ms["latency_ms"].to_list()[2:4] == [15250.0, 30001000.0]


def test_container_runtime_times_give_the_lines_their_time(tmp_path):
    """``kubectl logs --timestamps`` / ``docker logs -t``: the runtime's time in front of every line, also of
    a traceback's continuation lines (joined without it); CRI files add the stream and a tag."""
    p = tmp_path / "pod.log"
    lines = ['2026-11-02T10:00:00.100000000Z INFO:     10.2.0.1:5000 - "GET /a HTTP/1.1" 200 OK',
             "2026-11-02T10:00:00.200000000Z ERROR:    Exception in ASGI application",
             "2026-11-02T10:00:00.200000100Z Traceback (most recent call last):",
             '2026-11-02T10:00:00.200000200Z   File "app.py", line 3, in f',
             "2026-11-02T10:00:00.200000300Z KeyError: 'x'",
             '2026-11-02T10:00:00.300000000Z stdout F INFO:     10.2.0.1:5001 - "GET /b HTTP/1.1" 500 '
             "Internal Server Error"]
    p.write_text("\n".join(lines) + "\n")
    assert detect_format(p) == "access_log"
    res = read_export(p, engine="polars", instance="pod-a")
    f = res.frame
    assert (res.read, res.ingested) == (3, 3) and res.notes == [] and res.normalised == {}
    assert f["ts"].to_list() == [pd.Timestamp(t) for t in ("2026-11-02T10:00:00.1Z", "2026-11-02T10:00:00.2Z",
                                                           "2026-11-02T10:00:00.3Z")]
    assert f["message"][1] == ("ERROR:    Exception in ASGI application\nTraceback (most recent call last):\n"
                               "  File \"app.py\", line 3, in f\nKeyError: 'x'")
    assert f["status"].to_list() == [200, None, 500] and f["route"].to_list() == ["/a", None, "/b"]
    assert set(f["instance"]) == {"pod-a"} and f["service"].null_count() == 3


def test_mixed_times_are_interpolated_between_timed_lines(tmp_path):
    """Lines without a time between timed ones are spread evenly between them."""
    p = tmp_path / "mixed.log"
    p.write_text("[2026-11-02 10:00:00 +0000] [7] [INFO] Booting worker with pid: 9\n"
                 + "".join(f'INFO:     10.0.0.1:{i} - "GET /x HTTP/1.1" 200 OK\n' for i in range(3))
                 + "[2026-11-02 10:00:04 +0000] [7] [INFO] Handling signal: term\n")
    res = read_export(p, engine="polars")
    secs = [t.second for t in res.frame["ts"].to_list()]
    assert secs == [0, 1, 2, 3, 4]
    assert res.normalised == {"estimated_ts": 3}
    assert res.notes[0].startswith("mixed.log: 3 of 5 records carry no timestamp")


def test_odd_lines_are_kept_and_bad_bytes_rejected(tmp_path):
    """A traceback printed after an access line is a record of its own (an access line takes no
    continuation); a blank line after an access line is no record; text that matches nothing is kept as a
    record of level "unknown"; colours are stripped; a line that is not UTF-8 is rejected with its line."""
    p = tmp_path / "odd.log"
    p.write_bytes(b'INFO:     127.0.0.1:1 - "GET /a HTTP/1.1" 200 OK\n\n'
                  b"Traceback (most recent call last):\n  File \"x.py\", line 1\nOSError: boom\n"
                  b'INFO:     127.0.0.1:2 - "\x1b[1mGET /b HTTP/1.1\x1b[0m" \x1b[31m503 Service Unavailable\x1b[0m\n'
                  b"some print() output\n"
                  b'INFO:     127.0.0.1:3 - "GET /\xff HTTP/1.1" 200 OK\n')
    res = read_export(p, engine="polars")
    f = res.frame
    assert (res.read, res.ingested, res.rejected) == (5, 4, 1) and res.reasons == {"wrong_encoding": 1}
    assert res.samples[0]["line"] == 8
    assert f["message"][1] == 'Traceback (most recent call last):\n  File "x.py", line 1\nOSError: boom'
    assert f["level"].to_list() == ["info", "error", "error", "unknown"]
    assert f["status"].to_list()[2] == 503 and f["route"].to_list()[2] == "/b"


def test_records_across_chunk_boundaries_are_whole(tmp_path):
    """A traceback cut by a chunk boundary is still one record: reading 64 KiB at a time gives the frame
    reading the file whole does."""
    p = tmp_path / "big.log"
    with open(p, "w") as fh:
        for i in range(1500):
            fh.write(f'INFO:     127.0.0.1:{i} - "GET /item/{i} HTTP/1.1" {200 if i % 7 else 500} OK\n')
            if i % 7 == 0:
                fh.write(TRACEBACK)
    assert p.stat().st_size > 3 * 65536
    whole = read_export(p, engine="polars", chunk_mib=64, log_span=SPAN)
    small = read_export(p, engine="polars", chunk_mib=0.01, log_span=SPAN)
    assert whole.read == small.read == 1500 + 215
    assert whole.frame.equals(small.frame)
    tbs = small.frame.filter(pl.col("message").str.starts_with("ERROR:"))["message"]
    assert tbs.len() == 215 and (tbs == TRACEBACK.rstrip("\n")).all()


def test_read_folder_takes_access_logs_with_the_callers_service(tmp_path, uvicorn_log):
    out = read_folder(uvicorn_log.parent, service="holographic-memory", log_span=SPAN)
    assert len(out.logs) == 29 and set(out.logs["service"]) == {"holographic-memory"}
    assert out.results[0].format == "access_log"
    assert out.notes == [out.results[0].notes[0]] and "no timestamps; 29 records" in out.notes[0]
