"""``holoops fleet show|check``: the fleet profile as operators read it."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("fleet", help="show or check a fleet profile")
    fs = p.add_subparsers(dest="fleet_command", metavar="ACTION")
    show = fs.add_parser("show", help="print the services, ports, health endpoints, dependencies and SLOs")
    show.add_argument("--fleet", help="fleet profile YAML (default: the bundled HolographicMemory)")
    show.add_argument("--json", action="store_true", help="print the validated profile as JSON")
    show.set_defaults(handler=_show)
    check = fs.add_parser("check", help="validate a fleet profile; exits 2 naming the key at fault; with "
                                        "--prometheus, exits 1 listing every selector that matches no series")
    check.add_argument("path", nargs="?", help="fleet profile YAML")
    check.add_argument("--prometheus", metavar="URL", help="also check the profile's signal selectors against "
                                                           "this Prometheus")
    check.add_argument("--since", default="1h", help="series seen within this span count (default 1h)")
    check.set_defaults(handler=_check)
    disc = fs.add_parser("discover", help="write a fleet profile from a live Prometheus (targets, series, "
                                          "labels) and access logs; print where each signal comes from")
    src = disc.add_mutually_exclusive_group(required=True)
    src.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")
    src.add_argument("--exports", metavar="DIR", help="a folder of exported metrics, logs and traces instead "
                                                       "(services from the data, dependencies from the spans)")
    disc.add_argument("--logs", action="append", default=[], metavar="[SERVICE=]PATH",
                      help="log file or folder of a service (repeatable); access logs add status codes "
                           "and latency")
    disc.add_argument("--out", required=True, metavar="FLEET.yaml", help="where to write the profile")
    disc.add_argument("--base", metavar="FLEET.yaml", help="an existing profile to extend (its settings are kept)")
    disc.add_argument("--name", help="fleet name (default: the base profile's, else 'discovered')")
    disc.add_argument("--since", default="1h", help="series seen within this span count (default 1h)")
    disc.add_argument("--json", action="store_true", help="print the coverage as JSON")
    disc.set_defaults(handler=_discover)
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
    if not args.prometheus:
        return 0
    from holoops.discover import check_selectors
    from holoops.sources.auth import redact

    bad = check_selectors(fleet, args.prometheus, since=args.since)
    if not bad:
        print(f"ok: every selector of the profile matches series in {redact(args.prometheus)}")
        return 0
    print(f"{len(bad)} selector(s) match no series in {redact(args.prometheus)} (last {args.since}):")
    for b in bad:
        print(f"  {b['service']:<24} {b['signal']:<14} {b['selector']}")
    return 1


def _discover(args) -> int:
    import json

    from holoops.discover import discover
    from holoops.fleet import load_fleet

    base = load_fleet(args.base) if args.base else None
    if args.exports:
        from holoops.discover import discover_exports

        found = discover_exports(args.exports, name=args.name)
    else:
        found = discover(args.prometheus, logs=args.logs, base=base, name=args.name, since=args.since)
    path = found.write(args.out)
    if args.json:
        print(json.dumps({"profile": str(path), "coverage": found.coverage.to_dict(), "notes": found.notes},
                         indent=2))
        return 0
    print(f"wrote {path}: {len(found.profile['services'])} service(s)")
    print(found.table())
    for n in found.notes:
        print(f"- {n}")
    return 0
