"""``holoops convert``: an export file to hive-partitioned Parquet, in bounded memory.

For exports larger than memory: JSON lines, CSV and Prometheus/OpenMetrics text are streamed chunk by
chunk (``--chunk-mib`` at a time), every record validated and every bad one written to the dead-letter
file, so peak memory depends on the chunk size, not the file size (other formats are read whole). The accounting line (read = ingested + rejected) is printed.
``--slo-table`` then writes the per-minute SLO table (requests, 5xx, error ratio, p50/p95/p99 per
service) computed lazily from the Parquet folder.

    holoops convert loki-export.jsonl --to logs-parquet/ --dead-letter rejected.jsonl \\
        --slo-table slo-per-minute.csv
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("convert", help="an export (JSON lines, CSV or metrics text larger than memory) to partitioned "
                       "Parquet, with dead-letter accounting",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("export", help="the export file (format recognised by content)")
    p.add_argument("--to", required=True, metavar="FOLDER", help="output folder for the Parquet files")
    p.add_argument("--dead-letter", default=None, metavar="PATH",
                   help="JSON-lines file for rejected records (default: none; counts are still printed)")
    p.add_argument("--kind", default=None, help="frame kind (logs, metrics, spans, events) or format name")
    p.add_argument("--partition-on", default="date,service",
                   help="hive partition columns, comma-separated; '' for none (default: date,service)")
    p.add_argument("--chunk-mib", type=float, default=64,
                   help="MiB of text read at a time (default 64); peak memory is about 7x this + 100 MiB")
    p.add_argument("--overwrite", action="store_true", help="replace FOLDER when it already holds files")
    p.add_argument("--slo-table", default=None, metavar="OUT",
                   help="also write the per-minute request table of the logs to OUT (.csv or .parquet)")
    p.add_argument("--freq", default="1min", help="bucket of --slo-table (default 1min)")
    p.set_defaults(handler=_run)


def _run(args) -> int:
    from pathlib import Path

    from holoops.errors import ParameterError
    from holoops.sources.exports import convert_export

    out = Path(args.slo_table) if args.slo_table else None
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise ParameterError(f"--slo-table: {out} must end in .csv or .parquet")
    parts = tuple(c.strip() for c in args.partition_on.split(",") if c.strip())
    res = convert_export(args.export, args.to, args.kind, dead_letter=args.dead_letter, partition_on=parts,
                         chunk_mib=args.chunk_mib, overwrite=args.overwrite)
    print(f"convert: {res.summary()}", flush=True)
    print(f"convert: wrote {res.ingested} rows to {res.frame}/"
          + (f"; rejected records in {res.dead_letter}" if res.dead_letter and res.rejected else ""), flush=True)
    if out is not None:
        if res.kind != "logs":
            raise ParameterError(f"--slo-table needs request logs; {args.export} holds {res.kind}")
        from holoops.analyze.requests import request_table

        table = request_table(res.frame, freq=args.freq, engine="polars")
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            table.write_csv(out)
        else:
            table.write_parquet(out)
        print(f"convert: wrote the per-{args.freq} request table ({table.height} rows) to {out}")
    return 0
