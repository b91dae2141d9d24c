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
    LABEL_SIGNATURE,
    MANAGER,
    Component,
)
from codeinstruct.operator.settings import Settings
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


def child_name(dataset: str, component: Component) -> str:
    """`{dataset}-{component}`, cut to 63 characters with a hash suffix when too long."""
    name = f"{dataset}-{component.value}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = MAX_NAME - len(component.value) - len(digest) - 2
    return f"{dataset[:keep].rstrip('-')}-{digest}-{component.value}"


def selector_labels(target: Target, component: Component) -> dict[str, str]:
    return {LABEL_DATASET: target.name, LABEL_COMPONENT: component.value}


def labels(target: Target, component: Component) -> dict[str, str]:
    return {
        **target.settings.extra_labels,
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: target.name,
        LABEL_MANAGED_BY: MANAGER,
        LABEL_SIGNATURE: target.signature,
        **selector_labels(target, component),
    }


def metadata(target: Target, component: Component) -> dict[str, Any]:
    return {
        "name": child_name(target.name, component),
        "namespace": target.namespace,
        "labels": labels(target, component),
    }


def service_url(target: Target, component: Component, port: int, path: str = "") -> str:
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


def restricted_security() -> dict[str, Any]:
    """Container securityContext: non-root, read-only root, no privilege, no capabilities."""
    return {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
