"""``holoops health``: probe the fleet's health endpoints and (optionally) read Prometheus's targets."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("health", help="probe each service's health endpoint; compare with Prometheus targets")
    p.add_argument("--fleet", help="fleet profile YAML (default: the bundled HolographicMemory)")
    p.add_argument("--host", default="127.0.0.1", help="host for every service (default 127.0.0.1)")
    p.add_argument("--scheme", default="http", choices=("http", "https"))
    p.add_argument("--base-url", action="append", default=[], metavar="SERVICE=URL",
                   help="base URL of one service (repeatable), e.g. vault=http://10.0.0.5:8002")
    p.add_argument("--service", action="append", default=[], metavar="NAME", help="probe only these services")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per probe attempt (default 2)")
    p.add_argument("--retries", type=int, default=1, help="retries after a failed probe (default 1)")
    p.add_argument("--prometheus", metavar="URL", nargs="?", const="",
                   help="also read scrape targets from Prometheus (URL, or HOLOOPS_PROM_URL when omitted)")
    p.add_argument("--logs", action="append", default=[], metavar="[SERVICE=]PATH",
                   help="access logs (repeatable): with --prometheus, status codes from them judge whether "
                        "an up service is failing")
    p.add_argument("--window", default="15m", help="recent span judged for errors and latency (default 15m)")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.set_defaults(handler=_health)


def _parse_base_urls(items: list[str]) -> dict[str, list[str]]:
    from holoops.errors import ParameterError

    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise ParameterError(f"--base-url {item!r}: expected SERVICE=http(s)://HOST:PORT")
        out.setdefault(name.strip(), []).append(url.strip())
    return out


def _health(args) -> int:
    import json
    from dataclasses import asdict

    from holoops.fleet import load_fleet
    from holoops.sources.auth import redact
    from holoops.sources.health import probe_fleet

    fleet = load_fleet(args.fleet)
    base = _parse_base_urls(args.base_url)
    for name in [*base, *args.service]:
        fleet.service(name)  # unknown names fail loudly, listing the known ones
    results = probe_fleet(fleet, base, timeout=args.timeout, retries=max(0, args.retries), host=args.host,
                          scheme=args.scheme, services=args.service or None)
    rec = None
    targets_error = None
    verdicts = None
    if args.prometheus is not None:
        from holoops.errors import PrometheusError
        from holoops.sources.health import probes_frame, reconcile_targets, scrape_targets
        from holoops.sources.prometheus import PrometheusSource

        try:
            with PrometheusSource(args.prometheus or None, timeout=args.timeout * 2, retries=1) as src:
                targets = scrape_targets(src)
                rec = reconcile_targets(fleet, targets)
                verdicts = _verdicts(args, fleet, src.url, probes_frame(results), targets)
        except PrometheusError as exc:
            targets_error = str(exc)
    serving = verdicts is None or not verdicts["status"].isin(["down", "failing"]).any()
    healthy = all(r.ok for r in results) and (rec is None or rec.ok) and targets_error is None and serving
    if args.json:
        doc = {"fleet": fleet.name, "ok": healthy, "probes": [asdict(r) for r in results]}
        if rec is not None:
            doc["targets"] = {"ok": rec.ok, "missing": rec.missing_targets, "unknown": rec.unknown_targets,
                              "down": rec.down_targets}
        if targets_error:
            doc["targets_error"] = targets_error
        if verdicts is not None:
            doc["services"] = json.loads(verdicts.to_json(orient="records"))
        print(redact(json.dumps(doc, indent=2)))
        return 0 if healthy else 1
    print(f"fleet {fleet.name}: {sum(r.ok for r in results)}/{len(results)} health endpoints ok")
    head = f"{'service':<20}{'status':>7}{'latency':>11}  {'url':<40}error"
    print(head)
    print("-" * len(head))
    for r in results:
        lat = f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else "-"
        mark = "ok" if r.ok else "FAIL"
        print(redact(f"{r.service:<20}{r.status if r.status is not None else '-':>7}{lat:>11}  {r.url:<40}"
                     f"{mark if r.ok else f'{mark}: {r.error}'}"))
    if verdicts is not None:
        print(f"\nserving (last {args.window}: errors and latency against each SLO):")
        for r in verdicts.to_dict("records"):
            err = r["5xx ratio"]
            ratio = "-" if err is None or err != err else f"{err:.1%} 5xx"
            verdict = {"failing": "UP BUT FAILING", "down": "DOWN"}.get(r["status"], r["status"])
            print(redact(f"  {r['service']:<20}{verdict:<16}{ratio:<12}{r['why']}"))
    if targets_error:
        print(redact(f"targets: {targets_error}"))
    elif rec is not None:
        print("targets: all profile services scraped and up" if rec.ok else "targets:")
        for line in rec.lines():
            print(f"  - {line}")
    return 0 if healthy else 1


def _verdicts(args, fleet, url: str, probes, targets):
    """Per service: up, and serving? (:func:`holoops.analyze.health.service_health` over the last
    ``--window`` of Prometheus and the given logs)."""
    from holoops.analyze.health import service_health
    from holoops.sources.live import PrometheusLive
    from holoops.timeutil import Window, now_utc, parse_timedelta

    end = now_utc()
    src = PrometheusLive(fleet, url, cache=False, logs=args.logs)
    ds = src.read(Window(end - parse_timedelta(args.window), end), engine="polars")
    return service_health(ds, recent=args.window, probes=probes, targets=targets)
