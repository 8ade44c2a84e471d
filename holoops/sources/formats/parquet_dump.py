"""Parquet dumps of any canonical frame, read ``chunk_rows`` rows at a time (kind from the columns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import validate


def read(path: Path, dl: DeadLetter, *, kind: str | None = None, chunk_rows: int = 1_000_000,
         **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read a Parquet file. ``line`` in dead-letter entries is the 1-based row number."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from holoops.sources.formats.sniff import csv_kind

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(path, "a readable Parquet file", f"a damaged Parquet file ({exc})") from None
    found = csv_kind(pf.schema_arrow.names)
    if kind is not None and found is not None and found != kind:
        raise InputFileError(path, f"a {kind} export", f"Parquet holding {found}")
    kind = kind or found
    if kind is None:
        raise InputFileError(path, "Parquet with canonical columns (ts+metric+value, ts+message, "
                             "trace_id+span_id, or ts+kind+detail)", f"columns {pf.schema_arrow.names[:10]}")
    out, normalised, n, row = [], {}, 0, 1
    for batch in pf.iter_batches(batch_size=max(1, chunk_rows)):
        df = pl.from_arrow(pa.Table.from_batches([batch]))
        df = df.with_columns(__line=pl.int_range(row, row + df.height, dtype=pl.Int64))
        row += df.height
        n += df.height
        good, norm = validate(df, kind, dl)
        for k, v in norm.items():
            normalised[k] = normalised.get(k, 0) + v
        out.append(good)
    if not out:
        out.append(validate(pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), kind, DeadLetter())[0])
    return pl.concat(out, how="diagonal_relaxed"), n, normalised, kind
