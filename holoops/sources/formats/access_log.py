"""HTTP access logs as real servers write them, into the logs frame.

Lines understood (patterns in :mod:`holoops.sources.formats.sniff`, matched vectorised by polars):

- uvicorn's default: ``INFO:     127.0.0.1:52050 - "POST /store HTTP/1.1" 200 OK`` (no time), with its own
  ``LEVEL:`` lines (``ERROR:    Exception in ASGI application``, ``INFO:app.module:message``) in between;
- NCSA common and combined (nginx, Apache, gunicorn's default ``%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s
  "%(f)s" "%(a)s"``): ``127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "ref"
  "ua"``, optionally followed by a request time (nginx ``$request_time``, gunicorn ``%(L)s``/``%(D)s``, Apache
  ``%D``; also ``rt=0.005``): a number with a decimal point is seconds, a whole number microseconds, unless
  ``duration_unit`` ("s", "ms", "us") says otherwise;
- gunicorn's error log lines ``[2026-11-02 10:00:00 +0000] [7] [INFO] Booting worker``;
- any of these behind a container runtime's time (``kubectl logs --timestamps``, ``docker logs -t``, CRI
  files: ``2026-11-02T10:00:00.123456789Z [stdout F ]<line>``), which then gives the line its time.

A *record* is one line, except that lines that continue the record before them (a Python traceback's
indented lines, ``Traceback (most recent call last):``, ``During handling ...``, the final ``KeyError: ...``,
blank lines inside it) join that record's message with newlines; an access line never takes continuation
lines (a traceback after one starts a record of its own, level error; a Python warning ``mod.py:12:
RuntimeWarning: ...`` is level warning). Lines matching nothing else are records of level "unknown". Columns: ``ts``, ``service``/``instance`` (from the options, else null),
``level`` (access lines: 5xx error, 4xx warning, else info; others their own level), ``message`` (the line,
without the runtime's time), ``status``, ``route`` (the path without query string), ``method``, ``client``
(the client address without its port), ``latency_ms`` (when the lines carry a request time).

Records that carry no time (uvicorn's default) get an estimated one: the records without a time are spread
evenly, in file order, between the timed records around them; before the first timed record from the
file's start (its creation time where the OS gives it -- statx on Linux --, else its first time, else its
last write) and after the last one until its last write (mtime). ``log_span=(start, end)`` replaces the
file's start and end. ``normalised["estimated_ts"]`` counts such records and a sentence in ``notes`` says
where they were put. A timestamp that is there but cannot be read is rejected (``bad_timestamp``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from holoops.errors import InputFileError
from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import TS, parse_ts, raw_lookup, validate
from holoops.sources.formats.jsonl_logs import _chunks
from holoops.sources.formats.sniff import CLF_ACCESS, GUNICORN_LINE, PY_LEVEL, RUNTIME_PREFIX, UVICORN_ACCESS

#: the most text read at a time (MiB): a line costs ~1 KiB while it is parsed, whatever its length
CHUNK_MIB = 16
_SPLIT = f"^(?:{RUNTIME_PREFIX[1:]})?(?P<rest>.*)$"
_START = f"^(?:{UVICORN_ACCESS}|{CLF_ACCESS}|{PY_LEVEL}|{GUNICORN_LINE})"
#: lines that continue the record before them (Python and Java stack traces)
CONTINUATION = (r"^(?:\s|Traceback \(most recent call last\)|During handling of the above exception|"
                r"The above exception was the direct cause|Caused by: |[A-Za-z_][\w.]*(?::\s|:$|$))")
_DURATION = r'^\s*(?:(?:rt|request_time|request_duration)[=:])?"?(\d+(?:\.\d+)?)"?(?:\s|$)'
#: Python's warnings module: ``/path/mod.py:364: RuntimeWarning: coroutine ... was never awaited``
_PY_WARNING = r"^\S+:\d+: [A-Za-z]*Warning: "
_UNITS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "ns": 1e-6}


def read(path: Path, dl: DeadLetter, *, chunk_mib: float = 64, service: str | None = None,
         instance: str | None = None, log_span: Any = None, duration_unit: str | None = None,
         notes: list[str] | None = None, **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read an access log (see the module docs). ``service``/``instance`` fill those columns (an access
    log does not name its server); ``log_span=(start, end)`` sets the span records without a time are
    spread over; ``notes`` (a list) receives a sentence when times were estimated."""
    if duration_unit is not None and duration_unit not in _UNITS:
        raise InputFileError(path, f"duration_unit one of {', '.join(_UNITS)}", repr(duration_unit))
    parts: list[pl.DataFrame] = []
    n_read = 0
    carry: pl.DataFrame | None = None
    pieces = _chunks(path, max(1 << 16, int(min(chunk_mib, CHUNK_MIB) * (1 << 20))))
    piece = next(pieces, None)
    while piece is not None:
        nxt = next(pieces, None)
        lines, n_bad = _decode(piece[0], piece[1], dl)
        n_read += n_bad
        del piece
        if carry is not None and carry.height:
            lines = pl.concat([carry, lines])
        recs, carry = _records(lines, last=nxt is None)
        del lines
        if recs is not None:
            good, n = _fields(recs, dl, duration_unit)
            n_read += n
            if good.height:
                parts.append(good)
        piece = nxt
    if not n_read:
        raise InputFileError(path, "access log lines", "no lines")
    df = pl.concat(parts, how="diagonal_relaxed") if parts else None
    normalised: dict[str, int] = {}
    if df is None:
        return validate(pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), "logs", DeadLetter(None))[0], \
            n_read, normalised, "logs"
    df, n_est, note = estimate_times(df, path, log_span)
    if n_est:
        normalised["estimated_ts"] = n_est
        if notes is not None:
            notes.append(note)
    extra = {}
    if service is not None:
        extra["service"] = pl.lit(service, dtype=pl.String)
    if instance is not None:
        extra["instance"] = pl.lit(instance, dtype=pl.String)
    if extra:
        df = df.with_columns(**extra)
    good, norm = validate(df, "logs", dl, raw=raw_lookup(df))
    for k, v in norm.items():
        normalised[k] = normalised.get(k, 0) + v
    return good, n_read, normalised, "logs"


