"""Prometheus / OpenMetrics text exposition: ``name{label="v",...} value [timestamp]``.

``# HELP``/``# TYPE``/``# UNIT``/``# EOF`` and blank lines are not records. Timestamps are read by
magnitude (OpenMetrics: seconds; Prometheus text: milliseconds). Samples without a timestamp get
``scrape_time`` (default: the file's modification time). Label sets are parsed once per distinct set.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from holoops.ingest import DeadLetter
from holoops.sources.formats._canon import add_counts, raw_lookup, validate
from holoops.sources.formats.jsonl_logs import _chunks
from holoops.sources.formats.text_logs import decode_lines

SAMPLE = (r"^(?<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?<labels>.*)\})?[ \t]+(?<value>\S+)"
          r"(?:[ \t]+(?<ts>[-+0-9.eE]+))?(?:[ \t]+#.*)?[ \t]*$")
LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


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


def read(path: Path, dl: DeadLetter, *, chunk_mib: float = 64, scrape_time: Any = None,
         **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read exposition text into the metrics frame; bad lines are rejected as ``bad_line``.

    Everything is vectorised (polars): lines are split, matched by one regex and the distinct label sets
    parsed at once, so no Python runs per line.
    """
    import datetime as dt

    if scrape_time is None:
        stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat()
    else:
        import pandas as pd

        stamp = pd.Timestamp(scrape_time).tz_localize("UTC").isoformat() if pd.Timestamp(
            scrape_time).tzinfo is None else pd.Timestamp(scrape_time).tz_convert("UTC").isoformat()
    out, normalised, n = [], {}, 0
    for piece, first in _chunks(path, max(1 << 16, int(chunk_mib * (1 << 20)))):
        before = dl.rejected
        df = _lines(piece, first, dl)
        n_enc = dl.rejected - before
        df = df.filter(~pl.col("__raw").str.strip_chars_start().str.starts_with("#"))
        n += df.height + n_enc
        df = df.with_columns(pl.col("__raw").str.extract_groups(SAMPLE).alias("__m")).unnest("__m")
        df = df.rename({"labels": "__labels"})
        lab, bad_sets = parse_label_sets(df["__labels"].unique())
        is_bad = pl.col("name").is_null() | pl.col("__labels").is_in(bad_sets).fill_null(False)
        bad = df.filter(is_bad)
        if bad.height:
            dl.reject_many(bad["__line"].to_list(), ["labels" if x else None for x in bad["name"].to_list()],
                           ["bad_line"] * bad.height, bad["__raw"].to_list(), details=[BAD_LINE] * bad.height)
            df = df.filter(~is_bad)
        lab = lab.rename({c: f"label_{c}" for c in lab.columns if c in ("name", "value", "ts", "metric")})
        df = df.join(lab, on="__labels", how="left", nulls_equal=True).drop("__labels")
        svc = [pl.col(c) for c in ("service", "job") if c in df.columns]
        df = df.with_columns(
            metric=pl.col("name"), ts=pl.col("ts").fill_null(pl.lit(stamp)),
            service=pl.coalesce(svc) if svc else pl.lit(None, dtype=pl.String)).drop("name")

        good, norm = validate(df, "metrics", dl, raw=raw_lookup(df))
        add_counts(normalised, norm)
        out.append(good)
    if not out:
        out.append(validate(pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), "metrics", DeadLetter())[0])
    return pl.concat(out, how="diagonal_relaxed"), n, normalised, "metrics"
