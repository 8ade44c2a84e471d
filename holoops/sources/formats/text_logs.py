"""Plain-text logs with a known line format: a regex with named groups ``ts`` and ``message`` (and
optionally ``level``, ``service``). The default matches ``TIMESTAMP LEVEL service: message``, e.g.
``2026-11-02T10:00:00Z ERROR router: upstream timeout``. Lines are matched vectorised (polars)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import add_counts, raw_lookup, validate
from holoops.sources.formats.jsonl_logs import _chunks


def decode_lines(piece: bytes, first: int, dl: DeadLetter) -> tuple[list[str], list[int]]:
    """Split a chunk into non-blank lines (text, line numbers); reject lines that are not UTF-8."""
    try:
        text = piece.decode("utf-8")
        raw_lines = text.split("\n")
        pairs = [(ln.rstrip("\r"), first + i) for i, ln in enumerate(raw_lines) if ln.strip()]
    except UnicodeDecodeError:
        pairs = []
        for i, b in enumerate(piece.split(b"\n")):
            if not b.strip():
                continue
            try:
                pairs.append((b.decode("utf-8").rstrip("\r"), first + i))
            except UnicodeDecodeError as exc:
                dl.reject(first + i, None, "wrong_encoding", b, detail=f"invalid UTF-8 at byte {exc.start}")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def read(path: Path, dl: DeadLetter, *, line_format: str | None = None, chunk_mib: float = 64,
         **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read plain-text logs; lines that do not match ``line_format`` are rejected as ``bad_line``."""
    from holoops.sources.formats.sniff import DEFAULT_LINE_FORMAT

    pattern = line_format or DEFAULT_LINE_FORMAT
    try:
        groups = list(re.compile(pattern).groupindex)
    except re.error as exc:
        raise InputFileError(path, "a valid line_format regex", f"{pattern!r} ({exc})") from None
    if not {"ts", "message"} <= set(groups):
        raise InputFileError(path, "a line_format regex with named groups ts and message", f"groups {groups}")
    pat = pattern.replace("(?P<", "(?<")  # Rust regex syntax
    out, normalised, n = [], {}, 0
    for piece, first in _chunks(path, max(1 << 16, int(chunk_mib * (1 << 20)))):
        before = dl.rejected
        lines, nos = decode_lines(piece, first, dl)
        n += len(lines) + (dl.rejected - before)
        df = pl.DataFrame({"__raw": pl.Series(lines, dtype=pl.String), "__line": pl.Series(nos, dtype=pl.Int64)})
        df = df.with_columns(pl.col("__raw").str.extract_groups(pat).alias("__m")).unnest("__m")
        miss = df.filter(pl.col(groups[0]).is_null() & pl.all_horizontal(pl.col(g).is_null() for g in groups))
        if miss.height:
            dl.reject_many(miss["__line"].to_list(), [None] * miss.height, ["bad_line"] * miss.height,
                           miss["__raw"].to_list(), details=[f"does not match {pattern}"] * miss.height)
            df = df.join(miss.select("__line"), on="__line", how="anti")
        good, norm = validate(df, "logs", dl, raw=raw_lookup(df))
        add_counts(normalised, norm)
        out.append(good)
    if not out:
        raise InputFileError(path, "text log lines", "no lines")
    return pl.concat(out, how="diagonal_relaxed"), n, normalised, "logs"
