"""Scoring (embeddings, selection, leakage): a KubeRay RayJob when the RayJob CRD is installed,
else a Job running Ray on one pod. Either resumes the run from the ledger and finishes it."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.builders import driver
from codeinstruct.operator.builders.meta import Target, metadata
from codeinstruct.operator.builders.placement import place
from codeinstruct.operator.builders.queueing import enqueue
from codeinstruct.operator.constants import SPEC_MOUNT, Component
from codeinstruct.workers.spec import ScoringEngine


def wanted(target: Target, boundary: str | None) -> bool:
    """Only `scoring.engine: ray` with scoring stages after the driver's part."""
    return target.spec.scoring.engine is ScoringEngine.RAY and boundary is not None


def ray_job(target: Target) -> dict[str, Any]:
    env, env_from = driver.storage_env(target)
    settings = target.settings
    volume = {"name": "spec", "configMap": {"name": metadata(target, Component.SPEC)["name"]}}
    mount = {"name": "spec", "mountPath": SPEC_MOUNT, "readOnly": True}
    shm = {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": settings.ray_shm_size}}

    def container(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "image": settings.ray_image,
            "imagePullPolicy": settings.image_pull_policy,
            "env": env,
            "envFrom": env_from,
            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
            "volumeMounts": [mount, {"name": "dshm", "mountPath": "/dev/shm"}],
        }

    meta = metadata(target, Component.SCORING)
    template = {"metadata": {"labels": meta["labels"]}}
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
            "rayClusterSpec": {
                "enableInTreeAutoscaling": settings.ray_autoscaling,
                "headGroupSpec": {
                    "rayStartParams": {"dashboard-host": "0.0.0.0"},
                    "template": {
                        **template,
                        "spec": {"containers": [container("ray-head")], "volumes": [volume, shm]},
                    },
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "workers",
                        # fixed size, or the autoscaler's range [1, workers]
                        "replicas": 1 if settings.ray_autoscaling else workers,
                        "minReplicas": 1 if settings.ray_autoscaling else workers,
                        "maxReplicas": workers,
                        "rayStartParams": {},
                        "template": {
                            **template,
                            "spec": {
                                "containers": [container("ray-worker")],
                                "volumes": [volume, shm],
                            },
                        },
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
    meta = metadata(target, Component.SCORING)
    pod = driver.pod_spec(target, driver.run_command(), target.settings.ray_image)
    pod["containers"][0]["resources"] = {
        "requests": {"cpu": "4", "memory": "8Gi"},
        "limits": {"memory": "16Gi"},
    }
    manifest: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": driver.BACKOFF_LIMIT,
            "suspend": target.suspended,
            "template": {"metadata": {"labels": meta["labels"]}, "spec": pod},
        },
    }
    return enqueue(manifest, target)


def manifest(target: Target, rayjob_available: bool) -> dict[str, Any]:
    return ray_job(target) if rayjob_available else single_pod_job(target)