def _decode(piece: bytes, first: int, dl: DeadLetter) -> tuple[pl.DataFrame, int]:
    """A chunk's lines (``__text``, blank ones included: they may sit inside a traceback) and their numbers
    (``__line``), split by polars; lines that are not UTF-8 are rejected (returns how many)."""
    try:
        text = pl.Series("__text", [piece], dtype=pl.Binary).cast(pl.String)
        lines = text.str.split("\n").explode()
        bad = 0
    except pl.exceptions.PolarsError:  # some bytes are not UTF-8: those lines, one by one
        out: list[str | None] = []
        bad = 0
        for i, b in enumerate(piece.split(b"\n")):
            try:
                out.append(b.decode("utf-8"))
            except UnicodeDecodeError as exc:
                dl.reject(first + i, None, "wrong_encoding", b, detail=f"invalid UTF-8 at byte {exc.start}")
                out.append(None)
                bad += 1
        lines = pl.Series("__text", out, dtype=pl.String)
    n = len(lines)
    if piece.endswith(b"\n"):
        n -= 1  # nothing after the last newline
    df = pl.DataFrame({"__text": lines.head(n), "__line": pl.int_range(first, first + n, dtype=pl.Int64, eager=True)})
    df = df.filter(pl.col("__text").is_not_null())
    if df["__text"].str.ends_with("\r").any():
        df = df.with_columns(pl.col("__text").str.strip_suffix("\r"))
    return df, bad


