"""OTLP/JSON traces (``{"resourceSpans":[{"resource","scopeSpans":[{"spans":[...]}]}]}``), as written by
the OpenTelemetry Collector's file exporter. Each span is one record; ``record`` holds its JSON path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import SPAN_COLUMNS, spans_frame
from holoops.sources.formats.jaeger import ATTEMPT_KEYS, PAYLOAD_KEYS, PEER_KEYS, _validate_doc, first_of

EXPECTED = 'OTLP/JSON traces ({"resourceSpans": [{"resource": ..., "scopeSpans": [{"spans": [...]}]}]})'


def attrs(items: Any) -> dict[str, Any]:
    """OTLP attribute list -> {key: python value}."""
    out = {}
    for a in items or []:
        if not isinstance(a, dict):
            continue
        v = a.get("value") or {}
        val = next(iter(v.values()), None) if isinstance(v, dict) else v
        if "intValue" in v:
            try:
                val = int(v["intValue"])
            except (TypeError, ValueError):
                val = v["intValue"]
        out[a.get("key")] = val
    return out


def _is_error(status: Any) -> bool:
    code = status.get("code") if isinstance(status, dict) else status
    return code in (2, "2", "STATUS_CODE_ERROR", "ERROR")


def read(path: Path, dl: DeadLetter, **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read OTLP/JSON into the spans frame."""
    import orjson

    data = path.read_bytes()
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        # the collector's file exporter writes one ExportTraceServiceRequest per line
        try:
            docs = [orjson.loads(ln) for ln in data.splitlines() if ln.strip()]
        except orjson.JSONDecodeError as exc:
            raise InputFileError(path, EXPECTED, f"invalid JSON ({exc})") from None
        doc = {"resourceSpans": [rs for d in docs for rs in d.get("resourceSpans", [])]}
    rss = doc.get("resourceSpans") if isinstance(doc, dict) else None
    if not isinstance(rss, list):
        raise InputFileError(path, EXPECTED, "JSON without a resourceSpans list")
    cols: dict[str, list[Any]] = {k: [] for k in SPAN_COLUMNS}
    paths, raws = [], []
    for ri, rs in enumerate(rss):
        res = attrs((rs.get("resource") or {}).get("attributes"))
        service = res.get("service.name")
        scopes = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []
        for ci, sc in enumerate(scopes):
            for si, sp in enumerate(sc.get("spans") or []):
                if not isinstance(sp, dict):
                    sp = {}
                a = attrs(sp.get("attributes"))
                start, end = sp.get("startTimeUnixNano"), sp.get("endTimeUnixNano")
                try:
                    dur = (int(end) - int(start)) / 1e6
                except (TypeError, ValueError):
                    dur = None
                cols["trace_id"].append(sp.get("traceId"))
                cols["span_id"].append(sp.get("spanId"))
                cols["parent_id"].append(sp.get("parentSpanId") or "")
                cols["service"].append(a.get("service.name", service))
                cols["operation"].append(sp.get("name"))
                cols["start"].append(str(start) if start is not None else None)
                cols["duration_ms"].append(dur)
                cols["status"].append("error" if _is_error(sp.get("status")) else "ok")
                cols["peer"].append(first_of(a, PEER_KEYS))
                cols["attempt"].append(first_of(a, ATTEMPT_KEYS))
                cols["payload_bytes"].append(first_of(a, PAYLOAD_KEYS))
                paths.append(f"resourceSpans[{ri}].scopeSpans[{ci}].spans[{si}]")
                raws.append(sp)
    n = len(paths)
    df = spans_frame(cols, n)
    frame, norm = _validate_doc(df, dl, paths, raws, None)
    return frame, n, norm, "spans"
