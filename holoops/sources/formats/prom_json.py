"""Prometheus HTTP API JSON (``/api/v1/query_range`` matrix, ``/api/v1/query`` vector or scalar).

Each sample is one record; a bad sample is rejected with its JSON path (``data.result[i].values[j]``).
An error response (``"status": "error"``) is one rejected record (``api_error``), not an exception, so a
folder with one failed query still reads.

Fast path (a well-formed matrix, the usual ``query_range`` export): the label sets are found by a byte
scan for ``"metric": {`` and parsed alone, then polars parses the document with that exact schema
(samples as strings; no Python object per sample) and the samples are validated in one vectorised pass.
Anything off the common shape (another result type, a series without labels or samples, a sample that is
not a pair, a label value that is not a string, ...) falls back to the general reader (orjson), which
gives every such case its exact treatment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import frame_from_columns, load_json_document, validate

EXPECTED = 'Prometheus API JSON ({"status": "success", "data": {"resultType": ..., "result": [...]}})'


#: a label set's start, or an error status (one scan of the document finds both)
_SCAN = re.compile(rb'"metric"\s*:\s*(\{)|"status"\s*:\s*"error"')


def _labels_frame(labels: list[dict[str, Any]]) -> pl.DataFrame:
    """One row of label columns per series (``__sid``), ``metric`` from ``__name__``, ``service`` from ``job``."""
    lab = pl.DataFrame([{k: (None if v is None else str(v)) for k, v in m.items()} for m in labels],
                       infer_schema_length=None) if any(labels) else pl.DataFrame()
    lab = lab.with_columns(__sid=pl.int_range(0, len(labels), dtype=pl.Int64)) if lab.width else \
        pl.DataFrame({"__sid": pl.Series(range(len(labels)), dtype=pl.Int64)})
    lab = lab.rename({"__name__": "metric"}) if "__name__" in lab.columns else lab.with_columns(
        metric=pl.lit(None, dtype=pl.String))
    if "service" not in lab.columns:
        lab = lab.with_columns(service=pl.col("job") if "job" in lab.columns else pl.lit(None, dtype=pl.String))
    return lab


def _read_matrix(path: Path, data: bytes, dl: DeadLetter) -> tuple[pl.DataFrame, int, dict[str, int], str] | None:
    """The fast path for a well-formed matrix response; None where the general reader must run."""
    import numpy as np
    import orjson

    labels: list[dict[str, Any]] = []
    errors = 0
    for m in _SCAN.finditer(data):  # label sets hold no nested objects: each ends at the first "}"
        if m.group(1) is None:
            errors += 1
            continue
        end = data.find(b"}", m.end())
        try:
            obj = orjson.loads(data[m.end() - 1:end + 1])
        except orjson.JSONDecodeError:
            return None  # a "}" inside a label value, or not a label set after all
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            return None
        labels.append(obj)
    keys = dict.fromkeys(k for m in labels for k in m)
    if not keys or errors > sum(m.get("status") == "error" for m in labels):
        return None  # no labels, or an error status (maybe a duplicate key: polars keeps the first, orjson the last)
    schema = {"status": pl.String, "data": pl.Struct({"resultType": pl.String, "result": pl.List(pl.Struct({
        "metric": pl.Struct(dict.fromkeys(keys, pl.String)), "values": pl.List(pl.List(pl.String))}))})}
    try:
        doc = pl.read_json(data, schema=schema)
    except (pl.exceptions.PolarsError, OSError):
        return None
    if doc.height != 1 or doc["status"][0] == "error" or doc["data"].struct.field("resultType")[0] != "matrix":
        return None
    series = doc.select(pl.col("data").struct.field("result")).explode("result").unnest("result")
    if series.height != len(labels) or series.select(pl.col("metric").is_null().any() | pl.col("values").is_null().any()
                                                     ).item():
        return None  # a series without labels or samples, or a label set found outside a series
    pairs = series["values"].list.explode(keep_nulls=True, empty_as_null=False)  # one [ts, value] per sample
    if pairs.list.len().ne(2).fill_null(True).any():
        return None  # a sample that is not a [ts, value] pair (or a scalar polars put in a list)
    n = len(pairs)
    if not n:
        return None
    flat = pairs.list.explode(keep_nulls=True, empty_as_null=False)
    counts = series["values"].list.len().cast(pl.Int64).to_numpy()
    sid = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    df = pl.DataFrame({"ts": flat.gather_every(2), "value": flat.gather_every(2, offset=1), "__sid": sid,
                       "__line": np.arange(n, dtype=np.int64)})
    df = df.join(_labels_frame(labels), on="__sid", how="left", maintain_order="left").drop("__sid")
    starts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts)])
    original: list[Any] = []

    def record(ids: list[int]) -> list[str]:
        return [f"data.result[{sid[j]}].values[{j - starts[sid[j]]}]" for j in ids]

    def raw(ids: list[int]) -> list[str]:
        if not original:
            original.append(orjson.loads(data)["data"]["result"])
        res = original[0]
        return [orjson.dumps(res[sid[j]]["values"][j - starts[sid[j]]]).decode() for j in ids]

    frame, norm = validate(df, "metrics", dl, raw=raw, record=record)
    return frame, n, norm, "metrics"


def read(path: Path, dl: DeadLetter, **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read a query / query_range response into the metrics frame."""
    import orjson

    data = path.read_bytes()
    fast = _read_matrix(path, data, dl)
    if fast is not None:
        return fast
    doc = load_json_document(path, EXPECTED, data)
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
    df = df.join(_labels_frame(labels), on="__sid", how="left").drop("__sid")
    sid_arr, starts_arr = sid, starts

    def record(ids: list[int]) -> list[str]:
        return [f"data.result[{sid_arr[j]}].{key}" + (f"[{j - starts_arr[sid_arr[j]]}]" if key == "values" else "")
                for j in ids]

    def raw(ids: list[int]) -> list[str]:
        return [orjson.dumps([ts[j], vals[j]]).decode() for j in ids]

    frame, norm = validate(df, "metrics", dl, raw=raw, record=record)
    return frame, n, norm, "metrics"
