"""Read exported files (sniffed by content, not extension) into canonical frames, with dead-letter accounting.

>>> res = read_export("logs.jsonl", dead_letter="rejects.jsonl")     # doctest: +SKIP
>>> res.frame, res.read, res.ingested, res.rejected, res.reasons     # doctest: +SKIP
>>> demo = read_folder("demo-export/")                              # doctest: +SKIP
>>> demo.metrics, demo.logs, demo.spans, demo.events                 # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter, IngestResult

KINDS = ("metrics", "logs", "spans", "events")
#: which formats can hold which frame kinds (None: decided by the header/keys)
FORMAT_KINDS: dict[str, tuple[str, ...]] = {
    "parquet": KINDS, "csv": KINDS, "jsonl": KINDS, "prom_json": ("metrics",),
    "openmetrics": ("metrics",), "jaeger": ("spans",), "otlp": ("spans",), "text_logs": ("logs",),
}
#: when a folder holds the same frame in several formats, the first format here is read
FOLDER_PREFERENCE = ("parquet", "csv", "jsonl", "prom_json", "openmetrics", "jaeger", "otlp", "text_logs")
_MODULES = {"parquet": "parquet_dump", "csv": "csv_dump", "jsonl": "jsonl_logs", "prom_json": "prom_json",
            "openmetrics": "openmetrics", "jaeger": "jaeger", "otlp": "otlp", "text_logs": "text_logs"}


def detect_format(path: str | Path, line_format: str | None = None) -> str:
    """The format of ``path`` judged by its content (raises InputFileError when none fits)."""
    from holoops.sources.formats.sniff import sniff

    return sniff(path, line_format)


def read_export(path: str | Path, kind: str | None = None, *, engine: str = "pandas",
                dead_letter: str | Path | DeadLetter | None = None, chunk_rows: int = 1_000_000,
                chunk_mib: float = 64, line_format: str | None = None,
                scrape_time: Any = None) -> IngestResult:
    """Read one export file into a canonical frame; reject bad records into a dead-letter file.

    ``kind`` is a frame kind (``metrics``/``logs``/``spans``/``events``: the file must hold it) or a
    format name from ``holoops.sources.formats.FORMATS`` (skips sniffing). ``dead_letter`` is a path
    for the JSON-lines dead-letter file (or a :class:`~holoops.ingest.DeadLetter` to share); None keeps
    the first entries in ``result.samples`` only. ``chunk_rows`` bounds Parquet/CSV batches and
    ``chunk_mib`` text chunks. ``line_format`` is a regex with named groups ``ts``, ``message`` (and
    optionally ``level``, ``service``) for plain-text logs. ``scrape_time`` stamps exposition-text
    samples that carry no timestamp (default: the file's modification time).
    """
    import importlib

    from holoops.frames import resolve_engine, to_engine
    from holoops.sources.formats import FORMATS

    p = Path(path)
    engine = resolve_engine(engine)
    if not p.exists():
        raise InputFileError(p, "an export file", "no such file")
    if p.is_dir():
        raise InputFileError(p, "an export file (use read_folder for folders)", "a directory")
    want_kind = kind if kind in KINDS else None
    if kind is not None and kind not in KINDS and kind not in FORMATS:
        raise InputFileError(p, f"kind one of {', '.join(KINDS + FORMATS)}", f"kind={kind!r}")
    fmt = kind if kind in FORMATS else detect_format(p, line_format)
    if want_kind and want_kind not in FORMAT_KINDS[fmt]:
        raise InputFileError(p, f"a {want_kind} export", f"a {fmt} file (holds {'/'.join(FORMAT_KINDS[fmt])})")
    own = not isinstance(dead_letter, DeadLetter)
    dl = DeadLetter(dead_letter) if own else dead_letter
    dl.file = str(p)
    before, counts_before = dl.rejected, dict(dl.counts)
    n_samples = len(dl.samples)
    try:
        mod = importlib.import_module(f"holoops.sources.formats.{_MODULES[fmt]}")
        frame, n_read, normalised, got_kind = mod.read(
            p, dl, kind=want_kind, chunk_rows=chunk_rows, chunk_mib=chunk_mib, line_format=line_format,
            scrape_time=scrape_time)
    finally:
        if own:
            dl.close()
    if want_kind and got_kind != want_kind:
        raise InputFileError(p, f"a {want_kind} export", f"a {got_kind} export ({fmt})")
    reasons = {k: v - counts_before.get(k, 0) for k, v in dl.counts.items() if v - counts_before.get(k, 0)}
    return IngestResult(
        frame=to_engine(frame, engine), read=n_read, ingested=frame.height, rejected=dl.rejected - before,
        kind=got_kind, format=fmt, path=str(p), dead_letter=str(dl.path) if dl.path else None,
        reasons=reasons, normalised=normalised, samples=dl.samples[n_samples:])


@dataclass
class ExportFolder:
    """The four canonical frames read from an export folder, plus the per-file accounting."""

    metrics: Any
    logs: Any
    spans: Any
    events: Any
    results: list[IngestResult] = field(default_factory=list)
    #: files not read: {path: why} (another format of the same frame was preferred, or unrecognised)
    skipped: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> Any:
        return getattr(self, kind)

    @property
    def rejected(self) -> int:
        """Records rejected over all files read."""
        return sum(r.rejected for r in self.results)


def read_folder(folder: str | Path, *, engine: str = "pandas", dead_letter: str | Path | None = None,
                prefer: tuple[str, ...] = FOLDER_PREFERENCE, recursive: bool = True,
                **kwargs: Any) -> ExportFolder:
    """Read a demo-style export folder into the four canonical frames.

    Every file is sniffed; for each frame kind only the files of the most preferred format present are
    read (a folder often holds the same metrics as Parquet, CSV, query_range JSON and OpenMetrics text).
    ``ground_truth.json`` and unrecognised files are listed in ``skipped``. Frames a folder lacks are
    empty canonical frames.
    """
    import polars as pl

    from holoops.frames import to_engine
    from holoops.sources.formats._canon import validate
    from holoops.sources.formats.sniff import csv_kind

    root = Path(folder)
    if not root.is_dir():
        raise InputFileError(root, "an export folder", "no such folder" if not root.exists() else "a file")
    files = sorted(p for p in (root.rglob("*") if recursive else root.iterdir()) if p.is_file())
    skipped: dict[str, str] = {}
    by_kind: dict[str, dict[str, list[Path]]] = {k: {} for k in KINDS}
    for p in files:
        if p.name.startswith(".") or p.name == "ground_truth.json" or (
                dead_letter is not None and p.resolve() == Path(dead_letter).resolve()):
            skipped[str(p)] = "not an export"
            continue
        try:
            fmt = detect_format(p, kwargs.get("line_format"))
        except InputFileError as exc:
            skipped[str(p)] = exc.found
            continue
        kinds = FORMAT_KINDS[fmt]
        if len(kinds) > 1:
            kinds = (_peek_kind(p, fmt, csv_kind),)
            if kinds == (None,):
                skipped[str(p)] = f"{fmt} of no known frame kind"
                continue
        by_kind[kinds[0]].setdefault(fmt, []).append(p)
    dl = DeadLetter(dead_letter) if dead_letter is not None else DeadLetter(None)
    frames: dict[str, Any] = {}
    results: list[IngestResult] = []
    try:
        for kind in KINDS:
            options = by_kind[kind]
            chosen = next((f for f in prefer if f in options), None)
            parts = []
            for fmt, paths in options.items():
                for p in paths:
                    if fmt != chosen:
                        skipped[str(p)] = f"{kind} also in {chosen}, which is preferred"
                        continue
                    res = read_export(p, fmt, engine="polars", dead_letter=dl, **kwargs)
                    results.append(res)
                    parts.append(res.frame)
            if parts:
                df = pl.concat(parts, how="diagonal_relaxed")
            else:
                df = validate(pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), kind, DeadLetter(None))[0]
            frames[kind] = to_engine(df, engine)
    finally:
        dl.close()
    return ExportFolder(**frames, results=results, skipped=skipped)


def _peek_kind(p: Path, fmt: str, csv_kind) -> str | None:
    import orjson

    if fmt == "parquet":
        import pyarrow.parquet as pq

        return csv_kind(pq.read_schema(p).names)
    with open(p, "rb") as fh:
        head = fh.read(1 << 16).split(b"\n")[0]
    if fmt == "csv":
        import csv

        text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
        sep = "\t" if text.count("\t") > text.count(",") else ","
        return csv_kind(next(csv.reader([text], delimiter=sep)))
    from holoops.sources.formats.jsonl_logs import _flat_keys
    from holoops.sources.formats.sniff import json_line_kind

    try:
        return json_line_kind(_flat_keys(orjson.loads(head)))
    except orjson.JSONDecodeError:
        return None
