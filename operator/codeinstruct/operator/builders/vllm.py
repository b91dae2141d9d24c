"""vLLM's OpenAI-compatible server for `generator.model`: a GPU Deployment and its Service."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.builders.meta import (
    Target,
    ingress_policy,
    metadata,
    monitoring_ingress,
    pod_security,
    restricted_security,
    selector_labels,
    service_url,
)
from codeinstruct.operator.builders.meta import deployment as deployment_skeleton
from codeinstruct.operator.builders.meta import service as service_skeleton
from codeinstruct.operator.builders.placement import place
from codeinstruct.operator.builders.queueing import enqueue
from codeinstruct.operator.constants import GPU_RESOURCE, VLLM_PORT, Component
from codeinstruct.workers.spec import GeneratorBackend

# vLLM runs as the non-root RUN_AS_USER: the model cache and HOME are writable mounts.
MODEL_CACHE = "/cache/huggingface"
# Model loading may take long (download + weights to GPU): up to 30 min before readiness.
STARTUP_PERIOD_SECONDS = 10
STARTUP_FAILURES = 180
# /health can take seconds under load: a 1 s timeout restarts vLLM mid-run.
PROBE_TIMEOUT_SECONDS = 10


def wanted(target: Target) -> bool:
    """Only `backend: vllm` deploys vLLM; `openai` names an external endpoint, `embedded`
    runs llama.cpp inside the driver."""
    return target.spec.generator.backend is GeneratorBackend.VLLM


def endpoint(target: Target) -> str:
    return service_url(target, Component.VLLM, VLLM_PORT, "/v1")


def deployment(target: Target) -> dict[str, Any]:
    generator = target.spec.generator
    vllm = generator.vllm
    model = generator.model or ""
    args = ["--model", model, "--served-model-name", model, "--host", "0.0.0.0"]
    args += ["--port", str(VLLM_PORT)]
    if vllm.gpus_per_replica > 1:
        args += ["--tensor-parallel-size", str(vllm.gpus_per_replica)]
    args += list(vllm.extra_args)
    settings = target.settings
    gpus = str(vllm.gpus_per_replica)  # at least 1 (spec)
    resources: dict[str, Any] = {
        "requests": {
            "cpu": "2",
            "memory": "16Gi",
            "ephemeral-storage": settings.vllm_ephemeral_storage,
            GPU_RESOURCE: gpus,
        },
        "limits": {"memory": settings.vllm_memory_limit, GPU_RESOURCE: gpus},
    }
    env: list[dict[str, Any]] = [
        {"name": "HF_HOME", "value": MODEL_CACHE},
        {"name": "HOME", "value": "/tmp"},
    ]
    if generator.api_key_secret:  # vLLM then answers only requests bearing the dataset's key
        key = {"name": generator.api_key_secret.name, "key": generator.api_key_secret.key}
        env.append({"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": key}})
    if vllm.hf_token_secret:
        ref = {"name": vllm.hf_token_secret.name, "key": vllm.hf_token_secret.key}
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": ref}})
    volumes: list[dict[str, Any]] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}
    ]
    volumes.append({"name": "tmp", "emptyDir": {}})
    mounts: list[dict[str, Any]] = [
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    cache: dict[str, Any] = {"emptyDir": {"sizeLimit": settings.vllm_ephemeral_storage}}
    if vllm.model_cache_pvc:
        cache = {"persistentVolumeClaim": {"claimName": vllm.model_cache_pvc}}
    volumes.append({"name": "model-cache", **cache})
    mounts.append({"name": "model-cache", "mountPath": MODEL_CACHE})
    health = {
        "httpGet": {"path": "/health", "port": "http"},
        "timeoutSeconds": PROBE_TIMEOUT_SECONDS,
    }
    container = {
        "name": "vllm",
        "image": vllm.image,
        "imagePullPolicy": target.settings.image_pull_policy,
        "args": args,
        "ports": [{"name": "http", "containerPort": VLLM_PORT, "protocol": "TCP"}],
        "env": env,
        "resources": resources,
        "volumeMounts": mounts,
        "securityContext": restricted_security(read_only_root=False),
        "startupProbe": {
            **health,
            "periodSeconds": STARTUP_PERIOD_SECONDS,
            "failureThreshold": STARTUP_FAILURES,
        },
        "readinessProbe": {**health, "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {**health, "periodSeconds": 30, "failureThreshold": 5},
    }
    pod = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,  # a Service `vllm` would set VLLM_PORT=tcp://
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": volumes,
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
    }
    place(pod, target, gpu=True)
    manifest = deployment_skeleton(target, Component.VLLM, vllm.replicas, pod, strategy="Recreate")
    return enqueue(manifest, target)


def service(target: Target) -> dict[str, Any]:
    return service_skeleton(target, Component.VLLM, VLLM_PORT)


def network_policy(target: Target) -> dict[str, Any]:
    """Ingress to vLLM only from this dataset's pods (egress stays open: the HF Hub)."""
    policy = ingress_policy(target, Component.VLLM, VLLM_PORT)
    policy["spec"]["ingress"] += monitoring_ingress(target, VLLM_PORT)
    return policy


def disruption_budget(target: Target) -> dict[str, Any]:
    """No voluntary eviction (a node drain) of a running dataset's vLLM pods."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(target, Component.VLLM),
        "spec": {
            "maxUnavailable": 0,
            "selector": {"matchLabels": selector_labels(target, Component.VLLM)},
        },
    }
