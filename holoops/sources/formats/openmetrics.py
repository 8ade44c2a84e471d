"""Prometheus / OpenMetrics text exposition: ``name{label="v",...} value [timestamp]``.

``# HELP``/``# TYPE``/``# UNIT``/``# EOF`` and blank lines are not records. Timestamps are read by
magnitude (OpenMetrics: seconds; Prometheus text: milliseconds). Samples without a timestamp get
``scrape_time`` (default: the file's modification time). ``NaN`` (and ``+Inf``/``-Inf``) sample values are
data and are kept.

Fast path: the file is read ``chunk_mib`` at a time and each chunk is cut into its parts with whole-chunk
numpy arithmetic on the bytes: the positions of newlines, braces, quotes, spaces and backslashes give, for
each line of the common shape ``name{k="v",...} value [timestamp]`` (single spaces, no escapes in label
values, nothing after the timestamp), the byte ranges of its name, label names and values, value and
timestamp. The columns are built straight from those ranges (Arrow string views over the chunk, no Python
object per line), and the label names are checked once per distinct label layout, not once per line. Every
other line (tabs, repeated spaces, escapes, exemplars, comments after leading blanks, anything malformed)
goes through the general reader below, which judges it exactly as before; ``tests/test_ingest_fast_paths.py``
checks the two agree line for line.

General reader: lines matched by one regex (polars) and the distinct label sets parsed at once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import add_counts, raw_lookup, validate
from holoops.sources.formats.jsonl_logs import _ranges
from holoops.sources.formats.text_logs import decode_lines

SAMPLE = (r"^(?<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?<labels>.*)\})?[ \t]+(?<value>\S+)"
          r"(?:[ \t]+(?<ts>[-+0-9.eE]+))?(?:[ \t]+#.*)?[ \t]*$")
LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
#: the largest chunk the fast path cuts (its byte offsets are 32-bit)
MAX_CHUNK = 1 << 30
#: False sends every line through the general reader (the tests compare the two)
FAST_PATH = True


def parse_labels(text: str | None) -> dict[str, str] | None:
    """``a="1",b="x\\"y"`` -> dict; None when the text is not a valid label set."""
    if not text or not text.strip():
        return {}
    out, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            return None
        out[m.group(1)] = m.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        pos = m.end()
    return out


LABEL_ONE = (r'^\s*(?<k>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*"(?<v>(?:[^"\\]|\\.)*)"\s*,?$')
BAD_LINE = "not a sample line: name{label=\"value\",...} value [timestamp]"
#: label names that would collide with a column the reader makes
RENAMED = ("name", "value", "ts", "metric")


def _lines(piece: bytes, first: int, dl: DeadLetter) -> pl.DataFrame:
    """Non-blank lines of a chunk as ``__raw``/``__line`` (split by polars; Python only for bad UTF-8)."""
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError:
        lines, nos = decode_lines(piece, first, dl)
        return pl.DataFrame({"__raw": pl.Series(lines, dtype=pl.String), "__line": pl.Series(nos, dtype=pl.Int64)})
    df = pl.DataFrame({"__raw": pl.Series(text.split("\n"), dtype=pl.String)})
    df = df.with_columns(__line=pl.int_range(first, first + df.height, dtype=pl.Int64))
    return df.filter(pl.col("__raw").str.contains(r"\S")).with_columns(pl.col("__raw").str.strip_suffix("\r"))


