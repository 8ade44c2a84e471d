"""Read exported files (sniffed by content, not extension) into canonical frames, with dead-letter accounting.

>>> res = read_export("logs.jsonl", dead_letter="rejects.jsonl")     # doctest: +SKIP
>>> res.frame, res.read, res.ingested, res.rejected, res.reasons     # doctest: +SKIP
>>> demo = read_folder("demo-export/")                              # doctest: +SKIP
>>> demo.metrics, demo.logs, demo.spans, demo.events                 # doctest: +SKIP

An export larger than memory is converted, not read: :func:`convert_export` streams a JSON-lines file
chunk by chunk into hive-partitioned Parquet (same accounting, one chunk in memory at a time), and the
analyses then scan that folder lazily:

>>> res = convert_export("huge.jsonl", "logs-parquet/", dead_letter="rejects.jsonl")  # doctest: +SKIP
>>> from holoops.analyze.requests import request_table                          # doctest: +SKIP
>>> request_table(res.frame)              # res.frame is the Parquet folder     # doctest: +SKIP
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
    "access_log": ("logs",),
}
#: when a folder holds the same frame in several formats, the first format here is read
FOLDER_PREFERENCE = ("parquet", "csv", "jsonl", "prom_json", "openmetrics", "jaeger", "otlp", "text_logs",
                     "access_log")
_MODULES = {"parquet": "parquet_dump", "csv": "csv_dump", "jsonl": "jsonl_logs", "prom_json": "prom_json",
            "openmetrics": "openmetrics", "jaeger": "jaeger", "otlp": "otlp", "text_logs": "text_logs",
            "access_log": "access_log"}


def detect_format(path: str | Path, line_format: str | None = None) -> str:
    """The format of ``path`` judged by its content (raises InputFileError when none fits)."""
    from holoops.sources.formats.sniff import sniff

    return sniff(path, line_format)


def read_export(path: str | Path, kind: str | None = None, *, engine: str = "pandas",
                dead_letter: str | Path | DeadLetter | None = None, chunk_rows: int = 1_000_000,
                chunk_mib: float = 64, line_format: str | None = None,
                scrape_time: Any = None, service: str | None = None, instance: str | None = None,
                log_span: Any = None, duration_unit: str | None = None) -> IngestResult:
    """Read one export file into a canonical frame; reject bad records into a dead-letter file.

    ``kind`` is a frame kind (``metrics``/``logs``/``spans``/``events``: the file must hold it) or a
    format name from ``holoops.sources.formats.FORMATS`` (skips sniffing). ``dead_letter`` is a path
    for the JSON-lines dead-letter file (or a :class:`~holoops.ingest.DeadLetter` to share); None keeps
    the first entries in ``result.samples`` only. ``chunk_mib`` bounds the chunks text formats (JSON lines,
    CSV, exposition text, text logs) are read in (a JSON-lines file of at most a quarter of the memory the
    process may use is parsed whole instead, see :mod:`holoops.sources.formats.jsonl_logs`), ``chunk_rows``
    the batches a CSV chunk is validated in. ``line_format`` is a regex with named groups
    ``ts``, ``message`` (and optionally ``level``, ``service``) for plain-text logs. ``scrape_time``
    stamps exposition-text samples that carry no timestamp (default: the file's modification time).

    HTTP access logs (format ``access_log``: uvicorn, nginx/Apache common and combined, gunicorn) do not
    name their server: ``service`` and ``instance`` fill those columns (else null, for the caller to
    assign). Their records without a time get estimated ones, spread over the file's life (creation to
    last write) or over ``log_span=(start, end)``; ``result.normalised["estimated_ts"]`` counts them and
    ``result.notes`` says so in a sentence. ``duration_unit`` ("s", "ms", "us") reads a trailing request
    time whose unit the line does not show (default: decimal = seconds, whole = microseconds).
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
    book = _Rejects(dead_letter, p)
    notes: list[str] = []
    try:
        mod = importlib.import_module(f"holoops.sources.formats.{_MODULES[fmt]}")
        frame, n_read, normalised, got_kind = mod.read(
            p, book.dl, kind=want_kind, chunk_rows=chunk_rows, chunk_mib=chunk_mib, line_format=line_format,
            scrape_time=scrape_time, service=service, instance=instance, log_span=log_span,
            duration_unit=duration_unit, notes=notes)
    finally:
        book.close()
    if want_kind and got_kind != want_kind:
        raise InputFileError(p, f"a {want_kind} export", f"a {got_kind} export ({fmt})")
    return IngestResult(frame=to_engine(frame, engine), read=n_read, ingested=frame.height, kind=got_kind,
                        format=fmt, path=str(p), normalised=normalised, notes=notes, **book.result())


