"""Deployment guides: all 9 build, every artifact passes its consuming tool, mismatches are caught."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from holoops.errors import GuideError
from holoops.fleet import DEFAULT_PROFILE, load_fleet, parse_fleet
from holoops.guides import build_guide, check_consistency, validate_guide, write_guides

ENVS = ("development", "staging", "production")
PLATFORMS = ("compose", "kubernetes", "systemd")
SECTION_TITLES = ("## Prerequisites", "## Configuration for", "## Deploy", "## Post-deploy health checks",
                  "## Monitoring", "## Security hardening", "## Rollout strategies", "### Rolling",
                  "### Blue-green", "### Canary", "## Troubleshooting")


@pytest.fixture(scope="module")
def fleet():
    return load_fleet()


@pytest.fixture(scope="module")
def built(tmp_path_factory, fleet):
    out = tmp_path_factory.mktemp("guides") / "out"
    guides = write_guides(out, fleet)
    return out, {(g.environment, g.platform): g for g in guides}


def test_builds_all_nine_with_index_and_html(built):
    out, guides = built
    assert set(guides) == {(e, p) for e in ENVS for p in PLATFORMS}
    for (e, p), g in guides.items():
        md = (out / e / p / "guide.md").read_text()
        assert md == g.markdown
        for title in SECTION_TITLES:
            assert title in md, f"{e}/{p} lacks {title}"
        for rb in ("gpu_memory_pressure", "latency_regression", "disk_exhaustion", "error_burst",
                   "dependency_outage"):
            assert f"runbooks/{rb}.ipynb" in md
        html = (out / e / p / "guide.html").read_text()
        assert "<pre><code class=\"language-bash\">" in html and "<table>" in html
        for rel in g.artifacts:
            assert (out / e / p / rel).is_file()
    index = (out / "index.md").read_text()
    assert index.count("guide.md") == 9
    assert (out / "index.html").read_text().count("guide.html") >= 9
    assert not list(out.parent.glob(".holoops-guides-*"))


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_artifact_passes_its_validator(built, fleet, env, platform):
    g = built[1][(env, platform)]
    results = validate_guide(g, fleet)
    names = {r.name.split()[0] for r in results}
    expected = {"shellcheck", "promtool", "consistency"}
    expected |= {"compose": {"compose-spec"}, "kubernetes": {"kubernetes-validate"},
                 "systemd": {"systemd-analyze"}}[platform]
    assert expected <= names
    for r in results:
        assert r.ok, str(r)
    sc = next(r for r in results if r.name == "shellcheck")
    assert sc.skipped or sc.checked >= 8  # every shell block went through shellcheck


def test_health_endpoints_are_the_profiles(built, fleet):
    g = built[1][("production", "compose")]
    compose = yaml.safe_load(g.artifacts["docker-compose.yml"])
    hm = compose["services"]["holographic-memory"]
    assert "http://localhost:8000/healthz" in hm["healthcheck"]["test"]
    assert hm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert hm["depends_on"] == {"math-core": {"condition": "service_healthy"},
                                "vault": {"condition": "service_healthy"}}
    assert hm["volumes"] == ["holographic-memory-data:/var/lib/holographic"]
    assert "devices" not in compose["services"]["router"]["deploy"]["resources"]["reservations"]
    for svc in fleet.services.values():
        assert f"127.0.0.1:{svc.port}/healthz" in built[1][("staging", "systemd")].markdown


def test_kubernetes_shapes(built, fleet):
    arts = built[1][("development", "kubernetes")].artifacts
    docs = [d for rel, t in arts.items() if rel.startswith("k8s/") for d in yaml.safe_load_all(t) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs if "metadata" in d}
    for name, svc in fleet.services.items():
        kind = "StatefulSet" if svc.resources.disk else "Deployment"
        assert (kind, name) in kinds
        assert ("HorizontalPodAutoscaler", name) in kinds and ("PodDisruptionBudget", name) in kinds
    assert not any(d.get("kind") == "Secret" for d in docs)  # references only, never values
    hm = next(d for d in docs if d.get("kind") == "StatefulSet" and d["metadata"]["name"] == "holographic-memory")
    c = hm["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8000}
    assert c["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "holographic-memory-secrets"
    kust = yaml.safe_load(arts["k8s/overlays/development/kustomization.yaml"])
    assert {r["name"]: r["count"] for r in kust["replicas"]}["orchestrator"] == 2  # 3 x 0.5, rounded up
    assert "LOG_LEVEL: debug" in arts["k8s/overlays/development/patches.yaml"]
    pols = yaml.safe_load_all(arts["k8s/base/networkpolicies.yaml"])
    vault = next(p for p in pols if p["metadata"]["name"] == "vault-allow")
    callers = {f["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
               for rule in vault["spec"]["ingress"] for f in rule["from"] if "podSelector" in f}
    assert callers == set(fleet.upstream("vault")) == {"orchestrator", "holographic-memory"}


def test_systemd_and_monitoring(built):
    arts = built[1][("production", "systemd")].artifacts
    gpu = arts["systemd/holographic-memory-holographic-memory.service"]
    assert "DeviceAllow=/dev/nvidiactl rw" in gpu and "MemoryMax=16G" in gpu and "CPUQuota=800%" in gpu
    router = arts["systemd/holographic-memory-router.service"]
    assert "DeviceAllow" not in router and "NoNewPrivileges=yes" in router and "ProtectSystem=strict" in router
    prom = yaml.safe_load(arts["monitoring/prometheus.yml"])
    assert prom["rule_files"] and prom["alerting"]["alertmanagers"]
    dash = json.loads(arts["monitoring/grafana-dashboard.json"])
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))
    for needle in ("histogram_quantile(0.99", "http_request_duration_seconds_bucket", "DCGM_FI_DEV_GPU_UTIL",
                   "DCGM_FI_DEV_FB_USED", "node_filesystem_avail_bytes", "process_cpu_seconds_total"):
        assert needle in exprs


PLANTED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: holographic-memory}
spec:
  selector: {matchLabels: {app: hm}}
  template:
    metadata: {labels: {app: hm}}
    spec:
      containers:
      - name: api
        image: ghcr.io/holographic-memory/holographic-memory:0.9.4
        ports: [{name: http, containerPort: 8081}]
        livenessProbe: {httpGet: {path: /health, port: 8081}}
        readinessProbe: {httpGet: {path: /health, port: http}}
---
apiVersion: v1
kind: Service
metadata: {name: holographic-memory}
spec:
  selector: {app: hm}
  ports: [{port: 8081, targetPort: 8081}]
"""


