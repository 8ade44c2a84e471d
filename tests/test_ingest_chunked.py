"""CSV dumps and exposition text are read in chunks like JSON lines: the answers (frame, counts, dead letters
with their lines) do not depend on the chunk size, and ``convert_export`` streams them chunk by chunk."""

from __future__ import annotations

import random

import orjson
import polars as pl
import pytest

from holoops.ingest import DeadLetter
from holoops.sources.exports import convert_export, read_export
from holoops.sources.formats import csv_dump, openmetrics

CHUNK_MIB = 0.0625  # 64 KiB, the smallest chunk: the files below span dozens


def _csv_logs(n: int, seed: int = 5) -> tuple[bytes, dict[int, str]]:
    """A logs CSV (CRLF, BOM) with quoted cells spanning lines, blank lines, a row of Latin-1 bytes and
    rejected rows; returns the bytes and {line: reason} of what must be rejected."""
    rnd = random.Random(seed)
    out = ["\ufeffts,service,level,message,status,latency_ms".encode()]
    bad: dict[int, str] = {}
    line = 2
    for i in range(n):
        ts = f"2026-11-02T10:{i // 60 % 60:02d}:{i % 60:02d}Z"
        msg = f"GET /x {i}"
        r = rnd.random()
        if r < 0.01:
            msg = f'"multi\nline, with ""quotes""\n{i}"'  # a cell over three lines
        elif r < 0.015:
            out.append(b"")  # a blank line: a row of empty cells
            bad[line] = "missing_field"
            line += 1
            continue
        elif r < 0.02:
            ts = "yesterday"
            bad[line] = "bad_timestamp"
        elif r < 0.025:
            out.append(f"{ts},vault,info,caf\xe9 {i},200,1.5".encode("latin-1"))  # not UTF-8
            bad[line] = "wrong_encoding"
            line += 1
            continue
        elif r < 0.03:
            bad[line] = "negative_value"
            out.append(f"{ts},vault,info,{msg},200,-2".encode())
            line += 1
            continue
        row = f"{ts},{rnd.choice(['vault', 'router'])},{rnd.choice(['info', 'warn'])},{msg},200,{rnd.random():.4f}"
        out.append(row.encode())
        line += 1 + msg.count("\n")
    return b"\r\n".join(out) + b"\r\n", bad


def _read(path, tmp_path, name, **kw):
    dl = tmp_path / f"dl_{name}.jsonl"
    res = read_export(path, engine="polars", dead_letter=dl, **kw)
    return res, [orjson.loads(x) for x in dl.read_bytes().splitlines()] if dl.exists() else []


def test_csv_chunks_give_the_whole_file_answer_with_exact_lines(tmp_path):
    data, bad = _csv_logs(6000)
    p = tmp_path / "logs.csv"
    p.write_bytes(data)
    whole, whole_dl = _read(p, tmp_path, "whole", chunk_mib=64)
    chunked, chunked_dl = _read(p, tmp_path, "chunked", chunk_mib=CHUNK_MIB)
    assert len(data) > 4 * (1 << 16)  # many chunks
    assert chunked.frame.equals(whole.frame)
    assert (chunked.read, chunked.ingested, chunked.rejected, chunked.reasons) == \
        (whole.read, whole.ingested, whole.rejected, whole.reasons)
    # the same entries (each chunk reports its encoding rejects before the rows validation rejects)
    assert sorted(chunked_dl, key=lambda e: e["line"]) == sorted(whole_dl, key=lambda e: e["line"])
    assert chunked.ingested + chunked.rejected == chunked.read
    # every bad row rejected, at the file line where it starts, with its raw text
    assert {e["line"]: e["reason"] for e in chunked_dl} == bad
    lines = [x.rstrip(b"\r") for x in data.split(b"\n")]
    for e in chunked_dl:
        assert e["raw"][:60] == lines[e["line"] - 1].decode("utf-8", errors="backslashreplace")[:60]
    assert chunked.frame["message"].str.contains("\n").sum() > 10  # multi-line cells kept whole
    assert whole.frame.height == chunked.read - len(bad)