def parse_label_sets(sets: pl.Series) -> tuple[pl.DataFrame, list[str]]:
    """Parse distinct label-set texts at once: (wide frame keyed by ``__labels``, texts that are invalid).

    A text is valid when its ``name="value"`` matches cover it completely (same as :func:`parse_labels`);
    escapes are undone in the same order, and a repeated name keeps its last value.
    """
    u = pl.DataFrame({"__labels": sets}).filter(pl.col("__labels").is_not_null())
    u = u.with_columns(__m=pl.col("__labels").str.extract_all(LABEL.pattern))
    covered = pl.col("__m").list.eval(pl.element().str.len_bytes()).list.sum().fill_null(0)
    ok = (covered == pl.col("__labels").str.len_bytes()) | ~pl.col("__labels").str.contains(r"\S")
    u = u.with_columns(__ok=ok)
    bad = u.filter(~pl.col("__ok"))["__labels"].to_list()
    long = (u.filter(pl.col("__ok")).select("__labels", "__m").with_row_index("__set").explode("__m")
            .filter(pl.col("__m").is_not_null())
            .with_columns(pl.col("__m").str.extract_groups(LABEL_ONE).alias("__kv")).unnest("__kv"))
    long = long.with_columns(pl.col("v").str.replace_all('\\"', '"', literal=True)
                             .str.replace_all("\\n", "\n", literal=True).str.replace_all("\\\\", "\\", literal=True))
    keyed = u.filter(pl.col("__ok")).select("__labels")
    if long.height:
        wide = long.pivot(on="k", index="__labels", values="v", aggregate_function="last")
        keyed = keyed.join(wide, on="__labels", how="left")
    return keyed, bad


def _general(df: pl.DataFrame, dl: DeadLetter) -> pl.DataFrame:
    """The general reader for lines ``__raw``/``__line`` (non-blank, not yet split): comments dropped, bad
    lines rejected as ``bad_line``, samples parsed by regex into ``name``, ``value``, ``ts`` and labels."""
    df = df.filter(~pl.col("__raw").str.strip_chars_start().str.starts_with("#"))
    df = df.with_columns(pl.col("__raw").str.extract_groups(SAMPLE).alias("__m")).unnest("__m")
    df = df.rename({"labels": "__labels"})
    lab, bad_sets = parse_label_sets(df["__labels"].unique())
    is_bad = pl.col("name").is_null() | pl.col("__labels").is_in(bad_sets).fill_null(False)
    bad = df.filter(is_bad)
    if bad.height:
        dl.reject_many(bad["__line"].to_list(), ["labels" if x else None for x in bad["name"].to_list()],
                       ["bad_line"] * bad.height, bad["__raw"].to_list(), details=[BAD_LINE] * bad.height)
        df = df.filter(~is_bad)
    lab = lab.rename({c: f"label_{c}" for c in lab.columns if c in RENAMED})
    return df.join(lab, on="__labels", how="left", nulls_equal=True).drop("__labels", "__raw")


def _finish(df: pl.DataFrame, stamp: str) -> pl.DataFrame:
    svc = [pl.col(c) for c in ("service", "job") if c in df.columns]
    return df.with_columns(
        metric=pl.col("name"), ts=pl.col("ts").fill_null(pl.lit(stamp)),
        service=pl.coalesce(svc) if svc else pl.lit(None, dtype=pl.String)).drop("name")


