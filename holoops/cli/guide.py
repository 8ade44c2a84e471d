"""``holoops guide build|check|validate``: deployment guides from the fleet profile."""

from __future__ import annotations

PLATFORM_CHOICES = ("compose", "kubernetes", "systemd")


def register(sub) -> None:
    p = sub.add_parser("guide", help="build, check prerequisites for, or validate deployment guides")
    gs = p.add_subparsers(dest="guide_command", metavar="ACTION")
    b = gs.add_parser("build", help="write guides (Markdown + HTML) and artifacts for env x platform")
    b.add_argument("--out", required=True, help="output folder (written only when everything rendered)")
    _common(b)
    b.add_argument("--no-validate", action="store_true", help="skip the consistency check before writing")
    b.set_defaults(handler=_build)
    c = gs.add_parser("check", help="check this machine's prerequisites for one environment and platform")
    _common(c)
    c.set_defaults(handler=_check)
    v = gs.add_parser("validate", help="run the consuming tools' validators on generated guides")
    _common(v)
    v.set_defaults(handler=_validate)
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])


def _common(p) -> None:
    p.add_argument("--fleet", help="fleet profile YAML (default: the bundled HolographicMemory)")
    p.add_argument("--env", action="append", help="environment (repeatable; default: all in the profile)")
    p.add_argument("--platform", action="append", choices=PLATFORM_CHOICES,
                   help="platform (repeatable; default: all)")


def _build(args) -> int:
    from holoops.guides import write_guides

    guides = write_guides(args.out, args.fleet, args.env, args.platform, validate=not args.no_validate)
    for g in guides:
        print(f"wrote {args.out}/{g.folder}/guide.md (+ guide.html, {len(g.artifacts)} artifacts)")
    print(f"wrote {args.out}/index.md, {args.out}/index.html")
    return 0


def _check(args) -> int:
    from holoops.fleet import load_fleet
    from holoops.guides.checks import run_checks

    fleet = load_fleet(args.fleet)
    failed = 0
    for env in args.env or list(fleet.environments):
        for plat in args.platform or ["compose"]:
            print(f"== {fleet.name}: {env} on {plat}")
            for r in run_checks(fleet, env, plat):
                print(r.line())
                failed += not r.ok
    return 1 if failed else 0


def _validate(args) -> int:
    from holoops.fleet import load_fleet
    from holoops.guides import build_guide, validate_guide

    fleet = load_fleet(args.fleet)
    bad = 0
    for env in args.env or list(fleet.environments):
        for plat in args.platform or list(PLATFORM_CHOICES):
            print(f"== {env}/{plat}")
            for r in validate_guide(build_guide(fleet, env, plat), fleet):
                print(f"  {r}")
                bad += not r.ok
    return 1 if bad else 0
