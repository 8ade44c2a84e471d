"""CSV (or TSV) dumps of metrics, logs, spans or events; the kind comes from the header.

Cells are read as text (``utf8-lossy``) and validated with the shared vectorised rules; a row holding
bytes that are not UTF-8 is rejected as ``wrong_encoding``. ``line`` is the 1-based file line (the header is
line 1; quoted cells spanning lines are not expected in these dumps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import resolve_kind, validate


def read(path: Path, dl: DeadLetter, *, kind: str | None = None, chunk_rows: int = 1_000_000,
         **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read a CSV dump."""
    import csv

    from holoops.sources.formats.sniff import csv_kind

    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8", errors="replace").lstrip("\ufeff")
    sep = "\t" if first.count("\t") > first.count(",") else ","
    header = next(csv.reader([first], delimiter=sep), [])
    kind = resolve_kind(path, kind, csv_kind(header), "a CSV", f"header {header[:10]}")
    try:
        df = pl.read_csv(path, separator=sep, infer_schema=False, encoding="utf8-lossy",
                         truncate_ragged_lines=True)
    except pl.exceptions.PolarsError as exc:
        raise InputFileError(path, "a CSV dump", f"unparseable CSV ({str(exc).splitlines()[0]})") from None
    df = df.rename({c: c.strip().lstrip("\ufeff") for c in df.columns})
    n = df.height
    df = df.with_columns(__line=pl.int_range(2, 2 + n, dtype=pl.Int64))
    bad_enc = pl.any_horizontal([pl.col(c).str.contains("\ufffd", literal=True).fill_null(False)
                                 for c in df.columns if c != "__line"])
    bad = df.filter(bad_enc)
    for row in bad.iter_rows(named=True):
        col = next((c for c, v in row.items() if isinstance(v, str) and "\ufffd" in v), None)
        dl.reject(row["__line"], col, "wrong_encoding", sep.join(str(v) for k, v in row.items() if k != "__line"))
    if bad.height:
        df = df.filter(~bad_enc)
    out, normalised = [], {}
    for off in range(0, max(df.height, 1), max(1, chunk_rows)):
        good, norm = validate(df.slice(off, chunk_rows), kind, dl)
        for k, v in norm.items():
            normalised[k] = normalised.get(k, 0) + v
        out.append(good)
    return pl.concat(out, how="diagonal_relaxed"), n, normalised, kind
