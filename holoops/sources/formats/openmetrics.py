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
from holoops.sources.formats._canon import validate
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


def read(path: Path, dl: DeadLetter, *, chunk_mib: float = 64, scrape_time: Any = None,
         **_: Any) -> tuple[pl.DataFrame, int, dict[str, int], str]:
    """Read exposition text into the metrics frame; bad lines are rejected as ``bad_line``."""
    import datetime as dt

    if scrape_time is None:
        stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat()
    else:
        import pandas as pd

        stamp = pd.Timestamp(scrape_time).tz_localize("UTC").isoformat() if pd.Timestamp(
            scrape_time).tzinfo is None else pd.Timestamp(scrape_time).tz_convert("UTC").isoformat()
    out, normalised, n = [], {}, 0
    cache: dict[str, dict[str, str] | None] = {}
    for piece, first in _chunks(path, max(1 << 16, int(chunk_mib * (1 << 20)))):
        before = dl.rejected
        lines, nos = decode_lines(piece, first, dl)
        n_enc = dl.rejected - before
        df = pl.DataFrame({"__raw": pl.Series(lines, dtype=pl.String), "__line": pl.Series(nos, dtype=pl.Int64)})
        df = df.filter(~pl.col("__raw").str.strip_chars_start().str.starts_with("#"))
        n += df.height + n_enc
        df = df.with_columns(pl.col("__raw").str.extract_groups(SAMPLE).alias("__m")).unnest("__m")
        for text in df["labels"].unique().to_list():
            if text not in cache:
                cache[text] = parse_labels(text)
        bad_sets = [t for t, v in cache.items() if v is None]
        bad = df.filter(pl.col("name").is_null() | pl.col("labels").is_in(bad_sets))
        if bad.height:
            dl.reject_many(bad["__line"].to_list(), ["labels" if x else None for x in bad["name"].to_list()],
                           ["bad_line"] * bad.height, bad["__raw"].to_list(),
                           details=["not a sample line: name{label=\"value\",...} value [timestamp]"]
                           * bad.height)
            df = df.join(bad.select("__line"), on="__line", how="anti")
        sets = [t for t in df["labels"].unique().to_list() if cache.get(t) is not None or t is None]
        lab_rows = [{"labels": t, **(cache.get(t) or {})} for t in sets]
        lab = pl.DataFrame(lab_rows, infer_schema_length=None) if lab_rows else pl.DataFrame(
            {"labels": pl.Series([], dtype=pl.String)})
        lab = lab.rename({c: f"label_{c}" for c in lab.columns if c in ("name", "value", "ts", "metric")})
        df = df.join(lab, on="labels", how="left", nulls_equal=True).drop("labels")
        svc = [pl.col(c) for c in ("service", "job") if c in df.columns]
        df = df.with_columns(
            metric=pl.col("name"), ts=pl.col("ts").fill_null(pl.lit(stamp)),
            service=pl.coalesce(svc) if svc else pl.lit(None, dtype=pl.String)).drop("name")

        def raw(ls: list[int], _df=df) -> list[str]:
            hit = _df.filter(pl.col("__line").is_in(ls))
            found = dict(zip(hit["__line"].to_list(), hit["__raw"].to_list(), strict=False))
            return [found.get(x) for x in ls]

        good, norm = validate(df, "metrics", dl, raw=raw)
        for k, v in norm.items():
            normalised[k] = normalised.get(k, 0) + v
        out.append(good)
    if not out:
        out.append(validate(pl.DataFrame({"__line": pl.Series([], dtype=pl.Int64)}), "metrics", DeadLetter())[0])
    return pl.concat(out, how="diagonal_relaxed"), n, normalised, "metrics"
