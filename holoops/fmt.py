"""Numbers a person reads at 3 a.m.: bytes in KiB/MiB/GiB, ratios as %, durations as ``3 h 10 min``, times
as UTC strings, yes/no instead of True/False, and no ``9.654e+10``.

:func:`display_frame` applies these to a table for display (reports call it on every table they show);
the column's name says what it holds (``*ratio*``/``*share*``/``peak``/``headroom`` -> %, ``*bytes*`` ->
bytes, ``*_s``/``duration`` -> duration, datetimes -> UTC), so analyses keep plain numbers and figures.
"""

from __future__ import annotations

import math
import re
from typing import Any

from holoops.timeutil import human_duration

_PCT = re.compile(r"ratio|share|utili[sz]ation|budget|availability|headroom|^now$|^peak$|percent|%|^max (cpu|"
                  r"memory|gpu_util|gpu_memory|disk)$|5xx", re.IGNORECASE)
_BYTES = re.compile(r"bytes|^memory$|mem_used|(^|_)size$", re.IGNORECASE)
_SECONDS = re.compile(r"(_s|seconds|duration)$|(^|_)age$", re.IGNORECASE)
_MISSING = ("", None)


def bytes_(n: Any) -> str:
    """1536 -> ``1.5 KiB``; binary units."""
    if _missing(n):
        return ""
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(x) < 1024 or unit == "PiB":
            return f"{x:,.0f} {unit}" if unit == "B" else f"{x:,.1f} {unit}"
        x /= 1024
    return str(n)  # pragma: no cover


def pct(x: Any) -> str:
    """0.0423 -> ``4.2 %``; small shares keep their significant digits (0.00057 -> ``0.057 %``)."""
    if _missing(x):
        return ""
    v = float(x) * 100
    if v == 0:
        return "0 %"
    if abs(v) >= 10:
        return f"{v:,.0f} %"
    if abs(v) >= 1:
        return f"{v:.1f} %"
    return f"{v:.2g} %"


def number(x: Any) -> str:
    """Never scientific notation: thousands separators, about four significant digits."""
    if _missing(x):
        return ""
    v = float(x)
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}" if a >= 1e-4 else f"{v:.2e}".replace("e-0", "e-")


def time_(t: Any) -> str:
    """A UTC time as ``2026-11-03 14:05 UTC`` (seconds shown when not zero)."""
    if _missing(t):
        return ""
    from holoops.timeutil import format_time

    return format_time(t)


def _missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return isinstance(x, float) and math.isnan(x) or str(x) in ("NaT", "nan", "<NA>")
    except (TypeError, ValueError):
        return False


def column_kind(name: str, series: Any) -> str | None:
    """How to show a column: ``time``, ``bool``, ``pct``, ``bytes``, ``duration``, ``number`` or None (as is)."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "time"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if not pd.api.types.is_numeric_dtype(dtype):
        return None
    text = str(name)
    if _PCT.search(text):
        vals = pd.to_numeric(series, errors="coerce").dropna()
        if not len(vals) or vals.abs().max() <= 50:  # a ratio, not already a percentage
            return "pct"
    if _BYTES.search(text):
        return "bytes"
    if _SECONDS.search(text):
        return "duration"
    return "number"


_FORMAT = {"time": time_, "bool": lambda b: "" if _missing(b) else ("yes" if b else "no"), "pct": pct,
           "bytes": bytes_, "duration": lambda s: "" if _missing(s) else human_duration(float(s)),
           "number": number}


def display_frame(df: Any, kinds: dict[str, str] | None = None) -> Any:
    """A pandas copy of ``df`` with every column turned into readable text (``kinds`` overrides the
    guess per column: time, bool, pct, bytes, duration, number, or ``raw``)."""
    from holoops.frames import to_pandas

    out = to_pandas(df).copy()
    for col in out.columns:
        kind = (kinds or {}).get(col) or column_kind(col, out[col])
        if kind in _FORMAT:
            out[col] = [_FORMAT[kind](v) for v in out[col].tolist()]
    return out
