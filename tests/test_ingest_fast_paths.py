"""The readers' fast paths give exactly what their general paths give: frames, counts, dead-letter entries.

Each fast path (vectorised ISO timestamps, the whole-file JSON-lines parse, the polars query_range parse,
the one-pass validation screens) is checked against the general path it short-cuts, on inputs that hit
the edge cases (rejects, blank lines, offsets, mixed epoch units, special float spellings, ...).
"""

from __future__ import annotations

import calendar
import json
import random

import orjson
import polars as pl
import pytest

from holoops.sources.exports import read_export
from holoops.sources.formats import _canon, _iso, jsonl_logs, prom_json


def _general_ts(monkeypatch, df: pl.DataFrame, col: str) -> pl.Series:
    with monkeypatch.context() as m:
        m.setattr(_iso, "iso_utc", lambda s: None)
        return _canon.parse_ts(df, col)


def _timestamps(rnd: random.Random, n: int) -> tuple[list[str | None], bool]:
    """``n`` valid ISO timestamps, and whether their layouts are mixed (else one layout for all)."""
    zones = ["Z", "", "+00:00", "+01:00", "-05:30", "+0100", "+01", "-11", "+23:59", "-00:00"]
    layout = (rnd.choice(["T", " "]), rnd.randint(0, 9), rnd.choice(zones))
    mixed = rnd.random() < 0.3
    out: list[str | None] = []
    for _ in range(n):
        sep, frac, zone = layout if not mixed or rnd.random() < 0.9 else (
            rnd.choice(["T", " "]), rnd.randint(0, 9), rnd.choice(zones))
        year, month = rnd.randint(1680, 2260), rnd.randint(1, 12)
        day = rnd.randint(1, calendar.monthrange(year, month)[1])
        ts = (f"{year:04d}-{month:02d}-{day:02d}{sep}"
              f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}")
        out.append(ts + ("." + "".join(rnd.choice("0123456789") for _ in range(frac)) if frac else "") + zone)
    return out, mixed


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_iso_timestamps_equal_the_general_parsers(monkeypatch, seed):
    rnd = random.Random(seed)
    values, mixed = _timestamps(rnd, rnd.choice([1, 3, 40, 70_000]))
    if seed % 3 == 0:  # nulls, and now and then a value the fast path must refuse (the general path decides)
        values[rnd.randrange(len(values))] = None
    injected = seed % 5 == 0
    if injected:
        values[rnd.randrange(len(values))] = rnd.choice(
            ["2026-02-30T00:00:00Z", "2026-11-02T23:59:60Z", "2026-11-02T10:00Z", " 2026-11-02T10:00:00Z",
             "2026-11-02T10:00:00.1234567891Z", "2026-11-02t10:00:00z", "2026-11-02T10:00:00+24:00", "1793613600"])
    df = pl.DataFrame({"ts": values}, schema={"ts": pl.String})
    if not mixed and not injected and any(v is not None for v in values):
        assert _iso.iso_utc(df["ts"]) is not None  # the fast path is what is being compared
    got, want = _canon.parse_ts(df, "ts"), _general_ts(monkeypatch, df, "ts")
    assert got.dtype == want.dtype == pl.Datetime("ns", "UTC")
    assert got.cast(pl.Int64).to_list() == want.cast(pl.Int64).to_list()


def test_vectorised_iso_timestamps_take_the_common_shapes():
    s = pl.Series(["2026-11-02T10:00:00.123456Z", None, "2026-11-02T10:00:01.500+01:00", "2024-02-29 23:59:59"])
    got = _iso.iso_utc(s)
    assert got is not None and got.to_list()[1] is None
    assert [str(x) for x in got.drop_nulls().to_list()] == [
        "2026-11-02 10:00:00.123456+00:00", "2026-11-02 09:00:01.500000+00:00", "2024-02-29 23:59:59+00:00"]
    for refused in (["2026-11-02T10:00Z"], ["2026-02-29T00:00:00Z"], ["2300-01-01T00:00:00Z"], ["1793613600"]):
        assert _iso.iso_utc(pl.Series(refused)) is None


