"""Render deployment guides (Markdown + HTML) and their artifacts; write them atomically.

``build_guide`` returns a :class:`Guide` in memory; ``write_guides`` renders every requested
environment x platform into a temporary folder, validates it, and only then moves it into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from holoops.errors import GuideError
from holoops.guides.artifacts import PLATFORMS, health_url, image, replicas, require

if TYPE_CHECKING:
    from holoops.fleet import FleetProfile

TEMPLATES = Path(__file__).parent / "templates"
PLATFORM_TITLES = {"compose": "Docker Compose", "kubernetes": "Kubernetes", "systemd": "systemd"}
RUNBOOKS = ("gpu_memory_pressure", "latency_regression", "disk_exhaustion", "error_burst", "dependency_outage")
SECTIONS = ("overview", "prerequisites", "configuration", "deploy", "health", "monitoring", "security",
            "rollout", "troubleshooting")


@dataclass
class Guide:
    """One environment x platform guide: Markdown, named sections and artifacts ``{relative path: text}``."""

    fleet: str
    environment: str
    platform: str
    sections: dict[str, str]
    artifacts: dict[str, str] = field(default_factory=dict)

    @property
    def markdown(self) -> str:
        return "\n\n".join(s.strip() for s in self.sections.values()) + "\n"

    @property
    def title(self) -> str:
        return self.markdown.splitlines()[0].lstrip("# ").strip()

    @property
    def folder(self) -> str:
        """Where the guide lives under an output folder: ``<environment>/<platform>``."""
        return f"{self.environment}/{self.platform}"

    def html(self) -> str:
        """The guide as a standalone HTML page (commands as copyable ``<pre><code>`` blocks)."""
        return markdown_to_html(self.markdown, self.title)

    def _repr_markdown_(self) -> str:  # notebooks display the guide
        return self.markdown


def _jinja():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              autoescape=False)


def start_order(fleet: FleetProfile) -> list[str]:
    """Services ordered so that every dependency comes before its callers (stable on file order)."""
    done: list[str] = []

    def visit(n: str, path: tuple[str, ...]) -> None:
        if n in done:
            return
        if n in path:
            raise GuideError(f"{fleet.name}: dependency cycle {' -> '.join((*path, n))}")
        for d in fleet.services[n].depends_on:
            visit(d, (*path, n))
        done.append(n)

    for n in fleet.services:
        visit(n, ())
    return done


def runbook_cells(records: Mapping[str, str] | None = None) -> dict[str, str]:
    """The troubleshooting table's runbook cell of each runbook (Markdown): a link to the runbook in
    JupyterLab (:func:`holoops.export.jupyterlab_url`), and first, where ``records`` names one (a URL relative
    to the guide), to its exported page in the reports folder."""
    from holoops.export import jupyterlab_url

    cells = {}
    for r in RUNBOOKS:
        lab = jupyterlab_url(r)
        page = (records or {}).get(r)
        cells[r] = f"[{r}]({page}) · [open in JupyterLab]({lab})" if page else f"[{r} (opens in JupyterLab)]({lab})"
    return cells


def _context(fleet: FleetProfile, env_name: str, platform: str, fleet_path: str | None,
             runbooks: Mapping[str, str] | None = None) -> dict:
    from holoops.guides.artifacts import kubernetes, prometheus, systemd
    from holoops.guides.checks import prerequisites

    env = fleet.environments[env_name]
    services = []
    for name, s in fleet.services.items():
        r = s.resources
        services.append({
            "name": name, "port": s.port, "health": s.health, "replicas": replicas(s, env),
            "depends_on": s.depends_on, "health_url": health_url(s),
            "gpu": f"{r.gpu.count}× {r.gpu.model}" if r.gpu else "",
            "disk": f"{r.disk.size} at `{r.disk.mount}`" if r.disk else "",
            "disk_mount": r.disk.mount if r.disk else "",
            "kind": "StatefulSet" if r.disk else "Deployment",
            "unit": systemd.unit_name(fleet, name),
        })
    by_name = {s["name"]: s for s in services}
    order = start_order(fleet)
    first = next(iter(fleet.services.values()))
    return {
        "fleet": fleet, "env_name": env_name, "env": env, "platform": platform,
        "platform_title": PLATFORM_TITLES[platform], "ns": fleet.namespace,
        "fleet_arg": f" --fleet {fleet_path}" if fleet_path else "",
        "services": services, "ordered": [by_name[n] for n in order], "start_order": order,
        "gpu_services": fleet.gpu_services,
        "disk_services": [n for n, s in fleet.services.items() if s.resources.disk],
        "health_paths": sorted({s.health for s in fleet.services.values()}),
        "edges": [f"{a} → {b}" for a, b in fleet.edges],
        "entry_points": [n for n in fleet.services if not fleet.upstream(n)],
        "prerequisites": prerequisites(fleet, env_name, platform),
        "alerts_available": prometheus.alerts_module() is not None,
        "fallback_rules": prometheus.FALLBACK_RULES,
        "monitoring_ns": kubernetes.MONITORING_NAMESPACE, "ingress_ns": kubernetes.INGRESS_NAMESPACE,
        "runbooks": runbook_cells(runbooks),
        "example_image": image(fleet, first) if first.image else "registry/service:tag",
    }


def _artifacts(fleet: FleetProfile, env_name: str, platform: str) -> dict[str, str]:
    from holoops.guides.artifacts import compose, grafana, kubernetes, prometheus, systemd

    env = fleet.environments[env_name]
    mod = {"compose": compose, "kubernetes": kubernetes, "systemd": systemd}[platform]
    return {**mod.build(fleet, env_name, env), **prometheus.build(fleet, env_name, env, platform),
            **grafana.build(fleet)}


def build_guide(fleet: FleetProfile | str | Path | None, environment: str, platform: str,
                *, fleet_path: str | None = None, runbooks: Mapping[str, str] | None = None) -> Guide:
    """Render one guide and its artifacts in memory. Raises GuideError when the profile lacks a key.

    ``runbooks``: runbook name -> URL of its record (an exported runbook page), relative to where the guide
    is read; the troubleshooting table links it beside the runbook in JupyterLab (:func:`runbook_cells`).
    """
    from holoops.fleet import FleetProfile, load_fleet

    if not isinstance(fleet, FleetProfile):
        fleet_path = fleet_path or (str(fleet) if fleet is not None else None)
        fleet = load_fleet(fleet)
    require(fleet, platform)
    if environment not in fleet.environments:
        raise GuideError(f"{fleet.name}: no environment {environment!r} (environments.{environment}); "
                         f"known: {', '.join(fleet.environments)}")
    ctx = _context(fleet, environment, platform, fleet_path, runbooks)
    jenv = _jinja()
    names = sorted(p.name for p in (TEMPLATES / "guide").glob("*.md.j2"))
    if len(names) != len(SECTIONS):
        raise GuideError(f"guide templates out of step: found {names}, expected {len(SECTIONS)} sections")
    sections = {key: jenv.get_template(f"guide/{n}").render(**ctx) for key, n in zip(SECTIONS, names, strict=True)}
    return Guide(fleet.name, environment, platform, sections, _artifacts(fleet, environment, platform))


def markdown_to_html(md: str, title: str) -> str:
    """Markdown -> standalone HTML (markdown-it-py, CommonMark + tables), with a copy button per code block."""
    from html import escape

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    page = (TEMPLATES / "page.html.j2").read_text(encoding="utf-8")
    return page.replace("{{ title }}", escape(title)).replace("{{ body }}", body)


def _index(guides: list[Guide], fleet: FleetProfile) -> str:
    lines = [f"# {fleet.name}: deployment guides", "", fleet.description.strip(), "",
             "| environment | " + " | ".join(PLATFORM_TITLES[p] for p in PLATFORMS) + " |",
             "|---|" + "---|" * len(PLATFORMS)]
    envs = list(dict.fromkeys(g.environment for g in guides))
    have = {(g.environment, g.platform) for g in guides}
    for e in envs:
        cells = [f"[guide]({e}/{p}/guide.md) · [html]({e}/{p}/guide.html)" if (e, p) in have else "-"
                 for p in PLATFORMS]
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    lines += ["", "Rebuild with `holoops guide build --out DIR`; check a host with "
              "`holoops guide check --env ENV --platform PLATFORM`.", ""]
    return "\n".join(lines)


def write_guides(out: str | Path, fleet: FleetProfile | str | Path | None = None,
                 environments: list[str] | None = None, platforms: list[str] | None = None,
                 *, validate: bool = True, runbook_pages: Mapping[str, str | Path] | None = None) -> list[Guide]:
    """Render guides into a temp folder, validate them, then move them into ``out``.

    Nothing is written into ``out`` unless every guide rendered (and, with ``validate``, passed the
    consistency check): a GuideError leaves ``out`` as it was. ``runbook_pages``: runbook name -> its
    exported page (a path; ``holoops demo`` passes the runbooks it ran), linked from each guide relatively.
    """
    from holoops.fleet import FleetProfile, load_fleet

    fleet_path = None
    if not isinstance(fleet, FleetProfile):
        fleet_path = str(fleet) if fleet is not None else None
        fleet = load_fleet(fleet)
    envs = environments or list(fleet.environments)
    plats = platforms or list(PLATFORMS)
    out = Path(out)

    def records(folder: str) -> dict[str, str] | None:
        if not runbook_pages:
            return None
        here = (out / folder).resolve()
        return {name: Path(os.path.relpath(Path(page).resolve(), here)).as_posix()
                for name, page in runbook_pages.items()}

    guides = [build_guide(fleet, e, p, fleet_path=fleet_path, runbooks=records(f"{e}/{p}"))
              for e in envs for p in plats]
    if validate:
        from holoops.guides.validate import check_consistency

        for g in guides:
            problems = check_consistency(fleet, g.artifacts)
            if problems:
                raise GuideError(f"{g.folder}: artifacts disagree with the fleet profile: "
                                 + "; ".join(str(m) for m in problems))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".holoops-guides-", dir=out.parent))
    try:
        for g in guides:
            root = tmp / g.folder
            for rel, text in {"guide.md": g.markdown, "guide.html": g.html(), **g.artifacts}.items():
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        index = _index(guides, fleet)
        (tmp / "index.md").write_text(index, encoding="utf-8")
        (tmp / "index.html").write_text(
            markdown_to_html(index.replace("guide.md)", "guide.html)"), f"{fleet.name} guides"), encoding="utf-8")
        out.mkdir(parents=True, exist_ok=True)
        for item in sorted(tmp.iterdir()):
            dest = out / item.name
            if dest.is_dir() and item.is_dir():  # replace only the guides we rebuilt
                for sub in item.iterdir():
                    target = dest / sub.name
                    if target.exists():
                        shutil.rmtree(target)
                    shutil.move(str(sub), str(target))
            else:
                if dest.is_dir():
                    shutil.rmtree(dest)
                shutil.move(str(item), str(dest))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return guides
