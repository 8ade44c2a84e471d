"""The bad-input corpus (tests/data/bad/): every record is ingested or dead-lettered with line and reason;
whole files that cannot be read raise one clear InputFileError naming the file and the expectation."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from holoops.errors import HoloopsError, InputFileError
from holoops.sources.exports import read_export

BAD = Path(__file__).parent / "data" / "bad"

# file, records read, rejected, (reason, field, line) of the dead-letter entry or None
CASES = [
    ("malformed_json.jsonl", 3, 1, ("malformed_json", None, 2)),
    ("missing_ts.jsonl", 2, 1, ("missing_field", "ts", 2)),
    ("missing_message.jsonl", 2, 1, ("missing_field", "message", 2)),
    ("mistyped_latency.jsonl", 2, 1, ("mistyped_field", "latency_ms", 2)),
    ("bad_timestamp.jsonl", 2, 1, ("bad_timestamp", "ts", 2)),
    ("invalid_utf8.jsonl", 2, 1, ("wrong_encoding", None, 2)),
    ("truncated_last_line.jsonl", 2, 1, ("truncated_line", None, 2)),
    ("wrong_status_type.jsonl", 2, 1, ("mistyped_field", "status", 2)),
    ("negative_latency.jsonl", 2, 1, ("negative_value", "latency_ms", 2)),
    ("epoch_mix.jsonl", 5, 0, None),
    ("iso_offset.jsonl", 2, 0, None),
    ("nan_metric.prom", 2, 0, None),  # NaN samples are data (see tests/test_ingest_nan.py)
    ("nan_latency.jsonl", 2, 1, ("nan_value", "latency_ms", 2)),
    ("bad_openmetrics_line.prom", 2, 1, ("bad_line", None, 3)),
    ("jaeger_missing_spanid.json", 2, 1, ("missing_field", "span_id", 18)),
    ("query_range_error.json", 1, 1, ("api_error", "status", None)),
]


@pytest.mark.parametrize("name,n_read,n_rejected,entry", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_bad_records_are_dead_lettered(tmp_path, name, n_read, n_rejected, entry, engine):
    dl = tmp_path / "dead.jsonl"
    res = read_export(BAD / name, engine=engine, dead_letter=dl)
    assert res.ingested + res.rejected == res.read
    assert (res.read, res.rejected) == (n_read, n_rejected)
    assert len(res.frame) == res.ingested
    if entry is None:
        assert not dl.exists() or dl.read_bytes() == b""
        return
    reason, field, line = entry
    assert res.reasons == {reason: n_rejected}
    assert res.dead_letter == str(dl)
    records = [orjson.loads(x) for x in dl.read_bytes().splitlines()]
    assert len(records) == n_rejected
    rec = records[0]
    assert rec["file"] == str(BAD / name)
    assert (rec["reason"], rec["field"], rec["line"]) == (reason, field, line)
    assert rec["raw"]  # the raw record (truncated) is kept


def test_epoch_magnitudes_and_offsets_normalise_to_utc():
    import pandas as pd

    res = read_export(BAD / "epoch_mix.jsonl")
    want = pd.Timestamp("2026-11-02T10:00:00Z")
    assert str(res.frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert list(res.frame["ts"][:4]) == [want] * 4
    assert res.frame["ts"].iloc[4] == want + pd.Timedelta("500ms")
    off = read_export(BAD / "iso_offset.jsonl")
    assert list(off.frame["ts"]) == [want, want]
    # unknown level is normalised, not rejected
    assert list(off.frame["level"]) == ["warning", "unknown"] and off.normalised == {"level": 1}


def test_jaeger_reject_has_json_path():
    res = read_export(BAD / "jaeger_missing_spanid.json")
    assert res.samples[0]["record"] == "data[0].spans[1]"


@pytest.mark.parametrize("name,found", [
    ("binary.png", "PNG image"),
    ("empty.jsonl", "empty file"),
    ("list_of_numbers.json", "list of numbers"),
    ("no_header.csv", "no usable header"),
])
def test_unreadable_files_raise_one_clear_error(name, found):
    with pytest.raises(InputFileError) as err:
        read_export(BAD / name)
    msg = str(err.value)
    assert str(BAD / name) in msg and "expected" in msg and found in msg
    assert isinstance(err.value, HoloopsError)


def test_missing_file_and_wrong_kind(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        read_export(tmp_path / "nope.jsonl")
    with pytest.raises(InputFileError, match="expected a metrics export"):
        read_export(BAD / "missing_ts.jsonl", "metrics")


def test_dead_letter_raw_is_truncated(tmp_path):
    from holoops.ingest import RAW_LIMIT

    p = tmp_path / "long.jsonl"
    p.write_text('{"ts": "2026-11-02T10:00:00Z", "msg": "ok"}\n{"msg": "' + "x" * 5000 + '"}\n')
    res = read_export(p, dead_letter=tmp_path / "dl.jsonl")
    rec = orjson.loads((tmp_path / "dl.jsonl").read_bytes().splitlines()[0])
    assert res.rejected == 1 and len(rec["raw"]) <= RAW_LIMIT + 20 and rec["raw"].endswith("[truncated]")


def test_bad_lines_in_a_large_file_keep_good_lines(tmp_path):
    """Bad lines scattered through many chunks: counts exact, line numbers exact, good lines kept."""
    p = tmp_path / "mixed.jsonl"
    bad_at = {5, 4097, 9000, 20001}
    with open(p, "wb") as fh:
        for i in range(1, 25001):
            if i in bad_at:
                fh.write(b'{"ts": "2026-11-02T10:00:00Z", "msg": broken}\n')
            elif i == 12345:
                fh.write(b"\n")
            else:
                fh.write(b'{"ts": %d, "service": "s", "level": "info", "msg": "m%d", "latency_ms": %d}\n'
                         % (1793613600 + i, i, i % 100))
    res = read_export(p, engine="polars", chunk_mib=0.25, dead_letter=tmp_path / "dl.jsonl")
    assert res.read == 24999 and res.rejected == len(bad_at) and res.ingested == 24999 - len(bad_at)
    lines = sorted(orjson.loads(x)["line"] for x in (tmp_path / "dl.jsonl").read_bytes().splitlines())
    assert lines == sorted(bad_at)
    assert res.frame["message"].str.strip_prefix("m").cast(int).sum() == sum(range(1, 25001)) - sum(bad_at) - 12345
