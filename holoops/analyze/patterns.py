"""Log template mining and error patterns.

``mine_templates(messages)`` groups log messages (the message text after the header: no timestamp,
level or logger prefix) into templates such as ``Failed password for <*> from <*> port <*> ssh2``.
How, in three steps, with one default configuration for any log (:class:`MinerConfig`):

1. **Mask** (run once per *distinct* line; in C, or Rust regex via polars): URLs, UUIDs, hex,
   IPv4 addresses, MACs, dates, e-mail addresses, Windows/UNC paths, absolute paths of two or more
   segments and relative ones of three or more, ``key=value`` values and every digit run with its sign, hex tail or unit
   (``blk_-42`` -> ``blk_<*>``, ``23ms``/``4.0 KB`` -> ``<*>``, ``U11`` -> ``U<*>``). A run of masks
   joined by punctuation becomes one ``<*>``. Masks only catch shapes that are variable in any log;
   words (host, user, file, class names) are left to step 3.
2. **Dedupe**: most logs collapse to a few hundred distinct masked shapes; everything after works on
   those shapes, which is where the speed comes from. With the default masks every ASCII digit is first
   zeroed in one C pass (the masks treat all digits alike, so this is exact), which merges lines that
   differ only in numbers before the masks run; dedupe is exact (hash tables in C, or Arrow's).
3. **Group** the distinct token tuples (whitespace tokens, a run of equal masked tokens counted once)
   by token count, then by column frequency, after Brain (Yu et al., "Brain: Log Parsing with
   Bidirectional Parallel Tree", 2023): each token's frequency is the number of distinct tuples of
   that length holding it at that position; a template's constants all occur in every one of its
   tuples, so they share a frequency, and the frequency most of a tuple's tokens share (ties: the
   higher) picks its key tokens. Tuples with the same key tokens form a group; a group then splits,
   like a decision tree, on its column with the fewest distinct values among those that look constant
   -- fewer than ``min_distinct`` values, or the first token while no value holds a mask and it takes
   fewer than ``first_token_max`` values (the first word names the event, as in Drain), or two
   many-valued columns that vary together (at most ``pair_ratio`` x as many distinct pairs as values,
   each pair in ``pair_repeat`` lines on average: ``from NEW to UNASSIGNED``/``from ASSIGNED to
   RUNNING``). A column with ``min_distinct`` or more values, a bare ``<*>``, or a mask in every value
   is a variable. Last, a template that another one covers (equal wherever the other has a constant)
   joins it. So host, user and file names become ``<*>`` without any digit in them, and two variables
   that change at once (``<host> open through proxy <host>``) do not split a template.

The defaults (``min_distinct=4``, ``pair_ratio=1.2``, ``pair_repeat=2``, ``first_token_max=16``) are the
ones ``benchmarks/bench_patterns.py`` selects on all eight Loghub development datasets; its
leave-one-dataset-out table (each dataset scored with the values chosen on the other seven) is the
estimate for unseen logs (``benchmarks/RESULTS.md``).

The per-line loops (digit-zeroed dedupe, every default mask, tokenising, grouping, numbering the
templates) run in C where the optional extension :mod:`holoops.analyze._minecore` is built (``pip
install`` compiles it; set ``HOLOOPS_PURE_PYTHON=1`` to bypass it); the C masks implement the regexes
without a regex engine. The Python functions here (polars for the regexes) are the reference and the
fallback, and ``tests/test_patterns.py`` checks that both give the same ids, templates and counts, and
each C mask against polars on generated strings.

``error_patterns(logs)`` mines a logs frame and reports per template: count, first/last seen,
services, level mix, a trend per time bucket, and ``new``/``surge`` flags against a baseline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from holoops.timeutil import utc as _utc

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

WILDCARD = "<*>"

_B = r"(?-u:\b)"  # ASCII word boundary (much faster than Unicode's in Rust regex)
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_WIN_STOP = "\\s,;\"'<>|"  # what ends a Windows path: a space, a quote or a separator
_WIN_PATH = "[^" + _WIN_STOP + "]*"

#: generic variable masks, applied in order (Rust regex syntax; ``${1}`` keeps a captured prefix).
#: Nothing here is specific to one product's logs. The C core implements every one of them
#: (``mask_ident``, ``mask_digit_runs``, ``mask_tail`` in ``_minecore.c``): change one here and change it
#: there too -- ``tests/test_patterns.py`` compares the two on generated strings and fails until they agree.
DEFAULT_MASKS: tuple[tuple[str, str], ...] = (
    # identifiers that would otherwise be cut into pieces: URLs, UUIDs, 0x/long hex, IPv4[:port], MAC,
    # "Thu Aug 4" dates, e-mail addresses, Windows and UNC paths
    ("|".join((
        r"[A-Za-z][A-Za-z0-9+.\-]*://\S+",
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        _B + r"[0-9][xX][0-9a-fA-F]+" + _B,  # 0x1f (any digit: see _zero_digits)
        _B + r"(?:[0-9a-f]{12,}|[0-9A-F]{12,}|[a-fA-F][0-9a-fA-F]{7,})" + _B,
        _B + r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?::[0-9]+)?" + _B,
        _B + r"[0-9a-fA-F]{2}(?:[:\-][0-9a-fA-F]{2}){5}" + _B,
        _B + r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? +" + _MONTH + r" +[0-9]{1,2}" + _B,
        r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+",  # e-mail address
        _B + r"[A-Za-z]:\\" + _WIN_PATH,  # Windows path C:\dir\file
        r"\\\\[^\\" + _WIN_STOP + r"]+\\" + _WIN_PATH,  # UNC path \\server\share\...
    )), WILDCARD),
    # every digit run (a number hanging off a letter too: U11, bglio716, eth0)
    (r"[0-9]+", WILDCARD),
    # paths of two or more segments, absolute (/var/log/x) or relative (conf/app/x.yaml: a first segment
    # without '=' or ':', so key=a/b keeps its key); a masked digit run inside one is still part of it, so
    # this may run after the digits
    (r"(^|[\s(\[=:,])(?:[^\s/,;()\[\]=:]+)?(?:/[^\s/,;()\[\]]+){2,}/?", "${1}" + WILDCARD),
    # then what a number drags along: the rest of a hex number (00105e84), a size unit (12 KB, 3GiB), a
    # duration unit (250ms), a sign (blk_-42)
    (r"<\*>(?:[0-9a-fA-F]*<\*>)*[0-9a-fA-F]+" + _B, WILDCARD),
    (r"<\*> ?(?:[KMGTPE]i?B|B|bytes)" + _B + r"|<\*>(?:[KMGTPE]|ns|us|µs|ms|s|m|h|d)" + _B, WILDCARD),
    (r"(^|[^A-Za-z0-9<])[-+]<\*>", "${1}" + WILDCARD),
    (r"<\*>(?:[.:/_,\-]*<\*>)+", WILDCARD),                 # masks joined by punctuation: <*>.<*>:<*>
    (r"=[^\s,;)\]|&]+", "=" + WILDCARD),                    # key=value values (a=1|b=2, a=1&b=2: each)
)


@dataclass(frozen=True)
class MinerConfig:
    """Defaults for :func:`mine_templates`. One configuration for every log; no per-source tuning."""

    #: (regex, replacement) pairs applied in order before grouping
    masks: tuple[tuple[str, str], ...] = DEFAULT_MASKS
    #: inside a group, a column (token position) that takes this many distinct values or more is a
    #: variable; one with fewer splits the group (its values are constants of different templates)
    min_distinct: int = 4
    #: the first token, when no value holds a mask, splits its group while it takes fewer than this many
    #: values (a message's first word names the event, as in Drain); 0 treats it like any other column
    first_token_max: int = 16
    #: two variable-looking columns whose distinct value pairs number at most this times the smaller
    #: column's distinct values vary together (``from NEW to RUNNING``): they split the group like
    #: constants; 0 turns the rule off
    pair_ratio: float = 1.2
    #: ... provided the pairs recur: the group's lines number at least this many times its distinct pairs
    #: (one-off values that happen to be one-to-one, as two names in a rare message, are variables)
    pair_repeat: float = 2.0
    #: extra regexes (user-supplied, e.g. a product's request id) masked before the defaults
    extra_masks: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass
class TemplateResult:
    """Per-line template ids and the templates table.

    ``ids[i]`` is the template id of line ``i`` (templates numbered by descending count, 0 first);
    ``templates[k]`` is template ``k``'s text and ``counts[k]`` its number of lines.
    """

    ids: np.ndarray
    templates: list[str]
    counts: list[int]

    def __len__(self) -> int:
        return len(self.templates)

    def template_of(self) -> list[str]:
        """The template text of every line, in line order."""
        t = self.templates
        return [t[i] for i in self.ids.tolist()]

    def frame(self, engine: str = "pandas") -> Any:
        """The templates table: ``template_id``, ``template``, ``count`` (sorted by count, descending)."""
        import pandas as pd

        df = pd.DataFrame({"template_id": range(len(self.templates)), "template": self.templates,
                           "count": self.counts})
        if engine == "pandas":
            return df
        from holoops.frames import to_engine

        return to_engine(df, engine)


def _as_list(messages: Any) -> list:
    mod = type(messages).__module__.split(".")[0]
    if mod == "polars":
        return messages.fill_null("").cast(str).to_list()
    if mod == "pandas":
        return messages.fillna("").astype(str).tolist()
    if mod == "numpy":
        return messages.astype(str).tolist()
    if isinstance(messages, list) and set(map(type, messages)) <= {str}:
        return messages  # already strings (checked at C speed); never modified here
    return ["" if m is None else str(m) for m in messages]


def _replace_all(s: Any, masks: tuple[tuple[str, str], ...], parts: int) -> Any:
    """``masks`` applied in order to the polars Series ``s``; with ``parts`` > 1 the column is cut into
    that many slices, one expression each, which polars runs in parallel. Returns a Series."""
    import polars as pl

    def chain(expr):
        for pattern, repl in masks:
            expr = expr.str.replace_all(pattern, repl)
        return expr

    if parts <= 1:
        return pl.DataFrame({"m": s}).select(chain(pl.col("m"))).to_series()
    step = -(-len(s) // parts)
    frame = pl.DataFrame({f"m{i}": s.slice(i * step, step).extend_constant(None, step - len(
        s.slice(i * step, step))) for i in range(parts)})
    out = frame.select([chain(pl.col(f"m{i}")) for i in range(parts)])
    return pl.concat([out.get_column(f"m{i}") for i in range(parts)]).head(len(s))


def _mask(lines: list[str], masks: tuple[tuple[str, str], ...]) -> list[str]:
    """Apply ``masks`` in order to ``lines`` with polars (Rust regex); returns the masked strings."""
    import polars as pl

    if not lines or not masks:
        return list(lines)
    # polars runs separate expressions in parallel: cut the column into one part per core
    parts = max(1, min(os.cpu_count() or 1, len(lines) // 2000))
    try:
        series = pl.Series("m", lines, dtype=pl.String)
    except UnicodeEncodeError:  # a lone surrogate (polars holds UTF-8 only): it becomes U+FFFD
        series = pl.Series("m", [_valid_utf8(m) for m in lines], dtype=pl.String)
    return _replace_all(series, masks, parts).to_list()


def _valid_utf8(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (a surrogate pair becomes its character)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def mask_messages(messages: list[str], config: MinerConfig | None = None) -> list[str]:
    """Apply the masks to ``messages`` (vectorised); returns the masked strings."""
    config = config or MinerConfig()
    return _mask(list(messages), (*config.extra_masks, *config.masks))


_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")
#: the default masks in stages (mask counts), deduplicated after each: the identifier mask merges most
#: lines that differ only in IP/hex widths (1,555 -> 1,002 on the 16k dev lines), so the rest run on fewer
_DEFAULT_STAGES = (1, len(DEFAULT_MASKS) - 1)
#: above this many lines, mine_templates dedupes the raw lines with a dict before zeroing digits
_DICT_FIRST = 20_000


def _zero_digits(lines: list[str]) -> list[str]:
    """Every ASCII digit replaced by ``0``, in one C pass over the joined text.

    The default masks only ever test digits as a class (``[0-9]``, hex, lengths) and mask every digit
    run, so a line and its zeroed form mask to the same string; zeroing first merges lines that differ
    only in their numbers, which cuts the lines the regexes must run on several times over.
    """
    if not lines:
        return []
    enc = ("utf-8", "surrogatepass")
    out = "\n".join(lines).encode(*enc).translate(_ZERO_DIGITS).decode(*enc).split("\n")
    if len(out) != len(lines):  # some line holds a newline: do it line by line
        out = [m.encode(*enc).translate(_ZERO_DIGITS).decode(*enc) for m in lines]
    return out


def _factorize(items: list) -> tuple[np.ndarray, list]:
    """``(codes, uniques)``: uniques in first-seen order, ``uniques[codes[i]] == items[i]``."""
    import numpy as np

    uniques = list(dict.fromkeys(items))
    pos = {u: i for i, u in enumerate(uniques)}
    return np.fromiter(map(pos.__getitem__, items), dtype=np.int64, count=len(items)), uniques


def _arrow_factorize(arr: Any) -> tuple[np.ndarray, Any]:
    """``(codes, uniques)`` of an Arrow string array (no nulls), exact: Arrow's hash table compares the
    strings themselves, and its dictionary lists the uniques in first-seen order (as :func:`_factorize`).
    ``uniques`` is a polars String Series."""
    import numpy as np
    import polars as pl
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    enc = pc.dictionary_encode(arr, memory_pool=pa.system_memory_pool())
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes, pl.Series("m", enc.dictionary, dtype=pl.String)


def _zeroed_distinct(lines: list[str]) -> tuple[np.ndarray, Any] | None:
    """``(codes, distinct)``: the lines with every ASCII digit zeroed (see :func:`_zero_digits`),
    factorized; ``distinct`` is a polars Series. One Arrow array built from the list (C), one
    ``bytes.translate`` over its UTF-8 buffer (a byte below 0x80 is always an ASCII character, so this is
    exact), one Arrow hash dedupe; no per-line Python. None when a line cannot be encoded (a lone
    surrogate: the caller takes the plain path)."""
    import pyarrow as pa

    try:
        # the system allocator: Arrow's default pool (mimalloc) hands idle pages back within a second
        # and faults them in again on the next call, which measured slower in a process doing other work
        arr = pa.array(lines, type=pa.large_string(), memory_pool=pa.system_memory_pool())
    except (UnicodeEncodeError, pa.ArrowException):
        return None
    if arr.null_count:  # not expected (the lines are strings), but never guess
        return None
    _, offsets, data = arr.buffers()
    if data is None:  # every line empty
        return _arrow_factorize(arr)
    if arr.offset:
        return None
    zeroed = pa.py_buffer(data.to_pybytes().translate(_ZERO_DIGITS))
    return _arrow_factorize(pa.LargeStringArray.from_buffers(len(arr), offsets, zeroed))


#: below this many distinct lines the masks run on one thread (thread start-up and slicing cost more
#: than they save on a couple of thousand short lines)
_PARALLEL_MIN = 20_000


def _parts(n: int) -> int:
    """Slices of ``n`` distinct lines the masks run on (polars runs separate expressions in parallel):
    one per core for many lines, else one."""
    return max(1, min(os.cpu_count() or 1, n // 500)) if n >= _PARALLEL_MIN else 1


def _mask_distinct(codes: np.ndarray, s: Any, masks: tuple[tuple[str, str], ...],
                   stages: tuple[int, ...]) -> tuple[np.ndarray, list[str]]:
    """Apply ``masks`` to the distinct lines ``s`` (polars Series), deduplicating again after each
    stage (``stages``: mask counts per stage) so later masks run on fewer lines; returns the composed
    codes and the distinct masked lines."""

    start = 0
    for size in stages:
        stage = masks[start:start + size]
        start += size
        sub_codes, s = _arrow_factorize(_replace_all(s, stage, _parts(len(s))).to_arrow())
        codes = sub_codes[codes]
    return codes, s.to_list()


def _mask_native(codes: np.ndarray, lines: list[str], core: Any) -> tuple[np.ndarray, list[str]]:
    """The default masks with the C core on the distinct digit-zeroed ``lines``: the identifier regex
    (``mask_ident``), a dedupe, then the digit runs and every later mask (``mask_digit_runs``,
    ``mask_tail``). The C functions implement each regex's replace-all exactly, without a regex engine
    (``tests/test_patterns.py`` checks them against polars on generated strings). Returns the composed
    codes and the masked lines (not deduplicated again: grouping does that)."""
    sub_codes, distinct = _factorize(core.mask_ident(lines))
    return sub_codes[codes], core.mask_tail(core.mask_digit_runs(distinct))


def _collapse_runs(tokens: list[str]) -> tuple[str, ...]:
    """Collapse a run of identical masked tokens (a variable-length list) into one token."""
    out: list[str] = []
    for t in tokens:
        if out and t == out[-1] and WILDCARD in t:
            continue
        out.append(t)
    return tuple(out)


def _shapes(masked: list[str]) -> list[tuple[str, ...]]:
    """The token tuple of every masked line, runs collapsed (:func:`_collapse_runs`); the per-token
    loop runs only for lines holding a mask and two equal neighbouring tokens (few)."""
    from operator import eq

    out = []
    append = out.append
    for m in masked:
        tokens = m.split()
        append(_collapse_runs(tokens) if WILDCARD in m and any(map(eq, tokens, tokens[1:])) else tuple(tokens))
    return out


def _split(rows: list[tuple[str, ...]], fixed: frozenset[int], config: MinerConfig,
           out: dict[tuple[str, ...], tuple[str, ...]], weight: dict[tuple[str, ...], int]) -> None:
    """Split one initial group (``rows``: distinct token tuples of one length, equal at the columns in
    ``fixed``) into templates, recording each row's template in ``out``.

    Each column that is not fixed and takes two or more values is classed: a bare ``<*>`` among its values,
    or a mask in every value, makes it a variable; else the first column (values without masks, fewer than
    ``first_token_max``) and any column with fewer than ``min_distinct`` values are split candidates; the
    rest are variables. With no candidate, two variable columns (not holding a bare ``<*>``) whose distinct
    pairs number at most ``pair_ratio`` times the smaller one's distinct values, while the group's lines
    (``weight``: lines per row) number at least ``pair_repeat`` times those pairs, become one (the one with
    fewer values). The group splits by the values of the candidate with the fewest values (ties: the
    leftmost; among pairs, the first found), and each part goes through the same; a group with no candidate
    is one template, ``<*>`` at every column that takes two or more values.
    """
    n = len(rows[0])
    first_max, t, ratio, repeat = config.first_token_max, config.min_distinct, config.pair_ratio, config.pair_repeat
    stack = [(rows, fixed)]
    while stack:
        rows, fixed = stack.pop()
        cols = list(zip(*rows, strict=True))
        dist = [1] * n
        best_d = best_p = -1
        pairable: list[tuple[int, int]] = []
        for p in range(n):
            if p in fixed:
                continue
            values = set(cols[p])
            d = dist[p] = len(values)
            if d == 1 or WILDCARD in values:
                continue
            masked = sum(WILDCARD in v for v in values)
            if masked == d:
                pairable.append((d, p))
            elif (p == 0 and masked == 0 and d < first_max) or d < t:
                if best_d < 0 or d < best_d:
                    best_d, best_p = d, p
            else:
                pairable.append((d, p))
        if best_d < 0 and ratio > 0 and len(pairable) > 1:
            lines = sum(map(weight.__getitem__, rows))
            for i, (dp, p) in enumerate(pairable):
                for dq, q in pairable[i + 1:]:
                    m = min(dp, dq)
                    if best_d < 0 or m < best_d:
                        pairs = len(set(zip(cols[p], cols[q], strict=True)))
                        if pairs <= ratio * m and lines >= repeat * pairs:
                            best_d, best_p = m, (p if dp <= dq else q)
        if best_d < 0:
            first = rows[0]
            template = tuple(first[p] if dist[p] == 1 else WILDCARD for p in range(n))
            for row in rows:
                out[row] = template
            continue
        parts: dict[str, list[tuple[str, ...]]] = {}
        for row, v in zip(rows, cols[best_p], strict=True):
            parts.setdefault(v, []).append(row)
        sub = fixed | {best_p}
        stack.extend((part, sub) for part in parts.values())


def _group_shapes(shapes: list[tuple[str, ...]], config: MinerConfig,
                  weights: list[int] | None = None) -> list[tuple[str, ...]]:
    """Map each distinct masked token tuple to its template tuple (a frequency-then-split grouping, after
    Brain, Yu et al. 2023).

    Rows (distinct tuples) are grouped by token count. Within one count, every token is given its column
    frequency: the number of rows holding it at that position (a bare ``<*>`` gets none). A template's
    constants occur in every one of its rows, so they share one frequency; a row's *key* is the
    frequency that most of its tokens share (ties: the higher), with the tokens at that frequency, and rows
    with equal keys form an initial group. Each initial group is then split by :func:`_split` (columns with
    few values split it, columns with many values are variables), and a template that another one covers
    joins it (:func:`_subsume`). ``weights[i]``: the number of lines ``shapes[i]`` stands for (default 1).
    """
    from collections import Counter

    weight: Counter[tuple[str, ...]] = Counter()
    for sh, w in zip(shapes, [1] * len(shapes) if weights is None else weights, strict=True):
        weight[sh] += int(w)
    by_len: dict[int, list[tuple[str, ...]]] = {}
    for sh in weight:
        by_len.setdefault(len(sh), []).append(sh)
    out: dict[tuple[str, ...], tuple[str, ...]] = {}
    for rows in by_len.values():
        if len(rows) == 1:
            out[rows[0]] = rows[0]
            continue
        counts = [Counter(col) for col in zip(*rows, strict=True)]
        groups: dict[tuple[str | None, ...], list[tuple[str, ...]]] = {}
        for row in rows:
            freq = [0 if tok == WILDCARD else c[tok] for c, tok in zip(counts, row, strict=True)]
            # the frequency most tokens share, ties to the higher; 0 (a bare <*>) never counts
            top = max(set(freq), key=lambda f: (freq.count(f) if f else 0, f))
            if top:
                key = tuple(tok if f == top else None for tok, f in zip(row, freq, strict=True))
            else:  # only bare masks: one such row per length
                key = ()
            groups.setdefault(key, []).append(row)
        for key, members in groups.items():
            _split(members, frozenset(p for p, tok in enumerate(key) if tok is not None), config, out, weight)
    final = _subsume(list(dict.fromkeys(out[sh] for sh in shapes)))
    return [final[out[sh]] for sh in shapes]


def _subsume(templates: list[tuple[str, ...]]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Each template mapped to the template that covers it, or to itself.

    ``g`` covers ``t`` (same length, ``g != t``) when ``g`` has ``<*>`` or ``t``'s token at every position:
    ``t`` is a special case of ``g`` (a variable token that happened to share its key's frequency, so its
    rows formed a group of their own). A covered template goes to the covering one with the fewest
    ``<*>`` (ties: the first in ``templates``, which is in first-seen order), and on up while that one is
    covered; a cover has more ``<*>`` than what it covers, so this ends.
    """
    pick: dict[tuple[str, ...], tuple[str, ...]] = {}
    by_len: dict[int, list[tuple[str, ...]]] = {}
    for t in templates:
        by_len.setdefault(len(t), []).append(t)
    for ts in by_len.values():
        # the templates holding <*> by wildcard pattern (their constant positions), then by their constants:
        # g covers t exactly when t's tokens at g's constant positions are g's constants, so t looks itself
        # up once per pattern, patterns with fewer <*> first, until those left have more <*> than its best
        patterns: dict[tuple[int, ...], dict[tuple[str, ...], int]] = {}
        for i, g in enumerate(ts):
            if WILDCARD in g:
                keep = tuple(p for p, x in enumerate(g) if x != WILDCARD)
                patterns.setdefault(keep, {})[tuple(g[p] for p in keep)] = i
        if not patterns:
            continue
        n = len(ts[0])
        by_wilds = sorted(patterns.items(), key=lambda kv: n - len(kv[0]))
        for j, t in enumerate(ts):
            best: tuple[int, int] | None = None  # (number of <*>, index in ts): fewest, then first seen
            for keep, table in by_wilds:
                k = n - len(keep)
                if best is not None and k > best[0]:
                    break
                i = table.get(tuple(t[p] for p in keep))
                if i is not None and i != j and (best is None or (k, i) < best):
                    best = (k, i)
            if best is not None:
                pick[t] = ts[best[1]]
    final = {}
    for t in templates:
        f = t
        while f in pick:
            f = pick[f]
        final[t] = f
    return final


