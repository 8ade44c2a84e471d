"""systemd units, one per service: health gate via ExecStartPost curl loop, hardening, resource limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from holoops.guides.artifacts import health_url

if TYPE_CHECKING:
    from holoops.fleet import Environment, FleetProfile, Service

GPU_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0")


def prefix(fleet: FleetProfile) -> str:
    return fleet.namespace


def unit_name(fleet: FleetProfile, service: str) -> str:
    return f"{prefix(fleet)}-{service}.service"


def install_dir(fleet: FleetProfile, service: str) -> str:
    return f"/opt/{prefix(fleet)}/{service}"


def _unit(fleet: FleetProfile, svc: Service, env_name: str, env: Environment) -> str:
    res = svc.resources
    deps = " ".join(unit_name(fleet, d) for d in svc.depends_on)
    attempts = 60 if svc.uses_gpu else 30
    lines = [
        "[Unit]",
        f"Description={fleet.name} {svc.name} ({env_name}): {svc.description}".rstrip(": "),
        "Documentation=https://github.com/holographic-memory",
        "After=network-online.target" + (f" {deps}" if deps else ""),
        "Wants=network-online.target",
    ]
    if deps:
        lines.append(f"Requires={deps}")
    lines += [
        "StartLimitIntervalSec=300",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "Type=exec",
        f"User={prefix(fleet)}",
        f"Group={prefix(fleet)}",
        f"EnvironmentFile=/etc/{prefix(fleet)}/{svc.name}.env",
        f"LoadCredential=api-key:/etc/{prefix(fleet)}/secrets/{svc.name}-api-key",
        f"ExecStart={install_dir(fleet, svc.name)}/bin/{svc.name} --host 0.0.0.0 --port {svc.port}",
        # health gate: the unit is only 'started' once /healthz answers (systemd needs $$ for a shell $)
        f"ExecStartPost=/bin/sh -c 'i=0; while [ $$i -lt {attempts} ]; do "
        f"curl -fsS -o /dev/null {health_url(svc)} && exit 0; i=$$((i+1)); sleep 2; done; exit 1'",
        "Restart=on-failure",
        "RestartSec=5",
        f"TimeoutStartSec={attempts * 2 + 30}",
        "",
        "# resource limits (from the fleet profile)",
        f"MemoryMax={_size(res.memory.limit)}",
        f"MemoryLow={_size(res.memory.request)}",
        f"CPUQuota={round(res.cpu.limit * 100)}%",
        "TasksMax=4096",
        "LimitNOFILE=65536",
        "",
        "# hardening",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "SystemCallArchitectures=native",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ]
    if res.disk:
        lines.append(f"ReadWritePaths={res.disk.mount}")
        lines.append(f"StateDirectory={prefix(fleet)}/{svc.name}")
    if svc.uses_gpu:
        lines += ["# GPU access: only the NVIDIA device nodes", "PrivateDevices=no", "DevicePolicy=closed"]
        lines += [f"DeviceAllow={d} rw" for d in GPU_DEVICES]
        lines.append("MemoryDenyWriteExecute=no")
    else:
        lines += ["PrivateDevices=yes", "MemoryDenyWriteExecute=yes"]
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def _size(quantity: str) -> str:
    """Kubernetes quantity -> systemd size (systemd's K/M/G/T are binary): ``2Gi`` -> ``2G``."""
    q = quantity.strip()
    return q[:-1] if q.endswith("i") else q


def _env_file(fleet: FleetProfile, svc: Service, env_name: str, env: Environment) -> str:
    lines = [f"# /etc/{prefix(fleet)}/{svc.name}.env — configuration only; secrets come via LoadCredential",
             f"SERVICE_NAME={svc.name}", f"PORT={svc.port}", f"LOG_LEVEL={env.log_level}",
             f"HOLOOPS_ENV={env_name}", f"TLS_ENABLED={str(env.tls).lower()}",
             f"HEALTH_PATH={svc.health}", f"METRICS_PATH={svc.metrics_path}"]
    for dep in svc.depends_on:
        lines.append(f"{dep.upper().replace('-', '_')}_URL=http://127.0.0.1:{fleet.services[dep].port}")
    return "\n".join(lines) + "\n"


def build(fleet: FleetProfile, env_name: str, env: Environment) -> dict[str, str]:
    """``systemd/<prefix>-<service>.service`` and ``systemd/env/<service>.env`` per service."""
    out: dict[str, str] = {}
    for name, svc in fleet.services.items():
        out[f"systemd/{unit_name(fleet, name)}"] = _unit(fleet, svc, env_name, env)
        out[f"systemd/env/{name}.env"] = _env_file(fleet, svc, env_name, env)
    return out
