"""Names, labels and metadata shared by every child; deterministic for a given dataset."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from codeinstruct.operator.constants import (
    APP_NAME,
    LABEL_COMPONENT,
    LABEL_DATASET,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    MANAGER,
    RUN_AS_USER,
    Component,
)
from codeinstruct.operator.settings import Settings
from codeinstruct.operator.stages import PlannedStage, executes_code, pipeline
from codeinstruct.workers.spec import InstructionDataset, Spec, run_signature

MAX_NAME = 63


@dataclass(frozen=True)
class Target:
    """What every builder needs: the dataset, where it lives, and the operator settings."""

    dataset: InstructionDataset
    namespace: str
    settings: Settings
    suspended: bool = False

    @property
    def name(self) -> str:
        return self.dataset.metadata.name

    @property
    def spec(self) -> Spec:
        return self.dataset.spec

    @cached_property
    def signature(self) -> str:
        return run_signature(self.dataset.spec)

    @cached_property
    def stages(self) -> list[PlannedStage] | None:
        return pipeline(self.dataset.spec)

    @property
    def executes_code(self) -> bool:
        return executes_code(self.stages)


def child_name(dataset: str, component: Component | str, limit: int = MAX_NAME) -> str:
    """`{dataset}-{component}`, cut to `limit` characters with a hash suffix when too long (a
    component, or a suffix such as `vllm-judge` for one of several servers of a component)."""
    suffix = str(component)
    name = f"{dataset}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{dataset[:keep].rstrip('-')}-{digest}-{suffix}"


def selector_labels(target: Target, component: Component) -> dict[str, str]:
    return {LABEL_DATASET: target.name, LABEL_COMPONENT: component.value}


def labels(target: Target, component: Component) -> dict[str, str]:
    return {
        **target.settings.extra_labels,
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: target.name,
        LABEL_MANAGED_BY: MANAGER,
        **selector_labels(target, component),
    }


def metadata(target: Target, component: Component) -> dict[str, Any]:
    return {
        "name": child_name(target.name, component),
        "namespace": target.namespace,
        "labels": labels(target, component),
    }


def service_url(target: Target, component: Component | str, port: int, path: str = "") -> str:
    host = f"{child_name(target.name, component)}.{target.namespace}.svc"
    return f"http://{host}:{port}{path}"


def content_hash(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """A controller ownerReference to the InstructionDataset (garbage collection on delete)."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def restricted_security(read_only_root: bool = True) -> dict[str, Any]:
    """Container securityContext meeting Pod Security `restricted`: non-root, no privilege,
    no capabilities, the runtime's seccomp profile (and a read-only root unless asked)."""
    return {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": read_only_root,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> dict[str, Any]:
    """Pod securityContext of every child pod: one non-root UID, group-writable volumes."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def service(target: Target, component: Component, port: int) -> dict[str, Any]:
    """A ClusterIP Service on the component's pods, port `http`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(target, component),
        "spec": {
            "selector": selector_labels(target, component),
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }


def deployment(
    target: Target,
    component: Component,
    replicas: int,
    pod_spec: dict[str, Any],
    strategy: str | None = None,
) -> dict[str, Any]:
    """A Deployment skeleton: zero replicas while suspended, selected by dataset and component."""
    meta = metadata(target, component)
    spec: dict[str, Any] = {
        "replicas": 0 if target.suspended else replicas,
        "selector": {"matchLabels": selector_labels(target, component)},
        "template": {"metadata": {"labels": meta["labels"]}, "spec": pod_spec},
    }
    if strategy:
        spec["strategy"] = {"type": strategy}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def ingress_policy(
    target: Target, component: Component, port: int, egress: bool = False
) -> dict[str, Any]:
    """Ingress to the component only from this dataset's pods, on `port`; with `egress`, no
    egress at all (default deny)."""
    rule = {
        "from": [{"podSelector": {"matchLabels": {LABEL_DATASET: target.name}}}],
        "ports": [{"protocol": "TCP", "port": port}],
    }
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": selector_labels(target, component)},
        "policyTypes": ["Ingress", "Egress"] if egress else ["Ingress"],
        "ingress": [rule],
    }
    if egress:
        spec["egress"] = []
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(target, component),
        "spec": spec,
    }


def monitoring_ingress(target: Target, port: int) -> list[dict[str, Any]]:
    """Prometheus's namespace may scrape /metrics on `port` (the chart's `metrics.podMonitors`)."""
    namespace = target.settings.metrics_namespace
    if not namespace:
        return []
    selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return [
        {"from": [{"namespaceSelector": selector}], "ports": [{"protocol": "TCP", "port": port}]}
    ]
