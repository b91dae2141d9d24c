"""Where the children run and how they are sized: operator placement settings, the dataset's
`spec.scheduling` overlay, vLLM pod hygiene, Ray's object store, Kueue queueing."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from codeinstruct.operator.builders import driver, sandbox, scoring, vllm
from codeinstruct.operator.builders.desired import desired_children
from codeinstruct.operator.builders.meta import Target
from codeinstruct.operator.settings import Settings
from codeinstruct.workers.spec import SpecError, run_signature
from tests.conftest import make_dataset

GPU_POOL = {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
SETTINGS = Settings(
    placement={
        "nodeSelector": {"pool": "batch"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "batch-low",
        "imagePullSecrets": [{"name": "regcred"}],
    },
    gpu_placement={"nodeSelector": {"pool": "gpu"}, "tolerations": [GPU_POOL]},
    metrics_namespace="monitoring",
)
VLLM = {"backend": "vllm", "model": "org/coder-7b"}


def target(settings: Settings = SETTINGS, **spec: Any) -> Target:
    spec.setdefault("generator", VLLM)
    return Target(make_dataset(**spec), "data", settings)


def pod_specs(manifests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for role, manifest in manifests.items():
        spec = manifest.get("spec") or {}
        if "template" in spec:
            out[role] = spec["template"]["spec"]
        cluster = spec.get("rayClusterSpec")
        if cluster:
            out[role + "-head"] = cluster["headGroupSpec"]["template"]["spec"]
            out[role + "-worker"] = cluster["workerGroupSpecs"][0]["template"]["spec"]
    return out


@pytest.mark.parametrize("rayjob", [True, False])
def test_every_child_pod_gets_the_operator_placement(rayjob: bool) -> None:
    wanted = desired_children(target(scoring={"engine": "ray"}), rayjob)
    pods = pod_specs(wanted)
    assert {"vllm", "sandbox", "driver"} <= set(pods) and any(r.startswith("scoring") for r in pods)
    for role, pod in pods.items():
        assert pod["priorityClassName"] == "batch-low", role
        assert {"name": "regcred"} in pod["imagePullSecrets"], role
        assert {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ], role
        expected_pool = "gpu" if role == "vllm" else "batch"
        assert pod["nodeSelector"]["pool"] == expected_pool, role
    assert GPU_POOL in pods["vllm"]["tolerations"]
    assert GPU_POOL not in pods["driver"].get("tolerations", [])
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert gpu in pods["vllm"]["tolerations"]


def test_the_dataset_overlay_goes_over_the_settings() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                ]
            }
        }
    }
    t = target(
        scheduling={
            "nodeSelector": {"pool": "team-a"},
            "tolerations": [{"key": "team", "operator": "Equal", "value": "a"}],
            "affinity": affinity,
            "priorityClassName": "team-a-high",
            "imagePullSecrets": ["team-a-registry"],
        }
    )
    for role, pod in pod_specs(desired_children(t, False)).items():
        assert pod["nodeSelector"]["pool"] == "team-a", role
        assert pod["priorityClassName"] == "team-a-high", role
        assert pod["affinity"] == affinity, role
        assert {"name": "team-a-registry"} in pod["imagePullSecrets"]
        assert {"name": "regcred"} in pod["imagePullSecrets"]
        assert {"key": "team", "operator": "Equal", "value": "a"} in pod["tolerations"]
        model = client.ApiClient()._ApiClient__deserialize(pod, "V1PodSpec")  # type: ignore[attr-defined]
        assert model.affinity.node_affinity is not None


def test_scheduling_is_not_in_the_run_signature() -> None:
    plain = make_dataset()
    placed = make_dataset(scheduling={"nodeSelector": {"pool": "x"}, "queueName": "gpu"})
    assert run_signature(plain.spec) == run_signature(placed.spec)


def test_scheduling_rejects_a_bad_toleration() -> None:
    with pytest.raises(SpecError, match="operator"):
        make_dataset(scheduling={"tolerations": [{"key": "a", "operator": "Sometimes"}]})


def test_vllm_pod_hygiene() -> None:
    deployment = vllm.deployment(target(Settings(vllm_memory_limit="40Gi")))
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["memory"] == "40Gi"
    assert container["resources"]["requests"]["ephemeral-storage"] == "60Gi"
    assert pod["enableServiceLinks"] is False
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["timeoutSeconds"] >= 5, probe
    cache = next(v for v in pod["volumes"] if v["name"] == "model-cache")
    assert cache["emptyDir"]["sizeLimit"] == "60Gi"


def test_gpus_per_replica_is_at_least_one() -> None:
    with pytest.raises(SpecError, match="gpusPerReplica"):
        make_dataset(generator={**VLLM, "vllm": {"gpusPerReplica": 0}})


def test_vllm_disruption_budget_is_optional() -> None:
    assert "vllm-pdb" not in desired_children(target(Settings()), False)
    budget = desired_children(target(Settings(vllm_pdb=True)), False)["vllm-pdb"]
    model = client.ApiClient()._ApiClient__deserialize(budget, "V1PodDisruptionBudget")  # type: ignore[attr-defined]
    assert model.spec.max_unavailable == 0
    assert model.spec.selector.match_labels == {
        "codeinstruct.dev/dataset": "test",
        "app.kubernetes.io/component": "vllm",
        "codeinstruct.dev/server": "vllm",  # one budget per vLLM server
    }


def test_monitoring_namespace_may_scrape_the_sandbox() -> None:
    closed = sandbox.network_policy(target(Settings()))
    assert len(closed["spec"]["ingress"]) == 1 and closed["spec"]["egress"] == []
    policy = sandbox.network_policy(target())
    rule = policy["spec"]["ingress"][1]
    selector = rule["from"][0]["namespaceSelector"]["matchLabels"]
    assert selector == {"kubernetes.io/metadata.name": "monitoring"}
    assert "podSelector" not in rule["from"][0]  # the whole namespace, no other pod
    assert policy["spec"]["egress"] == []


@pytest.mark.parametrize("autoscaling", [False, True])
def test_ray_shm_and_worker_group(autoscaling: bool) -> None:
    settings = Settings(ray_workers=3, ray_autoscaling=autoscaling, ray_shm_size="4Gi")
    job = scoring.ray_job(target(settings, scoring={"engine": "ray"}))
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["enableInTreeAutoscaling"] is autoscaling
    group = cluster["workerGroupSpecs"][0]
    assert group["maxReplicas"] == 3
    assert group["minReplicas"] == (1 if autoscaling else 3)
    assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    for spec in (cluster["headGroupSpec"]["template"]["spec"], group["template"]["spec"]):
        shm = next(v for v in spec["volumes"] if v["name"] == "dshm")
        assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}
        mounts = spec["containers"][0]["volumeMounts"]
        assert {"name": "dshm", "mountPath": "/dev/shm"} in mounts


def test_kueue_queues_jobs_suspended_with_the_queue_label() -> None:
    t = target(Settings(kueue_queue="gpu-queue"), scoring={"engine": "ray"})
    for manifest in (driver.job(t), scoring.ray_job(t), scoring.single_pod_job(t)):
        assert manifest["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu-queue"
        assert manifest["spec"]["suspend"] is True, manifest["kind"]
    deployment = vllm.deployment(t)
    assert deployment["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu-queue"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["kueue.x-k8s.io/queue-name"] == "gpu-queue"
    assert "kueue.x-k8s.io/queue-name" not in deployment["spec"]["selector"]["matchLabels"]
    own = target(Settings(kueue_queue="gpu-queue"), scheduling={"queueName": "team-a"})
    assert driver.job(own)["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    plain = driver.job(target(Settings()))
    assert "kueue.x-k8s.io/queue-name" not in plain["metadata"]["labels"]
    assert plain["spec"]["suspend"] is False


def test_a_user_suspend_of_a_queued_job_changes_the_manifest() -> None:
    """Kueue unsuspends an admitted Job; the operator patches only when the manifest changes,
    so a user's suspend must change it (or the admitted Job keeps running)."""
    dataset = make_dataset(generator=VLLM)
    settings = Settings(kueue_queue="q")
    running = driver.job(Target(dataset, "data", settings))
    suspended = driver.job(Target(dataset, "data", settings, suspended=True))
    assert running != suspended and suspended["spec"]["suspend"] is True


