"""Dask: partitioned Parquet exports and request tables on a cluster.

>>> from holoops import distributed as hd                                  # doctest: +SKIP
>>> c = hd.client()                        # LocalCluster on 127.0.0.1, 2 workers, no dashboard
>>> hd.write_partitioned(request_log_table, "exports/logs")          # exports/logs/date=.../service=...
>>> ddf = hd.read_partitioned("exports/logs")
>>> from holoops.analyze.requests import request_table
>>> request_table(ddf, method="sketch")    # percentiles as a groupby-sum of sketch bucket counts
>>> c.close()

Pointing holoops at an existing Dask cluster: start the scheduler and workers as usual
(``dask scheduler`` / ``dask worker tcp://host:8786``), then either pass the address,
``hd.client("tcp://host:8786")``, or set ``HOLOOPS_DASK_ADDRESS=tcp://host:8786`` and call
``hd.client()``. The workers must be able to read the Parquet folder (a shared file system or an
object store URL such as ``s3://bucket/logs``) and need holoops, polars and pyarrow installed.

Multi-GPU (dask-cudf; documented, not tested here): on a machine with several NVIDIA GPUs ::

    from dask_cuda import LocalCUDACluster
    from distributed import Client
    import dask_cudf
    client = Client(LocalCUDACluster())                 # one worker per GPU
    ddf = dask_cudf.read_parquet("exports/logs")        # partitions are cuDF frames
    request_table(ddf, method="sketch")                 # same sketch-count reduction, per GPU

Each partition is reduced to sketch counts (converted to polars on the host; the counts are small),
so the result equals the single-machine ``method="sketch"`` table.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["client", "write_partitioned", "read_partitioned"]

ADDRESS_ENV = "HOLOOPS_DASK_ADDRESS"


def client(address: str | None = None, n_workers: int = 2, *, threads_per_worker: int = 1,
           processes: bool = True, memory_limit: str | float | None = "auto", **cluster_kwargs: Any):
    """A ``distributed.Client``: to ``address`` (or ``$HOLOOPS_DASK_ADDRESS``) when given, else to a new
    LocalCluster bound to 127.0.0.1 with the dashboard disabled. ``client.close()`` also closes a
    LocalCluster it started."""
    from distributed import Client, LocalCluster

    address = address or os.environ.get(ADDRESS_ENV) or None
    if address:
        return Client(address)
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=processes,
                           host="127.0.0.1", dashboard_address=None, memory_limit=memory_limit,
                           **cluster_kwargs)
    c = Client(cluster)
    c._holoops_cluster = cluster  # noqa: SLF001 - closed with the client

    close = c.close

    def _close(*args: Any, **kwargs: Any) -> Any:
        out = close(*args, **kwargs)
        cluster.close()
        return out

    c.close = _close  # type: ignore[method-assign]
    return c


def _arrow(logs_or_table: Any):
    import pyarrow as pa

    if isinstance(logs_or_table, pa.Table):
        return logs_or_table
    mod = type(logs_or_table).__module__.split(".")[0]
    if mod == "polars":
        return logs_or_table.to_arrow()
    if mod == "pandas":
        return pa.Table.from_pandas(logs_or_table, preserve_index=False)
    if mod == "cudf":
        return logs_or_table.to_arrow()
    raise TypeError(f"cannot export a {type(logs_or_table).__name__}; give pandas, polars, pyarrow or cuDF")


def write_partitioned(logs_or_table: Any, folder: str | Path, partition_on: Sequence[str] = ("date", "service"),
                      *, max_rows_per_file: int = 5_000_000) -> Path:
    """Write a frame (or a Dask frame) as hive-partitioned Parquet under ``folder``.

    ``date`` (``YYYY-MM-DD`` of ``ts``, UTC) is derived when asked for and absent. Existing files in
    ``folder`` are replaced. Returns the folder.
    """
    import shutil

    import polars as pl
    import pyarrow.dataset as ds

    out = Path(folder)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    parts = list(partition_on)
    if type(logs_or_table).__module__.split(".")[0] == "dask":
        ddf = logs_or_table
        if "date" in parts and "date" not in ddf.columns:
            ddf = ddf.assign(date=ddf["ts"].dt.strftime("%Y-%m-%d"))
        ddf.to_parquet(str(out), partition_on=parts, write_index=False)
        return out
    df = pl.from_arrow(_arrow(logs_or_table))
    if "date" in parts and "date" not in df.columns:
        df = df.with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d").alias("date"))
    # partition keys as plain strings (dictionary columns become hive directory names)
    df = df.with_columns([pl.col(c).cast(pl.Utf8) for c in parts])
    ds.write_dataset(df.to_arrow(), out, format="parquet", partitioning=parts, partitioning_flavor="hive",
                     max_rows_per_file=max_rows_per_file, max_rows_per_group=min(max_rows_per_file, 1_000_000),
                     existing_data_behavior="overwrite_or_ignore")
    return out


def read_partitioned(folder: str | Path, columns: Sequence[str] | None = None):
    """A Dask DataFrame over a hive-partitioned Parquet folder (partition columns come back as strings)."""
    import dask.dataframe as dd

    p = Path(folder)
    if not p.is_dir():
        from holoops.errors import InputFileError

        raise InputFileError(p, "a partitioned Parquet folder", "no such folder")
    ddf = dd.read_parquet(str(p), columns=list(columns) if columns else None, dataset={"partitioning": "hive"})
    cats = [c for c, t in ddf.dtypes.items() if str(t) == "category"]
    if cats:
        ddf = ddf.astype({c: "string" for c in cats})
    return ddf
