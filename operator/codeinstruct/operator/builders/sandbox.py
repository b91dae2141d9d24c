"""The code-execution sandbox: gVisor pods serving `codeinstruct sandbox serve`, a Service,
and a default-deny NetworkPolicy (ingress only from this dataset's driver and scoring pods).

A pod runs ONE job at a time: its jobs share the pod's UID and files (gVisor gives a non-root
process no user namespace), so its one supervisor wipes everything writable (`/tmp`, `/dev/shm`)
and reaps every process before the next job. `sandbox.workers` jobs in parallel are
`sandbox.workers` pods per replica."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.builders.meta import (
    Target,
    ingress_policy,
    monitoring_ingress,
    pod_security,
    restricted_security,
    service_url,
)
from codeinstruct.operator.builders.meta import deployment as deployment_skeleton
from codeinstruct.operator.builders.meta import service as service_skeleton
from codeinstruct.operator.builders.placement import place
from codeinstruct.operator.constants import SANDBOX_PORT, Component
from codeinstruct.workers.sandbox.bundle import POD_WIPE
from codeinstruct.workers.sandbox.python_packages import IMAGE_PREFIX, default_packages
from codeinstruct.workers.spec.models import SandboxPython


def wanted(target: Target) -> bool:
    """Only for methods that execute code, and not when the spec names an external sandbox."""
    return target.spec.sandbox.endpoint is None and target.executes_code


def endpoint(target: Target) -> str:
    return service_url(target, Component.SANDBOX, SANDBOX_PORT)


def python_args(python: SandboxPython) -> list[str]:
    """The sandbox's Python: the image's environment for the default packages (or any given
    `prefix`); other packages are installed by the pod at start (from PyPI: the pod needs a
    way there, or an image of your own with `prefix`, see docs/sandbox.md)."""
    if python.prefix:
        return ["--python-prefix", python.prefix]
    if tuple(python.packages) == default_packages():
        return ["--python-prefix", IMAGE_PREFIX]
    return ["--python-packages", ",".join(python.packages)]


def deployment(target: Target) -> dict[str, Any]:
    """Serves the executor API (`codeinstruct sandbox serve`, issue 3) on SANDBOX_PORT."""
    sandbox = target.spec.sandbox
    # One job at a time: one CPU, one job's memory and the server's.
    memory_mib = sandbox.memory_mib + 512
    resources = {
        "requests": {"cpu": "1", "memory": f"{memory_mib}Mi"},
        "limits": {"cpu": "1", "memory": f"{memory_mib}Mi", "ephemeral-storage": "1Gi"},
    }
    container = {
        "name": "sandbox",
        "image": target.settings.sandbox_image,
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
            "1",
            "--timeout",
            str(sandbox.timeout_seconds),
            "--memory",
            str(sandbox.memory_mib),
            *python_args(sandbox.python),
        ],
        "ports": [{"name": "http", "containerPort": SANDBOX_PORT, "protocol": "TCP"}],
        # Every directory a job can write to here (the root file system is read-only).
        "env": [{"name": "HOME", "value": "/tmp"}, {"name": POD_WIPE, "value": "/tmp:/dev/shm"}],
        "resources": resources,
        "securityContext": restricted_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 20},
    }
    pod = {
        "runtimeClassName": target.settings.runtime_class,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}],
    }
    place(pod, target)
    pods = sandbox.replicas * sandbox.workers
    return deployment_skeleton(target, Component.SANDBOX, pods, pod)


def service(target: Target) -> dict[str, Any]:
    return service_skeleton(target, Component.SANDBOX, SANDBOX_PORT)


def network_policy(target: Target) -> dict[str, Any]:
    """No egress at all; ingress only from pods of the same dataset, on the service port."""
    policy = ingress_policy(target, Component.SANDBOX, SANDBOX_PORT, egress=True)
    policy["spec"]["ingress"] += monitoring_ingress(target, SANDBOX_PORT)
    return policy
