"""Pick an export's format from its first bytes and lines, never from its extension."""

from __future__ import annotations

import re
from pathlib import Path

from holoops.errors import InputFileError

EXPECTED = ("a metrics, logs, traces or events export (Parquet, CSV, JSON lines, Prometheus query JSON, "
            "OpenMetrics text, Jaeger/OTLP JSON, or text logs)")
HEAD_BYTES = 256 * 1024

_MAGIC = {b"\x89PNG": "a PNG image", b"GIF8": "a GIF image", b"\xff\xd8\xff": "a JPEG image",
          b"%PDF": "a PDF document", b"PK\x03\x04": "a ZIP archive", b"\x1f\x8b": "gzip-compressed data",
          b"\x7fELF": "an ELF binary", b"BZh": "bzip2-compressed data", b"\x28\xb5\x2f\xfd": "zstd data"}
LOG_TS = ("ts", "timestamp", "time", "@timestamp", "datetime")
LOG_MSG = ("msg", "message", "line", "log")
EXPO_LINE = re.compile(r'^[A-Za-z_:][A-Za-z0-9_:]*(\{.*\})?\s+\S+(\s+\S+)?\s*$')
DEFAULT_LINE_FORMAT = (r"^(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
                       r"\s+\[?(?P<level>[A-Za-z]+)\]?\s+(?P<service>[\w.\-/]+):\s?(?P<message>.*)$")


def csv_kind(header: list[str]) -> str | None:
    """The frame kind a CSV/Parquet column list holds, or None when it has no usable header."""
    cols = {c.strip().strip('"') for c in header}
    if {"trace_id", "span_id"} <= cols or {"traceID", "spanID"} <= cols:
        return "spans"
    has_ts = bool(cols & {"ts", "timestamp", "time"})
    if has_ts and "value" in cols and (cols & {"metric", "__name__", "name"}):
        return "metrics"
    if has_ts and (cols & {"message", "msg", "line", "log"}):
        return "logs"
    if has_ts and (cols & {"kind", "type"}) and (cols & {"detail", "service", "description"}):
        return "events"
    return None


def json_line_kind(obj: dict) -> str | None:
    """The frame kind one JSON-lines record holds (logs, spans, events, metrics), or None."""
    keys = set(obj)
    if keys & set(LOG_TS) and keys & set(LOG_MSG):
        return "logs"
    return csv_kind(list(keys))


def sniff(path: str | Path, line_format: str | None = None) -> str:
    """Return the format name of ``path`` (see ``formats.FORMATS``); raise InputFileError if none fits."""
    import orjson

    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise InputFileError(p, EXPECTED, f"a file that cannot be opened ({exc.strerror or exc})") from None
    if not head.strip():
        raise InputFileError(p, EXPECTED, "an empty file" if not head else "a file of only whitespace")
    if head.startswith(b"PAR1"):
        return "parquet"
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise InputFileError(p, EXPECTED, what)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    probe = head[:4096]
    if b"\x00" in probe or sum(b < 9 or 13 < b < 32 for b in probe) > len(probe) // 20:
        raise InputFileError(p, EXPECTED, "binary data")
    text = head.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    lines = [ln for ln in stripped.splitlines()[:50] if ln.strip()]
    first = lines[0] if lines else ""
    if stripped.startswith("{"):
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and json_line_kind(obj):
            return "jsonl"
        compact = re.sub(r"\s+", "", text[:65536])
        if '"resultType"' in compact or compact.startswith('{"status":') or '"status":"error"' in compact[:200]:
            return "prom_json"
        if re.search(r'"data":\[\{"traceID"', compact) or '"traceID"' in compact and '"spans"' in compact:
            return "jaeger"
        if '"resourceSpans"' in compact:
            return "otlp"
        if isinstance(obj, dict) or obj is None and len(lines) > 1 and _json_lines(lines[1:5]):
            return "jsonl"
        raise InputFileError(p, EXPECTED, "a JSON object of unknown shape (keys: "
                             + ", ".join(sorted(obj)[:8] if isinstance(obj, dict) else ["?"]) + ")")
    if stripped.startswith("["):
        raise InputFileError(p, EXPECTED, "a JSON array (" + _describe_array(stripped) + ")")
    if line_format is not None:
        return "text_logs"
    if any(ln.startswith(("# TYPE ", "# HELP ", "# EOF", "# UNIT ")) for ln in lines):
        return "openmetrics"
    if re.match(DEFAULT_LINE_FORMAT, first):
        return "text_logs"
    non_comment = [ln for ln in lines if not ln.startswith("#")]
    exposition = bool(non_comment) and sum(bool(EXPO_LINE.match(ln)) for ln in non_comment) >= max(
        1, len(non_comment) // 2)
    if "," in first or "\t" in first:
        import csv

        sep = "\t" if first.count("\t") > first.count(",") else ","
        header = next(csv.reader([first], delimiter=sep))
        if csv_kind(header):
            return "csv"
        # exposition text without # TYPE lines has commas too (between labels): judged by its line shape
        if len(lines) > 1 and lines[1].count(sep) == first.count(sep) and not (exposition and "{" in first):
            raise InputFileError(p, EXPECTED, "a CSV with no usable header (columns: "
                                 + ", ".join(header[:10]) + "; need e.g. ts+metric+value, ts+message, "
                                 "trace_id+span_id, or ts+kind+detail)")
    if exposition:
        return "openmetrics"
    raise InputFileError(p, EXPECTED, f"unrecognised text starting {first[:60]!r}")


def _json_lines(lines: list[str]) -> bool:
    import orjson

    try:
        return all(isinstance(orjson.loads(ln), dict) for ln in lines)
    except orjson.JSONDecodeError:
        return False


def _describe_array(text: str) -> str:
    import orjson

    try:
        arr = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "not valid JSON, or too large to inspect"
    if not arr:
        return "empty"
    types = sorted({type(x).__name__ for x in arr[:100]})
    names = {"int": "numbers", "float": "numbers", "str": "strings", "dict": "objects", "list": "arrays"}
    return "a list of " + " and ".join(sorted({names.get(t, t) for t in types}))