def _lines(n: int, rnd: random.Random) -> list[bytes]:
    out = []
    for i in range(n):
        out.append(orjson.dumps({
            "ts": f"2026-11-02T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 997:06d}Z",
            "service": rnd.choice(["vault", "router"]), "level": rnd.choice(["info", "WARN", "error", "odd"]),
            "message": f"GET /x {i}", "status": rnd.choice([200, 500]), "latency_ms": rnd.random() * 100}))
    return out


def _read_both(monkeypatch, tmp_path, path):
    """read_export on the whole-file path and on the chunked path: (result, dead letters, read whole?)."""
    out = []
    real = jsonl_logs._read_whole
    for whole in (True, False):
        dl = tmp_path / f"dl_{whole}.jsonl"
        used: list[bool] = []

        def spy(*a, _used=used):
            got = real(*a)
            _used.append(got is not None)
            return got

        with monkeypatch.context() as m:
            if not whole:
                m.setattr(jsonl_logs, "WHOLE_FRACTION", 0.0)
            m.setattr(jsonl_logs, "_read_whole", spy)
            res = read_export(path, engine="polars", dead_letter=dl, chunk_mib=0.0625)
        out.append((res, dl.read_bytes() if dl.exists() else b"", used == [True]))
    return out


@pytest.mark.parametrize("case", ["clean", "bad_values", "blank_lines", "crlf_no_final_newline", "bad_line"])
def test_whole_file_jsonl_equals_the_chunked_reader(monkeypatch, tmp_path, case):
    rnd = random.Random(7)
    lines = _lines(6000, rnd)
    if case in ("bad_values", "blank_lines", "crlf_no_final_newline", "bad_line"):
        for i in (3, 2500, 5999):
            d = orjson.loads(lines[i])
            lines[i] = orjson.dumps(dict(d, latency_ms=-1.0) if i != 2500 else dict(d, message="  "))
    if case == "blank_lines":
        for i in (4000, 1500, 1):
            lines.insert(i, rnd.choice([b"", b"   ", b"\t"]))
    if case == "bad_line":
        lines.insert(3000, b'{"ts": "2026-11-02T00:00:00Z", "message": broken}')
    sep, end = (b"\r\n", b"") if case == "crlf_no_final_newline" else (b"\n", b"\n")
    p = tmp_path / "logs.jsonl"
    p.write_bytes(sep.join(lines) + end)
    (whole, whole_dl, was_whole), (chunked, chunked_dl, was_chunked) = _read_both(monkeypatch, tmp_path, p)
    assert not was_chunked
    if case != "blank_lines":  # whitespace-only lines: polars's choice; a line it cannot parse: the chunks
        assert was_whole == (case != "bad_line")
    assert whole.frame.equals(chunked.frame)
    assert (whole.read, whole.rejected, whole.reasons, whole.normalised) == \
        (chunked.read, chunked.rejected, chunked.reasons, chunked.normalised)
    assert [dict(orjson.loads(x), file=None) for x in whole_dl.splitlines()] == \
        [dict(orjson.loads(x), file=None) for x in chunked_dl.splitlines()]
    assert whole.ingested + whole.rejected == whole.read


def _matrix(series: list[dict]) -> dict:
    return {"status": "success", "data": {"resultType": "matrix", "result": series}}


def _series(i: int, ts, vals, **labels) -> dict:
    return {"metric": {"__name__": "http_requests_total", "job": f"svc{i}", **labels},
            "values": [[t, v] for t, v in zip(ts, vals, strict=True)]}


