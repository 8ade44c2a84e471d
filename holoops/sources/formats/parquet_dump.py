"""Parquet dumps of any canonical frame (kind from the columns), read whole by polars and validated in one
vectorised pass (``line`` in dead-letter entries is the 1-based row)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import resolve_kind, validate


def read(path: Path, dl: DeadLetter, *, kind: str | None = None, **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read a Parquet file. ``line`` in dead-letter entries is the 1-based row number."""
    from holoops.sources.formats.sniff import csv_kind

    try:  # the footer, read by polars (pyarrow, slower to import, only to describe a file polars refuses)
        names = list(pl.read_parquet_schema(path))
    except (pl.exceptions.PolarsError, OSError):
        names = _arrow_names(path)
    kind = resolve_kind(path, kind, csv_kind(names), "Parquet", f"columns {names[:10]}")
    # one parallel read by polars (pyarrow when polars cannot read a type), then one vectorised validation
    # pass over the whole table: Parquet columns are typed, so checks are cheap and no batch goes through Python
    try:
        df = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            df = pl.from_arrow(pq.read_table(path))
        except (pa.ArrowException, OSError) as exc:
            raise InputFileError(path, "a readable Parquet file", f"a damaged Parquet file ({exc})") from None
    assert isinstance(df, pl.DataFrame)
    n = df.height
    if not n:
        return validate(pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), kind, DeadLetter())[0], 0, {}, kind
    good, normalised = validate(df, kind, dl, first_line=1)
    return good, n, normalised, kind


def _arrow_names(path: Path) -> list[str]:
    """Column names from pyarrow's reading of the footer; InputFileError naming the damage when it fails."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(path, "a readable Parquet file", f"a damaged Parquet file ({exc})") from None
