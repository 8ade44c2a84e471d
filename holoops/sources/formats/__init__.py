"""One small reader per export format. Each ``read(path, dl, **opts)`` returns ``(polars_frame, n_read)``
where the frame is canonical (see :mod:`holoops.frames`) and every record not in it went to ``dl``.

``sniff.sniff(path)`` picks the format by content. Shared validation lives in ``_canon``.
"""

FORMATS: tuple[str, ...] = ("parquet", "csv", "jsonl", "prom_json", "openmetrics", "jaeger", "otlp",
                            "text_logs")
