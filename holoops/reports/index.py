"""The main job's second half: run the suite, build guides and alert rules, link everything from one page."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class MainJob:
    index: Path
    ok: bool
    parts: dict[str, Any] = field(default_factory=dict)


def project_root() -> Path:
    """The folder holding ``notebooks/`` and ``runbooks/``: the current one, else the source checkout."""
    here = Path.cwd()
    if (here / "notebooks").is_dir():
        return here
    return Path(__file__).resolve().parents[2]


def run_main_job(out: Path, data: Path, *, suite: str = "demo", parallel: int = 2, fleet: str | None = None,
                 days: float = 7, seed: int = 7) -> MainJob:
    """Run the report suite and runbooks, write guides and alert rules under ``out``, then ``index.html``."""
    from holoops.run import load_suite, run_suite

    out = Path(out)
    root = project_root()
    items = load_suite(suite, root=root)
    common = {"demo_days": int(days), "demo_seed": seed}
    if fleet:
        common["fleet"] = str(fleet)
    items = [type(i)(i.path, {**i.parameters, **common}) for i in items]
    print(f"demo: running {len(items)} notebooks and runbooks in {parallel} kernels", flush=True)
    suite_res = run_suite(items, out, parallel=parallel)
    parts: dict[str, Any] = {"suite": suite_res}
    ok = suite_res.ok
    for r in suite_res.results:
        if not r.ok:
            print(r.failure_text(), flush=True)

    from holoops.guides import write_guides

    # the guides' troubleshooting tables link the runbook pages this run wrote
    pages = {Path(r.path).stem: r.html for r in suite_res.results
             if r.html and Path(r.html).is_file() and "runbooks" in Path(r.path).parts}
    guides = write_guides(out / "guides", fleet, runbook_pages=pages)
    parts["guides"] = guides
    print(f"demo: wrote {len(guides)} deployment guides to {out / 'guides'}", flush=True)

    from holoops.analyze.alerts import build

    alerts = build(out / "alerts", fleet)
    parts["alerts"] = alerts
    ok = ok and alerts.ok
    print(f"demo: wrote alert rules and Alertmanager config to {out / 'alerts'}", flush=True)
    index = write_main_index(out, data, suite_res, guides, alerts)
    return MainJob(index, ok, parts)


def write_main_index(out: Path, data: Path, suite_res, guides, alerts) -> Path:
    """``<out>/index.html``: every report and runbook record, the demo data, the guides and the rules."""
    from holoops.redact import redact

    rel = lambda p: html.escape(str(Path(p).resolve().relative_to(out.resolve())))  # noqa: E731
    rows = []
    for r in suite_res.results:
        kind = "runbook" if "runbooks" in Path(r.path).parts else "report"
        link = f'<a href="{rel(r.html)}">{html.escape(r.notebook)}</a>' if r.html else html.escape(r.notebook)
        findings = r.records.get("findings") or []
        worst = _worst(findings)
        key = _key_result(r.records)
        rows.append(f"<tr class='{r.status}'><td>{link}</td><td>{kind}</td><td>{r.status}</td>"
                    f"<td>{r.duration_s:.0f} s</td><td>{len(findings) if isinstance(findings, list) else ''}"
                    f"{' (' + worst + ')' if worst else ''}</td><td>{html.escape(key)}</td></tr>")
    truth = json.loads((data / "ground_truth.json").read_text()) if (data / "ground_truth.json").exists() else {}
    incidents = "".join(
        f"<tr><td>{html.escape(i['id'])}</td><td>{html.escape(i['kind'])}</td><td>{html.escape(i['service'])}</td>"
        f"<td>{html.escape(i['onset'])}</td><td>{html.escape(i.get('end') or '')}</td></tr>"
        for i in truth.get("incidents", []))
    guide_links = "".join(f"<li><a href='guides/{html.escape(g.folder)}/guide.html'>{html.escape(g.title)}</a></li>"
                          for g in guides)
    ok = sum(r.ok for r in suite_res.results)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>holoops: demo fleet reports</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}td,th{{padding:4px 10px;text-align:left}}
tr.failed td{{color:#b00}}th{{border-bottom:1px solid #ccc}}h2{{margin-top:1.6em}}</style></head><body>
<h1>holoops: demo fleet reports</h1>
<p>Run <code>{html.escape(suite_res.run_id)}</code>: {ok}/{len(suite_res.results)} notebooks and runbooks ran cleanly.
<a href="{rel(suite_res.index)}">Run details</a>.</p>
<h2>Reports and runbook records</h2>
<table><tr><th>notebook</th><th>kind</th><th>status</th><th>time</th><th>findings</th><th>key result</th></tr>
{''.join(rows)}</table>
<h2>Demo fleet data</h2>
<p><a href="{rel(data / 'summary.md')}">summary.md</a> · <a href="{rel(data / 'ground_truth.json')}">ground_truth.json</a>
· exports in <code>{rel(data)}/</code></p>
<table><tr><th>incident</th><th>kind</th><th>service</th><th>onset</th><th>end</th></tr>{incidents}</table>
<h2>Deployment guides</h2><p><a href="guides/index.html">index</a></p><ul>{guide_links}</ul>
<h2>Alerting</h2><p>Prometheus rules in <code>alerts/rules/</code> (with promtool unit tests),
<a href="alerts/alertmanager.yml">alertmanager.yml</a>; validation: {html.escape(_checks(alerts))}.</p>
</body></html>
"""
    path = out / "index.html"
    path.write_text(redact(page), encoding="utf-8")
    return path


def _worst(findings: Any) -> str:
    if not isinstance(findings, list) or not findings:
        return ""
    order = {"info": 0, "warning": 1, "critical": 2}
    return max((f.get("level", "info") for f in findings if isinstance(f, dict)), key=lambda x: order.get(x, 0),
               default="")


def _key_result(records: dict[str, Any]) -> str:
    top = records.get("top_hypothesis")
    if isinstance(top, dict):
        return f"top hypothesis: {top.get('kind')} on {top.get('service')}"
    for k, v in records.items():
        if k != "findings" and isinstance(v, (str, int, float)):
            return f"{k}: {v}"
    return ""


def _checks(alerts) -> str:
    return ", ".join(f"{k} {'ok' if ok else 'skipped' if ok is None else 'FAILED'}" for k, (ok, _) in alerts.checks.items())
