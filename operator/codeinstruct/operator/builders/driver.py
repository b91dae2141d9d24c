"""The driver: a ConfigMap holding the cluster spec and a Job running `codeinstruct run` on it.

The cluster spec is the user's spec with `generator.endpoint` and `sandbox.endpoint` pointing
at the child Services; neither field enters the run signature, so the run prefix (and resume)
is the same as a local run of the same spec.
"""

from __future__ import annotations

from typing import Any

import yaml

from codeinstruct.operator.builders import sandbox, vllm
from codeinstruct.operator.builders.meta import Target, metadata, restricted_security
from codeinstruct.operator.builders.placement import place
from codeinstruct.operator.builders.queueing import enqueue
from codeinstruct.operator.constants import DRIVER_METRICS_PORT, SPEC_FILE, SPEC_MOUNT, Component
from codeinstruct.workers.spec import InstructionDataset

BACKOFF_LIMIT = 2
RUN_AS_USER = 65532


def cluster_dataset(target: Target) -> InstructionDataset:
    spec = target.spec
    generator = spec.generator
    if vllm.wanted(target):
        generator = generator.model_copy(update={"endpoint": vllm.endpoint(target)})
    box = spec.sandbox
    if sandbox.wanted(target):
        box = box.model_copy(update={"endpoint": sandbox.endpoint(target)})
    updated = spec.model_copy(update={"generator": generator, "sandbox": box})
    meta = target.dataset.metadata.model_copy(update={"namespace": target.namespace})
    return target.dataset.model_copy(update={"spec": updated, "metadata": meta, "status": None})


def spec_document(target: Target) -> str:
    data = cluster_dataset(target).model_dump(
        mode="json", by_alias=True, exclude={"status"}, exclude_none=True
    )
    data["metadata"] = {"name": target.name, "namespace": target.namespace}
    return yaml.safe_dump(data, sort_keys=False)


def config_map(target: Target) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(target, Component.SPEC),
        "data": {SPEC_FILE: spec_document(target)},
    }


def run_command(until: str | None = None) -> list[str]:
    command = ["codeinstruct", "run", f"{SPEC_MOUNT}/{SPEC_FILE}", "--no-progress"]
    return [*command, "--until", until] if until else command


def storage_env(target: Target) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(env, envFrom) giving the pod S3_ENDPOINT_URL and the object-store credentials."""
    env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}]
    if target.settings.s3_endpoint_url:
        env.append({"name": "S3_ENDPOINT_URL", "value": target.settings.s3_endpoint_url})
    secret = target.spec.output.credentials_secret
    env_from = [{"secretRef": {"name": secret}}] if secret else []
    generator = target.spec.generator
    if generator.api_key_secret:
        ref = {"name": generator.api_key_secret.name, "key": generator.api_key_secret.key}
        key_env = generator.api_key_env or "OPENAI_API_KEY"
        env.append({"name": key_env, "valueFrom": {"secretKeyRef": ref}})
    return env, env_from


def pod_spec(target: Target, command: list[str], image: str) -> dict[str, Any]:
    env, env_from = storage_env(target)
    container: dict[str, Any] = {
        "name": "run",
        "image": image,
        "imagePullPolicy": target.settings.image_pull_policy,
        "command": command,
        "env": env,
        "envFrom": env_from,
        "resources": {
            "requests": {"cpu": "1", "memory": "2Gi"},
            "limits": {"memory": "8Gi"},
        },
        "securityContext": restricted_security(),
        "volumeMounts": [
            {"name": "spec", "mountPath": SPEC_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "fsGroup": RUN_AS_USER},
        "containers": [container],
        "volumes": [
            {"name": "spec", "configMap": {"name": metadata(target, Component.SPEC)["name"]}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    return place(pod, target)


def job(target: Target, until: str | None = None) -> dict[str, Any]:
    meta = metadata(target, Component.DRIVER)
    manifest: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "suspend": target.suspended,
            "template": {
                "metadata": {"labels": meta["labels"]},
                "spec": pod_spec(target, run_command(until), target.settings.image),
            },
        },
    }
    runner = manifest["spec"]["template"]["spec"]["containers"][0]
    runner["command"][2:2] = ["--metrics-port", str(DRIVER_METRICS_PORT)]  # after `run`
    runner["ports"] = [{"name": "metrics", "containerPort": DRIVER_METRICS_PORT, "protocol": "TCP"}]
    return enqueue(manifest, target)
