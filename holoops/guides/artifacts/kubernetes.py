"""Kubernetes manifests as a kustomize base plus one overlay per environment.

Deployment (StatefulSet with a volumeClaimTemplate when the service has a disk), Service, ConfigMap,
Secret references only (envFrom/secretKeyRef), probes on /healthz, requests/limits incl. nvidia.com/gpu,
HPA autoscaling/v2, PDB policy/v1, and NetworkPolicies allowing only the profile's edges + scraping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from holoops.guides.artifacts import cpu_millis, image, max_replicas, replicas, to_yaml

if TYPE_CHECKING:
    from holoops.fleet import Environment, FleetProfile, Service

MONITORING_NAMESPACE = "monitoring"
INGRESS_NAMESPACE = "ingress-nginx"


def _labels(fleet: FleetProfile, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": fleet.name}


def _probe(svc: Service, *, period: int, failures: int, delay: int = 0) -> dict:
    p = {"httpGet": {"path": svc.health, "port": svc.port}, "periodSeconds": period,
         "timeoutSeconds": 3, "failureThreshold": failures}
    if delay:
        p["initialDelaySeconds"] = delay
    return p


def _workload(fleet: FleetProfile, svc: Service) -> dict:
    name, res = svc.name, svc.resources
    requests = {"cpu": cpu_millis(res.cpu.request), "memory": res.memory.request}
    limits = {"cpu": cpu_millis(res.cpu.limit), "memory": res.memory.limit}
    if res.gpu:
        requests["nvidia.com/gpu"] = str(res.gpu.count)
        limits["nvidia.com/gpu"] = str(res.gpu.count)
    container: dict = {
        "name": name,
        "image": image(fleet, svc),
        "ports": [{"name": "http", "containerPort": svc.port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
        "env": [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": f"{name}-secrets", "key": "api-key"}}}],
        "resources": {"requests": requests, "limits": limits},
        "startupProbe": _probe(svc, period=5, failures=60 if res.gpu else 24),
        "livenessProbe": _probe(svc, period=10, failures=3),
        "readinessProbe": _probe(svc, period=5, failures=2),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
    }
    pod_spec: dict = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    if res.gpu:
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    labels = _labels(fleet, name)
    template = {"metadata": {"labels": labels, "annotations": {
        "prometheus.io/scrape": "true", "prometheus.io/port": str(svc.port),
        "prometheus.io/path": svc.metrics_path}}, "spec": pod_spec}
    spec: dict = {"replicas": svc.replicas, "selector": {"matchLabels": labels}, "template": template}
    if res.disk:
        container["volumeMounts"] = [{"name": "data", "mountPath": res.disk.mount}]
        spec["serviceName"] = name
        spec["volumeClaimTemplates"] = [{
            "metadata": {"name": "data", "labels": labels},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": res.disk.size}}},
        }]
        kind = "StatefulSet"
    else:
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        kind = "Deployment"
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "labels": labels}, "spec": spec}


def _service(fleet: FleetProfile, svc: Service) -> dict:
    labels = _labels(fleet, svc.name)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc.name, "labels": labels},
            "spec": {"selector": labels, "ports": [
                {"name": "http", "port": svc.port, "targetPort": svc.port, "protocol": "TCP"}]}}


def _configmap(fleet: FleetProfile, svc: Service, log_level: str = "info", tls: bool = True) -> dict:
    data = {"SERVICE_NAME": svc.name, "PORT": str(svc.port), "LOG_LEVEL": log_level,
            "TLS_ENABLED": str(tls).lower(), "HEALTH_PATH": svc.health, "METRICS_PATH": svc.metrics_path}
    for dep in svc.depends_on:
        d = fleet.services[dep]
        data[f"{dep.upper().replace('-', '_')}_URL"] = f"http://{dep}:{d.port}"
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{svc.name}-config", "labels": _labels(fleet, svc.name)}, "data": data}


def _hpa(fleet: FleetProfile, svc: Service, lo: int, hi: int) -> dict:
    kind = "StatefulSet" if svc.resources.disk else "Deployment"
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": svc.name, "labels": _labels(fleet, svc.name)},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": svc.name},
                     "minReplicas": lo, "maxReplicas": hi,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}}


def _pdb(fleet: FleetProfile, svc: Service) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": svc.name, "labels": _labels(fleet, svc.name)},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(fleet, svc.name)}}}


def _netpols(fleet: FleetProfile) -> list[dict]:
    pols: list[dict] = [{
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny-all"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }, {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "allow-dns-egress"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
    }]
    for name, svc in fleet.services.items():
        port = [{"protocol": "TCP", "port": svc.port}]
        callers = fleet.upstream(name)
        ingress: list[dict] = [{
            "from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}], "ports": port}]
        if callers:
            ingress.append({"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": c}}}
                                     for c in callers], "ports": port})
        else:  # an entry point: nobody in the fleet calls it, so it is reached through the ingress controller
            ingress.append({"from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": INGRESS_NAMESPACE}}}], "ports": port})
        spec: dict = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
                      "policyTypes": ["Ingress", "Egress"] if svc.depends_on else ["Ingress"],
                      "ingress": ingress}
        if svc.depends_on:
            spec["egress"] = [{"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": d}}}],
                               "ports": [{"protocol": "TCP", "port": fleet.services[d].port}]}
                              for d in svc.depends_on]
        pols.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": f"{name}-allow", "labels": _labels(fleet, name)}, "spec": spec})
    return pols


def base(fleet: FleetProfile) -> dict[str, str]:
    """The kustomize base: one file per service plus the network policies."""
    files: dict[str, str] = {}
    for name, svc in fleet.services.items():
        docs = [_configmap(fleet, svc), _workload(fleet, svc), _service(fleet, svc),
                _hpa(fleet, svc, svc.replicas, max(2, 2 * svc.replicas)), _pdb(fleet, svc)]
        files[f"k8s/base/{name}.yaml"] = to_yaml(docs)
    files["k8s/base/networkpolicies.yaml"] = to_yaml(_netpols(fleet))
    files["k8s/base/kustomization.yaml"] = to_yaml({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "namespace": fleet.namespace,
        "labels": [{"pairs": {"app.kubernetes.io/managed-by": "holoops"}}],
        "resources": [f"{n}.yaml" for n in fleet.services] + ["networkpolicies.yaml"],
    })
    return files


def overlay(fleet: FleetProfile, env_name: str, env: Environment) -> dict[str, str]:
    """``k8s/overlays/<env>/``: replica scaling, HPA bounds and log level for one environment."""
    root = f"k8s/overlays/{env_name}"
    patches = []
    for svc in fleet.services.values():
        patches.append(_configmap(fleet, svc, env.log_level, env.tls))
        patches.append(_hpa(fleet, svc, replicas(svc, env), max_replicas(svc, env)))
    return {
        f"{root}/patches.yaml": to_yaml(patches),
        f"{root}/kustomization.yaml": to_yaml({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": fleet.namespace,
            "resources": ["namespace.yaml", "../../base"],
            "labels": [{"pairs": {"holoops.io/environment": env_name}}],
            "replicas": [{"name": n, "count": replicas(s, env)} for n, s in fleet.services.items()],
            "patches": [{"path": "patches.yaml"}],
        }),
        f"{root}/namespace.yaml": to_yaml({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": fleet.namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}),
    }


def build(fleet: FleetProfile, env_name: str, env: Environment) -> dict[str, str]:
    """Base plus this environment's overlay."""
    return {**base(fleet), **overlay(fleet, env_name, env)}
