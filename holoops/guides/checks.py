"""``holoops guide check``: the prerequisites a guide lists, checked on this machine.

One list (:func:`prerequisites`) feeds both the guide's *Prerequisites* section and the checker, so the
two never drift. Every check says what to do when it fails.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from holoops.fleet import FleetProfile


@dataclass(frozen=True)
class Prerequisite:
    """One prerequisite: a shell command an operator can run, and the fix when it fails."""

    name: str
    command: str
    fix: str
    probe: Callable[[], tuple[bool, str]] | None = None


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        tail = "" if self.ok else f"\n       fix: {self.fix}"
        return f"[{mark}] {self.name}: {self.detail}{tail}"


def _run(cmd: list[str], timeout: float = 10) -> tuple[bool, str]:
    if shutil.which(cmd[0]) is None:
        return False, f"{cmd[0]} not found on PATH"
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{' '.join(cmd)} failed: {exc}"
    out = (p.stdout or p.stderr).strip().splitlines()
    return p.returncode == 0, (out[0] if out else f"exit {p.returncode}")[:200]


def _tool(cmd: list[str]) -> Callable[[], tuple[bool, str]]:
    return lambda: _run(cmd)


def _gpu() -> tuple[bool, str]:
    ok, detail = _run(["nvidia-smi", "--query-gpu=driver_version,name,memory.total", "--format=csv,noheader"])
    if not ok:
        return ok, detail
    _, head = _run(["nvidia-smi"])
    full = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"CUDA Version:\s*([\d.]+)", full or head)
    return True, f"{detail}; CUDA {m.group(1) if m else 'unknown'}"


def _port_free(port: int) -> Callable[[], tuple[bool, str]]:
    def probe() -> tuple[bool, str]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", port))
            except OSError as exc:
                return False, f"port {port} is in use ({exc.strerror})"
        return True, f"port {port} is free"
    return probe


def _disk(path: str, need: int) -> Callable[[], tuple[bool, str]]:
    def probe() -> tuple[bool, str]:
        import os

        p = path
        while not os.path.exists(p):
            p = os.path.dirname(p) or "/"
        free = shutil.disk_usage(p).free
        gib = 2**30
        return free >= need, f"{free / gib:.1f} GiB free under {p}, {need / gib:.1f} GiB needed"
    return probe


def _reachable(host: str, port: int) -> Callable[[], tuple[bool, str]]:
    def probe() -> tuple[bool, str]:
        try:
            with socket.create_connection((host, port), timeout=3):
                return True, f"{host}:{port} reachable"
        except OSError as exc:
            return False, f"{host}:{port} unreachable ({exc.strerror or exc})"
    return probe


def prerequisites(fleet: FleetProfile, environment: str, platform: str) -> list[Prerequisite]:
    """What must hold before deploying ``fleet`` to ``environment`` on ``platform``."""
    pre: list[Prerequisite] = []
    if platform == "compose":
        pre += [
            Prerequisite("docker", "docker --version",
                         "Install Docker Engine 24 or newer (https://docs.docker.com/engine/install/).",
                         _tool(["docker", "--version"])),
            Prerequisite("docker compose", "docker compose version",
                         "Install the Compose v2 plugin (package docker-compose-plugin); v1 `docker-compose` "
                         "does not support `deploy.resources.reservations.devices`.",
                         _tool(["docker", "compose", "version"])),
            Prerequisite("docker daemon reachable", "docker info --format '{{.ServerVersion}}'",
                         "Start the daemon (`sudo systemctl start docker`) and add your user to the docker group.",
                         _tool(["docker", "info", "--format", "{{.ServerVersion}}"])),
        ]
    elif platform == "kubernetes":
        pre += [
            Prerequisite("kubectl", "kubectl version --client",
                         "Install kubectl within one minor version of the cluster (1.29 or newer).",
                         _tool(["kubectl", "version", "--client"])),
            Prerequisite("cluster reachable", "kubectl cluster-info",
                         "Select the right context (`kubectl config use-context ...`) and check VPN/credentials.",
                         _tool(["kubectl", "cluster-info", "--request-timeout=5s"])),
        ]
    else:
        pre += [
            Prerequisite("systemd", "systemctl --version",
                         "Use a systemd host (systemd 245 or newer for LoadCredential and ProtectClock).",
                         _tool(["systemctl", "--version"])),
            Prerequisite("curl", "curl --version",
                         "Install curl (`sudo apt-get install -y curl`); the units' health gate uses it.",
                         _tool(["curl", "--version"])),
        ]
    gpu_svcs = fleet.gpu_services
    if gpu_svcs:
        models = ", ".join(sorted({fleet.services[s].resources.gpu.model for s in gpu_svcs}))
        if platform == "kubernetes":
            pre.append(Prerequisite(
                "GPU nodes", "kubectl get nodes -o custom-columns=NODE:.metadata.name,GPU:.status.allocatable.nvidia\\.com/gpu",
                f"{', '.join(gpu_svcs)} need(s) {models}: install the NVIDIA GPU Operator or device plugin so "
                "nodes advertise nvidia.com/gpu; check the driver with `nvidia-smi` on the node.",
                _tool(["kubectl", "get", "nodes", "--request-timeout=5s", "-o",
                       "custom-columns=NODE:.metadata.name,GPU:.status.allocatable.nvidia\\.com/gpu"])))
        else:
            fix = (f"{', '.join(gpu_svcs)} need(s) {models}: install the NVIDIA driver (535 or newer, CUDA 12)"
                   + (" and the NVIDIA Container Toolkit (`nvidia-ctk runtime configure --runtime=docker`)"
                      if platform == "compose" else "") + "; then re-run `nvidia-smi`.")
            pre.append(Prerequisite("GPU driver and CUDA",
                                    "nvidia-smi --query-gpu=driver_version,name,memory.total --format=csv,noheader",
                                    fix, _gpu))
    if platform != "kubernetes":
        for name, svc in fleet.services.items():
            pre.append(Prerequisite(
                f"port {svc.port} free ({name})", f"! ss -ltnH 'sport = :{svc.port}' | grep -q .",
                f"Stop what listens on {svc.port} (`sudo ss -ltnp 'sport = :{svc.port}'` shows it) "
                f"or change services.{name}.port in the fleet profile and rebuild the guide.",
                _port_free(svc.port)))
        need = sum(s.resources.disk.size_bytes for s in fleet.services.values() if s.resources.disk)
        where = "/var/lib/docker" if platform == "compose" else "/var/lib"
        pre.append(Prerequisite(
            f"disk space under {where}", f"df -h {where}",
            f"Free space or grow the volume: the services' disks need {need / 2**30:.0f} GiB in total "
            "(runbooks/disk_exhaustion.ipynb lists what is safe to delete).", _disk(where, need)))
    else:
        pre.append(Prerequisite(
            "default StorageClass", "kubectl get storageclass",
            "Mark a StorageClass default (annotation storageclass.kubernetes.io/is-default-class=true) "
            "or set storageClassName in the overlay; the StatefulSets claim volumes.",
            _tool(["kubectl", "get", "storageclass", "--request-timeout=5s"])))
    if fleet.image_registry and platform != "systemd":
        host = fleet.image_registry.split("/")[0]
        pre.append(Prerequisite(
            f"registry {host} reachable", f"curl -sS -o /dev/null -w '%{{http_code}}\\n' https://{host}/v2/",
            f"Open egress to {host}:443 or mirror the images to a reachable registry and set image_registry.",
            _reachable(host, 443)))
    return pre


def run_checks(fleet: FleetProfile, environment: str, platform: str) -> list[CheckResult]:
    """Run every prerequisite here; never raises for a failed check."""
    out = []
    for p in prerequisites(fleet, environment, platform):
        try:
            ok, detail = p.probe() if p.probe else (True, "not checked automatically")
        except Exception as exc:  # a probe must not stop the others
            ok, detail = False, f"check crashed: {exc}"
        out.append(CheckResult(p.name, ok, detail, p.fix))
    return out