class _Rejects:
    """The dead letter of one file's read (opened here unless the caller passed a DeadLetter) and what
    this read added to it: :meth:`result` gives IngestResult's ``rejected``, ``reasons``, ``samples`` and
    ``dead_letter``."""

    def __init__(self, dead_letter: Any, path: Path):
        self.own = not isinstance(dead_letter, DeadLetter)
        self.dl = DeadLetter(dead_letter) if self.own else dead_letter
        self.dl.file = str(path)
        self.before, self.counts_before, self.n_samples = self.dl.rejected, dict(self.dl.counts), len(self.dl.samples)

    def close(self) -> None:
        if self.own:
            self.dl.close()

    def result(self) -> dict[str, Any]:
        dl, was = self.dl, self.counts_before
        return {"rejected": dl.rejected - self.before,
                "reasons": {k: v - was.get(k, 0) for k, v in dl.counts.items() if v - was.get(k, 0)},
                "samples": dl.samples[self.n_samples:], "dead_letter": str(dl.path) if dl.path else None}


#: formats :func:`convert_export` streams chunk by chunk (others are read whole, then written)
STREAMED_FORMATS = ("jsonl", "csv", "openmetrics")


def convert_export(path: str | Path, folder: str | Path, kind: str | None = None, *,
                   dead_letter: str | Path | DeadLetter | None = None,
                   partition_on: tuple[str, ...] | list[str] = ("date", "service"), chunk_mib: float = 64,
                   overwrite: bool = False, line_format: str | None = None, scrape_time: Any = None,
                   chunk_rows: int = 1_000_000, **options: Any) -> IngestResult:
    """Convert one export file into hive-partitioned Parquet under ``folder``, in bounded memory.

    The operator path for exports larger than memory: a JSON-lines, CSV or exposition-text file
    (:data:`STREAMED_FORMATS`) is read ``chunk_mib`` at a time, each chunk validated exactly as
    :func:`read_export` does (bad records to ``dead_letter`` with file, line, field and reason) and
    written straight to Parquet, so peak memory depends on the chunk size, not the file size: for JSON
    lines about ``7 * chunk_mib + 100`` MiB (measured on 2 cores with ``benchmarks/bench_memory.py``:
    ~500 MiB at the default 64, ~190 MiB at 16, for 0.25 to 4 GiB files). Other formats are read whole
    with :func:`read_export` first (their readers hold the frame), then written.

    ``partition_on`` names the hive partition columns (``date`` is the UTC day of the frame's
    timestamp, derived when absent; ``()`` writes plain files). Each chunk adds one file per partition
    (``date=2026-11-02/service=vault/part-00000.parquet``, ...). An existing non-empty ``folder`` is an error unless ``overwrite``
    (then it is replaced). The other arguments (and ``options``: ``service``, ``instance``, ``log_span``,
    ``duration_unit`` for access logs) are those of :func:`read_export`.

    Returns an :class:`~holoops.ingest.IngestResult` whose ``frame`` is the output folder (a
    ``Path``): pass it to :func:`holoops.analyze.requests.request_table`, ``top_errors`` or
    :func:`holoops.distributed.read_partitioned`. ``ingested + rejected == read`` holds as for
    :func:`read_export`; ``ingested`` is the number of rows written.
    """
    import shutil

    from holoops.sources.formats import FORMATS

    p, out = Path(path), Path(folder)
    if not p.exists():
        raise InputFileError(p, "an export file", "no such file")
    if p.is_dir():
        raise InputFileError(p, "an export file (convert one file at a time)", "a directory")
    if out.exists():
        if not out.is_dir():
            raise InputFileError(out, "an output folder", "a file")
        if any(out.iterdir()):
            if not overwrite:
                raise InputFileError(out, "an empty or new output folder", "a folder with files in it "
                                     "(pass overwrite=True / --overwrite to replace it)")
            shutil.rmtree(out)
    want_kind = kind if kind in KINDS else None
    if kind is not None and kind not in KINDS and kind not in FORMATS:
        raise InputFileError(p, f"kind one of {', '.join(KINDS + FORMATS)}", f"kind={kind!r}")
    fmt = kind if kind in FORMATS else detect_format(p, line_format)
    if fmt not in STREAMED_FORMATS:
        res = read_export(p, kind, engine="polars", dead_letter=dead_letter, chunk_rows=chunk_rows,
                          chunk_mib=chunk_mib, line_format=line_format, scrape_time=scrape_time, **options)
        _PartitionWriter(out, partition_on, res.kind).write(res.frame)
        res.frame = out
        return res
    if want_kind and want_kind not in FORMAT_KINDS[fmt]:
        raise InputFileError(p, f"a {want_kind} export", f"a {fmt} file (holds {'/'.join(FORMAT_KINDS[fmt])})")
    import importlib

    from holoops.sources.formats import jsonl_logs

    reader = importlib.import_module(f"holoops.sources.formats.{_MODULES[fmt]}")
    book = _Rejects(dead_letter, p)
    progress = jsonl_logs.Progress(want_kind)
    writer = None
    try:
        for frame in reader.iter_frames(p, book.dl, kind=want_kind, chunk_mib=chunk_mib, chunk_rows=chunk_rows,
                                        scrape_time=scrape_time, progress=progress):
            if writer is None:
                writer = _PartitionWriter(out, partition_on, progress.kind)
            writer.write(frame)
            del frame
    finally:
        book.close()
    if writer is None:  # every record was rejected: an empty folder, the accounting says why
        writer = _PartitionWriter(out, partition_on, progress.kind or "logs")
    return IngestResult(frame=out, read=progress.read, ingested=writer.rows, kind=progress.kind, format=fmt,
                        path=str(p), normalised=progress.normalised, **book.result())


