"""Send a report summary (failures, findings at or above a level, link to the HTML) to receivers.

Receivers are configured outside notebooks, in YAML (``--notify FILE`` or ``$HOLOOPS_NOTIFY``)::

    min_level: warning
    report_url: https://reports.example/holoops        # base URL the run folder is published under
    receivers:
      - {type: webhook, url: http://127.0.0.1:9000/hook}
      - {type: slack, url_env: HOLOOPS_SLACK_WEBHOOK}   # secret: from env, or url_file: /run/secrets/slack
      - {type: email, host: 127.0.0.1, port: 25, from: holoops@example, to: [oncall@example],
         username_env: SMTP_USER, password_env: SMTP_PASSWORD, starttls: false}

URLs and passwords read from env/files are registered as secrets, so they never appear in output.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEVELS = ("info", "warning", "critical")


@dataclass
class Summary:
    title: str
    text: str
    link: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "text": self.text, "link": self.link, "findings": self.findings,
                "failed": self.failed}


@dataclass(frozen=True)
class Delivery:
    receiver: str
    ok: bool
    detail: str = ""


def _at_least(level: str, min_level: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(min_level) if level in LEVELS else False


def build_summary(results: list[Any], min_level: str = "warning", link: str | None = None,
                  run_id: str = "") -> Summary:
    """Summary of run results (``holoops.run.RunResult``): failures and findings at/above ``min_level``."""
    from holoops.redact import redact

    findings, failed = [], []
    for r in results:
        if not r.ok:
            failed.append(f"{r.notebook}: {r.error}")
        for f in (r.records.get("findings") or []):
            if isinstance(f, dict) and _at_least(f.get("level", ""), min_level):
                findings.append({**f, "notebook": r.notebook})
    findings.sort(key=lambda f: -LEVELS.index(f["level"]))
    ok = sum(r.ok for r in results)
    title = f"holoops report {run_id}: {ok}/{len(results)} ok, {len(findings)} finding(s) >= {min_level}"
    lines = [title]
    lines += [f"FAILED {x}" for x in failed]
    lines += [f"[{f['level']}] {f['notebook']}: {f['title']}" + (f" ({f['service']})" if f.get("service") else "")
              + (f" -> {f['runbook']}" if f.get("runbook") else "") for f in findings]
    if link:
        lines.append(f"report: {link}")
    return Summary(redact(title), redact("\n".join(lines)), link, findings, failed)


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The receivers config from ``path`` or ``$HOLOOPS_NOTIFY``; empty when neither is set."""
    import yaml

    path = path or os.environ.get("HOLOOPS_NOTIFY")
    if not path:
        return {"receivers": []}
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {"receivers": []}


def _secret_value(rec: dict[str, Any], key: str) -> str | None:
    """``key`` itself, or ``key_env`` (env var name), or ``key_file`` (a file); the latter two are secrets."""
    from holoops.redact import register_secret

    if rec.get(f"{key}_env"):
        value = os.environ.get(rec[f"{key}_env"])
        register_secret(value)
        return value
    if rec.get(f"{key}_file"):
        value = Path(rec[f"{key}_file"]).read_text(encoding="utf-8").strip()
        register_secret(value)
        return value
    return rec.get(key)


def _post_json(url: str, payload: dict[str, Any], timeout: float) -> str:
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (configured URL)
        return f"HTTP {resp.status}"


def _email(rec: dict[str, Any], summary: Summary, timeout: float) -> str:
    import smtplib
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["Subject"] = summary.title
    msg["From"] = rec.get("from", "holoops@localhost")
    to = rec.get("to") or []
    msg["To"] = ", ".join([to] if isinstance(to, str) else to)
    msg.set_content(summary.text)
    with smtplib.SMTP(rec.get("host", "127.0.0.1"), int(rec.get("port", 25)), timeout=timeout) as smtp:
        if rec.get("starttls"):
            smtp.starttls()
        user, password = _secret_value(rec, "username"), _secret_value(rec, "password")
        if user and password:
            smtp.login(user, password)
        smtp.send_message(msg)
    return f"sent to {msg['To']}"


def send(summary: Summary, config: dict[str, Any] | None = None, timeout: float = 10.0) -> list[Delivery]:
    """Deliver ``summary`` to every configured receiver; a failing receiver never stops the others."""
    from holoops.redact import redact

    config = load_config() if config is None else config
    out = []
    for i, rec in enumerate(config.get("receivers", []) or []):
        kind = rec.get("type", "webhook")
        name = rec.get("name") or f"{kind}#{i}"
        try:
            if kind == "webhook":
                detail = _post_json(_secret_value(rec, "url"), summary.to_dict(), timeout)
            elif kind == "slack":
                text = summary.text if not summary.link else summary.text.replace(
                    f"report: {summary.link}", f"<{summary.link}|open the report>")
                detail = _post_json(_secret_value(rec, "url"), {"text": text}, timeout)
            elif kind == "email":
                detail = _email(rec, summary, timeout)
            else:
                raise ValueError(f"unknown receiver type {kind!r}; allowed: webhook, slack, email")
            out.append(Delivery(name, True, detail))
        except Exception as exc:  # report, don't crash the report run
            out.append(Delivery(name, False, redact(f"{type(exc).__name__}: {exc}")))
    return out


def notify(results: list[Any], config: dict[str, Any] | None = None, *, run_id: str = "",
           index_path: str | None = None) -> list[Delivery]:
    """Build the summary of a suite run and send it; the link is ``report_url/run_id/index.html``."""
    config = load_config() if config is None else config
    base = config.get("report_url")
    link = f"{base.rstrip('/')}/{run_id}/index.html" if base else (
        Path(index_path).resolve().as_uri() if index_path else None)
    summary = build_summary(results, config.get("min_level", "warning"), link, run_id)
    return send(summary, config)
