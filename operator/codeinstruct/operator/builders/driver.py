"""The driver: a ConfigMap holding the cluster spec and a Job running `codeinstruct run` on it.

The cluster spec is the user's spec with the endpoints of its in-cluster models (the generator's
and each role's: `scoring.complexityModel`, `scoring.unitTestModel`, `wavecoder.judgeModel`) and
`sandbox.endpoint` pointing at the child Services; no endpoint enters the run signature, so the run prefix (and resume)
is the same as a local run of the same spec.
"""

from __future__ import annotations

from typing import Any

import yaml

from codeinstruct.operator.builders import sandbox, vllm
from codeinstruct.operator.builders.meta import (
    Target,
    metadata,
    pod_security,
    restricted_security,
)
from codeinstruct.operator.builders.placement import place
from codeinstruct.operator.builders.queueing import enqueue
from codeinstruct.operator.constants import (
    ANNOTATION_SIGNATURE,
    DRIVER_METRICS_PORT,
    SPEC_FILE,
    SPEC_MOUNT,
    Component,
)
from codeinstruct.workers.llm.roles import ROLES, Role, own_model
from codeinstruct.workers.spec import Generator, GeneratorBackend, InstructionDataset

BACKOFF_LIMIT = 2
# `codeinstruct` exits 2 on a user error (a bad spec, a missing file): retrying cannot help.
USER_ERROR_EXIT = 2


def pod_failure_policy(container: str) -> dict[str, Any]:
    """Infrastructure disruptions (eviction, preemption, node drain: DisruptionTarget) are
    retried without spending backoffLimit; a user error fails the Job at once."""
    return {
        "rules": [
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": container,
                    "operator": "In",
                    "values": [USER_ERROR_EXIT],
                },
            },
        ]
    }


API_KEY_ENV = "OPENAI_API_KEY"


def wired(target: Target, model: Generator, key_env: str) -> Generator:
    """A model as the driver uses it: an in-cluster model points at its vLLM Service, and a
    Secret-held API key arrives in `key_env` (storage_env) unless the spec names a variable."""
    if model.backend is GeneratorBackend.VLLM:
        url = vllm.model_endpoint(target, model)
        if url is not None:
            model = model.model_copy(update={"endpoint": url})
    if model.api_key_secret and not model.api_key_env:
        model = model.model_copy(update={"api_key_env": key_env})
    return model


def role_key_env(role: Role) -> str:
    """The variable holding a role's own model's API key (the generator's: OPENAI_API_KEY)."""
    return API_KEY_ENV if role == "generator" else f"{role.upper()}_API_KEY"


def cluster_dataset(target: Target) -> InstructionDataset:
    spec = target.spec
    generator = wired(target, spec.generator, API_KEY_ENV)
    roles: dict[Role, Generator] = {}
    for role in ROLES:
        model = own_model(spec, role)
        if model is not None:
            roles[role] = wired(target, model, role_key_env(role))
    scoring = spec.scoring.model_copy(
        update={
            "complexity_model": roles.get("complexity"),
            "unit_test_model": roles.get("unit_tests"),
        }
    )
    wavecoder = spec.wavecoder.model_copy(update={"judge_model": roles.get("judge")})
    box = spec.sandbox
    if sandbox.wanted(target):
        box = box.model_copy(update={"endpoint": sandbox.endpoint(target)})
    updated = spec.model_copy(
        update={"generator": generator, "sandbox": box, "scoring": scoring, "wavecoder": wavecoder}
    )
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
    models: list[tuple[Role, Generator]] = [("generator", target.spec.generator)]
    models += [(r, m) for r in ROLES if (m := own_model(target.spec, r)) is not None]
    for role, model in models:
        if model.api_key_secret:
            ref = {"name": model.api_key_secret.name, "key": model.api_key_secret.key}
            key_env = model.api_key_env or role_key_env(role)
            entry = {"name": key_env, "valueFrom": {"secretKeyRef": ref}}
            if entry not in env:
                env.append(entry)
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
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": [
            {"name": "spec", "configMap": {"name": metadata(target, Component.SPEC)["name"]}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    return place(pod, target)


def batch_job(target: Target, component: Component, pod: dict[str, Any]) -> dict[str, Any]:
    """A Job pinned to the run signature it was created for (an annotation, never a pod label),
    with a deadline so that a pod stuck before running cannot hold the run forever."""
    meta = metadata(target, component)
    meta["annotations"] = {ANNOTATION_SIGNATURE: target.signature}
    manifest: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "podFailurePolicy": pod_failure_policy(pod["containers"][0]["name"]),
            "activeDeadlineSeconds": target.settings.job_deadline_seconds,
            "suspend": target.suspended,
            "template": {"metadata": {"labels": meta["labels"]}, "spec": pod},
        },
    }
    return enqueue(manifest, target)


def job(target: Target, until: str | None = None) -> dict[str, Any]:
    """The driver; `until` only when a scoring child runs the stages after it. It serves the
    runner's metrics on DRIVER_METRICS_PORT (a PodMonitor scrapes it)."""
    command = run_command(until)
    command[2:2] = ["--metrics-port", str(DRIVER_METRICS_PORT)]  # after `run`
    pod = pod_spec(target, command, target.settings.image)
    pod["containers"][0]["ports"] = [
        {"name": "metrics", "containerPort": DRIVER_METRICS_PORT, "protocol": "TCP"}
    ]
    return batch_job(target, Component.DRIVER, pod)
