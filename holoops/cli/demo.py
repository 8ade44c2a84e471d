"""``holoops demo``: the main job on the demo fleet.

Simulates the fleet and writes its exports, ground truth and summary; runs the report suite and the
incident runbooks in parallel kernels; builds the deployment guides and the alert rules; and links it
all from ``<out>/index.html``. ``--data-only`` stops after the exports.
"""

from __future__ import annotations

FORMATS = ("openmetrics", "query_range", "jsonl", "jaeger", "otlp", "parquet", "csv")


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job on the demo fleet: exports, reports, runbooks, guides, alerts",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("--out", default="reports", help="reports folder (default: ./reports)")
    p.add_argument("--days", type=float, default=7, help="days of data (default 7; incidents in the last 7)")
    p.add_argument("--start", default=None, help="window start, ISO-8601 UTC (default 2026-11-02T00:00:00Z)")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    p.add_argument("--formats", default=",".join(FORMATS),
                   help=f"export formats, comma-separated subset of {','.join(FORMATS)} (default: all)")
    p.add_argument("--fleet", default=None, help="fleet profile YAML (default: the bundled HolographicMemory)")
    p.add_argument("--incidents", default="default",
                   help="'default', 'none' or comma-separated incident kinds")
    p.add_argument("--data-only", action="store_true", help="only write the exports, ground truth and summary")
    p.add_argument("--suite", default="demo", help="report suite to run (default: demo; see holoops report)")
    p.add_argument("--parallel", type=int, default=2, help="notebook kernels at once (default 2)")
    p.set_defaults(handler=_run)


def _run(args) -> int:
    from pathlib import Path

    from holoops.demo.writers import write_demo
    from holoops.errors import ParameterError

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ParameterError(f"--formats: unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
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
