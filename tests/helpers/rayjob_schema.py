"""Our own strict JSON Schema of the KubeRay `ray.io/v1` RayJob fields codeinstruct emits.

Written from KubeRay's `ray-operator/config/crd/bases/ray.io_rayjobs.yaml` and its Go validation
(`ray-operator/controllers/ray/utils/validation.go`) at tags v1.2.2 (the documented minimum,
commit 0ea404b) and v1.7.0 (the newest, commit 59d663a). It covers only the fields the operator
emits (plus `runtimeEnvYAML` and `ttlSecondsAfterFinished`); anything else is an error, since
the CRD's RayJob spec is structural (no `x-kubernetes-preserve-unknown-fields`): an unknown
field would be pruned silently by the API server. Fields newer than the minimum are listed in
`SINCE`: the schema for a version leaves them out for an older KubeRay, where they would be pruned.

The pod templates (head, workers, submitter) are core PodTemplateSpecs: `validate` checks them
as strict core PodTemplates with kubernetes-validate, plus what KubeRay's validation adds (at
least one container, minReplicas <= maxReplicas) and one stricter rule of ours: replicas within
[minReplicas, maxReplicas] (KubeRay would clamp it).
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema

from tests.helpers.kube_schemas import validate as validate_core

MINIMUM = (1, 2)  # docs/kubernetes.md: KubeRay >= 1.2
NEWEST = (1, 7)
INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
# KubeRay names the RayCluster `<rayjob>-<5 characters>`, itself at most 53 (MaxRayJobNameLength).
MAX_NAME = 47
# spec fields KubeRay added after the minimum version: (major, minor) they first appear in.
SINCE: dict[str, tuple[int, int]] = {"preRunningDeadlineSeconds": (1, 6)}


def _int32(minimum: int) -> dict[str, Any]:
    return {**INT32, "minimum": minimum}


STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
POD_TEMPLATE = {
    "type": "object",
    "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}},
    "required": ["spec"],
    "additionalProperties": False,
}
# KubeRay's own validation: a head or worker pod runs Ray in its first container.
RAY_POD_TEMPLATE = {
    **POD_TEMPLATE,
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {"containers": {"type": "array", "minItems": 1}},
            "required": ["containers"],
        },
    },
}
WORKER_GROUP = {
    "type": "object",
    "properties": {
        "groupName": {"type": "string", "minLength": 1},
        "replicas": _int32(0),
        "minReplicas": _int32(0),
        "maxReplicas": _int32(0),
        "rayStartParams": STRING_MAP,
        "template": RAY_POD_TEMPLATE,
    },
    # v1.2 requires rayStartParams; v1.7 made it optional
    "required": ["groupName", "minReplicas", "maxReplicas", "rayStartParams", "template"],
    "additionalProperties": False,
}
SPEC = {
    "type": "object",
    "properties": {
        "entrypoint": {"type": "string", "minLength": 1},
        "runtimeEnvYAML": {"type": "string"},
        # The modes every supported version accepts (1.2 adds UserMode, 1.3 renames it
        # InteractiveMode, 1.5 adds SidecarMode); we submit with a Kubernetes Job.
        "submissionMode": {"enum": ["K8sJobMode", "HTTPMode"]},
        "shutdownAfterJobFinishes": {"type": "boolean"},
        "suspend": {"type": "boolean"},
        "ttlSecondsAfterFinished": _int32(0),
        "backoffLimit": _int32(0),
        "activeDeadlineSeconds": _int32(1),
        "preRunningDeadlineSeconds": _int32(1),
        "submitterPodTemplate": POD_TEMPLATE,
        "rayClusterSpec": {
            "type": "object",
            "properties": {
                "enableInTreeAutoscaling": {"type": "boolean"},
                "headGroupSpec": {
                    "type": "object",
                    "properties": {"rayStartParams": STRING_MAP, "template": RAY_POD_TEMPLATE},
                    "required": ["rayStartParams", "template"],
                    "additionalProperties": False,
                },
                "workerGroupSpecs": {"type": "array", "minItems": 1, "items": WORKER_GROUP},
            },
            "required": ["headGroupSpec"],
            "additionalProperties": False,
        },
    },
    "required": [
        "entrypoint",
        "submissionMode",
        "shutdownAfterJobFinishes",
        "rayClusterSpec",
        "submitterPodTemplate",
        "backoffLimit",
        "activeDeadlineSeconds",
    ],
    "additionalProperties": False,
    # KubeRay: "a RayJob with shutdownAfterJobFinishes set to false is not allowed to be
    # suspended" (Kueue creates ours suspended).
    "if": {"properties": {"suspend": {"const": True}}, "required": ["suspend"]},
    "then": {"properties": {"shutdownAfterJobFinishes": {"const": True}}},
}
RAYJOB: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayJob"},
        "metadata": {
            "type": "object",
            "properties": {
                # ValidateRayJobMetadata: a DNS-1035 label of at most MAX_NAME characters
                "name": {
                    "type": "string",
                    "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$",
                    "maxLength": MAX_NAME,
                },
                "namespace": {"type": "string"},
                "labels": STRING_MAP,
                "annotations": STRING_MAP,
            },
            "required": ["name"],
            "additionalProperties": False,
        },
        "spec": SPEC,
    },
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
}


@cache
def _validator(version: tuple[int, int]) -> jsonschema.Validator:
    schema = copy.deepcopy(RAYJOB)
    spec = schema["properties"]["spec"]
    for field, since in SINCE.items():
        if version < since:
            del spec["properties"][field]
    return jsonschema.validators.Draft202012Validator(schema)


def pod_templates(rayjob: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The RayJob's pod templates by role (head, each worker group, submitter)."""
    spec = rayjob["spec"]
    cluster = spec["rayClusterSpec"]
    templates = {"head": cluster["headGroupSpec"]["template"]}
    for group in cluster.get("workerGroupSpecs", []):
        templates[f"worker-{group['groupName']}"] = group["template"]
    if "submitterPodTemplate" in spec:
        templates["submitter"] = spec["submitterPodTemplate"]
    return templates


def validate(rayjob: dict[str, Any], kuberay: tuple[int, int], kubernetes: str) -> None:
    """Strict validation of a RayJob: `jsonschema.ValidationError` for a RayJob field,
    `kubernetes_validate.ValidationError` for a pod template."""
    _validator(kuberay).validate(rayjob)
    for group in rayjob["spec"]["rayClusterSpec"].get("workerGroupSpecs", []):
        low, high = group["minReplicas"], group["maxReplicas"]
        if not low <= group.get("replicas", low) <= high or low > high:
            raise jsonschema.ValidationError(
                f"worker group {group['groupName']}: replicas must lie in "
                f"[minReplicas, maxReplicas], got {low} <= {group.get('replicas')} <= {high}"
            )
    for role, template in pod_templates(rayjob).items():
        validate_core(
            {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": f"{rayjob['metadata']['name']}-{role}"},
                "template": template,
            },
            kubernetes,
        )
