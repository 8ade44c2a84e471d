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

import re
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


def _parse(path: Path, piece: bytes, sep: str, columns: list[str] | None) -> pl.DataFrame | None:
    """A chunk as text columns: with the header (``columns`` None) or with its columns. None when some row
    has more cells than the header (a row cut or glued by quotes that do not balance): the chunk is then
    read row by row (:func:`_parse_rows`) so the bad rows can be rejected and the others kept."""
    import io

    opts: dict[str, Any] = {"separator": sep, "infer_schema": False, "encoding": "utf8-lossy",
                            "truncate_ragged_lines": False}
    if columns is not None:
        opts.update(has_header=False, schema=dict.fromkeys(columns, pl.String), missing_columns="insert",
                    extra_columns="raise")
    try:
        return pl.read_csv(io.BytesIO(piece), **opts)
    except pl.exceptions.PolarsError as exc:
        if "more fields" in str(exc):
            return None
        raise InputFileError(path, "a CSV dump", f"unparseable CSV ({str(exc).splitlines()[0]})") from None


class _LineRows:
    """Rows read one by one (:func:`_parse_rows`): row ``i`` -> its first line and its raw bytes."""

    def __init__(self, first: Any, spans: list[tuple[int, int]], lines: list[bytes]):
        self._first, self.spans, self.lines = first, spans, lines

    @property
    def first(self) -> int:
        if callable(self._first):
            self._first = self._first()
        return self._first

    def line_of(self, rows: list[int]) -> list[int]:
        return [self.first + self.spans[r][0] for r in rows]

    def raw(self, rows: list[int]) -> list[bytes]:
        return [b"\n".join(self.lines[a:b]).rstrip(b"\r") for a, b in (self.spans[r] for r in rows)]


def _parse_rows(piece: bytes, sep: str, columns: list[str] | None, first: Any, dl: DeadLetter
                ) -> tuple[pl.DataFrame, _LineRows, int]:
    """A chunk read row by row with Python's csv module (which takes a stray quote inside a cell as a
    character, so one broken row does not swallow the rows after it, as a quote-balancing parser does).
    Rows with more cells than the header are rejected (``bad_line``, with their line); a blank line is a row
    of empty cells, as polars reads it. Returns (frame of the other rows, their row map, rows rejected)."""
    import csv

    lines = piece.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    texts = (ln.decode("utf-8", errors="replace") + "\n" for ln in lines)
    reader = csv.reader(texts, delimiter=sep)
    spans: list[tuple[int, int]] = []
    values: list[list[str]] = []
    at = 0
    header = columns
    rows = _LineRows(first, [], lines)
    bad_at: list[tuple[int, int, int]] = []
    for cells in reader:
        span = (at, reader.line_num)
        at = reader.line_num
        if header is None:
            header = [c.strip().lstrip("\ufeff") for c in cells]
            continue
        if not cells:
            cells = [""] * len(header)
        if len(cells) > len(header):
            bad_at.append((*span, len(cells)))
            continue
        spans.append(span)
        values.append(cells + [None] * (len(header) - len(cells)))  # type: ignore[list-item]
    if bad_at:
        rows.spans = [(a, b) for a, b, _ in bad_at]
        idx = list(range(len(bad_at)))
        dl.reject_many(rows.line_of(idx), [None] * len(idx), ["bad_line"] * len(idx), rows.raw(idx),
                       details=[f"{n} cells where the header has {len(header or [])}" + (
                           f" (lines {rows.first + a}-{rows.first + b - 1}: quotes that do not balance)"
                           if b - a > 1 else "") for a, b, n in bad_at])
    rows.spans = spans
    cols = list(header or [])
    df = pl.DataFrame({c: pl.Series(c, [v[i] for v in values], dtype=pl.String) for i, c in enumerate(cols)})
    return df, rows, len(bad_at)


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


