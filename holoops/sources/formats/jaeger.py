"""Jaeger JSON (``/api/traces`` responses and the UI's "download JSON"): ``{"data":[{"traceID","spans",
"processes"}]}``. Each span is one record; ``line`` is located by the span's ``operationName`` key when the
file allows it, and ``record`` always holds the JSON path (``data[i].spans[j]``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import SPAN_COLUMNS, load_json_document, spans_frame, validate

EXPECTED = 'Jaeger JSON ({"data": [{"traceID": ..., "spans": [...], "processes": {...}}]})'
PEER_KEYS = ("peer.service", "peer_service", "net.peer.name")
ATTEMPT_KEYS = ("attempt", "retry.attempt", "http.resend_count")
PAYLOAD_KEYS = ("payload_bytes", "message.size", "rpc.message.uncompressed_size", "http.request_content_length")


def span_status(tags: dict[str, Any]) -> str:
    """'error' when the tags say so (error=true, otel.status_code=ERROR, HTTP >= 500), else 'ok'."""
    if str(tags.get("error", "")).lower() == "true" or str(tags.get("otel.status_code", "")).upper() == "ERROR":
        return "error"
    try:
        return "error" if int(tags.get("http.status_code", 0)) >= 500 else "ok"
    except (TypeError, ValueError):
        return "ok"


def first_of(tags: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((tags[k] for k in keys if k in tags), None)


def line_index(data: bytes, key: bytes, count: int) -> list[int] | None:
    """1-based line of each occurrence of ``key`` when there are exactly ``count`` of them."""
    pos = [m.start() for m in re.finditer(re.escape(key), data)]
    if len(pos) != count:
        return None
    lines, last, line = [], 0, 1
    for p in pos:
        line += data.count(b"\n", last, p)
        last = p
        lines.append(line)
    return lines


def read(path: Path, dl: DeadLetter, **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read Jaeger JSON into the spans frame."""
    data = path.read_bytes()
    doc = load_json_document(path, EXPECTED, data)
    traces = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(traces, list):
        raise InputFileError(path, EXPECTED, "JSON without a data list")
    cols: dict[str, list[Any]] = {k: [] for k in SPAN_COLUMNS}
    paths: list[str] = []
    raws: list[Any] = []
    for ti, trace in enumerate(traces):
        procs = trace.get("processes") or {}
        for si, sp in enumerate(trace.get("spans") or []):
            if not isinstance(sp, dict):
                sp = {}
            tags = {t.get("key"): t.get("value") for t in sp.get("tags") or [] if isinstance(t, dict)}
            refs = [r for r in sp.get("references") or [] if isinstance(r, dict)]
            parent = next((r.get("spanID") for r in refs if r.get("refType") == "CHILD_OF"),
                          refs[0].get("spanID") if refs else sp.get("parentSpanID"))
            dur = sp.get("duration")
            proc = procs.get(sp.get("processID")) or sp.get("process") or {}
            cols["trace_id"].append(sp.get("traceID") or trace.get("traceID"))
            cols["span_id"].append(sp.get("spanID"))
            cols["parent_id"].append(parent or "")
            cols["service"].append(proc.get("serviceName"))
            cols["operation"].append(sp.get("operationName"))
            cols["start"].append(sp.get("startTime"))
            cols["duration_ms"].append(dur / 1000.0 if isinstance(dur, (int, float)) and not isinstance(dur, bool)
                                       else dur)
            cols["status"].append(span_status(tags))
            cols["peer"].append(first_of(tags, PEER_KEYS))
            cols["attempt"].append(first_of(tags, ATTEMPT_KEYS))
            cols["payload_bytes"].append(first_of(tags, PAYLOAD_KEYS))
            paths.append(f"data[{ti}].spans[{si}]")
            raws.append(sp)
    n = len(paths)
    lines = line_index(data, b'"operationName"', n)
    df = spans_frame(cols, n)
    frame, norm = _validate_doc(df, dl, paths, raws, lines)
    return frame, n, norm, "spans"


def _validate_doc(df: pl.DataFrame, dl: DeadLetter, paths: list[str], raws: list[Any],
                  lines: list[int] | None) -> tuple[pl.DataFrame, dict[str, int]]:
    """Validate span records of a JSON document, reporting JSON path (and line when known)."""
    import orjson

    return validate(df, "spans", dl, raw=lambda ids: [orjson.dumps(raws[j], default=str) for j in ids],
                    record=lambda ids: [paths[j] for j in ids],
                    line_of=(lambda ids: [lines[j] for j in ids]) if lines else None)