def _records(lines: pl.DataFrame, last: bool) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """Lines (``__text``, ``__line``) -> one row per record (continuation lines joined into the message).
    Unless ``last``, the final record, when it may continue in the next chunk (not an access line), is held
    back and returned (its lines) as the carry for the next chunk."""
    if not lines.height:
        return None, None
    text = pl.col("__text")
    if lines["__text"].str.contains("\x1b", literal=True).any():
        text = text.str.replace_all(r"\x1b\[[0-9;]*m", "")
    if lines["__text"].str.contains(RUNTIME_PREFIX).any():
        df = lines.with_columns(text.str.extract_groups(_SPLIT).alias("__s")).unnest("__s")
    else:  # no runtime times (the usual case): no copy of the text
        df = lines.with_columns(pl.lit(None, dtype=pl.String).alias("rt"), text.alias("rest"))
    df = df.with_columns(pl.col("rest").str.extract_groups(_START).alias("__m")).unnest("__m")
    blank = ~pl.col("rest").str.contains(r"\S")
    access = pl.col("ustatus").is_not_null() | pl.col("status").is_not_null()
    header = access | pl.col("plevel").is_not_null() | pl.col("glevel").is_not_null()
    prev_access = pl.when(~blank).then(access).shift(1).forward_fill()  # of the last non-blank line before
    start = ~blank & (header | ~pl.col("rest").str.contains(CONTINUATION) | prev_access.is_null() | prev_access)
    df = df.with_columns(__access=access, __start=start).with_columns(__rid=pl.col("__start").cum_sum())
    rec_access = pl.when(pl.col("__start")).then(pl.col("__access")).forward_fill()
    df = df.filter((pl.col("__rid") > 0) & ~(blank & rec_access.fill_null(True)))
    carry = None
    if not last and df.height and not df["__access"].filter(df["__start"])[-1]:
        at = df["__rid"][-1]
        lo = df.filter(pl.col("__rid") == at)["__line"][0]
        carry = lines.filter(pl.col("__line") >= lo)
        df = df.filter(pl.col("__rid") != at)
    del lines
    if not df.height:
        return None, carry
    if df["__start"].all():
        return df.rename({"rest": "message"}), carry
    # records of several lines (tracebacks) are few: only those are grouped, then put back in file order
    size = pl.len().over("__rid")
    firsts = [c for c in df.columns if c not in ("rest", "__rid")]
    many = df.filter(size > 1).group_by("__rid", maintain_order=True).agg(
        pl.col("rest").str.join("\n").str.strip_chars_end().alias("message"), *[pl.col(c).first() for c in firsts])
    one = df.filter(size == 1).rename({"rest": "message"})
    out = pl.concat([one, many.select(one.columns)]).sort("__rid")
    return out.drop("__rid"), carry


