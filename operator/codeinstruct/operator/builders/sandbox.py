"""The code-execution sandbox: gVisor pods serving `codeinstruct sandbox serve`, a Service,
and a default-deny NetworkPolicy (ingress only from this dataset's driver and scoring pods)."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.builders.meta import (
    Target,
    metadata,
    restricted_security,
    selector_labels,
    service_url,
)
from codeinstruct.operator.builders.placement import place
from codeinstruct.operator.constants import LABEL_DATASET, SANDBOX_PORT, Component

RUN_AS_USER = 65532


def wanted(target: Target) -> bool:
    """Skipped when the spec names an external sandbox service."""
    return target.spec.sandbox.endpoint is None


def endpoint(target: Target) -> str:
    return service_url(target, Component.SANDBOX, SANDBOX_PORT)


def deployment(target: Target) -> dict[str, Any]:
    """Serves the executor API (`codeinstruct sandbox serve`, issue 3) on SANDBOX_PORT."""
    sandbox = target.spec.sandbox
    memory_mib = sandbox.workers * sandbox.memory_mib + 512
    resources = {
        "requests": {"cpu": str(sandbox.workers), "memory": f"{memory_mib}Mi"},
        "limits": {
            "cpu": str(sandbox.workers),
            "memory": f"{memory_mib}Mi",
            "ephemeral-storage": "1Gi",
        },
    }
    container = {
        "name": "sandbox",
        "image": target.settings.image,
        "imagePullPolicy": target.settings.image_pull_policy,
        "command": ["codeinstruct", "sandbox", "serve"],
        # The pod is the gVisor sandbox: the supervisor confines each job inside it.
        "args": [
            "--host",
            "0.0.0.0",
            "--port",
            str(SANDBOX_PORT),
            "--isolation",
            "none",
            "--workers",
            str(sandbox.workers),
            "--timeout",
            str(sandbox.timeout_seconds),
            "--memory",
            str(sandbox.memory_mib),
        ],
        "ports": [{"name": "http", "containerPort": SANDBOX_PORT, "protocol": "TCP"}],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "resources": resources,
        "securityContext": restricted_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 20},
    }
    meta = metadata(target, Component.SANDBOX)
    manifest: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 0 if target.suspended else sandbox.replicas,
            "selector": {"matchLabels": selector_labels(target, Component.SANDBOX)},
            "template": {
                "metadata": {"labels": meta["labels"]},
                "spec": {
                    "runtimeClassName": target.settings.runtime_class,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS_USER,
                        "runAsGroup": RUN_AS_USER,
                        "fsGroup": RUN_AS_USER,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}],
                },
            },
        },
    }
    place(manifest["spec"]["template"]["spec"], target)
    return manifest


def service(target: Target) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(target, Component.SANDBOX),
        "spec": {
            "selector": selector_labels(target, Component.SANDBOX),
            "ports": [{"name": "http", "port": SANDBOX_PORT, "targetPort": "http"}],
        },
    }


def network_policy(target: Target) -> dict[str, Any]:
    """No egress at all; ingress only from pods of the same dataset, on the service port."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(target, Component.SANDBOX),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(target, Component.SANDBOX)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {LABEL_DATASET: target.name}}}],
                    "ports": [{"protocol": "TCP", "port": SANDBOX_PORT}],
                },
                *_monitoring_ingress(target),
            ],
            "egress": [],
        },
    }


def _monitoring_ingress(target: Target) -> list[dict[str, Any]]:
    """Prometheus's namespace may scrape /metrics (the chart's `metrics.podMonitors`)."""
    namespace = target.settings.metrics_namespace
    if not namespace:
        return []
    selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return [
        {
            "from": [{"namespaceSelector": selector}],
            "ports": [{"protocol": "TCP", "port": SANDBOX_PORT}],
        }
    ]
