"""Times and durations: the one place holoops parses, resolves and formats them.

* :func:`parse_duration` -- ``"90s"``, ``"5m"``, ``"1h30m"``, ``"1.5h"``, ``"500ms"``, a number of
  seconds or a ``timedelta`` -> seconds (float). Prometheus's duration syntax plus decimals.
* :func:`parse_time` -- an ISO time (``2026-11-08T14:00Z``, naive = UTC), ``now``, a time relative to
  now (``-6h``, ``now-6h``, ``now - 90m``), epoch seconds/milliseconds, a ``datetime`` or a pandas
  ``Timestamp`` -> an aware UTC ``datetime``.
* :class:`Window` -- the ``[start, end]`` an analysis covers, resolved once from ``start``/``end``/
  ``window`` (and the data's end when no end is given).
* :func:`format_duration` (Prometheus syntax, ``1h``) and :func:`human_duration` (``3 h 10 min``).
* :func:`utc` -- any time as a tz-aware UTC pandas ``Timestamp`` (for frame work).

Errors are ``ValueError`` whose message names the accepted forms, so parameter and CLI errors can say
what is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

DURATION_FORMS = "a duration like 90s, 5m, 2h, 1h30m or 7d"
TIME_FORMS = "an ISO time like 2026-11-08T14:00:00Z, 'now', or a time relative to now like -6h"

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+$")
_RELATIVE = re.compile(r"^(?:now)?\s*([+-])\s*(.+)$")


def parse_duration(value: str | float | int | timedelta) -> float:
    """A duration in seconds: ``"1h30m"`` -> 5400.0, ``"500ms"`` -> 0.5, ``300`` -> 300.0.

    A bare number (or numeric string) is seconds. Negative durations are refused."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        raise ValueError(f"not {DURATION_FORMS}: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"not {DURATION_FORMS} (negative): {value!r}")
        return float(value)
    text = str(value).strip().replace(" ", "")
    try:
        seconds = float(text)
    except ValueError:
        if not _DURATION.match(text):
            raise ValueError(f"not {DURATION_FORMS}: {value!r}") from None
        return sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    if seconds < 0:
        raise ValueError(f"not {DURATION_FORMS} (negative): {value!r}")
    return seconds


def parse_timedelta(value: str | float | int | timedelta) -> timedelta:
    """:func:`parse_duration` as a ``timedelta``."""
    return timedelta(seconds=parse_duration(value))


def is_duration(value: Any) -> bool:
    """True when ``value`` parses as a duration."""
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: Any, now: datetime | None = None) -> datetime:
    """An aware UTC ``datetime`` from an ISO string, ``now``, ``-6h``/``now-6h``, epoch s/ms, or a
    datetime-like (naive values are UTC)."""
    if value is None:
        raise ValueError(f"not {TIME_FORMS}: None")
    if isinstance(value, bool):
        raise ValueError(f"not {TIME_FORMS}: {value!r}")
    if isinstance(value, datetime):  # pandas Timestamp included
        dt = value.to_pydatetime(warn=False) if hasattr(value, "to_pydatetime") else value  # pandas: ns dropped
        return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    if hasattr(value, "timestamp") and callable(value.timestamp):  # numpy/other datetime-likes
        return datetime.fromtimestamp(float(value.timestamp()), timezone.utc)
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    text = str(value).strip()
    low = text.lower()
    if low == "now":
        return now or now_utc()
    rel = _RELATIVE.match(low)
    if rel and not re.match(r"^\d{4}-", low):
        sign, amount = rel.groups()
        try:
            delta = parse_duration(amount)
        except ValueError:
            raise ValueError(f"not {TIME_FORMS}: {value!r}") from None
        base = now or now_utc()
        return base - timedelta(seconds=delta) if sign == "-" else base + timedelta(seconds=delta)
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not {TIME_FORMS}: {value!r}") from None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _from_epoch(x: float) -> datetime:
    """Epoch seconds, or milliseconds when the number is too large to be seconds."""
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"not {TIME_FORMS}: {x!r}")
    if abs(x) >= 1e11:  # 1e11 s is the year 5138: this is milliseconds (or finer)
        for div in (1e3, 1e6, 1e9):
            if abs(x / div) < 1e11:
                x = x / div
                break
    return datetime.fromtimestamp(x, timezone.utc)


def to_epoch(value: Any, now: datetime | None = None) -> float:
    """Seconds since the epoch of anything :func:`parse_time` accepts."""
    return parse_time(value, now).timestamp()


def is_time(value: Any) -> bool:
    """True when ``value`` parses as a time."""
    try:
        parse_time(value)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def utc(value: Any):
    """``value`` as a tz-aware UTC pandas ``Timestamp`` (naive values are taken to be UTC)."""
    import pandas as pd

    if isinstance(value, str):
        value = parse_time(value)
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def format_duration(seconds: float) -> str:
    """3600 -> ``1h``; 90 -> ``90s`` (Prometheus duration syntax, one unit)."""
    s = int(round(seconds))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s and s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


def human_duration(seconds: float | None) -> str:
    """A duration for people: ``45 s``, ``12 min``, ``3 h 10 min``, ``2 d 4 h``; ``-`` when unknown."""
    if seconds is None or seconds != seconds:
        return "-"
    s = int(round(abs(seconds)))
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s} s"
    if s < 3600:
        return f"{sign}{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{sign}{h} h" + (f" {m} min" if m else "")
    d, h = divmod(s // 3600, 24)
    return f"{sign}{d} d" + (f" {h} h" if h else "")


def format_time(value: Any) -> str:
    """``2026-11-03 14:05 UTC`` (seconds shown only when not zero)."""
    dt = parse_time(value)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC" if dt.second else "%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Window:
    """The UTC ``[start, end]`` an analysis covers; resolved once (:meth:`resolve`) and passed along."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"window: start {self.start.isoformat()} is not before end {self.end.isoformat()}")

    @classmethod
    def resolve(cls, start: Any = None, end: Any = None, window: Any = None, *, data_end: Any = None,
                data_start: Any = None, now: datetime | None = None) -> Window:
        """Explicit ``start``/``end`` win; else ``window`` (a duration) ending at ``end``, the data's end,
        or now. The start never precedes ``data_start`` when that is given."""
        now = now or now_utc()
        e = parse_time(end, now) if end is not None else (parse_time(data_end) if data_end is not None else now)
        if start is not None:
            s = parse_time(start, now)
        else:
            s = e - timedelta(seconds=parse_duration(window if window is not None else "1h"))
            if data_start is not None:
                s = max(s, parse_time(data_start))
        return cls(s, e)

    def __iter__(self):
        """``a, b = window``: the bounds as UTC pandas Timestamps (what frame code compares with)."""
        return iter(self.pandas)

    def __getitem__(self, i: int):
        return self.pandas[i]

    def __len__(self) -> int:
        return 2

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def pandas(self):
        """(start, end) as UTC pandas Timestamps."""
        return utc(self.start), utc(self.end)

    def contains(self, t: Any) -> bool:
        return self.start <= parse_time(t) <= self.end

    def widen(self, before: Any = 0, after: Any = 0) -> Window:
        return Window(self.start - parse_timedelta(before), self.end + parse_timedelta(after))

    def step(self, points: int = 1500, minimum: float = 60.0) -> str:
        """A figure step giving about ``points`` points over the window (at least ``minimum`` s)."""
        return format_duration(max(minimum, round(self.seconds / points / 60) * 60))

    def describe(self) -> str:
        days = self.seconds / 86400
        span = f"{days:.1f} days" if days >= 1 else human_duration(self.seconds)
        return f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M} UTC ({span})"

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}
