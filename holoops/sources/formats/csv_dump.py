"""CSV (or TSV) dumps of metrics, logs, spans or events; the kind comes from the header.

The file is read ``chunk_mib`` at a time, like JSON lines: each chunk ends at a newline outside quoted cells
(the count of ``"`` before it is even), is parsed by polars with the header's columns, cells as text
(``utf8-lossy``), and validated with the shared vectorised rules; a caller that writes each chunk's frame
out holds one chunk at a time (:func:`iter_frames`, which :func:`holoops.sources.exports.convert_export`
uses). A row holding bytes that are not UTF-8 is rejected as ``wrong_encoding``. ``line`` in dead-letter
entries is the 1-based file line where the row starts (the header is line 1; a quoted cell may span lines,
and a blank line is a row of empty cells, as polars reads it); rows are mapped to lines only when some row
of the chunk is rejected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import add_counts, resolve_kind, validate

#: a chunk grown past this many times ``chunk_mib`` without a newline outside quotes: the quotes never balance
_GROW_LIMIT = 8


def _line_end(fh, pos: int, size: int) -> int:
    """The position just after the first newline at or after ``pos`` (``size`` when there is none)."""
    fh.seek(pos)
    while pos < size:
        block = fh.read(1 << 16)
        if not block:
            return size
        cut = block.find(b"\n")
        if cut != -1:
            return pos + cut + 1
        pos += len(block)
    return size


def _pieces(path: Path, chunk_bytes: int):
    """Yield ``(piece, start)``: the file about ``chunk_bytes`` at a time, each piece ending with a newline
    outside quoted cells (an even number of ``"`` before it; the file's last piece may end without one),
    found by seeking so each byte is read once; the first piece starts with the header."""
    size = path.stat().st_size
    start = 0
    with open(path, "rb") as fh:
        while start < size:
            end = _line_end(fh, start + chunk_bytes, size) if start + chunk_bytes < size else size
            fh.seek(start)
            piece = fh.read(end - start)
            quotes = piece.count(b'"') if piece.find(b'"') != -1 else 0
            grown = False
            while quotes % 2 and end < size:  # the cut fell inside a quoted cell: take more lines
                more = _line_end(fh, end, size)
                fh.seek(end)
                quotes += fh.read(more - end).count(b'"')
                end, grown = more, True
                if end - start > _GROW_LIMIT * chunk_bytes:
                    raise InputFileError(path, "a CSV dump", f"no row end (a newline outside quoted cells) in "
                                         f"{(end - start) >> 20} MiB from byte {start}: quotes that do not balance")
            if grown:
                fh.seek(start)
                piece = fh.read(end - start)
            yield piece, start
            start = end


class _Rows:
    """Row ``i`` of a parsed chunk -> its first line and its raw bytes, found (numpy, over the chunk's
    newlines and quotes) only when some row of the chunk is rejected."""

    def __init__(self, piece: bytes, first: Any, header: bool, height: int):
        self.piece, self._first, self.header, self.height = piece, first, header, height
        self._map: tuple[Any, Any, Any] | None = None

    @property
    def first(self) -> int:
        """The file line the chunk starts at (``first`` may be a function, called once: lines are counted
        only for chunks with rejects)."""
        if callable(self._first):
            self._first = self._first()
        return self._first

    def _rows(self):
        if self._map is None:
            import numpy as np

            a = np.frombuffer(self.piece, dtype=np.uint8)
            nl = np.flatnonzero(a == 10)
            ends = nl
            if self.piece.find(b'"') >= 0:  # a newline inside a quoted cell does not end a row
                q = np.flatnonzero(a == 34)
                ends = nl[np.searchsorted(q, nl) % 2 == 0]
            starts = np.concatenate((np.zeros(1, dtype=np.int64), ends + 1))
            stops = np.concatenate((ends, np.full(1, len(a), dtype=np.int64)))
            if starts[-1] >= len(a):  # nothing after the last newline
                starts, stops = starts[:-1], stops[:-1]
            if self.header:
                starts, stops = starts[1:], stops[1:]
            lines = self.first + np.searchsorted(nl, starts)
            if len(starts) != self.height:  # not rows as polars read them: number them one a line
                lines = self.first + int(self.header) + np.arange(self.height)
                starts = stops = np.zeros(self.height, dtype=np.int64)
            self._map = (lines, starts, stops)
        return self._map

    def line_of(self, rows: list[int]) -> list[int]:
        lines, _, _ = self._rows()
        return [int(lines[r]) for r in rows]

    def raw(self, rows: list[int]) -> list[bytes]:
        _, starts, stops = self._rows()
        out = []
        for r in rows:
            b = self.piece[starts[r]:stops[r]]
            out.append(b[:-1] if b.endswith(b"\r") else b)
        return out


def _header(path: Path) -> tuple[str, list[str]]:
    import csv

    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8", errors="replace").lstrip("\ufeff")
    sep = "\t" if first.count("\t") > first.count(",") else ","
    return sep, next(csv.reader([first], delimiter=sep), [])


def _parse(path: Path, piece: bytes, sep: str, columns: list[str] | None) -> pl.DataFrame:
    """A chunk as text columns: with the header (``columns`` None) or with its columns."""
    import io

    opts: dict[str, Any] = {"separator": sep, "infer_schema": False, "encoding": "utf8-lossy",
                            "truncate_ragged_lines": True}
    if columns is not None:
        opts.update(has_header=False, schema=dict.fromkeys(columns, pl.String), missing_columns="insert",
                    extra_columns="ignore")
    try:
        return pl.read_csv(io.BytesIO(piece), **opts)
    except pl.exceptions.PolarsError as exc:
        raise InputFileError(path, "a CSV dump", f"unparseable CSV ({str(exc).splitlines()[0]})") from None


def _bad_encoding(piece: bytes, rows: _Rows, df: pl.DataFrame) -> list[tuple[int, str | None]]:
    """(row, column) of each row holding bytes that are not UTF-8 (none when the chunk decodes)."""
    if piece.isascii():
        return []
    try:
        piece.decode("utf-8")
        return []
    except UnicodeDecodeError:
        pass
    out = []
    for r, raw in enumerate(rows.raw(list(range(df.height)))):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            row = df.row(r, named=True)
            out.append((r, next((c for c, v in row.items() if isinstance(v, str) and "\ufffd" in v), None)))
    return out


def iter_frames(path: Path, dl: DeadLetter, *, kind: str | None = None, chunk_mib: float = 64,
                chunk_rows: int = 1_000_000, progress: Any = None, **_: Any):
    """Yield the canonical frames of each ``chunk_mib`` chunk of a CSV dump, one at a time (validated in
    batches of at most ``chunk_rows`` rows); bad rows go to ``dl`` as they are met and ``progress`` (a
    :class:`~holoops.sources.formats.jsonl_logs.Progress`) is updated after every chunk. The kind is
    resolved from the header first (InputFileError when it holds no canonical frame)."""
    from holoops.sources.formats.jsonl_logs import Progress, _LineCounter
    from holoops.sources.formats.sniff import csv_kind

    progress = progress if progress is not None else Progress(kind)
    sep, header = _header(path)
    kind = resolve_kind(path, kind, csv_kind(header), "a CSV", f"header {header[:10]}")
    progress.kind = kind
    raw_cols: list[str] | None = None
    names: dict[str, str] = {}
    chunk_bytes = max(1 << 16, int(chunk_mib * (1 << 20)))
    counter = _LineCounter(path)
    for piece, start in _pieces(path, chunk_bytes):
        df = _parse(path, piece, sep, raw_cols)
        if raw_cols is None:
            raw_cols = df.columns
            names = {c: c.strip().lstrip("\ufeff") for c in raw_cols}
        df = df.rename(names)
        rows = _Rows(piece, lambda at=start: counter.at(at), start == 0, df.height)
        progress.read += df.height
        bad = _bad_encoding(piece, rows, df)
        if bad:
            at = [r for r, _ in bad]
            dl.reject_many(rows.line_of(at), [c for _, c in bad], ["wrong_encoding"] * len(bad), rows.raw(at))
            df = df.with_row_index("__line").filter(~pl.col("__line").is_in(at))
        for off in range(0, df.height, max(1, chunk_rows)):
            part = df.slice(off, chunk_rows)
            opts: dict[str, Any] = {} if bad else {"first_line": off}
            good, norm = validate(part, kind, dl, raw=rows.raw, line_of=rows.line_of, **opts)
            add_counts(progress.normalised, norm)
            yield good
        del df, rows, piece


def read(path: Path, dl: DeadLetter, *, kind: str | None = None, chunk_rows: int = 1_000_000,
         chunk_mib: float = 64, **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read a CSV dump."""
    from holoops.sources.formats.jsonl_logs import Progress

    progress = Progress(kind)
    out = [f for f in iter_frames(path, dl, kind=kind, chunk_mib=chunk_mib, chunk_rows=chunk_rows,
                                  progress=progress) if f.height]
    kind = progress.kind
    if not out:  # a header only (or every row rejected): the canonical columns, no rows
        cols = {c.strip().lstrip("\ufeff"): pl.Series([], dtype=pl.String) for c in _header(path)[1]}
        out.append(validate(pl.DataFrame({**cols, "__line": pl.Series([], dtype=pl.Int64)}), kind,
                            DeadLetter(None))[0])
    return (out[0] if len(out) == 1 else pl.concat(out, how="diagonal_relaxed")), progress.read, \
        progress.normalised, kind
