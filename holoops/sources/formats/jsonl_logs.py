"""JSON lines: app-structured logs ``{"ts","service","level","msg",...}``, Loki ``logcli --output=jsonl``
lines ``{"labels":{...},"line","timestamp"}``, Elasticsearch/Fluentd ``{"@timestamp","log",...}``; also
JSON-lines spans/events/metrics rows.

Fast path: a file of at most :data:`WHOLE_FRACTION` of the memory this process may use, whose sampled
first lines and last line are sound records, is parsed whole by ``polars.read_ndjson`` (polars maps the
file and parses it in parallel; no copy passes through Python) with a fixed schema, then validated with
vectorised expressions in one pass. Otherwise, or when that parse fails (a bad line somewhere), the file
is read ``chunk_mib`` at a time (cut at a newline) and each chunk parsed the same way. Only when a chunk
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
#: fields read as numbers by the typed (fast) parse, per frame kind; every other field is read as text (or kept
#: nested) and converted by the shared validation. Only fields whose values are numbers in that kind's exports:
#: a span's ``status`` is "ok"/"error" (a log's an HTTP code), and a metric's ``value`` may be "NaN" or "+Inf"
#: (read as text, polars's typed parse would refuse the whole chunk)
TYPED: dict[str, dict[str, Any]] = {"logs": {"latency_ms": pl.Float64, "status": pl.Int64},
                                    "spans": {"duration_ms": pl.Float64}, "metrics": {}, "events": {}}
#: files up to this fraction of the memory the process may use are parsed whole (peak RSS is about 2.5x the
#: file: the mapped file, the frame and polars' buffers); larger ones ``chunk_mib`` at a time
WHOLE_FRACTION = 0.25


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


def _schemas(good: list[bytes], kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(typed, lenient) read schemas from sample lines (JSON objects) of a ``kind`` export: the kind's
    known number fields typed (:data:`TYPED`), others String, structs kept."""
    inferred = pl.read_ndjson(io.BytesIO(b"\n".join(good)), infer_schema_length=None).schema if good else {}
    typed, lenient = {}, {}
    numbers = TYPED.get(kind, {})
    for name, dt in inferred.items():
        keep = dt if isinstance(dt, (pl.Struct, pl.List)) else pl.String
        lenient[name] = keep
        if name in numbers:
            typed[name] = numbers[name]
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


class Progress:
    """What :func:`iter_frames` has read so far: records ``read``, ``normalised`` counts, frame ``kind``."""

    def __init__(self, kind: str | None = None):
        self.read = 0
        self.normalised: dict[str, int] = {}
        self.kind = kind


def iter_frames(path: Path, dl: DeadLetter, *, kind: str | None = None, chunk_mib: float = 64,
                progress: Progress | None = None, **_: Any):
    """Yield the canonical frame of each ``chunk_mib`` chunk of a JSON-lines export, one at a time.

    Bad records go to ``dl`` as they are met; ``progress`` (a :class:`Progress`) is updated after every
    chunk, so a caller that writes each frame out and drops it holds one chunk at a time, whatever the
    file size. A chunk whose records were all rejected yields an empty frame (or none at all). Raises
    InputFileError when the file holds no lines.
    """
    progress = progress if progress is not None else Progress(kind)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 1))
        ends_nl = fh.read(1) == b"\n"
    chunk_bytes = max(1 << 16, int(chunk_mib * (1 << 20)))
    counter = _LineCounter(path)
    typed: dict[str, Any] | None = None
    lenient: dict[str, Any] = {}
    with open(path, "rb") as fh:
        for start, end in _ranges(path, size, chunk_bytes):
            fh.seek(start)
            piece = fh.read(end - start)
            if typed is None:
                typed, lenient, kind = _first_chunk(path, piece, kind)
                progress.kind = kind
            df = None
            if typed:
                try:
                    df = _parse(piece, typed)
                except pl.exceptions.PolarsError:
                    df = None
            if df is not None:  # fast path: the whole chunk parsed; rows map to lines only on demand
                progress.read += df.height
                rows = _RowMap(piece, start, counter, df.height)
                parts = [(df.with_columns(__line=pl.int_range(0, df.height, dtype=pl.Int64)), rows)]
            else:
                n, parts = _slow_chunk(piece, counter.at(start), dl, typed, lenient,
                                       truncated=end == size and not ends_nl)
                progress.read += n
            del piece, df
            goods = []
            for part, rows in parts:
                if not part.height:
                    continue
                good, norm = validate(_flatten(part), kind, dl, raw=rows.raw, line_of=rows.line_of)
                for k, v in norm.items():
                    progress.normalised[k] = progress.normalised.get(k, 0) + v
                goods.append(good)
            del parts
            if goods:  # one frame per chunk, also when the slow path cut it into blocks
                yield goods[0] if len(goods) == 1 else pl.concat(goods, how="diagonal_relaxed")
            del goods
    if typed is None:
        raise InputFileError(path, "JSON lines", "no lines")