def test_csv_is_streamed_in_chunks(tmp_path):
    data, bad = _csv_logs(6000, seed=6)
    p = tmp_path / "logs.csv"
    p.write_bytes(data)
    from holoops.sources.formats.jsonl_logs import Progress

    progress = Progress()
    frames = list(csv_dump.iter_frames(p, DeadLetter(None), chunk_mib=CHUNK_MIB, progress=progress))
    assert len(frames) > 4 and max(f.height for f in frames) < 2000
    assert progress.kind == "logs" and progress.read == sum(f.height for f in frames) + len(bad)
    assert pl.concat(frames).equals(read_export(p, engine="polars").frame)
    # batches of chunk_rows within a chunk
    small = list(csv_dump.iter_frames(p, DeadLetter(None), chunk_mib=64, chunk_rows=1000))
    assert len(small) > 4 and max(f.height for f in small) <= 1000 and pl.concat(small).equals(pl.concat(frames))


def test_convert_export_streams_csv_and_exposition(monkeypatch, tmp_path):
    data, bad = _csv_logs(6000, seed=7)
    p = tmp_path / "logs.csv"
    p.write_bytes(data)
    q = tmp_path / "metrics.prom"
    q.write_text("# TYPE up gauge\n" + "".join(f'up{{job="j{i % 7}",instance="i{i}"}} {i % 2} {1793577600 + i}\n'
                                                for i in range(20000)) + "up{job=broken} 1\n")

    def whole(*a, **k):
        raise AssertionError("read whole")

    monkeypatch.setattr(csv_dump, "read", whole)
    monkeypatch.setattr(openmetrics, "read", whole)
    for path, kind, rejected in ((p, "logs", len(bad)), (q, "metrics", 1)):
        out = tmp_path / f"pq_{kind}"
        res = convert_export(path, out, dead_letter=tmp_path / f"dl_{kind}.jsonl", chunk_mib=CHUNK_MIB,
                             partition_on=())
        assert res.kind == kind and res.rejected == rejected and res.ingested + res.rejected == res.read
        files = list(out.glob("*.parquet"))
        assert len(files) > 3  # one file a chunk
        assert pl.read_parquet(files).height == res.ingested
    assert orjson.loads((tmp_path / "dl_metrics.jsonl").read_bytes())["line"] == 20002


def test_csv_with_unbalanced_quotes_is_refused_not_read_whole(tmp_path):
    from holoops.errors import InputFileError

    p = tmp_path / "bad.csv"
    p.write_bytes(b"ts,message\n" + b'2026-11-02T10:00:00Z,"never closed\n' + b"2026-11-02T10:00:00Z,x\n" * 60000)
    with pytest.raises(InputFileError, match="quotes"):
        read_export(p, chunk_mib=CHUNK_MIB)


def test_exposition_chunks_give_the_whole_file_answer(tmp_path):
    rnd = random.Random(2)
    lines = ["# TYPE x counter"]
    for i in range(20000):
        lines.append(rnd.choice([f'x{{a="{i}",b="v"}} {i} {1793577600 + i}', f"x {i}", "", "# c",
                                 f'x{{a="{i}"}}  1', f'x{{a="\\"{i}"}} 2 3', f"x{{a={i}}} 1"]))
    p = tmp_path / "m.prom"
    p.write_text("\n".join(lines) + "\n")
    whole, whole_dl = _read(p, tmp_path, "whole", chunk_mib=64, scrape_time="2026-11-02T10:00:00Z")
    chunked, chunked_dl = _read(p, tmp_path, "chunked", chunk_mib=CHUNK_MIB, scrape_time="2026-11-02T10:00:00Z")
    assert chunked.frame.equals(whole.frame) and chunked_dl == whole_dl and chunked.rejected > 100
    assert (chunked.read, chunked.rejected) == (whole.read, whole.rejected)
    for e in chunked_dl:
        assert lines[e["line"] - 1] == e["raw"]