class _Wide:
    """How a wide metrics table (a time column, an entity column, one column per metric: Nezha's
    ``Time,TimeStamp,PodName,CpuUsage(m),...``) becomes metric samples, decided on the first chunk: an epoch
    time column is preferred to a text one (each fills in where the other is empty); a pod column gives
    ``instance`` and ``service`` (:func:`~holoops.sources.formats._canon.service_of_pod`), a service column
    ``service``, any other entity column ``instance``; a column holding numbers is a metric (name from
    :func:`~holoops.sources.formats._canon.wide_metric_name`), one holding only text a label.

    One record is one non-empty cell of a metric column (an empty cell is no sample); ``NaN`` is a sample.
    A cell that is not a number is rejected (``mistyped_field``, the field is the column's header)."""

    def __init__(self, df: pl.DataFrame, ts: list[str], entity: str, rest: list[str]):
        from holoops.sources.formats._canon import norm_name, snake_case, wide_metric_name
        from holoops.sources.formats.sniff import _norm

        def epoch(c: str) -> bool:
            v = df[c].drop_nulls().head(1).to_list() if c in df.columns else []
            return bool(v) and bool(re.match(r"^\s*[+-]?\d+(?:\.\d+)?\s*$", v[0]))

        self.ts = sorted((c for c in ts if c in df.columns), key=lambda c: not epoch(c))
        self.entity = entity
        e = _norm(entity)
        self.role = "pod" if e in ("pod", "podname") else "service" if e in ("service", "servicename") else "instance"
        self.metrics: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        taken = {"ts", "metric", "service", "instance", "value"}
        for c in rest:
            if c not in df.columns:
                continue
            cells = df[c].str.strip_chars()
            filled = cells.len() - cells.null_count() - int((cells == "").sum())
            if filled == 0 or _numbers(cells).null_count() < cells.len():
                self.metrics[c] = wide_metric_name(c)
            else:
                name = snake_case(c)
                self.labels[c] = name if name not in taken and norm_name(name) not in taken else f"label_{name}"
        self.read = 0

    def long(self, df: pl.DataFrame, dl: DeadLetter, rows: _Rows) -> pl.DataFrame:
        """The chunk's samples as a long metrics frame (``__line`` = the row); bad cells rejected into ``dl``."""
        from holoops.sources.formats._canon import service_of_pod

        blank = [pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c).str.strip_chars()) for c in self.ts]
        base = [pl.coalesce(blank).alias("ts") if blank else pl.lit(None, dtype=pl.String).alias("ts")]
        ent = pl.col(self.entity).str.strip_chars()
        if self.role == "pod":
            base += [service_of_pod(ent).alias("service"), ent.alias("instance")]
        else:
            base.append(ent.alias(self.role))
        base += [pl.col(c).alias(n) for c, n in self.labels.items()] + [pl.col("__line")]
        parts = []
        self.read = 0
        for c, name in self.metrics.items():
            cells = pl.col(c).str.strip_chars()
            part = df.select(*base, pl.lit(name).alias("metric"), cells.alias("__cell")).filter(
                pl.col("__cell").is_not_null() & (pl.col("__cell") != ""))
            self.read += part.height
            part = part.with_columns(value=_numbers(part["__cell"]))
            bad = part.filter(pl.col("value").is_null())
            if bad.height:
                at = bad["__line"].to_list()
                dl.reject_many(rows.line_of(at), [c] * len(at), ["mistyped_field"] * len(at), rows.raw(at),
                               details=[f"{v!r} in column {c!r} is not a number" for v in bad["__cell"].to_list()])
                part = part.filter(pl.col("value").is_not_null())
            parts.append(part.drop("__cell"))
        if not parts:
            return pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)})
        return pl.concat(parts, how="vertical_relaxed")


def _numbers(cells: pl.Series) -> pl.Series:
    """Text cells as floats (Prometheus spellings of infinity accepted, ``NaN`` is NaN); null where not one."""
    return cells.replace({"+Inf": "inf", "-Inf": "-inf", "Inf": "inf"}).cast(pl.Float64, strict=False)


