"""One small reader per export format. Each ``read(path, dl, **opts)`` returns ``(polars_frame, n_read,
normalised, kind)`` where the frame is canonical (see :mod:`holoops.frames`) and every record not in it went
to ``dl``. The chunked text readers (``jsonl_logs``, ``csv_dump``, ``openmetrics``) also have
``iter_frames(path, dl, progress=..., **opts)``, yielding one chunk's frame at a time (``convert_export``).

``sniff.sniff(path)`` picks the format by content. Shared validation lives in ``_canon``.
"""

FORMATS: tuple[str, ...] = ("parquet", "csv", "jsonl", "prom_json", "openmetrics", "jaeger", "otlp",
                            "text_logs", "access_log")