T0 = 1793577600
DOCS = {
    "plain": _matrix([_series(i, [T0 + 60 * j for j in range(30)], [str(j * 1.5) for j in range(30)])
                      for i in range(4)]),
    "special_values": _matrix([_series(0, [T0 + j for j in range(8)],
                                       ["NaN", "+Inf", "-Inf", "1e3", " 2 ", "fast", "", "Inf"])]),
    "float_and_int_ts": _matrix([_series(0, [T0 + 0.25, T0 + 1, T0 + 2.5], ["1", "2", "3"]),
                                 _series(1, [T0 + 1, T0 + 2.5], ["1", "2"])]),
    "ms_and_string_ts": _matrix([_series(0, [T0 * 1000 + 5, T0 * 1000 + 6], ["1", "2"]),
                                 _series(1, [str(T0), str(T0 + 1)], ["1", "2"])]),
    "labels": _matrix([_series(0, [T0], ["1"], service="s", code="200"), _series(1, [T0], ["1"], le="+Inf"),
                       {"metric": {"job": "only-job"}, "values": [[T0, "1"]]},
                       {"metric": {"__name__": "empty"}, "values": []}]),
    "null_samples": _matrix([{"metric": {"__name__": "x"}, "values": [[None, "1"], [T0, None], [T0, "2"]]}]),
    "off_shape": _matrix([{"metric": {"__name__": "x"}, "values": [[T0, "1"], [T0 + 1]]}]),
}


@pytest.mark.parametrize("name", list(DOCS))
@pytest.mark.parametrize("pretty", [False, True])
def test_query_range_fast_path_equals_the_general_reader(monkeypatch, tmp_path, name, pretty):
    p = tmp_path / "qr.json"
    p.write_text(json.dumps(DOCS[name], indent=2 if pretty else None))
    out = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(prom_json, "_read_matrix", lambda *a: None)
            dl = tmp_path / f"dl_{fast}.jsonl"
            res = read_export(p, engine="polars", dead_letter=dl)
        out.append((res, dl.read_bytes() if dl.exists() else b""))
    (a, a_dl), (b, b_dl) = out
    cols = sorted(a.frame.columns)
    assert sorted(b.frame.columns) == cols
    assert a.frame.select(cols).equals(b.frame.select(cols))
    assert (a.read, a.rejected, a.reasons) == (b.read, b.rejected, b.reasons)
    assert a_dl == b_dl