def read(path: Path, dl: DeadLetter, *, kind: str | None = None, chunk_mib: float = 64,
         **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read a JSON-lines export. Returns ``(frame, n_read, normalised, kind)``."""
    whole = _read_whole(path, dl, kind, chunk_mib)
    if whole is not None:
        return whole
    progress = Progress(kind)
    out = list(iter_frames(path, dl, kind=kind, chunk_mib=chunk_mib, progress=progress))
    kind = progress.kind
    frame = pl.concat(out, how="diagonal_relaxed") if out else validate(
        pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), kind, DeadLetter(None))[0]
    return frame, progress.read, progress.normalised, kind


def _memory_budget() -> float:
    """Bytes of memory this process may use: the least of physical memory, its memory cgroup's limit (v2
    or v1) and the address space RLIMIT_AS leaves (inf where none can be read)."""
    import contextlib
    import os

    limits = [float("inf")]
    with contextlib.suppress(ValueError, OSError, AttributeError):
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as fh:
                limits.append(soft - int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE"))
    except (ImportError, ValueError, OSError, AttributeError):
        pass
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                _, ctrl, rel = line.rstrip("\n").split(":", 2)
                if ctrl == "":
                    f = Path("/sys/fs/cgroup") / rel.lstrip("/") / "memory.max"
                elif "memory" in ctrl.split(","):
                    f = Path("/sys/fs/cgroup/memory") / rel.lstrip("/") / "memory.limit_in_bytes"
                else:
                    continue
                if f.is_file() and (text := f.read_text().strip()).isdigit():
                    limits.append(int(text))
    except (OSError, ValueError):
        pass
    return min(limits)


def _read_whole(path: Path, dl: DeadLetter, kind: str | None, chunk_mib: float
                ) -> tuple[pl.DataFrame, int, dict[str, int], str] | None:
    """The whole file parsed by polars in one call and validated in one pass: the result of :func:`read`,
    or None when the chunked reader must run (file too large for memory, a sampled first line or the last
    line is not a sound record, or the parse fails). Same schema sample, rows and rejects as the chunked
    reader; a failed parse costs one extra parse of the file (the first lines and the last line, where bad
    lines are usual -- a truncated last line, say -- are checked first so they do not pay it)."""
    import orjson

    size = path.stat().st_size
    if not size or size > WHOLE_FRACTION * _memory_budget():
        return None
    chunk_bytes = max(1 << 16, int(chunk_mib * (1 << 20)))
    _, first_end = next(_ranges(path, size, chunk_bytes))
    with open(path, "rb") as fh:
        head = fh.read(min(first_end, 1 << 20))  # what the chunked reader samples: its first piece's head
        fh.seek(max(0, size - (1 << 20)))
        tail = fh.read()
    typed, _, kind = _first_chunk(path, head, kind)
    if not typed:
        return None
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)
    if len(last) == 1 and size > len(tail):
        return None  # a last line longer than the tail read: left to the chunked reader
    lines = head.split(b"\n")
    if len(head) < first_end:
        lines.pop()  # the head ends inside a line
    try:  # the sampled lines and the last line must be JSON objects, else a bad line is known already
        if not all(isinstance(orjson.loads(ln), dict) for ln in [*lines[:SAMPLE_LINES], last[-1]] if ln.strip()):
            return None
    except orjson.JSONDecodeError:
        return None
    try:
        df = pl.read_ndjson(path, schema=typed)
    except (pl.exceptions.PolarsError, OSError):
        return None
    if not df.height:
        return None
    rows = _FileRows(path)  # rows are numbered, and mapped to lines, only when some row is rejected
    good, normalised = validate(_flatten(df), kind, dl, raw=rows.raw, line_of=rows.line_of, first_line=0)
    return good, df.height, normalised, kind


class _FileRows:
    """Row ``i`` of a file parsed whole -> its line number and raw bytes: found in one pass over the file,
    only when some row is rejected (rows are the non-blank lines, as for :class:`_RowMap`). Lines are cut
    with numpy, 16 MiB at a time; only a piece holding a line that may be blank is walked in Python."""

    def __init__(self, path: Path):
        self.path = path
        self._found: dict[int, tuple[int, bytes]] = {}

    def _find(self, rows: list[int]) -> dict[int, tuple[int, bytes]]:
        import numpy as np

        want = np.array(sorted(set(rows) - self._found.keys()), dtype=np.int64)
        if not len(want):
            return self._found
        row0, line0 = 0, 1  # rows and lines before the piece
        size = self.path.stat().st_size
        with open(self.path, "rb") as fh:
            for start, end in _ranges(self.path, size, 16 << 20):
                fh.seek(start)
                piece = fh.read(end - start)
                a = np.frombuffer(piece, dtype=np.uint8)
                nl = np.flatnonzero(a == 10)
                begins = np.concatenate([[0], nl + 1])
                ends = np.concatenate([nl, [len(a)]])
                if ends[-1] == begins[-1]:  # the piece ends with a newline: no line after it
                    begins, ends = begins[:-1], ends[:-1]
                first = a[np.minimum(begins, max(len(a) - 1, 0))]
                is_row = ~((begins == ends) | np.isin(first, (9, 10, 11, 12, 13, 32)))  # starts with a non-space
                for i in np.flatnonzero(~is_row).tolist():
                    is_row[i] = bool(piece[begins[i]:ends[i]].strip())
                keep = np.flatnonzero(is_row)
                hit = want[(want >= row0) & (want < row0 + len(keep))]
                for r in hit.tolist():
                    i = int(keep[r - row0])
                    self._found[r] = (line0 + i, piece[begins[i]:ends[i]])
                row0 += len(keep)
                line0 += len(nl)
                if row0 > want[-1]:
                    break
        return self._found

    def line_of(self, rows: list[int]) -> list[int | None]:
        found = self._find(rows)
        return [found[r][0] if r in found else None for r in rows]

    def raw(self, rows: list[int]) -> list[bytes]:
        found = self._find(rows)
        return [found[r][1] if r in found else b"" for r in rows]


def _first_chunk(path: Path, piece: bytes, kind: str | None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The frame kind and the read schemas (which depend on it) from the first chunk's first lines."""
    import orjson

    from holoops.sources.formats.sniff import json_line_kind

    sample = [ln for ln in piece[:1 << 20].split(b"\n")[:SAMPLE_LINES] if ln.strip()]
    good, found = [], None
    for ln in sample:
        try:
            obj = orjson.loads(ln)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            good.append(ln)
            found = found or json_line_kind(_flat_keys(obj))
    if kind is not None and found is not None and found != kind:
        raise InputFileError(path, f"a {kind} export", f"JSON lines holding {found}")
    kind = kind or found
    if kind is None:
        raise InputFileError(path, "JSON lines with ts/timestamp + msg/message/line/log (logs) or "
                             "span/event/metric rows", "JSON lines without such keys")
    typed, lenient = _schemas(good, kind)
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
