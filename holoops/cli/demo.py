"""``holoops demo``: simulate the demo fleet and write its exports, ground truth and a summary."""

from __future__ import annotations

FORMATS = ("openmetrics", "query_range", "jsonl", "jaeger", "otlp", "parquet", "csv")


def register(sub) -> None:
    p = sub.add_parser("demo", help="simulate the demo fleet (labelled incidents) and write real export formats")
    p.add_argument("--out", default="reports/demo-data", help="output folder (default: ./reports/demo-data)")
    p.add_argument("--days", type=float, default=7, help="days of data (default 7; incidents in the last 7)")
    p.add_argument("--start", default=None, help="window start, ISO-8601 UTC (default 2026-11-02T00:00:00Z)")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    p.add_argument("--formats", default=",".join(FORMATS),
                   help=f"comma-separated subset of {','.join(FORMATS)} (default: all)")
    p.add_argument("--fleet", default=None, help="fleet profile YAML (default: the bundled HolographicMemory)")
    p.add_argument("--incidents", default="default",
                   help="'default', 'none' or comma-separated incident kinds")
    p.set_defaults(handler=_run)


def _run(args) -> int:
    from holoops.demo.writers import write_demo

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        from holoops.errors import ParameterError

        raise ParameterError(f"--formats: unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    incidents = None if args.incidents == "none" else (
        "default" if args.incidents == "default" else [k.strip() for k in args.incidents.split(",") if k.strip()])
    out = write_demo(args.out, days=args.days, start=args.start, seed=args.seed, formats=formats,
                     fleet=args.fleet, incidents=incidents)
    print(f"wrote demo fleet data to {out}/ (see {out / 'summary.md'})")
    return 0
