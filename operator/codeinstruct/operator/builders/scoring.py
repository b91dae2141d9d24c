"""Scoring (embeddings, selection, leakage): a KubeRay RayJob when the RayJob CRD is installed,
else a Job running Ray on one pod. Either resumes the run from the ledger and finishes it."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.builders import driver
from codeinstruct.operator.builders.meta import (
    Target,
    child_name,
    ingress_policy,
    metadata,
    pod_security,
    restricted_security,
)
from codeinstruct.operator.builders.placement import place
from codeinstruct.operator.builders.queueing import enqueue
from codeinstruct.operator.constants import ANNOTATION_SIGNATURE, SPEC_MOUNT, Component
from codeinstruct.workers.spec import ScoringEngine

RAY_PORTS = (6379, 8265, 10001)  # GCS, dashboard and Jobs API, client
# KubeRay refuses a longer RayJob name: its RayCluster, `<rayjob>-xxxxx`, may have 53.
RAYJOB_MAX_NAME = 47


def wanted(target: Target, boundary: str | None) -> bool:
    """Only `scoring.engine: ray` with scoring stages after the driver's part."""
    return target.spec.scoring.engine is ScoringEngine.RAY and boundary is not None


def ray_job(target: Target) -> dict[str, Any]:
    env, env_from = driver.storage_env(target)
    settings = target.settings
    shm = {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": settings.ray_shm_size}}
    volumes = [
        {"name": "spec", "configMap": {"name": metadata(target, Component.SPEC)["name"]}},
        {"name": "tmp", "emptyDir": {}},
        shm,
    ]
    mounts = [
        {"name": "spec", "mountPath": SPEC_MOUNT, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]

    def container(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "image": settings.ray_image,
            "imagePullPolicy": settings.image_pull_policy,
            "env": env,
            "envFrom": env_from,
            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
            "securityContext": restricted_security(),
            "volumeMounts": mounts,
        }

    def pod(name: str) -> dict[str, Any]:
        return {
            "automountServiceAccountToken": False,
            "securityContext": pod_security(),
            "containers": [container(name)],
            "volumes": volumes,
        }

    meta = metadata(target, Component.SCORING)
    meta["name"] = child_name(target.name, Component.SCORING, RAYJOB_MAX_NAME)
    meta["annotations"] = {ANNOTATION_SIGNATURE: target.signature}
    template = {"metadata": {"labels": meta["labels"]}}
    # KubeRay fills in the submitter's command and environment; the pod is ours.
    submitter = {
        "name": "ray-job-submitter",
        "image": settings.ray_image,
        "imagePullPolicy": settings.image_pull_policy,
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": restricted_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    workers = settings.ray_workers
    manifest: dict[str, Any] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": meta,
        "spec": {
            "entrypoint": " ".join(driver.run_command()),
            "shutdownAfterJobFinishes": True,
            "submissionMode": "K8sJobMode",
            "suspend": target.suspended,
            "backoffLimit": driver.BACKOFF_LIMIT,
            "activeDeadlineSeconds": settings.job_deadline_seconds,
            "preRunningDeadlineSeconds": settings.rayjob_start_deadline_seconds,
            "submitterPodTemplate": {
                **template,
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [submitter],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
            "rayClusterSpec": {
                "enableInTreeAutoscaling": settings.ray_autoscaling,
                "headGroupSpec": {
                    "rayStartParams": {"dashboard-host": "0.0.0.0"},
                    "template": {**template, "spec": pod("ray-head")},
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "workers",
                        # fixed size, or the autoscaler's range [1, workers]
                        "replicas": 1 if settings.ray_autoscaling else workers,
                        "minReplicas": 1 if settings.ray_autoscaling else workers,
                        "maxReplicas": workers,
                        "rayStartParams": {},
                        "template": {**template, "spec": pod("ray-worker")},
                    }
                ],
            },
        },
    }
    cluster = manifest["spec"]["rayClusterSpec"]
    place(cluster["headGroupSpec"]["template"]["spec"], target)
    place(cluster["workerGroupSpecs"][0]["template"]["spec"], target)
    return enqueue(manifest, target)


def single_pod_job(target: Target) -> dict[str, Any]:
    """Ray started in-process on one pod (`scoring.rayAddress: auto`)."""
    pod = driver.pod_spec(target, driver.run_command(), target.settings.ray_image)
    pod["containers"][0]["resources"] = {
        "requests": {"cpu": "4", "memory": "8Gi"},
        "limits": {"memory": "16Gi"},
    }
    return driver.batch_job(target, Component.SCORING, pod)


def network_policy(target: Target) -> dict[str, Any]:
    """The Ray head and workers hold the dataset's credentials and serve an unauthenticated
    Jobs API: ingress only from this dataset's own pods (the workers, the submitter)."""
    policy = ingress_policy(target, Component.SCORING, RAY_PORTS[0])
    policy["spec"]["ingress"][0].pop("ports")  # Ray workers use many ports among themselves
    return policy


def manifest(target: Target, rayjob_available: bool) -> dict[str, Any]:
    return ray_job(target) if rayjob_available else single_pod_job(target)