def _core() -> Any:
    """The C accelerator module, or None when it is not built or ``HOLOOPS_PURE_PYTHON`` is set."""
    if os.environ.get("HOLOOPS_PURE_PYTHON"):
        return None
    try:
        from holoops.analyze import _minecore
    except ImportError:
        return None
    return _minecore


def _zeroed_codes(lines: list, core: Any) -> tuple[np.ndarray, Any] | None:
    """``(codes, distinct)`` of ``lines`` with every digit zeroed, in C when ``core`` is given (``distinct``:
    a list), else through Arrow (:func:`_zeroed_distinct`; a polars Series); None when an item is not a
    str or cannot be encoded (the caller takes the plain path)."""
    if core is None:
        return _zeroed_distinct(lines)
    import numpy as np

    try:
        codes, distinct = core.zero_factorize(lines)
        # a lone surrogate raises here: such input takes the plain path (its masks read it as U+FFFD),
        # as the pure-Python path must (Arrow holds UTF-8 only), so both give the same templates
        "".join(distinct).encode()
        return np.frombuffer(codes, dtype=np.int64), distinct
    except (TypeError, UnicodeEncodeError):  # not a str; a lone surrogate
        return None


def _zeroed_lines(lines: list, core: Any) -> tuple[np.ndarray, Any] | None:
    """Every line's code among the distinct digit-zeroed lines, and those lines (:func:`_zeroed_codes`), or
    None when an item is not a str or cannot be encoded (:func:`_zeroed_codes`). Many lines: exact
    repeats dominate, so a dict dedupe (cached str hashes) first is cheaper than zeroing every byte;
    few lines: one byte pass over all of them is cheaper (same result)."""
    if len(lines) <= _DICT_FIRST:
        return _zeroed_codes(lines, core)
    try:
        raw_codes, raw = _factorize(lines)
    except TypeError:  # an unhashable item in a plain list: the caller converts and retries
        return None
    fast = _zeroed_codes(raw, core)
    return None if fast is None else (fast[0][raw_codes], fast[1])


