"""``holoops logs exporter``: serve access-log request counters (status codes, routes) to Prometheus."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("logs", help="work with service logs (an access-log exporter for Prometheus)")
    ls = p.add_subparsers(dest="logs_command", metavar="ACTION")
    e = ls.add_parser("exporter", help="follow access logs and serve holoops_access_log_requests_total "
                                       "{service,instance,route,method,code} on /metrics")
    e.add_argument("--log", action="append", required=True, metavar="SERVICE[@INSTANCE]=PATH",
                   help="an access log and the service writing it (repeatable)")
    e.add_argument("--listen", default="127.0.0.1:9188", metavar="HOST:PORT", help="default 127.0.0.1:9188")
    e.add_argument("--from-start", action="store_true", help="count the lines already in the files too")
    e.set_defaults(handler=_exporter)
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])


def _exporter(args) -> int:
    from holoops.errors import ParameterError
    from holoops.exporter import run_forever

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise ParameterError(f"--listen {args.listen!r}: expected HOST:PORT, e.g. 127.0.0.1:9188")
    return run_forever(args.log, host, int(port), from_start=args.from_start)