def _exposition_lines(rnd: random.Random, n: int) -> list[str]:
    """Exposition text of the common shape with, now and then, every kind of line the fast path must leave
    to the general reader (or judge exactly as it would)."""
    t0 = 1793577600
    odd = [
        '# HELP x some help', '# TYPE x counter', '  # indented comment', '', '   ', '\t', '# EOF',
        'x{a="1"}\t2 {t}', 'x{a="1"}  2 {t}', 'x{a="1"} 2  {t}', 'x{a="1"} 2 {t} ', 'x{a="1"} 2 {t}\t',
        'x{a="1"} 2 {t} # {{trace_id="ab"}} 1.5', 'x 2 # a comment', 'x{a="1"} 2 # c',
        'x{a="q\\"uote",b="back\\\\slash",c="new\\nline"} 3 {t}', 'x{a="}{ ", b="x y"} 4 {t}',
        'x{a="1",} 5 {t}', 'x{ a = "1" , b="2" } 6 {t}', 'x{a="1"b="2"} 7 {t}', 'x{a="1",,b="2"} 8 {t}',
        'x{a="1", } 9 {t}', 'x{} 10 {t}', 'x{ } 11 {t}', 'x{,} 12 {t}', 'x{a=1} 13 {t}', 'x{a="1"', 'x{a="1"}',
        'x{a="1"} ', 'x{a="1"}2 {t}', '9bad{a="1"} 1 {t}', 'na-me{a="1"} 1 {t}', 'x{a="1"} 1 2 3',
        'x{a="1"} 1 t{t}', 'x{a="1"} 1 {t}.5', 'x{a="1"} 1 -{t}', 'x{a="1"} 1e3e {t}', 'x{__name__="y"} 1 {t}',
        'x{name="n",value="v",ts="t",metric="m"} 1 {t}', 'x{a="1",a="2"} 1 {t}', 'x{a="é ü"} 1 {t}',
        'x{a="1"} \u00a01 {t}', 'x{a="1"} 1\x0c {t}', 'x{a="1"} 1} {t}', 'x{a="1"} 1 {t}}', '{a="1"} 1 {t}',
        'x{a="1"}} 1 {t}', 'x{{a="1"} 1 {t}', 'x{a="1"}{b="2"} 1 {t}', 'x{a="\t"} 1 {t}', 'x{a\t="1"} 1 {t}',
        'x{job="j",service="s"} 1 {t}', 'x{job="only-job"} NaN {t}', 'x{a="1"} +Inf', 'x -Inf {t}', 'x nan',
        'x{a="1"} fast {t}', 'x{a="1"} 1 12345678901234567890123', 'x_with_a_long_metric_name_total 1',
        ':colon:name{le="+Inf"} 1 {t}', 'x{a="1"} 1 {t}\r', 'x{a="1"}\r', 'x{a="' + 'v' * 40 + '"} 1 {t}',
        'x{lbl_' + 'n' * 70 + '="1"} 1 {t}', 'x{a="1"} 1.5e+3 {t}.25',
    ]
    shapes = [('http_requests_total{{job="{s}",instance="{s}-{i}:8080",code="{c}"}} {v} {t}', 0.55),
              ('up{{job="{s}"}} {v} {t}', 0.15), ('process_resident_memory_bytes {v} {t}', 0.1),
              ('node_cpu_seconds_total{{cpu="{i}",mode="idle",instance="{s}"}} {v}', 0.1),
              ('rpc_duration_seconds_bucket{{le="{c}.5",service="{s}",route="/v1/x y"}} {v} {t}', 0.1)]
    out = []
    for j in range(n):
        t = (t0 + j) * 1000 if rnd.random() < 0.5 else t0 + j
        if rnd.random() < 0.08:
            out.append(rnd.choice(odd).replace("{t}", str(t)))
            continue
        shape = rnd.choices([x for x, _ in shapes], weights=[w for _, w in shapes])[0]
        out.append(shape.format(s=rnd.choice(["vault", "router", "gpu-node"]), i=rnd.randint(0, 40),
                                c=rnd.choice([200, 500, 503]), t=t,
                                v=rnd.choice(["1", "2.5", "1e-3", "NaN", "+Inf", "-7", str(rnd.random())])))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_exposition_fast_path_equals_the_general_reader(monkeypatch, tmp_path, seed):
    """The vectorised split of common exposition lines gives what the regex reader gives: frame, counts,
    and every dead-letter entry (file, line, field, reason, raw), across chunk boundaries."""
    from holoops.sources.formats import openmetrics

    rnd = random.Random(seed)
    lines = _exposition_lines(rnd, rnd.choice([200, 3000, 20000]))
    end = rnd.choice(["\n", "", "\r\n"])
    p = tmp_path / "metrics.prom"
    p.write_bytes(("\r\n" if end == "\r\n" else "\n").join(lines).encode() + end.encode())
    out = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:  # every chunk through the general reader
                m.setattr(openmetrics, "FAST_PATH", False)
            dl = tmp_path / f"dl_{fast}.jsonl"
            res = read_export(p, "openmetrics", engine="polars", dead_letter=dl, chunk_mib=0.0625,
                              scrape_time="2026-11-02T10:00:00Z")
        out.append((res, dl.read_bytes() if dl.exists() else b""))
    (a, a_dl), (b, b_dl) = out
    assert a.ingested + a.rejected == a.read
    assert (a.read, a.rejected, a.reasons) == (b.read, b.rejected, b.reasons)
    assert a_dl == b_dl
    cols = sorted(a.frame.columns)
    assert sorted(b.frame.columns) == cols
    assert a.frame.select(cols).equals(b.frame.select(cols))
    assert a.frame["value"].is_nan().any()  # NaN samples are data


def test_exposition_fast_path_takes_the_common_lines(monkeypatch, tmp_path):
    """The common shapes really go the fast way (only the odd lines reach the regex reader)."""
    from holoops.sources.formats import openmetrics

    p = tmp_path / "m.prom"
    p.write_text('# TYPE x counter\nx{a="1",b="2"} 1 1793577600\nx 2\nx{a="1"} 3  1793577600\n'
                 'y{a="1"} 4 1793577600\n# EOF\n')
    seen = []
    real = openmetrics._general

    def spy(df, dl):
        seen.extend(df["__line"].to_list())
        return real(df, dl)

    monkeypatch.setattr(openmetrics, "_general", spy)
    res = read_export(p, engine="polars")
    assert res.read == res.ingested == 4 and seen == [4]


