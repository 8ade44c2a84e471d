"""A fault-injecting HTTP server on 127.0.0.1 that speaks enough of the Prometheus API for tests.

By default it answers like Prometheus: ``/api/v1/query_range`` returns one series whose value at each
grid point is the timestamp (so chunk joins can be checked) and rejects a range over 11,000 points
with Prometheus's own 400 body; ``/api/v1/query``, ``/series``, ``/targets``, ``/-/ready`` and any
``/healthz`` answer too. Queue faults with :meth:`FaultServer.push`; each request takes the next one:

- ``"ok"``                       normal answer
- ``("slow", seconds)``          sleep, then answer
- ``("status", code[, body])``   that HTTP status with a JSON (or given) body
- ``"drop"``                     close the connection without any response
- ``("trickle", seconds)``       send the headers, then the body a byte at a time over ``seconds``

Every request is recorded in :attr:`FaultServer.requests` (path, params, headers, time).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

POINT_LIMIT_BODY = {
    "status": "error", "errorType": "bad_data",
    "error": "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
             "resolution (?step=XX)",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class FaultServer:
    """Start with ``with FaultServer() as fs:``; ``fs.url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, default: object = "ok", targets: list[dict] | None = None,
                 series: list[dict] | None = None):
        self.default = default
        self.targets = targets or []
        self.series_data = series or []
        self.script: deque = deque()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._conns: set = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- control
    def push(self, *actions: object) -> FaultServer:
        with self._lock:
            self.script.extend(actions)
        return self

    def _next(self) -> object:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    def api_requests(self, path: str = "/api/v1/query_range") -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def start(self) -> FaultServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server._handle(self)

            def do_POST(self):
                server._handle(self)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self._lock:  # keep-alive connections would otherwise go on being served
            conns, self._conns = self._conns, set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        params = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(parts.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            body = h.rfile.read(length).decode()
            params.update({k: v if len(v) > 1 else v[0] for k, v in parse_qs(body).items()})
        with self._lock:
            self._conns.add(h.connection)
            self.requests.append({"path": parts.path, "params": params, "headers": dict(h.headers),
                                  "t": time.monotonic()})
        action = self._next()
        kind = action if isinstance(action, str) else action[0]
        if kind == "drop":
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if kind == "slow":
            time.sleep(float(action[1]))
        if kind == "status":
            code = int(action[1])
            body = action[2] if len(action) > 2 else {"status": "error", "errorType": "server_error",
                                                         "error": f"injected HTTP {code}"}
            self._send(h, code, body)
            return
        code, body = self._answer(parts.path, params)
        if kind == "trickle":
            self._send(h, code, body, trickle=float(action[1]))
        else:
            self._send(h, code, body)

    def _answer(self, path: str, p: dict) -> tuple[int, object]:
        if path == "/api/v1/query_range":
            try:
                start, end, step = float(p["start"]), float(p["end"]), float(p["step"])
            except (KeyError, ValueError):
                return 400, {"status": "error", "errorType": "bad_data", "error": "invalid parameter"}
            if step <= 0 or end < start:
                return 400, {"status": "error", "errorType": "bad_data", "error": "bad range"}
            if (end - start) / step > 11000:
                return 400, POINT_LIMIT_BODY
            n = int((end - start) // step) + 1
            values = [[start + i * step, repr(float(start + i * step))] for i in range(n)]
            return 200, {"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"__name__": "fault_metric", "job": "fault", "instance": "127.0.0.1:1"},
                 "values": values}]}}
        if path == "/api/v1/query":
            t = float(p.get("time", time.time()))
            return 200, {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"__name__": "fault_metric", "job": "fault", "instance": "127.0.0.1:1"},
                 "value": [t, "1"]}]}}
        if path == "/api/v1/series":
            return 200, {"status": "success", "data": self.series_data}
        if path == "/api/v1/targets":
            return 200, {"status": "success", "data": {"activeTargets": self.targets, "droppedTargets": []}}
        return 200, {"status": "ok", "path": path}

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, code: int, body: object, trickle: float = 0.0) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if trickle:
                pause = trickle / max(1, len(data))
                for i in range(len(data)):
                    h.wfile.write(data[i:i + 1])
                    h.wfile.flush()
                    time.sleep(pause)
            else:
                h.wfile.write(data)
        except OSError:
            h.close_connection = True
