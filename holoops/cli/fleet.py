"""``holoops fleet show|check``: the fleet profile as operators read it."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("fleet", help="show or check a fleet profile")
    fs = p.add_subparsers(dest="fleet_command", metavar="ACTION")
    show = fs.add_parser("show", help="print the services, ports, health endpoints, dependencies and SLOs")
    show.add_argument("--fleet", help="fleet profile YAML (default: the bundled HolographicMemory)")
    show.add_argument("--json", action="store_true", help="print the validated profile as JSON")
    show.set_defaults(handler=_show)
    check = fs.add_parser("check", help="validate a fleet profile; exits 2 naming the key at fault")
    check.add_argument("path", nargs="?", help="fleet profile YAML")
    check.set_defaults(handler=_check)
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])


def _show(args) -> int:
    from holoops.fleet import load_fleet

    fleet = load_fleet(args.fleet)
    if args.json:
        print(fleet.model_dump_json(indent=2))
        return 0
    print(f"fleet {fleet.name}  (namespace {fleet.namespace}, SLO window {fleet.slo_window})")
    head = f"{'service':<20}{'port':>6}  {'health':<10}{'repl':>5}  {'availability':>12}  {'latency SLO':<18}{'GPU':<6}depends on"
    print(head)
    print("-" * len(head))
    for name, s in fleet.services.items():
        lat = f"p{round(s.slo.latency.quantile * 100)} < {s.slo.latency.threshold_ms:g} ms" if s.slo.latency else "-"
        gpu = f"{s.resources.gpu.count}x" if s.resources.gpu else "-"
        print(f"{name:<20}{s.port:>6}  {s.health:<10}{s.replicas:>5}  {s.slo.availability:>12.4%}  {lat:<18}{gpu:<6}"
              f"{', '.join(s.depends_on) or '-'}")
    return 0


def _check(args) -> int:
    from holoops.fleet import load_fleet

    fleet = load_fleet(args.path)
    print(f"ok: {fleet.name}, {len(fleet.services)} services, {len(fleet.edges)} dependencies")
    return 0
