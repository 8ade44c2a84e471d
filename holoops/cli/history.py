"""``holoops history``: how the latest runs compare to the week before."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("history", help="compare the latest run's results to the median of the week before")
    p.add_argument("--notebook", help="only this notebook (file stem, e.g. diagnostics)")
    p.add_argument("--since", default="14d", help="look at runs this recent (default 14d)")
    p.add_argument("--baseline-days", type=int, default=7, help="baseline window before the latest run")
    p.add_argument("--path", help="history file (default: $HOLOOPS_HOME/history.jsonl or reports/history.jsonl)")
    p.add_argument("--runs", action="store_true", help="list the runs instead of comparing")
    p.set_defaults(handler=_history)


def _history(args) -> int:
    from holoops import history

    runs = history.load(args.path, notebook=args.notebook, since=args.since)
    if args.runs:
        for r in runs:
            print(f"{r['started_at'][:19]}  {r['notebook']:<28} {r['status']:<7} {r['duration_s']:7.1f}s")
        return 0
    print(history.format_table(history.compare(runs, args.baseline_days)))
    return 0