def test_consistency_catches_the_repos_own_mismatch(fleet):
    found = check_consistency(fleet, {"k8s/base/holographic-memory.yaml": PLANTED})
    got = {(m.service, m.artifact, m.field, m.expected, m.found) for m in found}
    art = "k8s/base/holographic-memory.yaml"
    w = "Deployment/holographic-memory container api"
    assert (("holographic-memory", art, f"{w} livenessProbe.httpGet.path", "/healthz", "/health") in got)
    assert (("holographic-memory", art, f"{w} livenessProbe.httpGet.port", "8000", "8081") in got)
    assert (("holographic-memory", art, f"{w} readinessProbe.httpGet.port", "8000", "8081") in got)  # named
    assert (("holographic-memory", art, f"{w} containerPort", "8000", "8081") in got)
    assert (("holographic-memory", art, "Service/holographic-memory ports.port", "8000", "8081") in got)
    assert all("expected" in str(m) and "found" in str(m) for m in found)


def test_consistency_catches_compose_and_systemd_drift(built, fleet):
    arts = dict(built[1][("staging", "compose")].artifacts)
    arts["docker-compose.yml"] = arts["docker-compose.yml"].replace(
        "http://localhost:8000/healthz", "http://localhost:8081/health")
    got = {(m.service, m.field, m.expected, m.found) for m in check_consistency(fleet, arts)}
    assert got == {("holographic-memory", "healthcheck.test port", "8000", "8081"),
                   ("holographic-memory", "healthcheck.test path", "/healthz", "/health")}
    units = dict(built[1][("staging", "systemd")].artifacts)
    key = "systemd/holographic-memory-vault.service"
    units[key] = units[key].replace("8002/healthz", "8002/health")
    assert [(m.service, m.found) for m in check_consistency(fleet, units)] == [("vault", "/health")]


