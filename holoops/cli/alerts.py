"""``holoops alerts build|backtest|check``: alert rules as code, validated, backtested, and checked
against what a live Prometheus holds."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("alerts", help="build Prometheus/Alertmanager alerting configs; backtest them")
    fs = p.add_subparsers(dest="alerts_command", metavar="ACTION")
    b = fs.add_parser("build", help="write rules/*.yml, rule unit tests, alertmanager.yml and routing tests; "
                                    "validate with promtool/amtool when present")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--fleet", help="fleet profile YAML (default: the bundled HolographicMemory)")
    b.add_argument("--catalog", action="append", help="alert catalog YAML (repeatable; default: bundled)")
    b.add_argument("--runbook-base", help="runbook URL base (default: $HOLOOPS_RUNBOOK_BASE or local Jupyter)")
    b.add_argument("--no-tools", action="store_true", help="do not run promtool/amtool")
    b.set_defaults(handler=_build)
    t = fs.add_parser("backtest", help="replay the rules over the demo fleet (or a metrics export) and report "
                                       "pages per week and time to detect each incident")
    t.add_argument("--days", type=int, default=14, help="days of demo history to simulate (default 14)")
    t.add_argument("--seed", type=int, default=7)
    t.add_argument("--metrics", help="a metrics export (parquet/CSV canonical frame) instead of the demo")
    t.add_argument("--fleet", help="fleet profile YAML")
    t.add_argument("--interval", default="1m", help="rule evaluation interval (default 1m)")
    t.add_argument("--firing", action="store_true", help="also list every firing interval")
    t.set_defaults(handler=_backtest)
    c = fs.add_parser("check", help="ask a Prometheus whether every selector of every rule matches a series; "
                                    "list the rules that select nothing (exit 1 if any)")
    c.add_argument("--prometheus", required=True, metavar="URL",
                   help="Prometheus base URL (credentials from HOLOOPS_PROM_* as everywhere)")
    c.add_argument("--rules", action="append", metavar="PATH",
                   help="rule file or folder (repeatable; default: build the rules from --fleet into a "
                        "temporary folder)")
    c.add_argument("--fleet", help="fleet profile YAML for the default rules (default: the bundled one)")
    c.add_argument("--since", default="1h", help="how far back a series counts as present (default 1h)")
    c.add_argument("--until", help="end of that range (default now; ISO time or e.g. -2h)")
    c.set_defaults(handler=_check)
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])


def _build(args) -> int:
    from holoops.analyze.alerts import build

    result = build(args.out, fleet=args.fleet, catalog=args.catalog, runbook_base=args.runbook_base,
                   run_tools=not args.no_tools)
    print(result)
    return 0 if result.ok else 1


def _backtest(args) -> int:
    from holoops.analyze.alerts import backtest

    truth = None
    if args.metrics:
        import pandas as pd

        metrics = pd.read_parquet(args.metrics) if args.metrics.endswith(".parquet") else pd.read_csv(
            args.metrics, parse_dates=["ts"])
    else:
        from holoops.demo import simulate

        demo = simulate(days=args.days, seed=args.seed, fleet=args.fleet)
        metrics, truth = demo.metrics, demo.truth
    report = backtest(metrics, truth=truth, fleet=args.fleet, interval=args.interval)
    print(report)
    if args.firing:
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_rows", 10_000):
            print("\nfiring intervals:\n" + report.firing().to_string(index=False))
    return 0


def _check(args) -> int:
    from holoops.analyze.alerts import check

    report = check(args.prometheus, rules=args.rules, fleet=args.fleet, since=args.since, until=args.until)
    print(report)
    return 0 if report.ok else 1
