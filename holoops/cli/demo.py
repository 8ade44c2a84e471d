"""``holoops demo``: the main job on the demo fleet.

Simulates the fleet and writes its exports, ground truth and summary; runs the report suite and the
incident runbooks in parallel kernels; builds the deployment guides and the alert rules; and links it
all from ``<out>/index.html``. ``--data-only`` stops after the exports.

The exports are written in three formats by default (Parquet dumps, JSON-lines logs and events, Prometheus
``query_range`` JSON: about 190 MB for 7 days); ``--formats all`` adds OpenMetrics text, Jaeger and OTLP
traces and CSV dumps (about 1.3 GB for 7 days).
"""

from __future__ import annotations

FORMATS = ("openmetrics", "query_range", "jsonl", "jaeger", "otlp", "parquet", "csv")
#: what ``holoops demo`` writes unless asked: one of each kind of export, well under 300 MB for 7 days
DEFAULT_FORMATS = ("parquet", "jsonl", "query_range")
#: the notebooks' ``demo_days`` range (holoops.params)
MAX_DAYS = 90


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job on the demo fleet: exports, reports, runbooks, guides, alerts",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("--out", default="reports", help="reports folder (default: ./reports)")
    p.add_argument("--days", type=float, default=7, help="days of data (default 7; incidents in the last 7)")
    p.add_argument("--start", default=None, help="window start, ISO-8601 UTC (default 2026-11-02T00:00:00Z)")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    p.add_argument("--formats", default="default",
                   help=f"export formats of demo-data/, comma-separated: {', '.join(FORMATS)}; 'default' = "
                        f"{','.join(DEFAULT_FORMATS)} (about 190 MB for 7 days); 'all' = every format "
                        f"(about 1.3 GB for 7 days; OpenMetrics text alone is 400 MB). Default: default")
    p.add_argument("--fleet", default=None, help="fleet profile YAML (default: the bundled HolographicMemory)")
    p.add_argument("--incidents", default="default",
                   help="'default', 'none' or comma-separated incident kinds")
    p.add_argument("--data-only", action="store_true", help="only write the exports, ground truth and summary")
    p.add_argument("--suite", default="demo", help="report suite to run (default: demo; see holoops report)")
    p.add_argument("--parallel", type=int, default=2, help="notebook kernels at once (default 2)")
    p.set_defaults(handler=_run)


def parse_formats(text: str) -> list[str]:
    """``--formats``: names, 'default' and 'all', comma-separated -> formats in canonical order."""
    import difflib

    from holoops.errors import ParameterError

    chosen: set[str] = set()
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if token == "all":
            chosen.update(FORMATS)
        elif token == "default":
            chosen.update(DEFAULT_FORMATS)
        elif token in FORMATS:
            chosen.add(token)
        else:
            close = difflib.get_close_matches(token, [*FORMATS, "all", "default"], n=1, cutoff=0.6)
            raise ParameterError(f"--formats: unknown format {token!r}" + (f"; did you mean {close[0]!r}?" if close
                                 else "") + f"; choose from {', '.join(FORMATS)}, default or all")
    if not chosen:
        raise ParameterError(f"--formats: no format given; choose from {', '.join(FORMATS)}, default or all")
    return [f for f in FORMATS if f in chosen]


def _check(args) -> None:
    """Bad --days, --start, --incidents or --parallel fail here, in one line, before anything is written."""
    from holoops.errors import ParameterError

    low = 2 / 1440 if args.data_only else 1
    high = 366 if args.data_only else MAX_DAYS
    if not low <= args.days <= high:
        raise ParameterError(f"--days: bad value {args.days:g}: expected {'more than 2 minutes' if args.data_only else '1'}"
                             f" to {high} days" + ("" if args.data_only else " (the notebooks' demo_days range)"))
    if args.start is not None:
        from holoops.timeutil import TIME_FORMS, parse_time

        try:
            args.start = parse_time(args.start).isoformat()  # 'now' and '-7d' become the time they name
        except (ValueError, TypeError, OverflowError):
            raise ParameterError(f"--start: bad value {args.start!r}: expected {TIME_FORMS}") from None
    if args.incidents not in ("default", "none"):
        from holoops.demo.schedule import KINDS

        bad = [k.strip() for k in args.incidents.split(",") if k.strip() and k.strip() not in KINDS]
        if bad:
            raise ParameterError(f"--incidents: unknown kind {bad[0]!r}; expected 'default', 'none' or "
                                 f"comma-separated kinds of {', '.join(KINDS)}")
    if args.parallel < 1:
        raise ParameterError(f"--parallel: bad value {args.parallel}: expected 1 or more kernels")


def _run(args) -> int:
    from pathlib import Path

    from holoops.demo.writers import write_demo

    formats = parse_formats(args.formats)
    _check(args)
    incidents = None if args.incidents == "none" else (
        "default" if args.incidents == "default" else [k.strip() for k in args.incidents.split(",") if k.strip()])
    out = Path(args.out)
    data = write_demo(out / "demo-data", days=args.days, start=args.start, seed=args.seed, formats=formats,
                      fleet=args.fleet, incidents=incidents)
    print(f"demo: wrote the demo fleet's exports to {data}/ (summary: {data / 'summary.md'})", flush=True)
    if args.data_only:
        return 0
    from holoops.reports.index import run_main_job

    summary = run_main_job(out, data, suite=args.suite, parallel=args.parallel, fleet=args.fleet,
                           days=args.days, seed=args.seed)
    print(f"demo: open {summary.index}")
    return 0 if summary.ok else 1