def test_bad_profile_names_service_and_key_and_writes_nothing(tmp_path):
    data = yaml.safe_load(DEFAULT_PROFILE.read_text())
    del data["services"]["router"]["image"]
    bad = parse_fleet(data, "bad.yaml")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("untouched")
    with pytest.raises(GuideError) as err:
        write_guides(out, bad)
    assert "router" in str(err.value) and "image" in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp dir left behind
    # systemd needs no image: that platform still builds
    assert write_guides(out, bad, ["staging"], ["systemd"])
    assert (out / "staging" / "systemd" / "guide.md").is_file()


def test_unknown_environment_is_a_guide_error(fleet):
    with pytest.raises(GuideError, match="environments.qa"):
        build_guide(fleet, "qa", "compose")


def test_prerequisite_checks_say_how_to_fix(fleet):
    from holoops.guides import prerequisites, run_checks

    pre = prerequisites(fleet, "production", "compose")
    names = " ".join(p.name for p in pre)
    assert "docker compose" in names and "GPU driver and CUDA" in names and "port 8000 free" in names
    assert "disk space" in names and "registry ghcr.io reachable" in names
    for r in run_checks(fleet, "production", "systemd"):
        assert r.fix and r.detail


def test_cli_build_and_validate(tmp_path, capsys):
    from holoops.cli import main

    assert main(["guide", "build", "--out", str(tmp_path / "g"), "--env", "staging",
                 "--platform", "compose"]) == 0
    assert (tmp_path / "g" / "staging" / "compose" / "docker-compose.yml").is_file()
    assert main(["guide", "validate", "--env", "development", "--platform", "systemd"]) == 0
    assert "shellcheck: ok" in capsys.readouterr().out


def test_import_is_lazy():
    code = ("import sys, holoops.guides as g; g.__dir__(); "
            "print(any(m in sys.modules for m in ('jinja2', 'yaml', 'jsonschema', 'kubernetes_validate')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


RUNBOOK_NAMES = ("gpu_memory_pressure", "latency_regression", "disk_exhaustion", "error_burst", "dependency_outage")


def test_guides_have_no_dead_links_and_runbooks_open_in_jupyterlab(built):
    """Every local link of the written guides resolves; a runbook link is a JupyterLab URL, never a relative
    file link that is dead in the guides folder."""
    from holoops.export import jupyterlab_url
    from holoops.linkcheck import check_links, page_links

    out, _ = built
    assert check_links(out) == []
    for page in (out / "production" / "kubernetes" / "guide.md", out / "staging" / "compose" / "guide.html"):
        links, _ = page_links(page)
        runbook_links = [x for x in links if "runbooks/" in x]
        assert sorted(runbook_links) == sorted(jupyterlab_url(r) for r in RUNBOOK_NAMES)
        assert all(x.startswith("http://localhost:8888/lab/tree/runbooks/") for x in runbook_links)


def test_guides_link_the_runbook_pages_they_are_given(tmp_path, fleet, monkeypatch):
    """``holoops demo`` passes the runbook pages it wrote: each guide links them relatively (and keeps the
    JupyterLab link, which follows HOLOOPS_RUNBOOK_BASE)."""
    from holoops.linkcheck import check_links, page_links

    monkeypatch.setenv("HOLOOPS_RUNBOOK_BASE", "https://jupyter.example.com/lab/tree/ops/runbooks/")
    run = tmp_path / "reports" / "20261108T020000Z-abcdef"
    run.mkdir(parents=True)
    pages = {}
    for r in RUNBOOK_NAMES:
        (run / f"{r}.html").write_text(f"<html><body>{r}</body></html>")
        pages[r] = run / f"{r}.html"
    out = tmp_path / "reports" / "guides"
    write_guides(out, fleet, ["staging"], ["systemd"], validate=False, runbook_pages=pages)
    assert check_links(tmp_path / "reports") == []
    links, _ = page_links(out / "staging" / "systemd" / "guide.html")
    assert "../../../20261108T020000Z-abcdef/error_burst.html" in links
    assert "https://jupyter.example.com/lab/tree/ops/runbooks/error_burst.ipynb" in links
