"""notebooks/deployment_guide: the guide for ``params.environment`` x ``params.platform``, its artifacts,
and the validators' verdicts. Everything displays as Markdown, so the Markdown export stays clean."""

from __future__ import annotations

from typing import Any

from holoops.reports import Section, note
from holoops.reports._data import memo


def built(hx: Any):
    """The rendered guide (cached). Its runbook links are relative to ``notebooks/`` (they open the runbook
    notebook in JupyterLab); the export points them at the runbook pages of the reports folder
    (:func:`holoops.export.link_runbooks`)."""
    from holoops.guides import build_guide
    from holoops.guides.render import RUNBOOKS

    p = hx.params
    links = {r: f"../runbooks/{r}.ipynb" for r in RUNBOOKS}
    return memo(hx, "guide", lambda: build_guide(hx.fleet, p.environment, p.platform, fleet_path=p.fleet,
                                                 runbooks=links))


def _cannot(hx: Any) -> Section | None:
    """A note instead of the guide when the profile lacks what the platform needs (a discovered fleet has
    no container images, say): the guide says what to add, it does not fail."""
    from holoops.errors import GuideError

    try:
        built(hx)
    except GuideError as exc:
        p = hx.params
        hx.record("guide", {"environment": p.environment, "platform": p.platform, "error": str(exc)})
        return note(f"No {p.platform} guide for {p.environment}: {exc}. Add it to the fleet profile, or "
                    f"pick another platform (`-p platform systemd` needs no image).")
    return None


def guide(hx: Any) -> Section:
    """The guide's sections in order; commands are fenced ``bash`` blocks (copyable)."""
    if (cannot := _cannot(hx)) is not None:
        return cannot
    g = built(hx)
    first, *rest = (s.strip() for s in g.sections.values())
    first = "\n".join(line for line in first.splitlines() if not line.startswith("# "))  # the title is ours
    n_cmds = g.markdown.count("```bash")
    hx.record("guide", {"environment": g.environment, "platform": g.platform, "sections": list(g.sections),
                        "command_blocks": n_cmds, "artifacts": len(g.artifacts)})
    return Section(g.title, f"{len(g.sections)} sections, {n_cmds} command blocks.", [first.strip(), *rest], level=1)


def artifacts(hx: Any) -> Section:
    """Files the guide deploys with, by path, with their size."""
    if (cannot := _cannot(hx)) is not None:
        return cannot
    g = built(hx)
    rows = "\n".join(f"| `{path}` | {text.count(chr(10)) + 1} | {_kind(path)} |"
                     for path, text in sorted(g.artifacts.items()))
    table = "| file | lines | what |\n|---|---|---|\n" + rows
    return Section("Artifacts", f"{len(g.artifacts)} files, written next to the guide by "
                   f"`holoops guide build` (folder `{g.folder}/`).", [table])


def _kind(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if "/rules/" in path:
        return "Prometheus rules"
    return {"docker-compose.yml": "Compose file", "prometheus.yml": "Prometheus config",
            "alertmanager.yml": "Alertmanager config", "grafana-dashboard.json": "Grafana dashboard"}.get(
        name, "Kubernetes manifest" if path.startswith("k8s/") else
        "systemd unit" if path.startswith("systemd/") else "file")


def validation(hx: Any) -> Section:
    """Each validator's verdict on the artifacts, and the consistency check against the fleet profile."""
    from holoops.guides import validate_guide

    if (cannot := _cannot(hx)) is not None:
        return cannot
    results = memo(hx, "guide_validation", lambda: validate_guide(built(hx), hx.fleet))
    lines = []
    for r in results:
        mark = "skipped" if r.skipped else ("ok" if r.ok else "FAILED")
        lines.append(f"- **{r.name}**: {mark}" + (f" ({r.skipped})" if r.skipped else f", {r.checked} checked"))
        lines += [f"    - {p}" for p in r.problems[:10]]
        if not r.ok:
            hx.finding("warning", f"guide validation {r.name}: {len(r.problems)} problems",
                       detail="; ".join(r.problems[:5]))
    failed = [r for r in results if not r.ok]
    hx.record("guide_validation", {r.name: "skipped" if r.skipped else ("ok" if r.ok else r.problems)
                                   for r in results})
    summary = (f"{len(results) - len(failed)} of {len(results)} checks passed"
               + (f"; {sum(bool(r.skipped) for r in results)} skipped (tool not installed)." if any(
                   r.skipped for r in results) else "."))
    return Section("Validation", summary, ["\n".join(lines)])