def _wide_header(header: list[str]) -> tuple[list[str], str, list[str]] | None:
    """The wide layout of a metrics header (see :class:`_Wide`), None for a long one (metric + value)."""
    from holoops.sources.formats.sniff import _norm, wide_columns

    norms = {_norm(c) for c in header}
    if "value" in norms and norms & {"metric", "name"}:
        return None
    got = wide_columns(header)
    if got is None:
        return None
    clean = lambda c: c.strip().strip('"').lstrip("\ufeff").strip()  # noqa: E731
    ts, entity, rest = got
    return [clean(c) for c in ts], clean(entity), [clean(c) for c in rest]


def iter_frames(path: Path, dl: DeadLetter, *, kind: str | None = None, chunk_mib: float = 64,
                chunk_rows: int = 1_000_000, progress: Any = None, **_: Any):
    """Yield the canonical frames of each ``chunk_mib`` chunk of a CSV dump, one at a time (validated in
    batches of at most ``chunk_rows`` rows); bad rows go to ``dl`` as they are met and ``progress`` (a
    :class:`~holoops.sources.formats.jsonl_logs.Progress`) is updated after every chunk. The kind is
    resolved from the header first (InputFileError when it holds no canonical frame). A wide metrics table
    (:class:`_Wide`) is turned into samples, one record per non-empty metric cell."""
    from holoops.sources.formats.jsonl_logs import Progress, _LineCounter
    from holoops.sources.formats.sniff import csv_kind

    progress = progress if progress is not None else Progress(kind)
    sep, header = _header(path)
    kind = resolve_kind(path, kind, csv_kind(header, wide=True), "a CSV", f"header {header[:10]}")
    progress.kind = kind
    wide_cols = _wide_header(header) if kind == "metrics" else None
    wide: _Wide | None = None
    raw_cols: list[str] | None = None
    names: dict[str, str] = {}
    chunk_bytes = max(1 << 16, int(chunk_mib * (1 << 20)))
    counter = _LineCounter(path)
    for piece, start in _pieces(path, chunk_bytes):
        df = _parse(path, piece, sep, raw_cols)
        rows: Any
        if df is None:  # some row has too many cells: read row by row, reject those rows
            df, rows, n_ragged = _parse_rows(piece, sep, raw_cols, lambda at=start: counter.at(at), dl)
            progress.read += n_ragged
        else:
            rows = None
        if raw_cols is None:
            raw_cols = df.columns
            names = {c: c.strip().lstrip("\ufeff") for c in raw_cols}
        df = df.rename(names)
        if rows is None:
            rows = _Rows(piece, lambda at=start: counter.at(at), start == 0, df.height)
        if wide_cols is None:
            progress.read += df.height
        bad = _bad_encoding(piece, rows, df)
        if bad:
            at = [r for r, _ in bad]
            dl.reject_many(rows.line_of(at), [c for _, c in bad], ["wrong_encoding"] * len(bad), rows.raw(at))
            df = df.with_row_index("__line").filter(~pl.col("__line").is_in(at))
        if wide_cols is not None:
            if "__line" not in df.columns:
                df = df.with_row_index("__line")
            df = df.with_columns(pl.col("__line").cast(pl.Int64))
            wide = wide if wide is not None else _Wide(df, *wide_cols)
            df = wide.long(df, dl, rows)
            progress.read += len(bad) + wide.read
        for off in range(0, df.height, max(1, chunk_rows)):
            part = df.slice(off, chunk_rows)
            opts: dict[str, Any] = {} if bad or wide_cols is not None else {"first_line": off}
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
        header = _header(path)[1]
        wide = kind == "metrics" and _wide_header(header) is not None
        cols = {} if wide else {c.strip().lstrip("\ufeff"): pl.Series([], dtype=pl.String) for c in header}
        out.append(validate(pl.DataFrame({**cols, "__line": pl.Series([], dtype=pl.Int64)}), kind,
                            DeadLetter(None))[0])
    return (out[0] if len(out) == 1 else pl.concat(out, how="diagonal_relaxed")), progress.read, \
        progress.normalised, kind