def _span_lines(n: int, rnd: random.Random) -> list[bytes]:
    out = []
    for i in range(n):
        row = {"trace_id": f"t{i // 4}", "span_id": f"s{i}", "parent_id": "" if i % 4 == 0 else f"s{i - 1}",
               "service": rnd.choice(["router", "vault"]), "operation": "GET /x",
               "start": f"2026-11-02T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
               "duration_ms": round(rnd.random() * 50, 3), "status": rnd.choice(["ok", "ok", "error", "OK"]),
               "peer": rnd.choice(["vault", None]), "attempt": rnd.choice([1, 2])}
        if i % 97 == 5:  # numeric codes (OTLP's 2 = error, HTTP 503) and a missing status read the same way
            row["status"] = rnd.choice([2, 503, 0, None])
        out.append(orjson.dumps(row))
    return out


@pytest.mark.parametrize("case", ["clean", "bad_rows"])
def test_jsonl_spans_take_the_fast_path_with_the_same_frame(monkeypatch, tmp_path, case):
    """Span exports (status "ok"/"error") parse on the typed fast path, whole-file and chunked, and give the
    frame (counts, dead letters) the line-by-line path gave when a span's status was typed as a log's
    integer HTTP code (which failed every typed parse of a span export)."""
    rnd = random.Random(3)
    lines = _span_lines(5000, rnd)
    if case == "bad_rows":
        lines[10] = lines[10].replace(b'"duration_ms":', b'"duration_ms":-')
        lines.insert(2000, b'{"trace_id": "t", "span_id": "x", "start": "not a time"}')
    p = tmp_path / "spans.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    old_typing = {**jsonl_logs.TYPED, "spans": {"duration_ms": pl.Float64, "status": pl.Int64}}
    runs = {}
    for name, typed, whole in (("whole", jsonl_logs.TYPED, True), ("chunked", jsonl_logs.TYPED, False),
                               ("before", old_typing, True)):
        whole_used: list[bool] = []
        parsed: list[bool] = []
        real_whole, real_parse = jsonl_logs._read_whole, jsonl_logs._parse

        def spy_whole(*a, _real=real_whole, _used=whole_used):
            got = _real(*a)
            _used.append(got is not None)
            return got

        def spy_parse(buf, schema, _real=real_parse, _parsed=parsed):
            try:
                df = _real(buf, schema)
            except pl.exceptions.PolarsError:
                _parsed.append(False)
                raise
            _parsed.append(True)
            return df

        with monkeypatch.context() as m:
            m.setattr(jsonl_logs, "TYPED", typed)
            m.setattr(jsonl_logs, "_read_whole", spy_whole)
            m.setattr(jsonl_logs, "_parse", spy_parse)
            if not whole:
                m.setattr(jsonl_logs, "WHOLE_FRACTION", 0.0)
            dl = tmp_path / f"dl_{name}.jsonl"
            res = read_export(p, engine="polars", dead_letter=dl, chunk_mib=0.0625)
        runs[name] = (res, dl.read_bytes() if dl.exists() else b"", whole_used, parsed)
    assert runs["whole"][2] == [True]  # the whole file parsed typed in one call
    assert runs["chunked"][3] and all(runs["chunked"][3])  # every chunk parsed typed
    assert runs["before"][2] == [False] and runs["before"][3][0] is False  # the old typing: line by line
    before, before_dl = runs["before"][0], runs["before"][1]
    for name in ("whole", "chunked"):
        res, dl_bytes = runs[name][0], runs[name][1]
        assert res.kind == "spans" and res.frame.equals(before.frame), name
        assert (res.read, res.ingested, res.rejected, res.reasons) == \
            (before.read, before.ingested, before.rejected, before.reasons)
        assert [dict(orjson.loads(x), file=None) for x in dl_bytes.splitlines()] == \
            [dict(orjson.loads(x), file=None) for x in before_dl.splitlines()]
    assert set(before.frame["status"].unique()) == {"ok", "error"}
    assert before.rejected == (0 if case == "clean" else 2) and before.read == len(lines)