def mine_templates(messages: Any, *, config: MinerConfig | None = None) -> TemplateResult:
    """Group log messages into templates.

    ``messages``: a list/array of strings, or a pandas or polars Series (nulls count as ""). Give the
    message text (no timestamp/level header). Returns a :class:`TemplateResult`.

    Every step works on distinct strings only: distinct lines; with the default masks, distinct lines
    with every digit zeroed (:func:`_zero_digits`, exact); distinct masked lines; distinct templates.
    The line -> template map is the composition of the per-step codes (numpy fancy indexing). The
    per-line loops run in C (:mod:`holoops.analyze._minecore`) where it is built, else in Python; both
    give the same result.
    """
    import numpy as np

    config = config or MinerConfig()
    core = _core()
    # a plain list goes straight to C, which checks every item is a str (the Python check costs more)
    lines = messages if core is not None and type(messages) is list else _as_list(messages)
    if not lines:
        return TemplateResult(np.zeros(0, dtype=np.int64), [], [])
    default = config.masks == DEFAULT_MASKS and not config.extra_masks
    fast = _zeroed_lines(lines, core) if default else None
    if fast is None and lines is messages and core is not None:
        lines = _as_list(messages)  # an item was not a str
        fast = _zeroed_lines(lines, core) if default else None
    if fast is not None:
        zc, zdistinct = fast
        mcodes, muniques = (_mask_distinct(zc, zdistinct, config.masks, _DEFAULT_STAGES) if core is None
                            else _mask_native(zc, zdistinct, core))
    else:  # user masks (they may test digit values) or an odd line: masks on the distinct lines as given
        codes, uniques = _factorize(lines)
        if config.masks == DEFAULT_MASKS:
            if config.extra_masks:
                uniques = _mask(uniques, config.extra_masks)
            zcodes, uniques = _factorize(_zero_digits(uniques))
            codes = zcodes[codes]
            masked = _mask(uniques, config.masks)
        else:
            masked = _mask(uniques, (*config.extra_masks, *config.masks))
        mcodes, muniques = _factorize(masked)
        mcodes = mcodes[codes]
    weights = np.bincount(mcodes, minlength=len(muniques))  # lines per masked line
    if core is not None:
        codes_b, tuniques = core.group_lines(muniques, weights.astype(np.int64).tobytes(), config.min_distinct,
                                             config.first_token_max, float(config.pair_ratio),
                                             float(config.pair_repeat))
        tcodes = np.frombuffer(codes_b, dtype=np.int64)
    else:
        templ = _group_shapes(_shapes(muniques), config, weights.tolist())
        tcodes, tuniques = _factorize([" ".join(t) for t in templ])
    line_t = tcodes[mcodes]
    counts = np.bincount(line_t, minlength=len(tuniques))
    order = np.argsort(-counts, kind="stable")
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return TemplateResult(remap[line_t], [tuniques[i] for i in order], counts[order].tolist())


