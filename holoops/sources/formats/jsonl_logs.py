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


def _ranges(path: Path, size: int, chunk_bytes: int):
    """Yield ``(start, end)`` byte ranges of about ``chunk_bytes``, each ending just after a newline
    (except the file's last); found by seeking, so no byte is copied twice."""
    start = 0
    with open(path, "rb") as fh:
        while start < size:
            end = start + chunk_bytes
            if end >= size:
                yield start, size
                return
            fh.seek(end)
            while True:
                block = fh.read(1 << 16)
                if not block:
                    end = size
                    break
                cut = block.find(b"\n")
                if cut != -1:
                    end += cut + 1
                    break
                end += len(block)
            yield start, end
            start = end


class _LineCounter:
    """1-based line number at a byte offset, counted lazily (only files with rejects pay for it)."""

    def __init__(self, path: Path):
        self.path, self.offset, self.line = path, 0, 1

    def at(self, offset: int) -> int:
        if offset > self.offset:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                left = offset - self.offset
                while left > 0:
                    block = fh.read(min(left, 16 << 20))
                    if not block:
                        break
                    self.line += block.count(b"\n")
                    left -= len(block)
            self.offset = offset
        return self.line


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
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 1))
        ends_nl = fh.read(1) == b"\n"
    chunk_bytes = max(1 << 16, int(chunk_mib * (1 << 20)))
    counter = _LineCounter(path)
    typed: dict[str, Any] | None = None
    lenient: dict[str, Any] = {}
    out: list[pl.DataFrame] = []
    normalised: dict[str, int] = {}
    n_read = 0
    with open(path, "rb") as fh:
        for start, end in _ranges(path, size, chunk_bytes):
            fh.seek(start)
            piece = fh.read(end - start)
            if typed is None:
                typed, lenient, kind = _first_chunk(path, piece, kind)
            df = None
            if typed:
                try:
                    df = _parse(piece, typed)
                except pl.exceptions.PolarsError:
                    df = None
            if df is not None:  # fast path: the whole chunk parsed; rows map to lines only on demand
                n_read += df.height
                rows = _RowMap(piece, start, counter, df.height)
                parts = [(df.with_columns(__line=pl.int_range(0, df.height, dtype=pl.Int64)), rows)]
            else:
                n, parts = _slow_chunk(piece, counter.at(start), dl, typed, lenient,
                                       truncated=end == size and not ends_nl)
                n_read += n
            for part, rows in parts:
                if not part.height:
                    continue
                good, norm = validate(_flatten(part), kind, dl, raw=rows.raw, line_of=rows.line_of)
                for k, v in norm.items():
                    normalised[k] = normalised.get(k, 0) + v
                out.append(good)
    if typed is None:
        raise InputFileError(path, "JSON lines", "no lines")
    frame = pl.concat(out, how="diagonal_relaxed") if out else validate(
        pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), kind, DeadLetter(None))[0]
    return frame, n_read, normalised, kind


def _first_chunk(path: Path, piece: bytes, kind: str | None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Read schemas and the frame kind from the first chunk's first lines."""
    import orjson

    from holoops.sources.formats.sniff import json_line_kind

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
    return typed, lenient, kind


class _RowMap:
    """Row ``i`` of a chunk parsed as a whole -> its line number and raw bytes (computed when first asked)."""

    def __init__(self, piece: bytes, start: int, counter: _LineCounter, height: int):
        self.piece, self.start, self.counter, self.height = piece, start, counter, height
        self._lines: list[bytes] | None = None
        self._idx: list[int] | None = None

    def _map(self) -> tuple[list[bytes], list[int]]:
        if self._lines is None:
            self._lines = self.piece.split(b"\n")
            idx = [i for i, ln in enumerate(self._lines) if ln.strip()]
            # polars skips blank lines only; anything else that is not a record fails the parse
            self._idx = idx if len(idx) == self.height else list(range(self.height))
        return self._lines, self._idx  # type: ignore[return-value]

    def line_of(self, rows: list[int]) -> list[int]:
        _, idx = self._map()
        first = self.counter.at(self.start)
        return [first + idx[r] for r in rows]

    def raw(self, rows: list[int]) -> list[bytes]:
        lines, idx = self._map()
        return [lines[idx[r]] for r in rows]


class _LineRaw:
    """Rows already numbered by line (slow path): raw bytes by line number."""

    def __init__(self, lines: list[bytes], first: int):
        self.lines, self.first = lines, first
        self.line_of = None

    def raw(self, nos: list[int]) -> list[bytes]:
        return [self.lines[n - self.first] for n in nos]


def _slow_chunk(piece: bytes, first: int, dl: DeadLetter, typed: dict[str, Any], lenient: dict[str, Any],
                truncated: bool) -> tuple[int, list[tuple[pl.DataFrame, Any]]]:
    """A chunk that failed to parse as a whole: blocks of BLOCK_LINES, failing blocks line by line."""
    lines = piece.split(b"\n")
    truncated_at = first + len(lines) - 1 if truncated and not piece.endswith(b"\n") else None
    rows = _LineRaw(lines, first)
    parts: list[tuple[pl.DataFrame, Any]] = []
    n_read = 0
    for b0 in range(0, len(lines), BLOCK_LINES):
        block = lines[b0:b0 + BLOCK_LINES]
        bfirst = first + b0
        try:
            if not typed:
                raise pl.exceptions.ComputeError("no schema")
            buf = b"\n".join(block)
            bdf = _parse(buf, typed)
            nos = _nonblank_lines(buf, bfirst)
            if len(nos) != bdf.height:
                raise pl.exceptions.ComputeError("line count mismatch")
            parts.append((bdf.with_columns(__line=pl.Series(nos, dtype=pl.Int64)), rows))
            n_read += bdf.height
        except pl.exceptions.PolarsError:
            bdf, n = _per_line(block, bfirst, dl, lenient, truncated_at)
            n_read += n
            if bdf is not None:
                parts.append((bdf, rows))
    return n_read, parts


def _flat_keys(obj: dict) -> dict:
    """Top-level keys plus keys of nested objects (so Loki ``labels`` / ES ``kubernetes`` count)."""
    keys = dict(obj)
    for v in obj.values():
        if isinstance(v, dict):
            keys.update(v)
    return keys