def _fields(df: pl.DataFrame, dl: DeadLetter, duration_unit: str | None) -> tuple[pl.DataFrame, int]:
    """Records -> logs columns (``ts`` null where the line gives no time); records whose time is there but
    unreadable are rejected. Returns (frame, records read)."""
    n = df.height
    rt = parse_ts(df, "rt") if df["rt"].null_count() < n else pl.Series("rt", [None] * n, dtype=TS)
    clf = pl.col("clf_ts").str.to_datetime("%d/%b/%Y:%H:%M:%S %z", time_zone="UTC", time_unit="ns", strict=False)
    gun = pl.coalesce(
        pl.col("gts").str.to_datetime("%Y-%m-%d %H:%M:%S %z", time_zone="UTC", time_unit="ns", strict=False),
        pl.col("gts").str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="ns", strict=False).dt.replace_time_zone("UTC"))
    df = df.with_columns(__rt=rt).with_columns(ts=pl.coalesce(pl.col("__rt"), clf, gun).cast(TS))
    bad = df.filter(pl.col("ts").is_null() & pl.any_horizontal(pl.col(c).is_not_null() for c in ("rt", "clf_ts", "gts")))
    if bad.height:
        shown = bad.select(pl.coalesce("rt", "clf_ts", "gts")).to_series().to_list()
        dl.reject_many(bad["__line"].to_list(), ["ts"] * bad.height, ["bad_timestamp"] * bad.height,
                       bad["__text"].to_list(), details=[f"cannot read the time {t!r}" for t in shown])
        df = df.join(bad.select("__line"), on="__line", how="anti")
    status = pl.coalesce("ustatus", "status").cast(pl.Int64)
    request = pl.coalesce("ureq", "req")
    route = (request.str.extract(r"^[A-Za-z]+ (\S+)", 1).str.replace(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/]*", "")
             .str.replace(r"[?#].*$", ""))
    client = pl.coalesce(pl.col("uclient").str.replace(r"^\[([^\]]*)\](?::\d+)?$", "$1")
                         .str.replace(r"^([^:]*):\d+$", "$1"), pl.col("client"))
    level = (pl.when(pl.col("status") >= 500).then(pl.lit("error"))
             .when(pl.col("status") >= 400).then(pl.lit("warning"))
             .when(pl.col("status").is_not_null()).then(pl.lit("info"))
             .otherwise(pl.coalesce(pl.col("plevel"), pl.col("glevel"),
                                    pl.when(pl.col("message").str.starts_with("Traceback ")).then(pl.lit("error"))
                                    .when(pl.col("message").str.contains(_PY_WARNING)).then(pl.lit("warning")))))
    dur = pl.col("tail").str.extract(_DURATION, 1)
    if duration_unit is not None:
        latency = dur.cast(pl.Float64) * _UNITS[duration_unit]
    else:  # decimal seconds (nginx $request_time, gunicorn %(L)s), or whole microseconds (%(D)s, Apache %D)
        latency = pl.when(dur.str.contains(".", literal=True)).then(dur.cast(pl.Float64) * 1000.0) \
            .otherwise(dur.cast(pl.Float64) / 1000.0)
    df = df.with_columns(status.alias("status"))
    out = df.select(pl.col("ts"), pl.col("message"), level.alias("level"), pl.col("status"),
                    route.alias("route"), request.str.extract(r"^([A-Za-z]+) ", 1).alias("method"),
                    client.alias("client"), latency.alias("latency_ms"), pl.col("__line"),
                    pl.col("__text").alias("__raw"))
    out = out.with_columns(route=pl.when(pl.col("route") == "").then(pl.lit("/")).otherwise(pl.col("route")))
    if out["latency_ms"].null_count() == out.height:
        out = out.drop("latency_ms")
    return out, n


def estimate_times(df: pl.DataFrame, path: Path, log_span: Any = None) -> tuple[pl.DataFrame, int, str]:
    """Fill the null ``ts`` of ``df`` (records in file order): spread evenly between the timed records
    around them, from the file's start to its last write (see the module docs). Returns (frame, how many
    were estimated, a sentence saying where they were put)."""
    import numpy as np

    missing = df["ts"].is_null().to_numpy()
    k = int(missing.sum())
    if not k:
        return df, 0, ""
    n = df.height
    known = ~missing
    stamps = df["ts"].drop_nulls().dt.epoch("ns")
    first = int(stamps.min()) if len(stamps) else None
    last = int(stamps.max()) if len(stamps) else None
    mtime = os.stat(path).st_mtime_ns
    if log_span is not None:
        start, end = (_ns(t) for t in log_span)
        if end < start:
            raise InputFileError(path, "log_span=(start, end) with start <= end", f"log_span={log_span!r}")
        how_start, how_end = "", ""
    else:
        birth = file_birth_ns(path)
        if birth is not None and birth <= mtime and (first is None or birth <= first):
            start, how_start = birth, "the file's creation "
        elif first is not None:
            start, how_start = first, "the file's first timed line "
        else:
            start, how_start = mtime, "the file's last write "
        end, how_end = (mtime, "its last write ") if last is None or mtime >= last else (last, "its last timed line ")
    pos = np.arange(n, dtype=np.float64)
    xp = pos[known].tolist()
    vals = df["ts"].dt.epoch("ns").fill_null(0).to_numpy().astype(np.int64, copy=True)
    fp = vals[known].tolist()
    if missing[0]:
        xp.insert(0, 0.0)
        fp.insert(0, start)
    if missing[-1]:
        if xp[-1] == n - 1:  # a single record, without a time: at the start
            fp[-1] = start
        else:
            xp.append(float(n - 1))
            fp.append(end)
    base = fp[0]
    est = np.interp(pos[missing], np.asarray(xp), (np.asarray(fp, dtype=np.int64) - base).astype(np.float64))
    vals[missing] = np.rint(est).astype(np.int64) + base
    filled = pl.Series("ts", vals).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
    df = df.with_columns(filled)
    name = Path(path).name
    span = f"{_clock(start)} and {_clock(end)} UTC"
    if log_span is not None:
        where = f"between {span} (log_span)"
    elif start == end and how_start == "the file's last write ":
        where = f"at the file's last write {_clock(end)} UTC (the OS gives no creation time)"
    else:
        where = f"between {how_start}{_clock(start)} and {how_end}{_clock(end)} UTC"
    if k == n:
        note = f"{name}: no timestamps; {k:,} records placed {where}"
    else:
        note = (f"{name}: {k:,} of {n:,} records carry no timestamp; placed evenly between the timed records "
                f"around them, those before the first and after the last {where}")
    return df, k, note


