"""A Prometheus exporter for access logs: the status codes a service's own metrics lack, scrapeable.

``holoops logs exporter --log holographic-memory=/var/log/hm/access.log --listen 127.0.0.1:9188`` tails each
file (like ``tail -F``: new lines only unless ``--from-start``; truncation and rotation are followed) and
serves ``/metrics``:

* ``holoops_access_log_requests_total{service, instance, route, method, code}``: one per access line; the
  route is templated (``/download/{id}``) so ids never become series;
* ``holoops_access_log_lines_total{service, file}`` and ``holoops_access_log_unparsed_lines_total``.

It is the same series :mod:`holoops.analyze.logmetrics` derives offline, so alert rules and reports read
errors from logs identically live and from exports. Standard library only, plus holoops's line patterns.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from holoops.analyze.logmetrics import COUNTER, route_template


def _patterns() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    from holoops.sources.formats.sniff import CLF_ACCESS, RUNTIME_PREFIX, UVICORN_ACCESS

    return re.compile(RUNTIME_PREFIX), re.compile(UVICORN_ACCESS), re.compile(CLF_ACCESS)


@dataclass
class Tail:
    """One followed file: where reading stopped, and the file's identity (rotation shows as a new inode)."""

    path: Path
    service: str
    instance: str | None = None
    offset: int = 0
    inode: int | None = None
    partial: bytes = b""
    lines: int = 0


@dataclass
class AccessLogExporter:
    tails: list[Tail]
    counts: Counter = field(default_factory=Counter)
    unparsed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_specs(cls, specs: list[str], *, from_start: bool = False) -> AccessLogExporter:
        """``SERVICE[@INSTANCE]=PATH`` specs; without ``--from-start`` each file is followed from its end."""
        from holoops.errors import ParameterError

        tails = []
        for spec in specs:
            who, sep, path = spec.partition("=")
            if not sep or not who or not path:
                raise ParameterError(f"--log {spec!r}: expected SERVICE[@INSTANCE]=PATH")
            service, _, instance = who.partition("@")
            t = Tail(Path(path), service.strip(), instance.strip() or None)
            if not from_start and t.path.exists():
                st = t.path.stat()
                t.offset, t.inode = st.st_size, st.st_ino
            tails.append(t)
        return cls(tails)

    def poll(self) -> None:
        """Read what was appended to every file since the last poll."""
        for t in self.tails:
            try:
                st = t.path.stat()
            except OSError:
                continue
            if t.inode is not None and (st.st_ino != t.inode or st.st_size < t.offset):
                t.offset, t.partial = 0, b""  # rotated or truncated: start over
            t.inode = st.st_ino
            if st.st_size <= t.offset:
                continue
            with open(t.path, "rb") as fh:
                fh.seek(t.offset)
                data = fh.read(st.st_size - t.offset)
            t.offset += len(data)
            data = t.partial + data
            *complete, t.partial = data.split(b"\n")
            self._count(t, complete)

    def _count(self, t: Tail, raw_lines: list[bytes]) -> None:
        prefix, uvicorn, clf = _patterns()
        new: Counter = Counter()
        bad = 0
        for raw in raw_lines:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            if not line.strip():
                continue
            m = prefix.match(line)
            rest = line[m.end():] if m else line
            hit = uvicorn.match(rest)
            req = status = None
            if hit:
                req, status = hit.group("ureq"), hit.group("ustatus")
            else:
                hit = clf.match(rest)
                if hit:
                    req, status = hit.group("req"), hit.group("status")
            if req is None:
                bad += 1  # a log line that is not a request (a traceback, a startup message)
                continue
            parts = req.split(" ")
            method = parts[0] if len(parts) > 1 else ""
            route = route_template(parts[1] if len(parts) > 1 else parts[0]) or ""
            new[(t.service, t.instance or "", route, method, status)] += 1
        with self.lock:
            self.counts.update(new)
            self.unparsed += bad
            t.lines += len(raw_lines)

    def exposition(self) -> str:
        """The Prometheus text format of the counters."""
        self.poll()
        out = [f"# HELP {COUNTER} HTTP requests seen in access logs, by route, method and status code.",
               f"# TYPE {COUNTER} counter"]
        with self.lock:
            for (svc, inst, route, method, code), n in sorted(self.counts.items()):
                labels = {"service": svc, "instance": inst, "route": route, "method": method, "code": code}
                out.append(f"{COUNTER}{{{_labels(labels)}}} {n}")
            out += ["# HELP holoops_access_log_lines_total Lines read from each followed file.",
                    "# TYPE holoops_access_log_lines_total counter"]
            for t in self.tails:
                out.append(f'holoops_access_log_lines_total{{{_labels({"service": t.service, "file": str(t.path)})}}} '
                           f"{t.lines}")
            out += ["# HELP holoops_access_log_unparsed_lines_total Lines that were not requests.",
                    "# TYPE holoops_access_log_unparsed_lines_total counter",
                    f"holoops_access_log_unparsed_lines_total {self.unparsed}"]
        return "\n".join(out) + "\n"


def _labels(d: dict[str, str]) -> str:
    return ",".join(f'{k}="{_esc(v)}"' for k, v in d.items())


def _esc(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def serve(exporter: AccessLogExporter, host: str = "127.0.0.1", port: int = 9188,
          interval: float = 1.0) -> ThreadingHTTPServer:
    """Start serving ``/metrics`` in a background thread (polling every ``interval`` s); returns the server
    (``server.shutdown()`` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = exporter.exposition().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet: scrapes every few seconds
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            exporter.poll()

    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    server.stop_polling = stop  # type: ignore[attr-defined]
    return server


def run_forever(specs: list[str], host: str, port: int, *, from_start: bool = False) -> int:
    exp = AccessLogExporter.from_specs(specs, from_start=from_start)
    serve(exp, host, port)
    print(f"holoops access-log exporter on http://{host}:{port}/metrics following "
          f"{', '.join(str(t.path) for t in exp.tails)} (pid {os.getpid()})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
