"""Operator settings, read from the environment (`CODEINSTRUCT_*`); the Helm chart sets them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from typing import Any

PREFIX = "CODEINSTRUCT_"


@dataclass(frozen=True)
class Settings:
    # Image of the data plane (driver, sandbox, scoring): `codeinstruct` with its extras.
    image: str = "ghcr.io/codeinstruct/codeinstruct:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    # RuntimeClass the sandbox pods run under; the operator checks that it exists.
    runtime_class: str = "gvisor"
    # Image of the Ray head for the RayJob (KubeRay) or the single-pod scoring Job.
    ray_image: str = "ghcr.io/codeinstruct/codeinstruct-ray:0.1.0"
    # Image of the sandbox pods: built from images/sandbox/Dockerfile, with the default Python
    # environment of sandboxed programs at SANDBOX_PYTHON (`sandbox.python.packages`).
    sandbox_image: str = "ghcr.io/codeinstruct/codeinstruct-sandbox:0.1.0"
    # Seconds between reconcile ticks per InstructionDataset.
    interval: float = 10.0
    # Client-side rate limit of the operator's own API requests (controller-runtime's 20/30).
    api_qps: float = 20.0
    api_burst: int = 30
    # Port of the Prometheus /metrics endpoint (0: off).
    metrics_port: int = 8080
    # S3_ENDPOINT_URL given to the driver and scoring pods (the credentials Secret may also set it).
    s3_endpoint_url: str = ""
    # Kubernetes API URL; empty: in-cluster config or kubeconfig.
    api_server: str = ""
    # Namespaces to watch (comma-separated); empty: all namespaces.
    namespaces: tuple[str, ...] = ()
    # Seconds the sandbox/vLLM pods may stay unschedulable before the run fails.
    unschedulable_grace_seconds: float = 600.0
    # Seconds any child pod may stay stuck (ImagePullBackOff, CreateContainerConfigError,
    # CrashLoopBackOff, FailedCreate, ...) before the run fails with that reason.
    stuck_grace_seconds: float = 300.0
    # Restarts after which a CrashLoopBackOff counts as stuck.
    crash_loop_restarts: int = 3
    # activeDeadlineSeconds of the driver and scoring Jobs and of the RayJob (a run's ceiling).
    job_deadline_seconds: int = 7 * 24 * 3600
    # preRunningDeadlineSeconds of the RayJob: its Ray cluster must be up within this.
    rayjob_start_deadline_seconds: int = 1800
    # RuntimeClass handlers accepted for the sandbox (runsc: gVisor; gvisor: GKE Sandbox).
    sandbox_handlers: tuple[str, ...] = ("runsc", "gvisor")
    # Seconds a delete waits for the driver to stop before the finalizer is released.
    delete_timeout_seconds: float = 60.0
    # Labels put on every child (e.g. a team or cost centre), as `k=v,k2=v2`.
    extra_labels: dict[str, str] = field(default_factory=dict)
    # Placement of every child pod, as JSON: nodeSelector, tolerations, affinity,
    # priorityClassName, imagePullSecrets ([{name}]); a dataset's spec.scheduling goes over it.
    placement: dict[str, Any] = field(default_factory=dict, metadata={"json": True})
    # Extra placement of the vLLM (GPU) pods, as JSON: nodeSelector, tolerations, affinity.
    gpu_placement: dict[str, Any] = field(default_factory=dict, metadata={"json": True})
    # Memory limit and ephemeral-storage request of each vLLM pod.
    vllm_memory_limit: str = "48Gi"
    vllm_ephemeral_storage: str = "60Gi"
    # A PodDisruptionBudget (maxUnavailable 0) for each dataset's vLLM pods.
    vllm_pdb: bool = False
    # Ray workers of a RayJob: a fixed count, or the autoscaler's maximum (from 1).
    ray_workers: int = 1
    ray_autoscaling: bool = False
    # Size of the memory-backed /dev/shm of each Ray pod (its object store).
    ray_shm_size: str = "2Gi"
    # Kueue LocalQueue of datasets that name none (empty: no queueing unless a dataset names one).
    kueue_queue: str = ""
    # Namespace of Prometheus, let in to scrape the sandbox pods (empty: nobody).
    metrics_namespace: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = env.get(PREFIX + item.name.upper())
            if raw is None:
                continue
            default = getattr(cls(), item.name)
            if item.metadata.get("json"):
                values[item.name] = _json_object(PREFIX + item.name.upper(), raw)
            elif isinstance(default, bool):
                values[item.name] = raw.lower() in {"1", "true", "yes"}
            elif isinstance(default, int):
                values[item.name] = int(raw)
            elif isinstance(default, float):
                values[item.name] = float(raw)
            elif isinstance(default, tuple):
                values[item.name] = tuple(p.strip() for p in raw.split(",") if p.strip())
            elif isinstance(default, dict):
                pairs = (p.split("=", 1) for p in raw.split(",") if "=" in p)
                values[item.name] = {k.strip(): v.strip() for k, v in pairs}
            else:
                values[item.name] = raw
        return cls(**values)


def _json_object(name: str, raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"{name} is not JSON ({error}); the Helm chart writes it") from error
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value
