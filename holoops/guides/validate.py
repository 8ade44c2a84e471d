"""Validate guide artifacts with the tools that consume them, and check them against the fleet profile.

Validators return a :class:`ValidationResult` (``skipped`` when the tool is not installed):
Kubernetes manifests (kubernetes-validate, strict, latest bundled Kubernetes; plus ``kubectl kustomize``
of each overlay when kubectl is present), Compose (the vendored Compose spec JSON schema), Prometheus
(``promtool check config`` / ``check rules``; dashboard PromQL parsed as recording rules), shell blocks in
guides (``shellcheck -s bash``), systemd units (``systemd-analyze verify``).
:func:`check_consistency` compares ports, probe paths, metrics paths and service names in the artifacts
with the profile and reports each :class:`Mismatch`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from holoops.fleet import FleetProfile
    from holoops.guides.render import Guide

COMPOSE_SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
_URL = re.compile(r"https?://[^/\s:'\"]+:(\d+)(/[^\s'\"&;]*)?")
_WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"}


@dataclass(frozen=True)
class Mismatch:
    """An artifact disagrees with the fleet profile."""

    service: str
    artifact: str
    field: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.service}: {self.artifact}: {self.field}: expected {self.expected}, found {self.found}"


@dataclass
class ValidationResult:
    name: str
    problems: list[str] = field(default_factory=list)
    skipped: str = ""
    checked: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.name}: skipped ({self.skipped})"
        if self.ok:
            note = f"; note: {'; '.join(self.notes)}" if self.notes else ""
            return f"{self.name}: ok ({self.checked} checked{note})"
        return f"{self.name}: {len(self.problems)} problem(s)\n  " + "\n  ".join(self.problems)


def _docs(text: str) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _write(artifacts: dict[str, str], root: Path, prefix: str = "") -> None:
    for rel, text in artifacts.items():
        if rel.startswith(prefix):
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")


# --- tool validators ---------------------------------------------------------------------------------
def validate_compose(text: str, source: str = "docker-compose.yml") -> ValidationResult:
    """Validate a Compose file against the vendored Compose specification schema."""
    import jsonschema
    import yaml

    res = ValidationResult("compose-spec")
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator(schema)
    for err in sorted(validator.iter_errors(yaml.safe_load(text)), key=lambda e: list(e.path)):
        res.problems.append(f"{source}: {'.'.join(str(p) for p in err.path) or '(top)'}: {err.message}")
    res.checked = 1
    return res


def validate_kubernetes(artifacts: dict[str, str], version: str | None = None) -> ValidationResult:
    """Every manifest under ``k8s/`` (strict schema), and each overlay as kustomize renders it."""
    import kubernetes_validate

    version = version or kubernetes_validate.latest_version()
    res = ValidationResult(f"kubernetes-validate {version}")

    def check(doc: dict, where: str) -> None:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            res.problems.append(f"{where}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}: "
                                f"{'.'.join(str(p) for p in exc.path)}: {exc.message}")
        res.checked += 1

    for rel, text in artifacts.items():
        if rel.startswith("k8s/") and rel.endswith(".yaml") and not rel.endswith("kustomization.yaml"):
            for doc in _docs(text):
                check(doc, rel)
    overlays = sorted({rel.rsplit("/", 1)[0] for rel in artifacts
                       if rel.startswith("k8s/overlays/") and rel.endswith("kustomization.yaml")})
    if overlays and shutil.which("kubectl"):
        with tempfile.TemporaryDirectory() as tmp:
            _write(artifacts, Path(tmp), "k8s/")
            for ov in overlays:
                p = subprocess.run(["kubectl", "kustomize", str(Path(tmp) / ov)], capture_output=True,
                                   text=True, timeout=60)
                if p.returncode:
                    res.problems.append(f"{ov}: kubectl kustomize failed: {p.stderr.strip()}")
                    continue
                for doc in _docs(p.stdout):
                    check(doc, f"{ov} (rendered)")
    return res


def validate_prometheus(artifacts: dict[str, str]) -> ValidationResult:
    """``promtool check config`` (rule files must exist), ``check rules``, and dashboard PromQL."""
    res = ValidationResult("promtool")
    if not shutil.which("promtool"):
        res.skipped = "promtool not on PATH"
        return res
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(artifacts, root, "monitoring/")
        cmds = [["promtool", "check", "config", str(root / "monitoring/prometheus.yml")]]
        rules = sorted(str(root / r) for r in artifacts if r.startswith("monitoring/rules/"))
        if rules:
            cmds.append(["promtool", "check", "rules", *rules])
        dash = artifacts.get("monitoring/grafana-dashboard.json")
        if dash:
            from holoops.guides.artifacts import grafana, to_yaml

            exprs = grafana.expressions(json.loads(dash))
            (root / "dashboard-exprs.yml").write_text(to_yaml({"groups": [{"name": "dashboard", "rules": [
                {"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(exprs)]}]}))
            cmds.append(["promtool", "check", "rules", str(root / "dashboard-exprs.yml")])
        for cmd in cmds:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if p.returncode and "field kubernetes_sd_configs not found" in (p.stderr + p.stdout):
                # Debian's promtool is built without Kubernetes service discovery; check everything else
                cfg = root / "monitoring/prometheus.yml"
                cfg.write_text(_without_k8s_sd(cfg.read_text(encoding="utf-8")), encoding="utf-8")
                res.notes.append("promtool lacks kubernetes_sd_configs (distribution build); "
                                 "checked the config with static targets in its place")
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            res.checked += 1
            if p.returncode:
                res.problems.append(f"{' '.join(cmd[:3])}: {(p.stderr or p.stdout).strip()}".replace(tmp + "/", ""))
    return res


def _without_k8s_sd(text: str) -> str:
    import yaml

    from holoops.guides.artifacts import to_yaml

    cfg = yaml.safe_load(text)
    for job in cfg.get("scrape_configs", []):
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
    return to_yaml(cfg)


def shell_blocks(markdown: str) -> list[str]:
    """The bodies of ```bash / ```sh fenced blocks."""
    return re.findall(r"^```(?:bash|sh|shell)\n(.*?)^```", markdown, flags=re.M | re.S)


def shellcheck_markdown(markdown: str, source: str = "guide.md") -> ValidationResult:
    """Run ``shellcheck -s bash`` on every shell block of a guide."""
    res = ValidationResult("shellcheck")
    if not shutil.which("shellcheck"):
        res.skipped = "shellcheck not on PATH"
        return res
    for i, block in enumerate(shell_blocks(markdown), 1):
        p = subprocess.run(["shellcheck", "-s", "bash", "-f", "gcc", "-"], input=block, capture_output=True,
                           text=True, timeout=60)
        res.checked += 1
        if p.returncode:
            res.problems.append(f"{source} shell block {i}: {p.stdout.strip()}\n---\n{block}")
    return res


def verify_systemd(artifacts: dict[str, str]) -> ValidationResult:
    """``systemd-analyze verify`` on the units. A missing ExecStart binary is expected on a build host."""
    res = ValidationResult("systemd-analyze verify")
    units = {r: t for r, t in artifacts.items() if r.endswith(".service") or r.endswith(".timer")}
    if not units:
        return res
    if not shutil.which("systemd-analyze"):
        res.skipped = "systemd-analyze not on PATH"
        return res
    benign = ("is not executable", "No such file or directory", "Failed to prepare filename",
              "Failed to create", "Failed to connect", "Failed to setup", "Unit is bound to inactive",
              "/var/log/journal", "Operation not permitted", "not found")
    with tempfile.TemporaryDirectory() as tmp:
        _write(units, Path(tmp))
        for rel in units:
            p = subprocess.run(["systemd-analyze", "verify", "--man=no", str(Path(tmp) / rel)],
                               capture_output=True, text=True, timeout=60)
            res.checked += 1
            bad = [ln for ln in (p.stderr + p.stdout).splitlines()
                   if ln.strip() and not any(b in ln for b in benign)]
            if bad:
                res.problems.append(f"{rel}: " + "; ".join(bad).replace(tmp + "/", ""))
    return res


def validate_guide(guide: Guide, fleet: FleetProfile | None = None) -> list[ValidationResult]:
    """Every applicable validator for one guide, plus the consistency check against ``fleet``."""
    from holoops.fleet import load_fleet

    arts = guide.artifacts
    out = [shellcheck_markdown(guide.markdown, f"{guide.folder}/guide.md"), validate_prometheus(arts)]
    if "docker-compose.yml" in arts:
        out.append(validate_compose(arts["docker-compose.yml"]))
    if any(r.startswith("k8s/") for r in arts):
        out.append(validate_kubernetes(arts))
    if any(r.startswith("systemd/") for r in arts):
        out.append(verify_systemd(arts))
    cons = ValidationResult("consistency with fleet profile", checked=len(arts))
    cons.problems = [str(m) for m in check_consistency(fleet or load_fleet(), arts)]
    out.append(cons)
    return out


# --- consistency -------------------------------------------------------------------------------------
def check_consistency(fleet: FleetProfile, artifacts: dict[str, str]) -> list[Mismatch]:
    """Ports, probe/health paths, metrics paths and service names in ``artifacts`` vs the profile."""
    out: list[Mismatch] = []
    known = ", ".join(fleet.services)

    def cmp(svc: str, art: str, fld: str, expected, found) -> None:
        if str(expected) != str(found):
            out.append(Mismatch(svc, art, fld, str(expected), str(found)))

    for rel, text in artifacts.items():
        if rel.endswith("kustomization.yaml"):
            continue
        if rel.startswith("k8s/") and rel.endswith((".yaml", ".yml")):
            for doc in _docs(text):
                out += _k8s_doc(fleet, rel, doc, known)
        elif rel.endswith(("docker-compose.yml", "compose.yaml", "compose.yml")):
            import yaml

            for name, spec in (yaml.safe_load(text) or {}).get("services", {}).items():
                if name not in fleet.services:
                    out.append(Mismatch(name, rel, "services", f"one of {known}", name))
                    continue
                svc = fleet.services[name]
                test = " ".join(map(str, (spec.get("healthcheck") or {}).get("test", [])))
                m = _URL.search(test)
                if not m:
                    out.append(Mismatch(name, rel, "healthcheck.test", f"a URL on :{svc.port}{svc.health}", test))
                else:
                    cmp(name, rel, "healthcheck.test port", svc.port, m.group(1))
                    cmp(name, rel, "healthcheck.test path", svc.health, m.group(2) or "/")
                for p in spec.get("ports", []):
                    cmp(name, rel, "ports (container side)", svc.port, str(p).rsplit(":", 1)[-1].split("/")[0])
                env = spec.get("environment") or {}
                if isinstance(env, dict) and "PORT" in env:
                    cmp(name, rel, "environment.PORT", svc.port, env["PORT"])
        elif rel.startswith("systemd/") and rel.endswith(".service"):
            stem = rel.rsplit("/", 1)[-1][: -len(".service")]
            name = stem[len(fleet.namespace) + 1:] if stem.startswith(fleet.namespace + "-") else stem
            if name not in fleet.services:
                out.append(Mismatch(name, rel, "unit name", f"{fleet.namespace}-<one of {known}>.service", stem))
                continue
            svc = fleet.services[name]
            for line in text.splitlines():
                if line.startswith("ExecStartPost="):
                    m = _URL.search(line)
                    cmp(name, rel, "ExecStartPost health port", svc.port, m.group(1) if m else "(no URL)")
                    cmp(name, rel, "ExecStartPost health path", svc.health, (m.group(2) if m else None) or "/")
                elif line.startswith("ExecStart="):
                    m = re.search(r"--port[= ](\d+)", line)
                    if m:
                        cmp(name, rel, "ExecStart --port", svc.port, m.group(1))
        elif rel.endswith("prometheus.yml"):
            import yaml

            for job in (yaml.safe_load(text) or {}).get("scrape_configs", []):
                name = job.get("job_name")
                if name not in fleet.services:
                    continue
                svc = fleet.services[name]
                cmp(name, rel, "metrics_path", svc.metrics_path, job.get("metrics_path", "/metrics"))
                for sc in job.get("static_configs", []):
                    for t in sc.get("targets", []):
                        cmp(name, rel, "scrape target port", svc.port, str(t).rsplit(":", 1)[-1])
    return out


def _k8s_doc(fleet: FleetProfile, rel: str, doc: dict, known: str) -> list[Mismatch]:
    out: list[Mismatch] = []
    kind, meta = doc.get("kind"), doc.get("metadata") or {}
    name = (meta.get("labels") or {}).get("app.kubernetes.io/name") or meta.get("name", "")
    if kind in _WORKLOADS:
        if name not in fleet.services:
            return [Mismatch(str(name), rel, f"{kind}.metadata.name", f"one of {known}", str(name))]
        svc = fleet.services[name]
        spec = doc.get("spec") or {}
        pod = spec if kind == "Pod" else ((spec.get("jobTemplate") or {}).get("spec", spec).get("template") or {}).get("spec") or {}
        for c in pod.get("containers", []):
            where = f"{kind}/{meta.get('name')} container {c.get('name')}"
            named = {p.get("name"): p.get("containerPort") for p in c.get("ports", []) if p.get("name")}
            for p in c.get("ports", []):
                if p.get("containerPort") != svc.port:
                    out.append(Mismatch(name, rel, f"{where} containerPort", str(svc.port), str(p.get("containerPort"))))
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                get = (c.get(probe) or {}).get("httpGet")
                if not get:
                    continue
                port = get.get("port")
                port = named.get(port, port)
                if str(port) != str(svc.port):
                    out.append(Mismatch(name, rel, f"{where} {probe}.httpGet.port", str(svc.port), str(port)))
                if get.get("path") != svc.health:
                    out.append(Mismatch(name, rel, f"{where} {probe}.httpGet.path", svc.health, str(get.get("path"))))
    elif kind == "Service":
        if name not in fleet.services:
            return [Mismatch(str(name), rel, "Service.metadata.name", f"one of {known}", str(name))]
        svc = fleet.services[name]
        for p in (doc.get("spec") or {}).get("ports", []):
            for key in ("port", "targetPort"):
                if key in p and str(p[key]) not in (str(svc.port), "http"):
                    out.append(Mismatch(name, rel, f"Service/{meta.get('name')} ports.{key}", str(svc.port), str(p[key])))
    return out