class _Chunk:
    """A chunk's bytes as numpy, cut into lines, with helpers that make string columns from byte ranges."""

    def __init__(self, piece: bytes, first: int):
        import numpy as np
        import pyarrow as pa

        global _MASKS
        if _MASKS is None:
            _MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)
        self.np, self.pa = np, pa
        self.piece, self.first = piece, first
        a = np.frombuffer(piece, dtype=np.uint8)
        self.a = a
        nl = np.flatnonzero(a == 10)
        self.n_newlines = len(nl)
        starts = np.concatenate((np.zeros(1, dtype=np.int64), nl + 1))
        ends = np.concatenate((nl, np.full(1, len(a), dtype=np.int64)))
        if len(a) and a[-1] == 10:  # nothing after the last newline
            starts, ends = starts[:-1], ends[:-1]
        cr = (ends > starts) & (a[np.maximum(ends - 1, 0)] == 13) if len(a) else ends > starts
        self.starts, self.ends = starts, ends - cr  # one "\r" before the newline is not part of the line
        self._buf = pa.py_buffer(piece)
        self.address = self._buf.address
        pad = np.zeros(len(a) + 16, dtype=np.uint8)
        pad[:len(a)] = a
        self._pad = pad
        #: u64[i] = bytes i .. i+7 as a little-endian number, v16[i] = bytes i .. i+15 (unaligned views of the
        #: padded chunk: one 16-byte gather costs less than two 8-byte ones)
        self.u64 = np.ndarray((len(a) + 9,), dtype="<u8", buffer=pad, strides=(1,))
        self.v16 = np.ndarray((len(a) + 1,), dtype="V16", buffer=pad, strides=(1,))

    def words(self, starts, lens, at: int = 0):
        """Bytes ``at`` .. ``at+7`` of each range ``[starts, starts+lens)`` as numbers, bytes past the end zero."""
        np = self.np
        w = self.u64[starts + at]
        if (lens < at + 8).any():
            w &= _MASKS[np.minimum(np.maximum(lens - at, 0), 8)]
        return w

    def pairs(self, starts):
        """Bytes 0..7 and 8..15 from each of ``starts`` as two little-endian numbers (one gather)."""
        w = self.v16[starts].view("<u8").reshape(-1, 2)
        return w[:, 0], w[:, 1]

    def strings(self, starts, ends, valid=None) -> pl.Series:
        """The byte ranges ``[starts, ends)`` of the chunk as a String series (Arrow string views: strings
        of up to 12 bytes are held inline, longer ones point into the chunk); ``valid`` marks non-nulls."""
        np = self.np
        n = len(starts)
        lens = ends - starts
        long = lens > 12
        n_long = int(long.sum())
        lo, hi = self.pairs(starts)
        u32, u4 = np.uint64(32), np.uint64(0xFFFFFFFF)
        views = np.empty((n, 2), dtype="<u8")
        # word 0: the length, then the first 4 bytes (the inline data's start, or a long string's prefix)
        first4 = lo & u4
        if (lens < 4).any():
            first4 &= _MASKS[np.minimum(lens, 4)]
        views[:, 0] = lens.astype(np.uint64) | (first4 << u32)
        # word 1: bytes 4..11 (inline), or buffer 0 and the offset (long)
        if n_long == n:
            views[:, 1] = starts.astype(np.uint64) << u32
        else:
            inline = (lo >> u32) | (hi << u32)
            inline &= _MASKS[np.minimum(np.maximum(lens - 4, 0), 8)]
            views[:, 1] = np.where(long, starts.astype(np.uint64) << u32, inline) if n_long else inline
        bufs = [None if valid is None else self.pa.py_buffer(np.packbits(valid, bitorder="little")),
                self.pa.py_buffer(views)]
        if n_long:
            bufs.append(self._buf)
        arr = self.pa.Array.from_buffers(self.pa.string_view(), n, bufs,
                                         null_count=-1 if valid is not None else 0)
        out = pl.from_arrow(arr)
        assert isinstance(out, pl.Series)
        return out

    def raw(self, lines: list[int]) -> list[str]:
        """The text of lines (numbers in the file)."""
        out = []
        for no in lines:
            i = no - self.first
            out.append(self.piece[self.starts[i]:self.ends[i]].decode("utf-8", errors="backslashreplace"))
        return out


#: _MASKS[k] keeps the low k bytes of a little-endian u64
_MASKS: Any = None
_SEP_FIRST = re.compile(r" *([A-Za-z_][A-Za-z0-9_]*) *= *\Z")
_SEP_NEXT = re.compile(r" *,? *([A-Za-z_][A-Za-z0-9_]*) *= *\Z")
_SEP_LAST = re.compile(r" *,?\Z")
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*\Z")


def _label_names(seps: list[str]) -> list[str] | None:
    """The label names of one layout (the texts around the quoted values), or None when the layout is not
    the plain ``k="v",k="v"`` form the fast path takes (the general reader then judges those lines)."""
    names = []
    for i, sep in enumerate(seps[:-1]):
        m = (_SEP_NEXT if i else _SEP_FIRST).match(sep)
        if m is None or m.group(1).startswith("__"):  # "__line", "__name__", ...: the general reader's care
            return None
        names.append(m.group(1))
    return names if _SEP_LAST.match(seps[-1]) else None


