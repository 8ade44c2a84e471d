"""Notify: summary to a local webhook, Slack-style webhook (secret URL from env) and SMTP, all on 127.0.0.1."""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from holoops.notify import build_summary, notify
from holoops.run import RunResult


@pytest.fixture
def http_receiver():
    got: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_port}", got
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_receiver():
    """A minimal SMTP server (enough for smtplib): records each message's DATA."""
    messages: list[str] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"220 localhost ESMTP test\r\n")
            while line := self.rfile.readline():
                cmd = line.decode().strip().upper()
                if cmd.startswith(("EHLO", "HELO")):
                    self.wfile.write(b"250 localhost\r\n")
                elif cmd == "DATA":
                    self.wfile.write(b"354 end with .\r\n")
                    data = []
                    while (row := self.rfile.readline()) not in (b".\r\n", b""):
                        data.append(row.decode())
                    messages.append("".join(data))
                    self.wfile.write(b"250 ok\r\n")
                elif cmd == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1], messages
    server.shutdown()
    server.server_close()


def _result(nb, status="ok", findings=(), error=None):
    return RunResult(nb, f"notebooks/{nb}.ipynb", f"r/{nb}.ipynb", status, 1.0, "t", "t",
                     records={"findings": list(findings)}, error=error)


RESULTS = [
    _result("diagnostics", findings=[{"level": "critical", "title": "router 5xx above SLO", "service": "router",
                                      "runbook": "runbooks/error_burst.ipynb"},
                                     {"level": "info", "title": "quiet elsewhere"}]),
    _result("capacity_planning", findings=[{"level": "warning", "title": "GPU memory at 85 % in 60 days"}]),
    _result("error_analysis", "failed", error="ZeroDivisionError: division by zero"),
]


def test_summary_keeps_findings_at_or_above_level():
    s = build_summary(RESULTS, "warning", "http://reports/x/index.html", "RUN1")
    assert [f["title"] for f in s.findings] == ["router 5xx above SLO", "GPU memory at 85 % in 60 days"]
    assert "2/3 ok" in s.title and "FAILED error_analysis" in s.text and "quiet elsewhere" not in s.text
    assert "-> runbooks/error_burst.ipynb" in s.text
    assert len(build_summary(RESULTS, "critical").findings) == 1


def test_notify_webhook_slack_and_email(http_receiver, smtp_receiver, monkeypatch):
    base, got = http_receiver
    port, mails = smtp_receiver
    monkeypatch.setenv("HOLOOPS_SLACK_WEBHOOK", f"{base}/services/T000/B000/secretpart")
    config = {"min_level": "warning", "report_url": "https://reports.example/holoops",
              "receivers": [{"type": "webhook", "url": f"{base}/hook"},
                            {"type": "slack", "url_env": "HOLOOPS_SLACK_WEBHOOK"},
                            {"type": "email", "host": "127.0.0.1", "port": port, "to": ["oncall@example"]},
                            {"type": "webhook", "url": "http://127.0.0.1:9/closed"}]}
    deliveries = notify(RESULTS, config, run_id="RUN1")
    assert [d.ok for d in deliveries] == [True, True, True, False]  # a dead receiver doesn't stop others
    (hook_path, hook), (slack_path, slack) = sorted(got, key=lambda x: x[0] != "/hook")
    assert hook_path == "/hook" and hook["link"] == "https://reports.example/holoops/RUN1/index.html"
    assert [f["level"] for f in hook["findings"]] == ["critical", "warning"]
    assert slack_path == "/services/T000/B000/secretpart"
    assert "<https://reports.example/holoops/RUN1/index.html|open the report>" in slack["text"]
    assert len(mails) == 1 and "Subject: holoops report RUN1: 2/3 ok" in mails[0]
    assert "router 5xx above SLO" in mails[0]
    from holoops.redact import redact

    assert "secretpart" not in redact(f"{base}/services/T000/B000/secretpart")  # the Slack URL is a secret
