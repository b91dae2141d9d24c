"""vLLM's OpenAI-compatible servers: one GPU Deployment and Service per distinct in-cluster
model (`backend: vllm`) of the roles the method uses (the generator, `scoring.complexityModel`,
`scoring.unitTestModel`, `wavecoder.judgeModel`); roles with the same model share a server, and
an external endpoint (`backend: openai`) gets none.

The first server (the generator's when it has one) is `{dataset}-vllm`, the others
`{dataset}-vllm-{role}` after the first role they serve. Every vLLM pod has the component label
`vllm` (monitoring, pod problems) and its server's `codeinstruct.dev/server` label, which its
Service, policy and budget (and the Deployments of the other servers) select on, so no Service
reaches another model's pods; the first server's Deployment keeps its original selector (a
Deployment's selector cannot change across an operator upgrade).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from codeinstruct.operator.builders.meta import (
    Target,
    child_name,
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
from codeinstruct.operator.constants import GPU_RESOURCE, LABEL_SERVER, VLLM_PORT, Component
from codeinstruct.workers.llm.roles import Role, method_roles, role_model
from codeinstruct.workers.spec import Generator, GeneratorBackend

# vLLM runs as the non-root RUN_AS_USER: the model cache and HOME are writable mounts.
MODEL_CACHE = "/cache/huggingface"
# Model loading may take long (download + weights to GPU): up to 30 min before readiness.
STARTUP_PERIOD_SECONDS = 10
STARTUP_FAILURES = 180
# /health can take seconds under load: a 1 s timeout restarts vLLM mid-run.
PROBE_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Server:
    """One vLLM server: its name suffix, the model it serves, and the roles it serves."""

    suffix: str
    model: Generator
    roles: tuple[Role, ...]


def _model_key(model: Generator) -> str:
    """What makes two roles' models one server: the model and how vLLM serves it."""
    return json.dumps(
        model.model_dump(mode="json", include={"model", "vllm", "api_key_secret"}),
        sort_keys=True,
    )


def servers(target: Target) -> list[Server]:
    """The dataset's vLLM servers, the generator's (or else the first role's) first."""
    spec = target.spec
    groups: dict[str, list[Role]] = {}
    models: dict[str, Generator] = {}
    for role in method_roles(spec):
        model = role_model(spec, role)
        if model.backend is not GeneratorBackend.VLLM:
            continue
        key = _model_key(model)
        groups.setdefault(key, []).append(role)
        models.setdefault(key, model)
    keys = sorted(groups, key=lambda k: "generator" not in groups[k])  # stable otherwise
    found = []
    for index, key in enumerate(keys):
        roles = tuple(groups[key])
        suffix = Component.VLLM.value
        if index:
            suffix += "-" + roles[0].replace("_", "-")
        found.append(Server(suffix, models[key], roles))
    return found


def wanted(target: Target) -> bool:
    """Some role the method uses has an in-cluster model; `openai` names an external endpoint,
    `embedded` runs llama.cpp inside the driver."""
    return bool(servers(target))


def _server(target: Target, server: Server | None) -> Server:
    return server if server is not None else servers(target)[0]


def endpoint(target: Target, server: Server | None = None) -> str:
    return service_url(target, _server(target, server).suffix, VLLM_PORT, "/v1")


def model_endpoint(target: Target, model: Generator) -> str | None:
    """The in-cluster URL serving `model`; None for a model no server serves (external, or
    of a role the method does not use)."""
    key = _model_key(model)
    return next((endpoint(target, s) for s in servers(target) if _model_key(s.model) == key), None)


def _named(manifest: dict[str, Any], target: Target, server: Server) -> dict[str, Any]:
    """The component's manifest renamed for `server` and selecting its pods only."""
    meta = manifest["metadata"]
    meta["name"] = child_name(target.name, server.suffix)
    meta["labels"] = {**meta["labels"], LABEL_SERVER: server.suffix}
    spec = manifest.get("spec", {})
    if "template" in spec:
        template = spec["template"]["metadata"]
        template["labels"] = {**template["labels"], LABEL_SERVER: server.suffix}
    if "selector" in spec:
        selector = spec["selector"]
        if "matchLabels" not in selector:  # a Service
            spec["selector"] = {**selector, LABEL_SERVER: server.suffix}
        elif manifest["kind"] != "Deployment" or server.suffix != Component.VLLM.value:
            selector["matchLabels"] = {**selector["matchLabels"], LABEL_SERVER: server.suffix}
        # The first server's Deployment keeps the selector it always had: a Deployment's
        # selector cannot change, and a running dataset's vLLM must survive an upgrade. Its
        # ReplicaSets own their pods (controllerRef), so it never adopts another server's.
    if "podSelector" in spec:
        labels = spec["podSelector"]["matchLabels"]
        spec["podSelector"]["matchLabels"] = {**labels, LABEL_SERVER: server.suffix}
    return manifest


def deployment(target: Target, server: Server | None = None) -> dict[str, Any]:
    server = _server(target, server)
    generator = server.model
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
    return enqueue(_named(manifest, target, server), target)


def service(target: Target, server: Server | None = None) -> dict[str, Any]:
    manifest = service_skeleton(target, Component.VLLM, VLLM_PORT)
    return _named(manifest, target, _server(target, server))


def network_policy(target: Target, server: Server | None = None) -> dict[str, Any]:
    """Ingress to vLLM only from this dataset's pods (egress stays open: the HF Hub)."""
    policy = ingress_policy(target, Component.VLLM, VLLM_PORT)
    policy["spec"]["ingress"] += monitoring_ingress(target, VLLM_PORT)
    return _named(policy, target, _server(target, server))


def disruption_budget(target: Target, server: Server | None = None) -> dict[str, Any]:
    """No voluntary eviction (a node drain) of a running dataset's vLLM pods."""
    manifest = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(target, Component.VLLM),
        "spec": {
            "maxUnavailable": 0,
            "selector": {"matchLabels": selector_labels(target, Component.VLLM)},
        },
    }
    return _named(manifest, target, _server(target, server))
