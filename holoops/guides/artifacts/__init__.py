"""Artifact builders: one module per platform/tool. Each returns ``{relative path: text}``.

Builders read only the fleet profile and the environment; they never see secret values (secrets are
referenced by name and created out of band, as the guides explain).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from holoops.errors import GuideError

if TYPE_CHECKING:
    from holoops.fleet import Environment, FleetProfile, Service

PLATFORMS = ("compose", "kubernetes", "systemd")

#: what each platform needs from every service besides the always-required port/health
NEEDS: dict[str, tuple[str, ...]] = {"compose": ("image",), "kubernetes": ("image",), "systemd": ()}


def require(fleet: FleetProfile, platform: str) -> None:
    """Raise GuideError naming the service and key a platform needs but the profile lacks."""
    if platform not in PLATFORMS:
        raise GuideError(f"unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
    for name, svc in fleet.services.items():
        for key in NEEDS[platform]:
            if not getattr(svc, key, None):
                raise GuideError(
                    f"{fleet.name}: service '{name}' has no '{key}' (services.{name}.{key}), "
                    f"which the {platform} platform needs")


def image(fleet: FleetProfile, svc: Service) -> str:
    """Full image reference: the profile's registry prefixed unless the image already names one."""
    img = svc.image or ""
    if fleet.image_registry and "/" not in img.split(":")[0]:
        return f"{fleet.image_registry.rstrip('/')}/{img}"
    return img


def replicas(svc: Service, env: Environment) -> int:
    """Replicas in an environment: ``replicas * replicas_scale``, rounded up, at least 1."""
    return max(1, math.ceil(svc.replicas * env.replicas_scale))


def max_replicas(svc: Service, env: Environment) -> int:
    """HPA ceiling: twice the environment's replica count (at least 2)."""
    return max(2, 2 * replicas(svc, env))


def cpu_millis(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def to_yaml(docs: dict | list[dict]) -> str:
    """YAML text; a list becomes a multi-document stream. Keys keep their insertion order."""
    import yaml

    if isinstance(docs, list):
        return "---\n".join(yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in docs)
    return yaml.safe_dump(docs, sort_keys=False, default_flow_style=False)


def health_url(svc: Service, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{svc.port}{svc.health}"