class _PartitionWriter:
    """Appends canonical polars frames to a hive-partitioned Parquet folder, one set of files per frame.

    Every file gets the schema of the first non-empty frame (later frames are cast to it; a column a
    later frame lacks is written as nulls), so the folder scans as one table. Partition values are
    URI-escaped in the folder names, as pyarrow's hive partitioning writes them. Frames are split and
    written by polars (pyarrow's dataset writer was measured to need about 3x the chunk in memory).
    """

    NULL = "__HIVE_DEFAULT_PARTITION__"

    def __init__(self, folder: Path, partition_on: tuple[str, ...] | list[str], kind: str):
        from holoops.sources.formats._canon import TS_COLS

        self.folder, self.parts, self.kind = Path(folder), list(partition_on), kind
        self.ts_col = TS_COLS[kind][0]
        self.schema: dict[str, Any] | None = None
        self.rows = 0
        self.files = 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, frame: Any) -> None:
        from urllib.parse import quote

        import polars as pl

        if not frame.height:
            return
        df = frame
        if "date" in self.parts and "date" not in df.columns:
            df = df.with_columns(pl.col(self.ts_col).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d")
                                 .alias("date"))
        missing = [c for c in self.parts if c not in df.columns]
        if missing:
            from holoops.errors import SchemaError

            raise SchemaError(f"partition column(s) {', '.join(missing)} not in the {self.kind} frame; "
                              f"have {df.columns}")
        if self.schema is None:
            df = df.with_columns([pl.col(c).cast(pl.Utf8) for c in self.parts])
            df = df.with_columns([pl.col(c).cast(pl.Utf8) for c, t in df.schema.items() if t == pl.Null])
            self.schema = dict(df.schema)
        else:
            df = df.select([pl.col(c).cast(t, strict=False) if c in df.columns else pl.lit(None, dtype=t).alias(c)
                            for c, t in self.schema.items()])
        name = f"part-{self.files:05d}.parquet"
        groups = df.partition_by(self.parts, as_dict=True, include_key=False) if self.parts else {(): df}
        for key, part in groups.items():
            sub = self.folder.joinpath(*(f"{c}={self.NULL if v is None else quote(str(v), safe='')}"
                                         for c, v in zip(self.parts, key, strict=True)))
            sub.mkdir(parents=True, exist_ok=True)
            part.write_parquet(sub / name)
        self.rows += df.height
        self.files += 1


