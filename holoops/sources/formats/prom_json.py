"""Prometheus HTTP API JSON (``/api/v1/query_range`` matrix, ``/api/v1/query`` vector or scalar).

Each sample is one record; a bad sample is rejected with its JSON path (``data.result[i].values[j]``).
An error response (``"status": "error"``) is one rejected record (``api_error``), not an exception, so a
folder with one failed query still reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import frame_from_columns, load_json_document, validate

EXPECTED = 'Prometheus API JSON ({"status": "success", "data": {"resultType": ..., "result": [...]}})'


def read(path: Path, dl: DeadLetter, **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read a query / query_range response into the metrics frame."""
    import orjson

    doc = load_json_document(path, EXPECTED)
    if not isinstance(doc, dict):
        raise InputFileError(path, EXPECTED, f"a JSON {type(doc).__name__}")
    empty = validate(pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), "metrics", DeadLetter())[0]
    if doc.get("status") == "error":
        dl.reject(None, "status", "api_error", orjson.dumps(doc), record="status",
                  detail=f"{doc.get('errorType', 'error')}: {doc.get('error', '')}")
        return empty, 1, {}, "metrics"
    body = doc.get("data")
    if not isinstance(body, dict) or "result" not in body:
        raise InputFileError(path, EXPECTED, "JSON without data.result (keys: " + ", ".join(sorted(doc)) + ")")
    rtype, result = body.get("resultType"), body["result"]
    if rtype == "scalar" or rtype == "string":
        result = [{"metric": {"__name__": rtype}, "value": result}]
    if not isinstance(result, list):
        raise InputFileError(path, EXPECTED, f"data.result of type {type(result).__name__}")
    key = "values" if rtype == "matrix" else "value"
    ts: list[Any] = []
    vals: list[Any] = []
    sid: list[int] = []
    starts: list[int] = []
    labels: list[dict[str, Any]] = []
    n_bad = 0
    for i, series in enumerate(result):
        starts.append(len(ts))
        metric = series.get("metric") if isinstance(series, dict) else None
        samples = series.get(key) if isinstance(series, dict) else None
        if rtype != "matrix" and samples is not None:
            samples = [samples]
        if not isinstance(metric, dict) or not isinstance(samples, list):
            dl.reject(None, "metric" if not isinstance(metric, dict) else key, "missing_field",
                      orjson.dumps(series)[:600], record=f"data.result[{i}]")
            n_bad += 1
            labels.append({})
            continue
        labels.append(metric)
        try:
            t_part, v_part = zip(*samples, strict=False) if samples else ((), ())
        except (TypeError, ValueError):
            t_part, v_part = [], []
            for s in samples:
                ok = isinstance(s, list) and len(s) == 2
                t_part.append(s[0] if ok else None)
                v_part.append(s[1] if ok else None)
        ts.extend(t_part)
        vals.extend(v_part)
        sid.extend([i] * len(t_part))
    n = len(ts) + n_bad
    if not ts:
        return empty, n, {}, "metrics"
    df = frame_from_columns({"ts": ts, "value": vals}).with_columns(
        __sid=pl.Series(sid, dtype=pl.Int64), __line=pl.int_range(0, len(ts), dtype=pl.Int64))
    lab = pl.DataFrame([{k: (None if v is None else str(v)) for k, v in m.items()} for m in labels],
                       infer_schema_length=None) if any(labels) else pl.DataFrame()
    lab = lab.with_columns(__sid=pl.int_range(0, len(labels), dtype=pl.Int64)) if lab.width else \
        pl.DataFrame({"__sid": pl.Series(range(len(labels)), dtype=pl.Int64)})
    lab = lab.rename({"__name__": "metric"}) if "__name__" in lab.columns else lab.with_columns(
        metric=pl.lit(None, dtype=pl.String))
    if "service" not in lab.columns:
        lab = lab.with_columns(service=pl.col("job") if "job" in lab.columns else pl.lit(None, dtype=pl.String))
    df = df.join(lab, on="__sid", how="left").drop("__sid")
    sid_arr, starts_arr = sid, starts

    def record(ids: list[int]) -> list[str]:
        return [f"data.result[{sid_arr[j]}].{key}" + (f"[{j - starts_arr[sid_arr[j]]}]" if key == "values" else "")
                for j in ids]

    def raw(ids: list[int]) -> list[str]:
        return [orjson.dumps([ts[j], vals[j]]).decode() for j in ids]

    frame, norm = validate(df, "metrics", dl, raw=raw, record=record)
    return frame, n, norm, "metrics"