def _fast(ch: _Chunk) -> tuple[list[pl.DataFrame], Any]:
    """Frames (``__line``, ``name``, ``value``, ``ts``, label columns) for the lines of the common shape, and
    the indices of the lines left to the general reader (comments and empty lines are neither)."""
    np = ch.np
    a, starts, ends = ch.a, ch.starts, ch.ends
    if not len(starts):
        return [], np.zeros(0, dtype=np.int64)
    first = a[np.minimum(starts, len(a) - 1)]
    nonempty = ends > starts
    name_start = ((first >= 65) & (first <= 90)) | ((first >= 97) & (first <= 122)) | (first == 95) | (first == 58)
    cand = nonempty & name_start
    other = np.flatnonzero(nonempty & ~name_start & (first != 35))  # neither a sample start nor "#"
    ci = np.flatnonzero(cand)
    s, e = starts[ci], ends[ci]
    end = np.full(3, len(a) + 1, dtype=np.int64)

    def positions(byte: int):  # where ``byte`` is, between sentinels
        return np.concatenate((np.full(1, -1, dtype=np.int64), np.flatnonzero(a == byte), end))

    p_lb, p_rb, p_sp, p_q = (positions(b) for b in (123, 125, 32, 34))
    lb = p_lb[np.searchsorted(p_lb, s)]  # the first "{" of the line (if < e)
    rb = p_rb[np.searchsorted(p_rb, e) - 1]  # its last "}" (if >= s)
    brace = (lb < e) & (rb > lb)
    plain = (lb >= e) & (rb < s)
    # the value follows the first space after the last "}" (brace lines) or after the name (plain lines);
    # there may be one more space (before the timestamp), and no third
    i0 = np.searchsorted(p_sp, np.where(brace, rb + 1, s))
    t0, p2, p3 = p_sp[i0], p_sp[i0 + 1], p_sp[i0 + 2]
    ok = np.where(brace, t0 == rb + 1, plain & (t0 < e)) & (p3 >= e)
    has_ts = p2 < e
    ok &= np.where(has_ts, (p2 > t0 + 1) & (p2 + 1 < e), e > t0 + 1)  # non-empty value and timestamp
    p2 = np.minimum(p2, e)
    ls, le = lb + 1, rb  # the label text of brace lines
    qi = np.searchsorted(p_q, ls)
    n_q = np.where(brace, np.searchsorted(p_q, le) - qi, 0)
    ok &= n_q % 2 == 0
    if ch.piece.find(b"\\") >= 0:  # an escape in a label value: the general reader undoes it
        p_bs = positions(92)
        ok &= ~brace | (np.searchsorted(p_bs, le) == np.searchsorted(p_bs, ls))
    k = n_q // 2
    empty = np.flatnonzero(ok & brace & (k == 0))
    if len(empty):  # a brace line without quotes: only spaces between the braces
        ok[empty] = (np.searchsorted(p_sp, le[empty]) - np.searchsorted(p_sp, ls[empty])) == le[empty] - ls[empty]
    slow = [other, ci[~ok]]
    fi = np.flatnonzero(ok)
    if not len(fi):
        return [], np.sort(np.concatenate(slow))
    s, e, lb, le, t0, p2, k, brace, qi, has_ts = (x[fi] for x in (s, e, lb, le, t0, p2, k, brace, qi, has_ts))
    lines = ci[fi]
    base = pl.DataFrame({"__line": lines + ch.first, "name": ch.strings(s, np.where(brace, lb, t0)),
                         "value": ch.strings(t0 + 1, p2),
                         "ts": ch.strings(np.where(has_ts, p2 + 1, e), e, valid=has_ts)})
    # the value is one run of printable ASCII and the timestamp digits, signs, dots and exponents (what the
    # general reader's regex takes); names are checked once per distinct name
    bad_names = [x for x in base["name"].unique().to_list() if not _NAME.match(x)]
    odd = pl.col("value").str.contains(r"[^!-~]") | pl.col("ts").str.contains(r"[^-+0-9.eE]").fill_null(False)
    if bad_names:
        odd = odd | pl.col("name").is_in(bad_names)
    keep = ~base.select(odd.alias("odd"))["odd"].to_numpy()
    # each label is one column over all lines, built from the byte ranges of its values in the lines that
    # have it (null elsewhere): no per-layout frames to concatenate and sort back into line order
    labels: dict[str, list] = {}  # column -> [value starts, value ends, has the label]
    for kk in np.unique(k[keep]).tolist():
        if kk == 0:
            continue
        g = np.flatnonzero((k == kk) & keep)
        q = p_q[qi[g][:, None] + np.arange(2 * kk)]  # the quotes of each line
        sep_s = [lb[g] + 1, *(q[:, 2 * i - 1] + 1 for i in range(1, kk)), q[:, -1] + 1]
        sep_e = [*(q[:, 2 * i] for i in range(kk)), le[g]]
        for rows, seps in _layouts(ch, sep_s, sep_e):
            at = g if rows is None else g[rows]
            names = _label_names(seps)
            if names is None:  # to the general reader (below)
                keep[at] = False
                continue
            for i, nm in enumerate(names):  # a repeated name keeps its last value
                col = labels.setdefault(f"label_{nm}" if nm in RENAMED else nm,
                                        [np.zeros(len(fi), dtype=np.int64), np.zeros(len(fi), dtype=np.int64),
                                         np.zeros(len(fi), dtype=bool)])
                vs, ve = q[:, 2 * i] + 1, q[:, 2 * i + 1]
                col[0][at], col[1][at], col[2][at] = (vs, ve, True) if rows is None else (vs[rows], ve[rows], True)
    slow.append(lines[~keep])
    frame = base.with_columns(**{c: ch.strings(vs, ve, valid=None if has.all() else has)
                                 for c, (vs, ve, has) in labels.items()})
    if not keep.all():
        frame = frame.filter(pl.Series(keep))
    return [frame], np.sort(np.concatenate(slow))