@dataclass
class ExportFolder:
    """The four canonical frames read from an export folder, plus the per-file accounting."""

    metrics: Any
    logs: Any
    spans: Any
    events: Any
    results: list[IngestResult] = field(default_factory=list)
    #: files left out on purpose: {path: why} (another format of the same frame was preferred, a hidden
    #: file, ``ground_truth.json``, the dead-letter file)
    skipped: dict[str, str] = field(default_factory=dict)
    #: files that could not be read: {path: why} (not a recognised export, or its reader refused it)
    unreadable: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> Any:
        return getattr(self, kind)

    @property
    def rejected(self) -> int:
        """Records rejected over all files read."""
        return sum(r.rejected for r in self.results)

    @property
    def notes(self) -> list[str]:
        """The files' notes (e.g. estimated timestamps), then one line per file that could not be read."""
        out = [n for r in self.results for n in r.notes]
        return out + [f"not read: {p}: {why}" for p, why in self.unreadable.items()]

    def summary(self) -> str:
        """Files read (records read/ingested/rejected per frame), the files' notes, and the files not read
        with why (grouped by reason)."""
        lines = []
        for kind in KINDS:
            rs = [r for r in self.results if r.kind == kind]
            if rs:
                lines.append(f"{kind}: {len(rs)} file(s), read {sum(r.read for r in rs):,}, ingested "
                             f"{sum(r.ingested for r in rs):,}, rejected {sum(r.rejected for r in rs):,}")
        lines += [f"note: {n}" for n in (x for r in self.results for x in r.notes)]
        by_reason: dict[str, list[str]] = {}
        for p, why in self.unreadable.items():
            by_reason.setdefault(why, []).append(p)
        for why, paths in by_reason.items():
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            lines.append(f"not read ({len(paths)} file(s): {shown}): {why}")
        return "\n".join(lines)


#: files of a folder that are never exports
_NOT_EXPORTS = ("ground_truth.json",)


def read_folder(folder: str | Path, *, engine: str = "pandas", dead_letter: str | Path | None = None,
                prefer: tuple[str, ...] = FOLDER_PREFERENCE, recursive: bool = True,
                **kwargs: Any) -> ExportFolder:
    """Read an export folder (a demo export, an operator's dump, a dataset such as Nezha's) into the four
    canonical frames.

    Every file is sniffed; for each frame kind only the files of the most preferred format present are
    read (a folder often holds the same metrics as Parquet, CSV, query_range JSON and OpenMetrics text).
    Files that are not exports or cannot be read are listed with the reason in ``unreadable`` (and in
    ``notes``); files left out on purpose (a less preferred format, hidden files, ``ground_truth.json``) in
    ``skipped``. Frames a folder lacks are empty canonical frames. A folder where no file can be read is an
    InputFileError naming the folder and the first files with their reasons. ``kwargs`` go to
    :func:`read_export` for every file.
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
    unreadable: dict[str, str] = {}
    by_kind: dict[str, dict[str, list[Path]]] = {k: {} for k in KINDS}
    for p in files:
        if p.name.startswith(".") or p.name in _NOT_EXPORTS or (
                dead_letter is not None and p.resolve() == Path(dead_letter).resolve()):
            skipped[str(p)] = "not an export" if not p.name.startswith(".") else "a hidden file"
            continue
        try:
            fmt = detect_format(p, kwargs.get("line_format"))
        except InputFileError as exc:
            unreadable[str(p)] = exc.found
            continue
        kinds = FORMAT_KINDS[fmt]
        if len(kinds) > 1:
            try:
                kinds = (_peek_kind(p, fmt, csv_kind),)
            except (OSError, ValueError) as exc:  # a damaged Parquet footer, say
                unreadable[str(p)] = f"an unreadable {fmt} file ({str(exc).splitlines()[0] if str(exc) else exc!r})"
                continue
            if kinds == (None,):
                unreadable[str(p)] = f"{fmt} of no known frame kind"
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
                    try:
                        res = read_export(p, fmt, engine="polars", dead_letter=dl, **kwargs)
                    except InputFileError as exc:
                        unreadable[str(p)] = exc.found if exc.path == str(p) else str(exc)
                        continue
                    results.append(res)
                    parts.append(res.frame)
            if parts:
                df = pl.concat(parts, how="diagonal_relaxed")
            else:
                df = validate(pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), kind, DeadLetter(None))[0]
            frames[kind] = to_engine(df, engine)
    finally:
        dl.close()
    if not results:
        shown = list(unreadable.items())[:5]
        why = "; ".join(f"{Path(p).relative_to(root)}: {r}" for p, r in shown)
        more = f"; and {len(unreadable) - len(shown)} more" if len(unreadable) > len(shown) else ""
        found = (f"no readable export among {len(files)} file(s) ({why}{more})" if unreadable else
                 f"no export files ({len(files)} file(s), none an export)" if files else "an empty folder")
        raise InputFileError(root, "an export folder with at least one readable export", found)
    return ExportFolder(**frames, results=results, skipped=skipped, unreadable=unreadable)


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
        return csv_kind(next(csv.reader([text], delimiter=sep)), wide=True)
    from holoops.sources.formats.jsonl_logs import _flat_keys
    from holoops.sources.formats.sniff import json_line_kind

    try:
        return json_line_kind(_flat_keys(orjson.loads(head)))
    except orjson.JSONDecodeError:
        return None