def _clock(ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _ns(value: Any) -> int:
    """A time given by the caller (string, datetime, pandas Timestamp, epoch seconds) as UTC epoch ns."""
    import pandas as pd

    t = pd.Timestamp(value, unit="s") if isinstance(value, (int, float)) else pd.Timestamp(value)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return int(t.value)


#: statx(2): the mask bit asking for the birth time, the offset of stx_mask and of stx_btime in struct statx
_STATX_BTIME, _STX_BTIME_AT = 0x800, 80
#: statx's system call number where libc has no ``statx`` wrapper (glibc < 2.28)
_STATX_NR = {"x86_64": 332, "aarch64": 291, "arm64": 291, "ppc64le": 383, "s390x": 379, "riscv64": 291,
             "i686": 383, "i386": 383, "armv7l": 397}


def file_birth_ns(path: str | Path) -> int | None:
    """The file's creation (birth) time in UTC epoch ns, where the OS gives it: ``st_birthtime`` (macOS,
    BSD, Windows), else Linux statx(2) called through ctypes (``libc.statx``, or ``syscall`` on older
    glibc); None when the file system or kernel does not record it."""
    st = os.stat(path)
    b = getattr(st, "st_birthtime_ns", None)
    if b is None and getattr(st, "st_birthtime", None) is not None:
        b = int(st.st_birthtime * 1e9)
    if b:
        return int(b)
    import sys

    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import platform
    import struct

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(256)
        name = os.fsencode(os.fspath(path))
        at_fdcwd = -100
        fn = getattr(libc, "statx", None)
        if fn is not None:
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
            fn.restype = ctypes.c_int
            rc = fn(at_fdcwd, name, 0, _STATX_BTIME, buf)
        else:
            nr = _STATX_NR.get(platform.machine())
            if nr is None:
                return None
            libc.syscall.restype = ctypes.c_long
            rc = libc.syscall(ctypes.c_long(nr), ctypes.c_int(at_fdcwd), ctypes.c_char_p(name), ctypes.c_int(0),
                              ctypes.c_uint(_STATX_BTIME), buf)
    except (OSError, AttributeError, TypeError):
        return None
    if rc != 0:
        return None
    mask = struct.unpack_from("=I", buf, 0)[0]
    if not mask & _STATX_BTIME:
        return None
    sec, nsec = struct.unpack_from("=qI", buf, _STX_BTIME_AT)
    if sec == 0 and nsec == 0:
        return None
    return sec * 1_000_000_000 + nsec
