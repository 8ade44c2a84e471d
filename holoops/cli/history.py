"""``holoops history``: how the latest runs compare to the week before (or list the runs)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("history", help="compare the latest runs' results to the median of the week before",
                       description="Each notebook's latest run (per set of parameters), with its run id and "
                                   "parameters, against the median of the earlier ok runs with the same "
                                   "parameters; the results that changed most come first.")
    p.add_argument("--notebook", help="only this notebook (file stem, e.g. diagnostics)")
    p.add_argument("--since", default="14d",
                   help="runs started since: a duration like 14d or 2h, or an ISO time (default 14d)")
    p.add_argument("--baseline-days", type=int, default=7, help="baseline window before the latest run")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--path", help="history file (default: $HOLOOPS_HISTORY, $HOLOOPS_HOME/history.jsonl, "
                                      "else reports/history.jsonl)")
    where.add_argument("--reports", "--out", dest="reports", metavar="DIR",
                       help="the reports folder the runs were written to (--out of run, report, demo): "
                            "reads DIR/history.jsonl")
    p.add_argument("--runs", action="store_true", help="list the runs (id, parameters) instead of comparing")
    p.set_defaults(handler=_history)


def _history(args) -> int:
    from holoops import history
    from holoops.errors import ParameterError

    if args.baseline_days < 1:
        raise ParameterError(f"--baseline-days: bad value {args.baseline_days}: expected a whole number of days >= 1")
    history.since_cutoff(args.since)  # a bad --since fails here, even without a history file
    path = args.path or history.default_path(args.reports)
    runs = history.load(path, notebook=args.notebook, since=args.since)
    if args.runs:
        print(history.format_runs(runs))
        return 0
    print(history.format_table(history.compare(runs, args.baseline_days)))
    return 0
