"""Vectorised parsing of ISO-8601 timestamp strings (the usual export form) into Datetime(ns, UTC).

The general parsers in :mod:`holoops.sources.formats._canon` use polars' strptime, which costs about 0.3 s
a million values; this does the same work with whole-column numpy arithmetic on the string bytes (about
0.05 s a million) and declines anything off the common shapes, which the general parsers then judge.
Arrow's ISO cast would be as quick per value, but its first compute call costs ~0.2 s in a process.
"""

from __future__ import annotations

import polars as pl


def iso_utc(s: pl.Series) -> pl.Series | None:
    """Strings all shaped ``YYYY-MM-DD[T ]hh:mm:ss[.f]`` + zone (``Z``, ``±hh``, ``±hhmm``, ``±hh:mm`` or
    none: UTC), the usual export form, parsed with whole-column numpy arithmetic on the string bytes (about
    10x faster than strptime); None when any non-null value is off that shape or out of range (Feb 30,
    second 60, a year outside 1678-2261, ...): the general parsers then run and judge every value.

    Values of one length share one layout (checked byte by byte against the first of that length); a
    column holds at most a few lengths. Where both accept a value, the result is the general parsers'
    (``tests/test_ingest_fast_paths.py`` compares them on generated timestamps). The result is one chunk.
    """
    first = s.head(1000).drop_nulls().head(1).to_list() or s.drop_nulls().head(1).to_list()
    if not first or len(first[0]) < 19 or first[0][13] != ":" or first[0][16] != ":":
        return None
    import numpy as np
    import pyarrow as pa

    arr = s.to_arrow()  # large_string: one offsets buffer, one data buffer (rechunks ``s``)
    n = len(arr)
    if arr.type == pa.large_string():
        width = np.int64
    elif arr.type == pa.string():
        width = np.int32
    else:
        return None
    if n == 0 or arr.null_count == n:
        return None
    validity, off_buf, data_buf = arr.buffers()
    if data_buf is None:
        return None
    offsets = np.frombuffer(off_buf, dtype=width, count=n + 1,
                            offset=arr.offset * np.dtype(width).itemsize).astype(np.int64, copy=False)
    starts, lens = offsets[:-1], offsets[1:] - offsets[:-1]
    valid = None
    if arr.null_count:
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[arr.offset:arr.offset + n]
        valid = valid.astype(bool)
        starts, lens = starts[valid], lens[valid]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    ns = np.empty(len(starts), dtype=np.int64)
    lo, hi = int(lens.min()), int(lens.max())
    if hi - lo > 16:
        return None
    lengths = [lo] if lo == hi else (np.flatnonzero(np.bincount(lens - lo)) + lo).tolist()
    if len(lengths) > 8:
        return None
    for length in lengths:
        if len(lengths) == 1:
            rows, st = slice(None), starts
        else:
            rows = np.flatnonzero(lens == length)
            st = starts[rows]
        k = len(st)
        if st[-1] - st[0] == (k - 1) * length:  # rows of one length, back to back (offsets only grow)
            m = data[st[0]:st[0] + k * length].reshape(k, length)  # a view, no copy
        else:
            m = data[st[:, None] + np.arange(length)]
        got = _iso_rows(m)
        if got is None:
            return None
        if len(lengths) == 1:
            ns = got
        else:
            ns[rows] = got
    if valid is not None:
        full = np.zeros(n, dtype=np.int64)
        full[valid] = ns
        out = pl.from_numpy(full, schema=[s.name]).to_series().scatter(np.flatnonzero(~valid), None)
    else:
        out = pl.from_numpy(ns, schema=[s.name]).to_series()
    return out.cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")


_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ISO_TABLES: list = []


def _iso_tables():
    """(two ASCII digits as a little-endian uint16 -> 0..99, else 255; days from the epoch to the first of
    each month of 1678-2261; days in each of those months), built once."""
    import numpy as np

    if not _ISO_TABLES:
        lut = np.full(65536, 255, dtype=np.uint8)
        for a in range(10):
            for b in range(10):
                lut[(48 + a) | (48 + b) << 8] = a * 10 + b
        years = np.repeat(np.arange(1678, 2262), 12)
        months = np.tile(np.arange(1, 13), 2262 - 1678)
        y = years - (months <= 2)  # days from civil (H. Hinnant), y > 0 here
        era = y // 400
        yoe = y - era * 400
        doy = (153 * (months + np.where(months > 2, -3, 9)) + 2) // 5
        first = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
        leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
        dim = np.asarray(_DAYS_IN_MONTH)[months] + ((months == 2) & leap)
        _ISO_TABLES.extend([lut, first.astype(np.int64), dim.astype(np.uint8)])
    return _ISO_TABLES


