"""Writers for real export formats, built with polars string expressions (no per-row Python).

=============  ==============================================================================================
format         files
=============  ==============================================================================================
openmetrics    ``metrics.om`` (OpenMetrics text with ``# TYPE`` lines, timestamps in seconds, ``# EOF``;
               ``promtool tsdb create-blocks-from openmetrics`` backfills it)
query_range    ``query_range/<metric>.json`` (Prometheus HTTP API ``query_range`` matrix responses)
jsonl          ``logs.jsonl`` and ``events.jsonl`` (one JSON object per line, ISO-8601 UTC ``ts``)
jaeger         ``traces.jaeger.json`` (Jaeger query ``/api/traces`` response)
otlp           ``traces.otlp.json`` (OTLP/JSON ``resourceSpans``)
parquet, csv   ``metrics``, ``logs``, ``spans``, ``events`` dumps
=============  ==============================================================================================
``ground_truth.json`` is always written. :func:`write_demo` (``holoops demo``) also removes the files of the
formats it was not asked for, so a folder written before with more formats does not keep them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

FORMATS: tuple[str, ...] = ("openmetrics", "query_range", "jsonl", "jaeger", "otlp", "parquet", "csv")
_FRAMES = ("metrics", "logs", "spans", "events")
#: the files (and folders) each format writes, relative to the output folder
FORMAT_FILES: dict[str, tuple[str, ...]] = {
    "openmetrics": ("metrics.om",), "query_range": ("query_range",), "jsonl": ("logs.jsonl", "events.jsonl"),
    "jaeger": ("traces.jaeger.json",), "otlp": ("traces.otlp.json",),
    "parquet": tuple(f"{f}.parquet" for f in _FRAMES), "csv": tuple(f"{f}.csv" for f in _FRAMES),
}
LABELS = ("service", "instance", "route", "code", "le", "gpu", "mountpoint", "UUID", "modelName", "Hostname")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def fmt(template: str, *exprs: Any):
    """``str.format``-style template (``{{``/``}}`` escape braces) over polars expressions."""
    import string

    import polars as pl

    parts: list[Any] = []
    args = iter(exprs)
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(pl.lit(literal))
        if field is not None:
            e = next(args)
            parts.append((e if isinstance(e, pl.Expr) else pl.lit(e)).cast(pl.Utf8))
    return pl.concat_str(parts)


def _pl(df: Any):
    import polars as pl

    return pl.from_pandas(df) if not isinstance(df, pl.DataFrame) else df


def _iso(col: str):
    import polars as pl

    return pl.col(col).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")


def _value_str(col: str = "value"):
    """Go-like float formatting: integral values without a trailing '.0'."""
    import polars as pl

    s = pl.col(col).cast(pl.Float64).cast(pl.Utf8)
    return pl.when(s.str.ends_with(".0")).then(s.str.slice(0, s.str.len_chars() - 2)).otherwise(s)


def _label_expr(columns: list[str], quote: str = '"'):
    import polars as pl

    parts = [pl.when(pl.col(c).is_not_null()).then(fmt(f'{c}="{{}}"', pl.col(c).cast(pl.Utf8)))
             for c in columns]
    return pl.concat_str(parts, separator=",", ignore_nulls=True)


def _family(metric: str) -> tuple[str, str]:
    """(family name, OpenMetrics type) of a sample name."""
    for suf in HISTOGRAM_SUFFIXES:
        if metric.endswith(suf) and metric.startswith("http_request_duration_seconds"):
            return metric[: -len(suf)], "histogram"
    if metric.endswith("_total"):
        return metric[: -len("_total")], "counter"
    return metric, "gauge"


def _series_table(df: Any):
    """(frame with an int ``_sid`` per series, small table of one row per series with its labels)."""
    import polars as pl

    labels = [c for c in LABELS if c in df.columns]
    keys = ["metric", *labels]
    codes = []
    for c in keys:
        col = pl.col(c) if isinstance(df.schema[c], (pl.Categorical, pl.Enum)) else pl.col(c).cast(pl.Utf8).cast(
            pl.Categorical)
        codes.append(col.to_physical().cast(pl.Int64).fill_null(-1).alias(f"_k_{c}"))
    df = df.with_columns(codes)
    sid = pl.lit(0, dtype=pl.Int64)
    for c in keys:
        span = int(df[f"_k_{c}"].max() or 0) + 2
        sid = sid * span + (pl.col(f"_k_{c}") + 1)
    df = df.with_columns(sid.alias("_sid")).drop([f"_k_{c}" for c in keys])
    table = df.select("_sid", *keys).unique(subset="_sid", keep="first").with_columns(
        [pl.col(c).cast(pl.Utf8) for c in keys])
    rows = table.to_dicts()
    return df, rows, labels


def _labels_text(row: dict[str, Any], labels: list[str], skip: tuple[str, ...] = ()) -> str:
    return ",".join(f'{c}="{row[c]}"' for c in labels if row.get(c) is not None and c not in skip)


def write_openmetrics(metrics: Any, path: Path) -> Path:
    """OpenMetrics text, one family at a time, each series in time order (histograms grouped per label set)."""
    import polars as pl

    df, rows, labels = _series_table(_pl(metrics))
    # order the series: family, then label set (without le), then sample kind and le
    info = {}
    for r in rows:
        fam, typ = _family(r["metric"])
        group = _labels_text(r, labels, skip=("le",))
        if typ == "histogram":
            suffix = r["metric"][len(fam):]
            le = r.get("le")
            sub = (0, float("inf") if le == "+Inf" else float(le)) if suffix == "_bucket" else (
                (1, 0.0) if suffix == "_count" else (2, 0.0))
        else:
            sub = (0, 0.0)
        info[r["_sid"]] = (fam, typ, group, sub, f'{r["metric"]}{{{_labels_text(r, labels)}}} ')
    fams = sorted({v[0] for v in info.values()})
    groups = sorted({(v[0], v[2]) for v in info.values()})
    fam_rank = {f: i for i, f in enumerate(fams)}
    group_rank = {g: i for i, g in enumerate(groups)}
    subs = sorted({v[3] for v in info.values()})
    sub_rank = {x: i for i, x in enumerate(subs)}
    sids = list(info)
    df = df.with_columns(
        pl.col("_sid").replace_strict({k: group_rank[(info[k][0], info[k][2])] for k in sids},
                                      return_dtype=pl.Int64).alias("_g"),
        pl.col("_sid").replace_strict({k: sub_rank[info[k][3]] for k in sids}, return_dtype=pl.Int64).alias("_o"),
        pl.col("_sid").replace_strict({k: fam_rank[info[k][0]] for k in sids}, return_dtype=pl.Int64).alias("_f"),
    )
    hist = {fam_rank[v[0]] for v in info.values() if v[1] == "histogram"}
    # histograms: per label set, all samples of one timestamp together; others: each series in time order
    df = df.with_columns(pl.when(pl.col("_f").is_in(list(hist))).then(pl.col("_o")).otherwise(0).alias("_o1"),
                         pl.when(pl.col("_f").is_in(list(hist))).then(0).otherwise(pl.col("_o")).alias("_o0"))
    df = df.sort(["_f", "_g", "_o0", "ts", "_o1"])
    prefix = pl.col("_sid").replace_strict({k: info[k][4] for k in sids}, return_dtype=pl.Utf8)
    t = pl.col("ts").dt.epoch("ms")
    tstr = pl.when(t % 1000 == 0).then((t // 1000).cast(pl.Utf8)).otherwise((t / 1000).cast(pl.Utf8))
    lines = df.select(pl.col("_f"), pl.concat_str([prefix, _value_str(), pl.lit(" "), tstr]).alias("line"))
    bounds = np.searchsorted(lines["_f"].to_numpy(), np.arange(len(fams) + 1))
    types = {v[0]: v[1] for v in info.values()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        for i, fam in enumerate(fams):
            fh.write(f"# TYPE {fam} {types[fam]}\n".encode())
            part = lines.slice(int(bounds[i]), int(bounds[i + 1]) - int(bounds[i]))
            part.select("line").write_csv(fh, include_header=False, quote_style="never")
        fh.write(b"# EOF\n")
    return path


def write_query_range(metrics: Any, folder: Path) -> list[Path]:
    """One Prometheus ``query_range`` matrix response per metric name."""
    import orjson
    import polars as pl

    df, rows, labels = _series_table(_pl(metrics))
    df = df.select("_sid", "ts", fmt('[{},"{}"]', _value_str_epoch(), _value_str()).alias("pair"))
    agg = df.sort(["_sid", "ts"]).group_by("_sid", maintain_order=True).agg(pl.col("pair").str.join(","))
    values = dict(zip(agg["_sid"].to_list(), agg["pair"].to_list(), strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    by_metric: dict[str, list[bytes]] = {}
    for r in sorted(rows, key=lambda r: (r["metric"], _labels_text(r, labels))):
        lab = {"__name__": r["metric"], **{c: r[c] for c in labels if r.get(c) is not None}}
        by_metric.setdefault(r["metric"], []).append(
            b'{"metric":' + orjson.dumps(lab) + b',"values":[' + values[r["_sid"]].encode() + b"]}")
    out = []
    for metric, items in by_metric.items():
        body = b'{"status":"success","data":{"resultType":"matrix","result":[' + b",".join(items) + b"]}}"
        p = folder / f"{metric}.json"
        p.write_bytes(body)
        out.append(p)
    return out


def _value_str_epoch():
    import polars as pl

    t = pl.col("ts").dt.epoch("ms")
    return pl.when(t % 1000 == 0).then((t // 1000).cast(pl.Utf8)).otherwise((t / 1000).cast(pl.Utf8))


def write_jsonl(frame: Any, path: Path, ts_cols: tuple[str, ...] = ("ts",)) -> Path:
    """JSON lines with ISO-8601 UTC timestamps; categoricals as strings."""
    import polars as pl

    df = _pl(frame)
    df = df.with_columns([_iso(c).alias(c) for c in ts_cols if c in df.columns]
                         + [pl.col(c).cast(pl.Utf8) for c, t in df.schema.items()
                            if isinstance(t, (pl.Categorical, pl.Enum))])
    df.write_ndjson(path)
    return path


def _span_frame(spans: Any):
    import polars as pl

    df = _pl(spans)
    return df.with_columns(
        [pl.col(c).cast(pl.Utf8) for c, t in df.schema.items() if isinstance(t, (pl.Categorical, pl.Enum))]
    ).with_columns(
        pl.col("start").dt.epoch("us").alias("_start_us"),
        (pl.col("duration_ms") * 1000).round(0).cast(pl.Int64).alias("_dur_us"),
        pl.col("start").dt.epoch("ns").alias("_start_ns"),
    )


def write_jaeger(spans: Any, path: Path) -> Path:
    """Jaeger query API ``/api/traces`` response: ``{"data": [trace, ...]}``."""
    import polars as pl

    df = _span_frame(spans)
    tag = '{{"key":"{}","type":"{}","value":{}}}'
    ref = pl.when(pl.col("parent_id") == "").then(pl.lit("[]")).otherwise(
        fmt('[{{"refType":"CHILD_OF","traceID":"{}","spanID":"{}"}}]', pl.col("trace_id"), pl.col("parent_id")))
    tags = pl.concat_str([
        pl.lit('[{"key":"span.kind","type":"string","value":"server"}'),
        fmt("," + tag, pl.lit("peer.service"), pl.lit("string"),
                  fmt('"{}"', pl.col("peer"))),
        fmt("," + tag, pl.lit("attempt"), pl.lit("int64"), pl.col("attempt")),
        fmt("," + tag, pl.lit("payload_bytes"), pl.lit("int64"), pl.col("payload_bytes").cast(pl.Int64)),
        fmt("," + tag, pl.lit("instance"), pl.lit("string"), fmt('"{}"', pl.col("instance"))),
        pl.when(pl.col("status") == "error").then(
            pl.lit(',{"key":"error","type":"bool","value":true},'
                   '{"key":"otel.status_code","type":"string","value":"ERROR"}')).otherwise(pl.lit("")),
        pl.lit("]"),
    ])
    df = df.with_columns(pl.col("service").rank("dense").cast(pl.Int64).alias("_pid"))
    span_json = fmt(
        '{{"traceID":"{}","spanID":"{}","flags":1,"operationName":"{}","references":{},"startTime":{},'
        '"duration":{},"tags":{},"logs":[],"processID":"p{}","warnings":null}}',
        pl.col("trace_id"), pl.col("span_id"), pl.col("operation"), ref, pl.col("_start_us"), pl.col("_dur_us"),
        tags, pl.col("_pid"))
    df = df.with_columns(span_json.alias("_json"))
    procs = (df.group_by(["trace_id", "_pid", "service"]).agg(pl.col("instance").first())
             .sort(["trace_id", "_pid"])
             .with_columns(fmt('"p{}":{{"serviceName":"{}","tags":[{{"key":"hostname","type":"string",'
                                     '"value":"{}"}}]}}', pl.col("_pid"), pl.col("service"),
                                     pl.col("instance").str.split(":").list.first()).alias("_p"))
             .group_by("trace_id", maintain_order=True).agg(pl.col("_p").str.join(",")))
    traces = (df.sort(["trace_id", "_start_ns"]).group_by("trace_id", maintain_order=True)
              .agg(pl.col("_json").str.join(",").alias("_spans"), pl.col("_start_ns").min().alias("_t0"))
              .join(procs, on="trace_id").sort("_t0"))
    traces = traces.select(fmt('{{"traceID":"{}","spans":[{}],"processes":{{{}}},"warnings":null}}',
                                     pl.col("trace_id"), pl.col("_spans"), pl.col("_p")).alias("j"))
    body = ",".join(traces["j"].to_list())
    path.write_text('{"data":[' + body + '],"total":0,"limit":0,"offset":0,"errors":null}', encoding="utf-8")
    return path


def write_otlp(spans: Any, path: Path) -> Path:
    """OTLP/JSON export: one ``resourceSpans`` entry per service."""
    import polars as pl

    df = _span_frame(spans)

    def sattr(key: str, val):
        return fmt(f'{{{{"key":"{key}","value":{{{{"stringValue":"{{}}"}}}}}}}}', val)

    def iattr(key: str, val):
        return fmt(f'{{{{"key":"{key}","value":{{{{"intValue":"{{}}"}}}}}}}}', val)

    attrs = pl.concat_str([sattr("peer.service", pl.col("peer")), iattr("attempt", pl.col("attempt")),
                           iattr("payload_bytes", pl.col("payload_bytes").cast(pl.Int64)),
                           sattr("service.instance.id", pl.col("instance"))], separator=",")
    span_json = fmt(
        '{{"traceId":"{}","spanId":"{}","parentSpanId":"{}","name":"{}","kind":2,"startTimeUnixNano":"{}",'
        '"endTimeUnixNano":"{}","attributes":[{}],"status":{{"code":{}}}}}',
        pl.col("trace_id"), pl.col("span_id"), pl.col("parent_id"), pl.col("operation"), pl.col("_start_ns"),
        pl.col("_start_ns") + (pl.col("duration_ms") * 1e6).round(0).cast(pl.Int64), attrs,
        pl.when(pl.col("status") == "error").then(pl.lit(2)).otherwise(pl.lit(1)))
    per = (df.sort("_start_ns").with_columns(span_json.alias("_j"))
           .group_by("service", maintain_order=True).agg(pl.col("_j").str.join(",")).sort("service"))
    rs = per.select(fmt(
        '{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{}"}}}}]}},'
        '"scopeSpans":[{{"scope":{{"name":"holoops.demo","version":"1"}},"spans":[{}]}}]}}',
        pl.col("service"), pl.col("_j")).alias("r"))
    path.write_text('{"resourceSpans":[' + ",".join(rs["r"].to_list()) + "]}", encoding="utf-8")
    return path


def write_all(demo: Any, folder: Path, formats: Iterable[str] | None = None) -> dict[str, Path]:
    """Write ``formats`` (default all) plus ``ground_truth.json``; returns name -> path."""
    import orjson

    fmts = list(FORMATS if formats is None else formats)
    unknown = [f for f in fmts if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    gt = folder / "ground_truth.json"
    gt.write_bytes(orjson.dumps(demo.ground_truth(), option=orjson.OPT_INDENT_2))
    out["ground_truth.json"] = gt
    frames = {"metrics": demo.metrics, "logs": demo.logs, "spans": demo.spans, "events": demo.events}
    if "openmetrics" in fmts:
        out["metrics.om"] = write_openmetrics(demo.metrics, folder / "metrics.om")
    if "query_range" in fmts:
        for p in write_query_range(demo.metrics, folder / "query_range"):
            out[f"query_range/{p.name}"] = p
    if "jsonl" in fmts:
        out["logs.jsonl"] = write_jsonl(demo.logs, folder / "logs.jsonl")
        out["events.jsonl"] = write_jsonl(demo.events, folder / "events.jsonl", ("ts", "end"))
    if "jaeger" in fmts:
        out["traces.jaeger.json"] = write_jaeger(demo.spans, folder / "traces.jaeger.json")
    if "otlp" in fmts:
        out["traces.otlp.json"] = write_otlp(demo.spans, folder / "traces.otlp.json")
    if "parquet" in fmts:
        for name, df in frames.items():
            p = folder / f"{name}.parquet"
            _pl(df).write_parquet(p)
            out[p.name] = p
    if "csv" in fmts:
        import polars as pl

        for name, df in frames.items():
            p = folder / f"{name}.csv"
            d = _pl(df)
            d = d.with_columns([_iso(c).alias(c) for c, t in d.schema.items() if isinstance(t, pl.Datetime)])
            d.write_csv(p)
            out[p.name] = p
    return out


def summary_markdown(demo: Any, files: dict[str, Path], timings: dict[str, float] | None = None) -> str:
    """A human summary: window, row counts, incidents, files with sizes."""
    a, b = demo.window
    lines = ["# Demo fleet data", "",
             f"- window: {a.isoformat()} -> {b.isoformat()} ({demo.meta.get('days')} days)",
             f"- seed: {demo.meta.get('seed')}, scrape interval: {demo.meta.get('scrape_interval')}, "
             f"log sample: {demo.meta.get('log_sample')}, trace sample: {demo.meta.get('trace_sample')}",
             "", "## Rows", "", "| frame | rows |", "|---|---:|"]
    for name in ("metrics", "logs", "spans", "events"):
        lines.append(f"| {name} | {len(getattr(demo, name)):,} |")
    lines += ["", "## Incidents (ground truth)", "", "| id | kind | service | onset | end | trigger |",
              "|---|---|---|---|---|---|"]
    for inc in demo.truth:
        lines.append(f"| {inc['id']} | {inc['kind']} | {inc['service']} | {inc['onset']} | {inc['end']} | "
                     f"{inc['trigger']} |")
    for sk in demo.meta.get("skipped", []):
        lines.append(f"\nSkipped {sk['kind']}: {sk['reason']}")
    lines += ["", f"Scrape gaps: {len(demo.meta.get('gaps', []))} (listed in ground_truth.json)", "",
              "## Files", "", "| file | size |", "|---|---:|"]
    root = None
    for name, p in sorted(files.items()):
        root = root or p.parent
        lines.append(f"| {name} | {_size(p.stat().st_size)} |")
    if timings:
        lines += ["", "## Timings", ""] + [f"- {k}: {v:.2f} s" for k, v in timings.items()]
    return "\n".join(lines) + "\n"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _remove_other_formats(folder: Path, formats: Iterable[str]) -> None:
    """Delete what earlier runs wrote in formats not chosen now (only the names the writers use)."""
    import shutil

    keep = set(formats)
    for fmt_name, names in FORMAT_FILES.items():
        if fmt_name in keep:
            continue
        for name in names:
            p = folder / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.is_file() or p.is_symlink():
                p.unlink()


def write_demo(out: str | Path = "reports/demo-data", days: float = 7, start: Any = None, seed: int = 7,
               formats: Iterable[str] | None = None, fleet: Any = None, incidents: Any = "default") -> Path:
    """Simulate and write the exports, ``ground_truth.json`` and ``summary.md`` to ``out``; returns ``out``."""
    import time

    from holoops.demo.core import DEFAULT_START, simulate

    out = Path(out)
    formats = list(FORMATS if formats is None else formats)
    t = time.perf_counter()
    demo = simulate(start=start or DEFAULT_START, days=days, seed=seed, fleet=fleet, incidents=incidents)
    _remove_other_formats(out, formats)
    t_sim = time.perf_counter() - t
    t = time.perf_counter()
    files = demo.write(out, formats)
    t_write = time.perf_counter() - t
    (out / "summary.md").write_text(summary_markdown(demo, files, {"simulate": t_sim, "write": t_write}),
                                    encoding="utf-8")
    return out