def grouping_accuracy(truth: Any, predicted: Any) -> float:
    """Grouping accuracy: share of lines whose predicted group has exactly their true group's lines."""
    import pandas as pd

    t = pd.factorize(pd.Series(list(truth), dtype=object))[0]
    p = pd.factorize(pd.Series(list(predicted), dtype=object))[0]
    if len(t) != len(p):
        raise ValueError(f"truth has {len(t)} labels, predicted {len(p)}")
    if len(t) == 0:
        return 1.0
    df = pd.DataFrame({"t": t, "p": p})
    pair = df.groupby(["p", "t"]).size().rename("n").reset_index()
    psize = df.groupby("p").size()
    tsize = df.groupby("t").size()
    ok = pair[(pair["n"].to_numpy() == psize.loc[pair["p"]].to_numpy())
              & (pair["n"].to_numpy() == tsize.loc[pair["t"]].to_numpy())]
    return float(ok["n"].sum()) / len(t)


# --------------------------------------------------------------------------------------------------
# error patterns over a logs frame

def _native_kind(df: Any) -> str:
    mod = type(df).__module__.split(".")[0]
    if mod not in ("pandas", "polars"):
        raise TypeError(f"expected a pandas or polars logs frame, got {type(df).__name__}")
    return mod


def _span(spec: Any, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` from a pair of timestamps, or a duration (``"1h"``, Timedelta) ending at ``end``."""
    import pandas as pd

    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return _utc(spec[0]), _utc(spec[1])
    try:
        delta = pd.Timedelta(spec)
    except (TypeError, ValueError):
        raise ValueError(f"window/baseline must be (start, end) or a duration such as '1h', got {spec!r}") \
            from None
    return end - delta, end


def error_patterns(logs: Any, *, by: str = "service", window: Any = None, baseline: Any = None,
                   buckets: int = 24, config: MinerConfig | None = None,
                   surge_min_score: float = 3.0, surge_min_ratio: float = 2.0) -> Any:
    """Mine ``logs`` (canonical logs frame, pandas or polars) and describe each message pattern.

    Returns a frame of the same engine, one row per template (most frequent first) with: ``template_id``,
    ``template``, ``count``, ``first_seen``, ``last_seen``, ``services`` (sorted distinct ``by`` values,
    comma-joined), ``levels`` (``"error=5, warn=2"``, most frequent first), ``trend`` (counts in
    ``buckets`` equal time buckets over the whole frame), ``window_count``, ``baseline_count``, ``new``,
    ``surge_ratio``, ``surge_score``, ``surge``.

    ``window``: ``(start, end)`` or a duration ending at the last timestamp (``"1h"``); default the last
    quarter of the time span. ``baseline``: ``(start, end)`` or a duration ending where the window
    starts; default everything before the window. The window is ``[start, end]``, the baseline
    ``[start, end)``.

    ``new``: first seen inside the window and never in the baseline. ``surge_ratio``: the window rate
    over the baseline rate (both per second; a pattern absent from the baseline is given half a line
    there). ``surge_score``: ``-log10`` of the Poisson probability of seeing at least the window count at
    the baseline rate. ``surge``: score >= ``surge_min_score`` and ratio >= ``surge_min_ratio``.
    """
    import math

    import numpy as np
    import pandas as pd

    from holoops.frames import check_frame, to_engine

    kind = _native_kind(logs)
    check_frame(logs, "logs")
    cols = ["ts", "level", "message"] + ([by] if by not in ("ts", "level", "message") else [])
    pdf = to_engine(logs.select(cols) if kind == "polars" else logs[cols], "pandas")
    ts = pd.to_datetime(pdf["ts"], utc=True)
    res = mine_templates(pdf["message"], config=config)
    k = len(res)
    ids = res.ids
    if len(pdf) == 0:
        empty = pd.DataFrame({c: [] for c in ("template_id", "template", "count")})
        return empty if kind == "pandas" else to_engine(empty, "polars")
    t0, t1 = ts.min(), ts.max()
    w0, w1 = _span(window, t1) if window is not None else (t1 - (t1 - t0) / 4, t1)
    b0, b1 = _span(baseline, w0) if baseline is not None else (t0, w0)
    tsv = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    in_w = (tsv >= w0.value) & (tsv <= w1.value)
    in_b = (tsv >= b0.value) & (tsv < b1.value)
    wcount = np.bincount(ids[in_w], minlength=k)
    bcount = np.bincount(ids[in_b], minlength=k)
    # trend buckets over the whole frame
    width = max(1, (t1.value - t0.value) // buckets + 1)
    bidx = np.minimum((tsv - t0.value) // width, buckets - 1)
    trend = np.zeros((k, buckets), dtype=np.int64)
    np.add.at(trend, (ids, bidx), 1)

    g = pd.DataFrame({"id": ids, "ts": ts.to_numpy(), "level": pdf["level"].fillna("").astype(str).str.lower(),
                      "by": pdf[by].fillna("").astype(str)})
    first = g.groupby("id")["ts"].min()
    last = g.groupby("id")["ts"].max()
    services = g.groupby("id")["by"].agg(lambda s: ", ".join(sorted(set(s))))
    lv = g.groupby(["id", "level"]).size().reset_index(name="n").sort_values(["id", "n", "level"],
                                                                            ascending=[True, False, True])
    levels = lv.groupby("id").apply(lambda d: ", ".join(f"{a}={b}" for a, b in zip(d["level"], d["n"], strict=True)),
                                    include_groups=False)

    w_secs = max((w1 - w0).total_seconds(), 1e-9)
    b_secs = (b1 - b0).total_seconds()
    expected = (np.maximum(bcount, 0.5) * (w_secs / b_secs)) if b_secs > 0 else np.full(k, np.nan)
    ratio = wcount / expected
    score = np.zeros(k)
    if b_secs > 0:
        from scipy.stats import poisson

        p = poisson.sf(wcount - 1, expected)  # P(X >= w)
        score = np.where(wcount > 0, -np.log10(np.maximum(p, 1e-300)), 0.0)
    index = np.arange(k)
    out = pd.DataFrame({
        "template_id": index,
        "template": res.templates,
        "count": np.asarray(res.counts, dtype=np.int64),
        "first_seen": first.reindex(index).to_numpy(),
        "last_seen": last.reindex(index).to_numpy(),
        "services": services.reindex(index).to_numpy(),
        "levels": levels.reindex(index).to_numpy(),
        "trend": [row.tolist() for row in trend],
        "window_count": wcount.astype(np.int64),
        "baseline_count": bcount.astype(np.int64),
    })
    out["first_seen"] = pd.to_datetime(out["first_seen"], utc=True).astype("datetime64[ns, UTC]")
    out["last_seen"] = pd.to_datetime(out["last_seen"], utc=True).astype("datetime64[ns, UTC]")
    out["new"] = (out["first_seen"] >= w0) & (out["first_seen"] <= w1) & (out["baseline_count"] == 0)
    out["surge_ratio"] = np.round(ratio, 6)
    out["surge_score"] = np.round(score, 6)
    out["surge"] = (out["surge_score"] >= surge_min_score) & (out["surge_ratio"] >= surge_min_ratio)
    if not math.isfinite(b_secs) or b_secs <= 0:
        out["surge"] = False
    if kind == "pandas":
        out.attrs.update(window=(w0.isoformat(), w1.isoformat()), baseline=(b0.isoformat(), b1.isoformat()))
        return out
    import polars as pl

    return to_engine(out, "polars").with_columns(pl.col("first_seen", "last_seen").cast(pl.Datetime("ns", "UTC")))
