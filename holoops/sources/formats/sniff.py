"""Pick an export's format from its first bytes and lines, never from its extension."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from holoops.errors import InputFileError

EXPECTED = ("a metrics, logs, traces or events export (Parquet, CSV, JSON lines, Prometheus query JSON, "
            "OpenMetrics text, Jaeger/OTLP JSON, HTTP access logs, or text logs)")
HEAD_BYTES = 256 * 1024

_MAGIC = {b"\x89PNG": "a PNG image", b"GIF8": "a GIF image", b"\xff\xd8\xff": "a JPEG image",
          b"%PDF": "a PDF document", b"PK\x03\x04": "a ZIP archive", b"\x1f\x8b": "gzip-compressed data",
          b"\x7fELF": "an ELF binary", b"BZh": "bzip2-compressed data", b"\x28\xb5\x2f\xfd": "zstd data"}
LOG_TS = ("ts", "timestamp", "time", "@timestamp", "datetime")
LOG_MSG = ("msg", "message", "line", "log")
EXPO_LINE = re.compile(r'^[A-Za-z_:][A-Za-z0-9_:]*(\{.*\})?\s+\S+(\s+\S+)?\s*$')
DEFAULT_LINE_FORMAT = (r"^(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
                       r"\s+\[?(?P<level>[A-Za-z]+)\]?\s+(?P<service>[\w.\-/]+):\s?(?P<message>.*)$")


_SEP = re.compile(r"[\s_\-.@/]+")


def _norm(name: str) -> str:
    """``_canon.norm_name`` without importing polars: lower case, no ``_ - . @ /`` or spaces."""
    return _SEP.sub("", name.strip().strip('"')).lower()


TS_NAMES = {"ts", "timestamp", "time", "datetime", "timeunixnano"}
#: columns naming what a wide metrics table's row measures (a pod, a service, an instance)
ENTITY_NAMES = {"podname", "pod", "servicename", "service", "instance", "job", "containername", "container"}
#: columns that make a table something other than wide metrics
_NOT_WIDE = {"level", "severity", "message", "msg", "line", "log", "kind", "type", "detail", "description",
             "traceid", "spanid", "metric", "name", "value"}


def csv_kind(header: list[str], wide: bool = False) -> str | None:
    """The frame kind a CSV/Parquet column list holds, or None when it has no usable header. Names match
    ignoring case and separators (``TraceID`` is ``trace_id``). With ``wide`` (CSV, whose reader melts such
    tables), a time column, an entity column (pod, service, instance) and other columns, with no
    log/span/event/long-metric column, is a *wide* metrics table (one numeric column per metric, see
    :func:`wide_columns`)."""
    cols = {_norm(c) for c in header}
    has_ts = bool(cols & TS_NAMES)
    if has_ts and (cols & {"message", "msg", "line", "log"}):  # logs, also when they carry trace/span ids
        return "logs"
    if {"traceid", "spanid"} <= cols:
        return "spans"
    if has_ts and "value" in cols and (cols & {"metric", "__name__", "name"}):
        return "metrics"
    if has_ts and (cols & {"kind", "type"}) and (cols & {"detail", "service", "description"}):
        return "events"
    if wide and wide_columns(header) is not None:
        return "metrics"
    return None


def wide_columns(header: list[str]) -> tuple[list[str], str, list[str]] | None:
    """``(time columns, entity column, other columns)`` of a wide metrics header such as Nezha's
    ``Time,TimeStamp,PodName,CpuUsage(m),...``, or None when the header is not one."""
    names = [c.strip().strip('"') for c in header]
    norms = [_norm(c) for c in names]
    if set(norms) & _NOT_WIDE:
        return None
    ts = [c for c, n in zip(names, norms, strict=True) if n in TS_NAMES]
    entity = next((c for n0 in ("podname", "pod", "servicename", "service", "instance", "job", "containername",
                                "container") for c, n in zip(names, norms, strict=True) if n == n0), None)
    rest = [c for c in names if c not in ts and c != entity and c]
    if not ts or entity is None or not rest:
        return None
    return ts, entity, rest
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
        if obj is None and len(head) < HEAD_BYTES:  # one JSON document over several lines: name its keys
            with contextlib.suppress(orjson.JSONDecodeError):
                obj = orjson.loads(head)
        keys = sorted(obj) if isinstance(obj, dict) else ["?"]
        raise InputFileError(p, EXPECTED, "a JSON object of unknown shape (keys: " + ", ".join(keys[:8])
                             + (", ..." if len(keys) > 8 else "") + ")")
    if stripped.startswith("["):
        if is_access_log(stripped.splitlines()[:2000]):  # gunicorn's own lines: [time] [pid] [LEVEL] ...
            return "access_log"
        raise InputFileError(p, EXPECTED, "a JSON array (" + _describe_array(stripped) + ")")
    if line_format is not None:
        return "text_logs"
    if any(ln.startswith(("# TYPE ", "# HELP ", "# EOF", "# UNIT ")) for ln in lines):
        return "openmetrics"
    if is_access_log(stripped.splitlines()[:2000]):
        return "access_log"
    if re.match(DEFAULT_LINE_FORMAT, first):
        return "text_logs"
    non_comment = [ln for ln in lines if not ln.startswith("#")]
    exposition = bool(non_comment) and sum(bool(EXPO_LINE.match(ln)) for ln in non_comment) >= max(
        1, len(non_comment) // 2)
    if "," in first or "\t" in first:
        import csv

        sep = "\t" if first.count("\t") > first.count(",") else ","
        header = next(csv.reader([first], delimiter=sep))
        if csv_kind(header, wide=True):
            return "csv"
        # exposition text without # TYPE lines has commas too (between labels): judged by its line shape
        if len(lines) > 1 and lines[1].count(sep) == first.count(sep) and not (exposition and "{" in first):
            raise InputFileError(p, EXPECTED, "a CSV with no usable header (columns: "
                                 + ", ".join(header[:10]) + "; need e.g. ts+metric+value, ts+message, "
                                 "trace_id+span_id, or ts+kind+detail)")
    if exposition:
        return "openmetrics"
    if all(_ID.match(ln.strip()) for ln in lines):
        raise InputFileError(p, EXPECTED, "a list of identifiers, one a line, with no header: not a frame export")
    raise InputFileError(p, EXPECTED, f"unrecognised text starting {first[:60]!r}")


_ID = re.compile(r"^[0-9A-Za-z_\-:.]{8,}$")

# Access logs (see formats/access_log.py). Python ``re`` and Rust regex (polars) read these patterns alike.
#: a container runtime's time in front of the line: ``kubectl logs --timestamps``, ``docker logs -t``, and
#: CRI log files (``<time> stdout F <line>``)
RUNTIME_PREFIX = (r"^(?P<rt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})) "
                  r"(?:(?:stdout|stderr) [FP] )?")
#: uvicorn's access line: ``INFO:     127.0.0.1:52050 - "POST /store HTTP/1.1" 200 OK``
UVICORN_ACCESS = r'(?P<ulevel>[A-Z]+):\s+(?P<uclient>\S+) - "(?P<ureq>[^"]*)" (?P<ustatus>\d{3})\b'
#: NCSA common/combined (nginx, Apache, gunicorn's default): ``host ident user [time] "request" status bytes``
#: [``"referer" "user agent"``], then anything (a request time: nginx ``$request_time``, gunicorn ``%(D)s``)
CLF_ACCESS = (r'(?P<client>\S+) \S+ (?:"[^"]*"|\S+) \[(?P<clf_ts>[^\]]+)\] "(?P<req>(?:[^"\\]|\\.)*)" '
              r'(?P<status>\d{3}) (?:\d+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?(?P<tail>.*)')
#: Python logging's ``LEVEL:`` lines (uvicorn's own, and ``%(levelname)s:%(name)s:%(message)s``)
PY_LEVEL = r"(?P<plevel>CRITICAL|FATAL|ERROR|WARNING|WARN|INFO|DEBUG|TRACE):"
#: gunicorn's error log: ``[2026-11-02 10:00:00 +0000] [7] [INFO] Booting worker with pid: 7``
GUNICORN_LINE = r"\[(?P<gts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?: [+-]\d{4})?)\] \[\d+\] \[(?P<glevel>[A-Z]+)\] "
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RT = re.compile(RUNTIME_PREFIX)
_ACCESS = re.compile(f"^(?:{UVICORN_ACCESS}|{CLF_ACCESS})")
_RECORD_START = re.compile(f"^(?:{UVICORN_ACCESS}|{CLF_ACCESS}|{PY_LEVEL}|{GUNICORN_LINE})")
_UVICORN_PADDED = re.compile(r"^[A-Z]+:\s+\S")


def is_access_log(lines: list[str]) -> bool:
    """Whether ``lines`` (a file's first lines) are an HTTP access log: the first non-blank line starts a
    record (an access line, a ``LEVEL:`` line or a gunicorn line, after an optional container-runtime time)
    and some line is an access line (uvicorn, common or combined), or the first line is uvicorn's own
    (``INFO:     Started server process``)."""
    rest = [_RT.sub("", _ANSI.sub("", ln), count=1) for ln in lines if ln.strip()]
    if not rest or not _RECORD_START.match(rest[0]):
        return False
    return bool(_UVICORN_PADDED.match(rest[0])) or any(_ACCESS.match(ln) for ln in rest)


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
