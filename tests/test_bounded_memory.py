"""Exports larger than memory: the streaming paths give the in-memory answers, with full accounting.

The memory bound itself is measured (under a cgroup cap) by ``benchmarks/bench_memory.py``; here the
streaming paths run on small files cut into many chunks and are checked against the in-memory readers.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from holoops.analyze.requests import request_table, top_errors
from holoops.errors import InputFileError
from holoops.sources.exports import convert_export, read_export
from holoops.sources.formats import jsonl_logs

Q = ["p50_ms", "p95_ms", "p99_ms"]
CHUNK_MIB = 0.0625  # 64 KiB (the reader's smallest chunk): the test files span dozens of chunks

BAD_LINES = {  # inserted after these (0-based) good lines: line text, expected dead-letter reason
    100: (b'{"ts": "2026-11-02T00:00:00Z", "service": "vault", "message": "x", ', "malformed_json"),
    2500: (b'["not", "an", "object"]', "not_an_object"),
    5000: (b'{"ts": "yesterday-ish", "service": "vault", "message": "GET /x", "status": 200, '
           b'"latency_ms": 3.0}', "bad_timestamp"),
    7000: (b'{"ts": "2026-11-02T12:00:00Z", "service": "vault", "message": "GET /x", "status": 200, '
           b'"latency_ms": -4.0}', "negative_value"),
    9000: (b'{"ts": "2026-11-02T12:00:00Z", "service": "vault", "message": "", "status": 200, '
           b'"latency_ms": 4.0}', "missing_field"),
}


def _lines(n: int, seed: int = 11) -> list[bytes]:
    from holoops.demo import request_log

    df = pl.from_arrow(request_log(n, seed=seed)).with_columns(
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
        *[pl.col(c).cast(pl.Utf8) for c in ("service", "route", "level", "instance")])
    return df.write_ndjson().encode().splitlines()


@pytest.fixture(scope="module")
def clean_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("bounded") / "clean.jsonl"
    p.write_bytes(b"\n".join(_lines(12_000)) + b"\n")
    return p


@pytest.fixture(scope="module")
def dirty_file(tmp_path_factory):
    """12,000 good request lines, five bad ones in between and a truncated last line."""
    good = _lines(12_000, seed=12)
    out = []
    for i, ln in enumerate(good):
        out.append(ln)
        if i in BAD_LINES:
            out.append(BAD_LINES[i][0])
    p = tmp_path_factory.mktemp("bounded") / "dirty.jsonl"
    p.write_bytes(b"\n".join(out) + b'\n{"ts": "2026-11-02T23:59:59Z", "serv')
    return p


def _scan(folder) -> pl.DataFrame:
    cols = ["ts", "service", "route", "status", "latency_ms", "level", "message", "trace_id", "instance"]
    return (pl.scan_parquet(str(folder / "**" / "*.parquet"), hive_partitioning=True).select(cols)
            .collect().sort("ts", "trace_id"))


def test_iter_frames_streams_chunks_and_read_is_their_concatenation(clean_file):
    progress = jsonl_logs.Progress()
    from holoops.ingest import DeadLetter

    frames = list(jsonl_logs.iter_frames(clean_file, DeadLetter(None), chunk_mib=CHUNK_MIB, progress=progress))
    assert len(frames) > 20  # really chunked
    assert progress.read == sum(f.height for f in frames) == 12_000 and progress.kind == "logs"
    whole = read_export(clean_file, engine="polars").frame
    assert pl.concat(frames).equals(whole)


def test_convert_export_accounts_for_every_line(dirty_file, tmp_path):
    dl_path = tmp_path / "rejected.jsonl"
    res = convert_export(dirty_file, tmp_path / "pq", dead_letter=dl_path, chunk_mib=CHUNK_MIB)
    mem = read_export(dirty_file, engine="polars")
    assert res.frame == tmp_path / "pq" and res.kind == "logs" and res.format == "jsonl"
    assert res.read == 12_000 + len(BAD_LINES) + 1
    assert res.ingested + res.rejected == res.read
    assert (res.read, res.ingested, res.rejected, res.reasons) == (mem.read, mem.ingested, mem.rejected, mem.reasons)
    want = {r for _, r in BAD_LINES.values()} | {"truncated_line"}
    assert set(res.reasons) == want and res.rejected == len(want)
    entries = [json.loads(x) for x in dl_path.read_text().splitlines()]
    assert len(entries) == res.rejected
    assert all(e["file"] == str(dirty_file) and e["line"] for e in entries)
    # the line numbers point at the bad lines
    lines = dirty_file.read_bytes().split(b"\n")
    for e in entries:
        raw = lines[e["line"] - 1].decode()
        assert raw[:100] == e["raw"][:100]
    # what was written is what the in-memory reader keeps
    got = _scan(tmp_path / "pq")
    assert got.height == res.ingested
    assert got.equals(mem.frame.select(got.columns).sort("ts", "trace_id"))
    # hive layout: date=.../service=...
    dirs = {p.parent.relative_to(tmp_path / "pq").parts[:2] for p in (tmp_path / "pq").rglob("*.parquet")}
    assert all(d[0].startswith("date=") and d[1].startswith("service=") for d in dirs)


def test_request_table_on_the_converted_folder_equals_in_memory(dirty_file, tmp_path):
    res = convert_export(dirty_file, tmp_path / "pq", chunk_mib=CHUNK_MIB)
    frame = read_export(dirty_file, engine="polars").frame
    for by in (("service",), ("service", "route")):
        want = request_table(frame, by=by, engine="polars")
        got = request_table(res.frame, by=by, engine="polars")
        assert got.drop(Q).equals(want.drop(Q))
        for c in Q:
            np.testing.assert_allclose(got[c].to_numpy(), want[c].to_numpy(), rtol=1e-9)
    assert top_errors(res.frame, engine="polars").equals(top_errors(frame, engine="polars"))


def test_request_table_streams_a_jsonl_path_with_the_in_memory_numbers(clean_file):
    frame = read_export(clean_file, engine="polars").frame
    for method in ("exact", "sketch"):
        want = request_table(frame, by=("service", "route"), method=method, engine="polars")
        for backend in ("auto", "duckdb", "polars"):
            got = request_table(clean_file, by=("service", "route"), method=method, engine="polars",
                                backend=backend)
            assert got.drop(Q).equals(want.drop(Q)), (method, backend)
            for c in Q:
                np.testing.assert_allclose(got[c].to_numpy(), want[c].to_numpy(), rtol=1e-9)
    assert top_errors(clean_file, engine="polars").equals(top_errors(frame, engine="polars"))


def test_jsonl_path_reads_epoch_and_naive_timestamps_as_utc(tmp_path):
    rows = [{"ts": 1793577600, "service": "a", "status": 200, "latency_ms": 1.0, "message": "m"},
            {"ts": 1793577630500, "service": "a", "status": 503, "latency_ms": 3.0, "message": "m"},
            {"ts": "2026-11-02T00:01:10", "service": "a", "status": 200, "latency_ms": 5.0, "message": "m"},
            {"ts": "2026-11-02T01:01:20+01:00", "service": "a", "status": 200, "latency_ms": 7.0, "message": "m"}]
    p = tmp_path / "mixed.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    got = request_table(p, engine="polars")
    want = request_table(read_export(p, engine="polars").frame, engine="polars")
    assert got.equals(want)
    assert got["requests"].to_list() == [2, 2] and got["errors_5xx"].to_list() == [1, 0]


def test_jsonl_path_with_bad_lines_points_to_convert_export(dirty_file, tmp_path):
    with pytest.raises(InputFileError, match="convert_export"):
        request_table(dirty_file)
    (tmp_path / "x.jsonl").write_text('{"ts": "2026-11-02T00:00:00Z", "message": "no status"}\n')
    from holoops.errors import SchemaError

    with pytest.raises(SchemaError, match="status"):
        request_table(tmp_path / "x.jsonl")


def test_convert_export_refuses_a_full_folder_and_converts_other_formats(clean_file, tmp_path):
    out = tmp_path / "pq"
    convert_export(clean_file, out, chunk_mib=CHUNK_MIB)
    with pytest.raises(InputFileError, match="overwrite"):
        convert_export(clean_file, out)
    res = convert_export(clean_file, out, overwrite=True, partition_on=())
    assert res.ingested == 12_000 and not [p for p in out.iterdir() if p.is_dir()]
    # a Parquet export is read whole, then written the same way
    pq_file = tmp_path / "logs.parquet"
    read_export(clean_file, engine="polars").frame.write_parquet(pq_file)
    res2 = convert_export(pq_file, tmp_path / "pq2")
    assert res2.format == "parquet" and res2.ingested == 12_000
    assert _scan(tmp_path / "pq2").equals(_scan(out))


def test_cli_convert_writes_parquet_and_the_slo_table(dirty_file, tmp_path, capsys):
    from holoops.cli import main

    slo = tmp_path / "slo.csv"
    rc = main(["convert", str(dirty_file), "--to", str(tmp_path / "pq"), "--dead-letter",
               str(tmp_path / "dl.jsonl"), "--chunk-mib", str(CHUNK_MIB), "--slo-table", str(slo)])
    assert rc == 0
    out = capsys.readouterr().out
    assert f"read {12_000 + len(BAD_LINES) + 1}, ingested 12000, rejected {len(BAD_LINES) + 1}" in out
    table = pl.read_csv(slo)
    assert table.columns[:3] == ["ts", "service", "requests"] and table["requests"].sum() == 12_000


def test_duckdb_sketch_reads_ranks_in_sql_with_the_same_numbers():
    """The DuckDB sketch keeps the (groups x buckets) counts inside DuckDB; null keys, all-null and zero
    latencies give what quantiles_from_counts gives."""
    import datetime as dt

    ts = [dt.datetime(2026, 11, 2, 0, m, s, tzinfo=dt.timezone.utc) for m in range(3) for s in range(0, 60, 5)]
    n = len(ts)
    df = pl.DataFrame({"ts": ts, "service": ["a", None, "b", None] * (n // 4),
                       "status": [200, 503, 500, 200] * (n // 4),
                       "latency_ms": [None, 1.0, 0.0, 5.5, None, 2.0] * (n // 6)}
                      ).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))
    df = pl.concat([df, pl.DataFrame({"ts": [ts[0]], "service": ["c"], "status": [200], "latency_ms": [None]},
                                     schema=df.schema)])
    want = request_table(df, method="sketch", engine="polars", backend="polars")
    got = request_table(df, method="sketch", engine="polars", backend="duckdb")
    assert got.equals(want)
    assert want.filter(pl.col("service") == "c")["p50_ms"].to_list() == [None]
    assert want["service"].null_count() == 3
