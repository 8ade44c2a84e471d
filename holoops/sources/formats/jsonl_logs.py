"""JSON lines: app-structured logs ``{"ts","service","level","msg",...}``, Loki ``logcli --output=jsonl``
lines ``{"labels":{...},"line","timestamp"}``, Elasticsearch/Fluentd ``{"@timestamp","log",...}``; also
JSON-lines spans/events/metrics rows.

Fast path: the file is read ``chunk_mib`` at a time (cut at a newline) and each chunk parsed by
``polars.read_ndjson`` with a fixed schema, then validated with vectorised expressions. Only when a chunk
fails to parse is it split into blocks of :data:`BLOCK_LINES`; only blocks that fail are checked line by
line (orjson), so good lines stay on the fast path.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import validate

BLOCK_LINES = 4096
SAMPLE_LINES = 1000
TYPED = {"latency_ms": pl.Float64, "status": pl.Int64, "duration_ms": pl.Float64, "value": pl.Float64}


def _chunks(path: Path, chunk_bytes: int):
    """Yield ``(piece, first_line_no)``; pieces end at a newline (except the file's last)."""
    carry = b""
    line_no = 1
    with open(path, "rb") as fh:
        while True:
            data = fh.read(chunk_bytes)
            if not data:
                if carry:
                    yield carry, line_no
                return
            buf = carry + data if carry else data
            cut = buf.rfind(b"\n")
            if cut == -1:
                carry = buf
                continue
            piece, carry = buf[:cut + 1], buf[cut + 1:]
            yield piece, line_no
            line_no += piece.count(b"\n")


def _schemas(sample: list[bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(typed, lenient) read schemas from sample lines: known fields typed, others String, structs kept."""
    import orjson

    good = []
    for ln in sample:
        try:
            if isinstance(orjson.loads(ln), dict):
                good.append(ln)
        except orjson.JSONDecodeError:
            continue
    inferred = pl.read_ndjson(io.BytesIO(b"\n".join(good)), infer_schema_length=None).schema if good else {}
    typed, lenient = {}, {}
    for name, dt in inferred.items():
        keep = dt if isinstance(dt, (pl.Struct, pl.List)) else pl.String
        lenient[name] = keep
        if name in TYPED:
            typed[name] = TYPED[name]
        elif name in ("ts", "timestamp", "time", "startTime") and dt in (pl.Int64, pl.Float64):
            typed[name] = dt
        else:
            typed[name] = keep
    return typed, lenient


def _flatten(df: pl.DataFrame) -> pl.DataFrame:
    """Unnest struct columns (Loki ``labels``, ES ``kubernetes``) two levels deep; lists become JSON text."""
    for _ in range(2):
        structs = [c for c, t in df.schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            break
        for c in structs:
            fields = [f.name for f in df.schema[c].fields]
            taken = set(df.columns) - {c}
            df = df.with_columns([pl.col(c).struct.field(f).alias(f if f not in taken else f"{c}_{f}")
                                  for f in fields]).drop(c)
    lists = [c for c, t in df.schema.items() if isinstance(t, pl.List)]
    if lists:
        df = df.with_columns([pl.col(c).cast(pl.List(pl.String), strict=False).list.join(",") for c in lists])
    return df


def _nonblank_lines(piece: bytes, first: int) -> list[int]:
    return [first + i for i, ln in enumerate(piece.split(b"\n")) if ln.strip()]


def _parse(buf: bytes, schema: dict[str, Any]) -> pl.DataFrame:
    return pl.read_ndjson(io.BytesIO(buf), schema=schema)


def _per_line(lines: list[bytes], first: int, dl: DeadLetter, lenient: dict[str, Any],
              truncated_at: int | None) -> tuple[pl.DataFrame | None, int]:
    """Check lines one by one; reject bad ones; parse the good ones. Returns (frame, n_records)."""
    import orjson

    good: list[bytes] = []
    good_no: list[int] = []
    n = 0
    for i, ln in enumerate(lines):
        if not ln.strip():
            continue
        n += 1
        no = first + i
        try:
            ln.decode("utf-8")
        except UnicodeDecodeError as exc:
            dl.reject(no, None, "wrong_encoding", ln, detail=f"invalid UTF-8 at byte {exc.start}")
            continue
        try:
            obj = orjson.loads(ln)
        except orjson.JSONDecodeError as exc:
            reason = "truncated_line" if no == truncated_at else "malformed_json"
            dl.reject(no, None, reason, ln, detail=str(exc))
            continue
        if not isinstance(obj, dict):
            dl.reject(no, None, "not_an_object", ln, detail=f"a JSON {type(obj).__name__}, not an object")
            continue
        good.append(ln)
        good_no.append(no)
    if not good:
        return None, n
    try:
        df = _parse(b"\n".join(good), lenient)
    except pl.exceptions.PolarsError:
        frames, nos = [], []
        for no, ln in zip(good_no, good, strict=False):
            try:
                frames.append(_parse(ln, lenient))
                nos.append(no)
            except pl.exceptions.PolarsError as exc:
                dl.reject(no, None, "mistyped_field", ln, detail=str(exc).splitlines()[0])
        if not frames:
            return None, n
        df, good_no = pl.concat(frames, how="diagonal_relaxed"), nos
    return df.with_columns(__line=pl.Series(good_no, dtype=pl.Int64)), n


def read(path: Path, dl: DeadLetter, *, kind: str | None = None, chunk_mib: float = 64,
         **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read a JSON-lines export. Returns ``(frame, n_read, normalised, kind)``."""
    import orjson

    from holoops.sources.formats.sniff import json_line_kind

    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 1))
        ends_nl = fh.read(1) == b"\n"
    chunk_bytes = max(1 << 16, int(chunk_mib * (1 << 20)))
    typed = lenient = None
    out: list[pl.DataFrame] = []
    normalised: dict[str, int] = {}
    n_read = 0
    for piece, first in _chunks(path, chunk_bytes):
        last_no = first + piece.count(b"\n") - (1 if piece.endswith(b"\n") else 0)
        truncated_at = last_no if (not ends_nl and first + piece.count(b"\n") > 0
                                   and not piece.endswith(b"\n")) else None
        if typed is None:
            sample = [ln for ln in piece[:1 << 20].split(b"\n")[:SAMPLE_LINES] if ln.strip()]
            typed, lenient = _schemas(sample)
            found = None
            for ln in sample:
                try:
                    obj = orjson.loads(ln)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(obj, dict) and (found := json_line_kind(_flat_keys(obj))):
                    break
            if kind is not None and found is not None and found != kind:
                raise InputFileError(path, f"a {kind} export", f"JSON lines holding {found}")
            kind = kind or found
            if kind is None:
                raise InputFileError(path, "JSON lines with ts/timestamp + msg/message/line/log (logs) or "
                                     "span/event/metric rows", "JSON lines without such keys")
        lines_split: list[bytes] | None = None
        try:
            if not typed:
                raise pl.exceptions.ComputeError("no schema")
            df = _parse(piece, typed)
            blanky = df.height != piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)
            if blanky:
                nos = _nonblank_lines(piece, first)
                if len(nos) != df.height:
                    raise pl.exceptions.ComputeError("line count mismatch")
                df = df.with_columns(__line=pl.Series(nos, dtype=pl.Int64))
            else:
                df = df.with_columns(__line=pl.int_range(first, first + df.height, dtype=pl.Int64))
            parts = [df]
            n_read += df.height
        except pl.exceptions.PolarsError:
            lines_split = piece.split(b"\n")
            parts = []
            for b0 in range(0, len(lines_split), BLOCK_LINES):
                block = lines_split[b0:b0 + BLOCK_LINES]
                bfirst = first + b0
                try:
                    bdf = _parse(b"\n".join(block), typed)
                    nos = _nonblank_lines(b"\n".join(block), bfirst)
                    if len(nos) != bdf.height:
                        raise pl.exceptions.ComputeError("line count mismatch")
                    parts.append(bdf.with_columns(__line=pl.Series(nos, dtype=pl.Int64)))
                    n_read += bdf.height
                except pl.exceptions.PolarsError:
                    bdf, n = _per_line(block, bfirst, dl, lenient, truncated_at)
                    n_read += n
                    if bdf is not None:
                        parts.append(bdf)

        def raw(nos: list[int], _piece=piece, _first=first, _split=lines_split) -> list[bytes]:
            split = _split if _split is not None else _piece.split(b"\n")
            return [split[n - _first] for n in nos]

        for part in parts:
            if not part.height:
                continue
            good, norm = validate(_flatten(part), kind, dl, raw=raw)
            for k, v in norm.items():
                normalised[k] = normalised.get(k, 0) + v
            out.append(good)
    if typed is None:
        raise InputFileError(path, "JSON lines", "no lines")
    frame = pl.concat(out, how="diagonal_relaxed") if out else validate(
        pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), kind, DeadLetter(None))[0]
    return frame, n_read, normalised, kind


def _flat_keys(obj: dict) -> dict:
    """Top-level keys plus keys of nested objects (so Loki ``labels`` / ES ``kubernetes`` count)."""
    keys = dict(obj)
    for v in obj.values():
        if isinstance(v, dict):
            keys.update(v)
    return keys