def test_servers_are_released_once_the_driver_is_done() -> None:
    """Ray scoring is CPU-only: the vLLM GPUs and the sandbox go when the driver completes."""
    from codeinstruct.operator.constants import Phase
    from codeinstruct.operator.ledger_view import LedgerView
    from codeinstruct.operator.reconcile import Observed, reconcile
    from codeinstruct.operator.status import Status

    dataset = make_dataset(scoring={"engine": "ray"}, generator=VLLM, output={"uri": "s3://b/p"})
    available = {"status": {"availableReplicas": 1}}
    servers = {
        "Deployment/test-vllm": {"kind": "Deployment", "metadata": {"name": "test-vllm"}, **available},
        "Deployment/test-sandbox": {"kind": "Deployment", "metadata": {"name": "test-sandbox"}, **available},
    }  # fmt: skip

    def tick(driver_done: bool) -> Any:
        conditions = [{"type": "Complete", "status": "True"}] if driver_done else []
        driver_job = {"kind": "Job", "status": {"conditions": conditions}}
        observed = Observed(
            children={**servers, "Job/test-driver": driver_job},
            ledger=LedgerView(output_uri="s3://b/p/dataset"),
            rayjob_available=True,
        )
        return reconcile(dataset, "data", Status(phase=Phase.EXECUTING), observed, Settings())

    running = tick(driver_done=False)
    assert not running.delete
    assert {m["metadata"]["name"] for m in running.apply if m["kind"] == "Deployment"} == {
        "test-vllm",
        "test-sandbox",
    }
    scoring = tick(driver_done=True)
    assert scoring.status.phase is Phase.SCORING
    assert any(m["kind"] == "RayJob" for m in scoring.apply)
    assert {name for _, kind, name in scoring.delete if kind == "Deployment"} == {
        "test-vllm",
        "test-sandbox",
    }
    assert not [m for m in scoring.apply if m["kind"] == "Deployment"]
    ready = {c.type: c for c in scoring.status.conditions}
    assert ready["Ready"].status == "True", ready["Ready"]  # released on purpose, not missing
    assert ready["GeneratorReady"].status == "True"
    assert not [e for e in scoring.events if e.type == "Warning"]