def _layouts(ch: _Chunk, sep_s: list, sep_e: list):
    """Group lines by the texts around their quoted label values (``job=``, ``,instance=``, ...): yields
    (row indices or None for all, texts). Usually every line has one layout, which whole-column comparisons
    of the bytes (8 at a time) confirm; otherwise polars groups the lines by those texts."""
    np = ch.np
    same = True
    for lo, hi in zip(sep_s, sep_e, strict=True):
        width = int(hi[0] - lo[0])
        if not (hi - lo == width).all():
            same = False
        if same and 0 < width <= 16:  # one gather: the two words, bytes past the text zeroed
            w0, w1 = ch.pairs(lo)
            m0, m1 = _MASKS[min(width, 8)], _MASKS[max(width - 8, 0)]
            same = bool(((w0 & m0) == (w0[0] & m0)).all() and ((w1 & m1) == (w1[0] & m1)).all())
        elif same:
            for at in range(0, width, 8):
                w = ch.words(lo, hi - lo, at)
                if not (w == w[0]).all():
                    same = False
                    break
        if not same:
            break
    if same:
        yield None, [ch.piece[lo[0]:hi[0]].decode("utf-8", errors="replace")
                     for lo, hi in zip(sep_s, sep_e, strict=True)]
        return
    keys = pl.DataFrame({f"s{i}": ch.strings(lo, hi) for i, (lo, hi) in enumerate(zip(sep_s, sep_e, strict=True))})
    groups = keys.with_row_index("__row").group_by(list(keys.columns), maintain_order=True).agg("__row")
    for row in groups.iter_rows():
        yield np.asarray(row[-1], dtype=np.int64), list(row[:-1])