def _iso_rows(m):
    """ns since the epoch of each row of ``m`` (uint8, one ISO timestamp of one length a row), or None when
    a row is off the layout of the first or out of range. Worked in blocks of rows that stay in cache (the
    checks read the matrix column by column)."""
    import numpy as np

    if m.shape[1] < 19:
        return None
    out = np.empty(m.shape[0], dtype=np.int64)
    tail = bytes(m[0, 19:])
    for at in range(0, m.shape[0], 32768):
        got = _iso_block(m[at:at + 32768], tail)
        if got is None:
            return None
        out[at:at + len(got)] = got
    return out


def _iso_block(m, tail: bytes):
    """:func:`_iso_rows` of one block; ``tail`` is the first row's bytes after the seconds (the layout)."""
    import numpy as np

    _, month_first, month_days = _iso_tables()
    t = np.ascontiguousarray(m.T)  # one row per character position: the checks below read whole rows
    d = t - np.uint8(48)  # digits 0..9; anything else wraps above 9
    bad = np.zeros(m.shape[0], dtype=bool)

    def two(p):  # the two digits at p, p+1 as 0..99; non-digits flagged in ``bad``
        np.logical_or(bad, np.maximum(d[p], d[p + 1]) > 9, out=bad)
        return d[p] * np.uint8(10) + d[p + 1]

    def lit(p, *chars):
        ok = t[p] == chars[0]
        for c in chars[1:]:
            ok |= t[p] == c
        np.logical_or(bad, ~ok, out=bad)

    for p, c in ((4, (45,)), (7, (45,)), (10, (84, 32)), (13, (58,)), (16, (58,))):  # - - T/space : :
        lit(p, *c)
    yh, yl, month, day, hour, minute, second = (two(p) for p in (0, 2, 5, 8, 11, 14, 17))
    # the tail: [.f{1,9}] then Z | ±hh | ±hhmm | ±hh:mm | nothing, laid out as in the first row
    j = 0
    if tail[:1] == b".":
        j = 1
        while j < len(tail) and 48 <= tail[j] <= 57:
            j += 1
        if not 2 <= j <= 10:
            return None
        lit(19, 46)
    zone = tail[j:]
    z = 19 + j
    if zone == b"Z":
        lit(z, 90)
    elif zone and not (zone[:1] in (b"+", b"-") and len(zone) in (3, 5, 6) and (len(zone) != 6 or zone[3:4] == b":")):
        return None
    if len(zone) == 6:
        lit(z + 3, 58)
    ns = np.zeros(m.shape[0], dtype=np.int64)
    for n_, p in enumerate(range(20, 19 + j)):  # fraction digits
        np.logical_or(bad, d[p] > 9, out=bad)
        ns += d[p] * np.int64(10 ** (8 - n_))
    year = yh.astype(np.int64) * 100 + yl
    bad |= (year < 1678) | (year > 2261) | (month < 1) | (month > 12) | (hour > 23) | (minute > 59) | (second > 59)
    if bad.any():
        return None
    ym = (year - 1678) * 12 + month - 1
    if ((day < 1) | (day > month_days[ym])).any():
        return None
    secs = ((month_first[ym] + day - 1) * 24 + hour) * 3600 + minute * np.int64(60) + second
    if len(zone) > 1:
        sign = t[z]
        oh = two(z + 1)
        om = two(z + 3) if len(zone) == 5 else two(z + 4) if len(zone) == 6 else np.zeros_like(oh)
        if bad.any() or ((sign != 43) & (sign != 45)).any() or (oh > 23).any() or (om > 59).any():
            return None
        off = oh * np.int64(3600) + om * np.int64(60)
        secs -= np.where(sign == 45, -off, off)
    return secs * 1_000_000_000 + ns