def _chunk_frame(piece: bytes, first: int, dl: DeadLetter, stamp: str
                 ) -> tuple[pl.DataFrame, int, dict[str, int], int]:
    """One chunk: (validated frame, records read, normalised counts, newlines in the chunk)."""
    before = dl.rejected
    fast: list[pl.DataFrame] = []
    ch = None
    if FAST_PATH and len(piece) < MAX_CHUNK:
        try:
            if not piece.isascii():
                piece.decode("utf-8")  # a chunk with bytes that are not UTF-8 takes the general reader
            ch = _Chunk(piece, first)
        except UnicodeDecodeError:
            ch = None
    if ch is None:
        lines = _lines(piece, first, dl)
        n_newlines = piece.count(b"\n")
    else:
        fast, slow = _fast(ch)
        lines = pl.DataFrame({"__raw": ch.strings(ch.starts[slow], ch.ends[slow]),
                              "__line": slow + first}).filter(pl.col("__raw").str.contains(r"\S"))
        n_newlines = ch.n_newlines
    n_enc = dl.rejected - before
    n_gen = lines.filter(~pl.col("__raw").str.strip_chars_start().str.starts_with("#")).height
    general = _general(lines, dl)
    n = n_enc + n_gen + sum(f.height for f in fast)
    parts = [f for f in fast if f.height]
    if general.height or not parts:
        parts.append(general)
    df = parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed").sort("__line")
    df = _finish(df, stamp)
    good, norm = validate(df, "metrics", dl, raw=ch.raw if ch is not None else raw_lookup(lines))
    if ch is not None:  # strings pointing into the chunk get their own copy, so the chunk can go
        good = _own(good, ch)
    return good, n, norm, n_newlines


def _own(df: pl.DataFrame, ch: _Chunk) -> pl.DataFrame:
    """``df`` with its string columns that point into the chunk's bytes copied out (the others as they are)."""
    import pyarrow as pa

    def in_chunk(c: str) -> bool:
        arr = df[c].to_arrow(compat_level=pl.CompatLevel.newest())  # zero-copy: polars's own string views
        chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
        return any(b is not None and b.address == ch.address for x in chunks for b in x.buffers()[2:])

    strs = [c for c, t in df.schema.items() if t == pl.String and in_chunk(c)]
    if not strs:
        return df
    return df.with_columns([pl.from_arrow(df[c].to_arrow(compat_level=pl.CompatLevel.oldest())).alias(c)
                            for c in strs])


def _stamp(path: Path, scrape_time: Any) -> str:
    import datetime as dt

    if scrape_time is None:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat()
    import pandas as pd

    t = pd.Timestamp(scrape_time)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).isoformat()


def iter_frames(path: Path, dl: DeadLetter, *, chunk_mib: float = 64, scrape_time: Any = None,
                progress: Any = None, **_: Any):
    """Yield the validated metrics frame of each ``chunk_mib`` chunk, one at a time (bad lines to ``dl``;
    ``progress``, a :class:`~holoops.sources.formats.jsonl_logs.Progress`, counts what was read)."""
    stamp = _stamp(path, scrape_time)
    chunk = min(MAX_CHUNK - 1, max(1 << 16, int(chunk_mib * (1 << 20))))
    if progress is not None:
        progress.kind = "metrics"
    size, first = path.stat().st_size, 1
    with open(path, "rb") as fh:
        for start, end in _ranges(path, size, chunk):
            fh.seek(start)
            good, n, norm, n_newlines = _chunk_frame(fh.read(end - start), first, dl, stamp)
            first += n_newlines
            if progress is not None:
                progress.read += n
                add_counts(progress.normalised, norm)
            yield good


def read(path: Path, dl: DeadLetter, *, chunk_mib: float = 64, scrape_time: Any = None,
         **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read exposition text into the metrics frame; bad lines are rejected as ``bad_line``."""
    from holoops.sources.formats.jsonl_logs import Progress

    progress = Progress("metrics")
    out = list(iter_frames(path, dl, chunk_mib=chunk_mib, scrape_time=scrape_time, progress=progress))
    if not out:
        out.append(validate(pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), "metrics", DeadLetter())[0])
    return pl.concat(out, how="diagonal_relaxed"), progress.read, progress.normalised, "metrics"
