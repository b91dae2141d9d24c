"""The emulated cluster is as strict as a real one where the operator depends on it: RBAC from
the chart on every call, OwnerReferencesPermissionEnforcement, Pod Security Admission, a
kubelet that reports real pod states. Each strictness is tested here, then the operator runs
through it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.operator.kube import Kube, KubeError
from tests.helpers.kube_cluster import FakeCluster, eventually
from tests.helpers.rbac import CHART as CHART_DIR
from tests.helpers.rbac import Authorizer

pytestmark = [pytest.mark.timeout(600)]
NS = "data"
OWNER = {
    "apiVersion": "codeinstruct.dev/v1alpha1",
    "kind": "InstructionDataset",
    "name": "x",
    "uid": "u-1",
    "controller": True,
    "blockOwnerDeletion": True,
}


def kube_client(cluster: FakeCluster) -> Kube:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = cluster.url
    return Kube(client.ApiClient(configuration))


def config_map(name: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, **meta},
        "data": {},
    }


def deployment(name: str, pod_spec: dict[str, Any]) -> dict[str, Any]:
    labels = {"app.kubernetes.io/component": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


RESTRICTED_POD = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "c",
            "image": "i",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    ],
}


async def test_a_call_outside_the_role_is_forbidden(cluster: FakeCluster) -> None:
    auth = cluster.enforce_rbac()
    kube = kube_client(cluster)
    with pytest.raises(KubeError) as refused:
        await asyncio.to_thread(kube._call, "GET", f"/api/v1/namespaces/{NS}/secrets")
    assert refused.value.status == 403 and "Forbidden" in str(refused.value)
    assert 'cannot list resource "secrets"' in auth.denied[0]
    # allowed: a 404, not a 403
    assert await asyncio.to_thread(kube.get, "v1", "ConfigMap", NS, "absent") is None
    assert len(auth.denied) == 1


def test_blocking_owner_deletion_needs_the_finalizers_subresource() -> None:
    """OwnerReferencesPermissionEnforcement, against a role with and without the grant."""
    rule = {"apiGroups": ["", "codeinstruct.dev"], "resources": ["configmaps"], "verbs": ["*"]}
    grant = {
        "apiGroups": ["codeinstruct.dev"],
        "resources": ["instructiondatasets/finalizers"],
        "verbs": ["update"],
    }
    binding = {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "x"}],
    }
    for rules, allowed in (([rule], False), ([rule, grant], True)):
        role = {"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": rules}
        auth = Authorizer.from_objects([role, binding])
        refused = auth.check_owner_references(config_map("c", ownerReferences=[OWNER]), NS)
        assert (refused is None) is allowed


async def test_the_chart_lets_the_operator_own_its_children(cluster: FakeCluster) -> None:
    """Audit #3: every child carries blockOwnerDeletion; the chart must allow it."""
    cluster.enforce_rbac()
    kube = kube_client(cluster)
    await asyncio.to_thread(kube.create, config_map("owned", ownerReferences=[OWNER]))
    assert cluster.get("v1/configmaps", NS, "owned") is not None


async def test_pod_security_admission_refuses_a_root_pod(cluster: FakeCluster) -> None:
    restricted = {"pod-security.kubernetes.io/enforce": "restricted"}
    cluster.put(
        "v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": restricted}},
    )
    cluster.put("apps/v1/deployments", deployment("root", {"containers": [{"name": "c"}]}))
    cluster.put("apps/v1/deployments", deployment("ok", RESTRICTED_POD))
    cluster.play_controllers()
    cluster.play_controllers()
    refused = cluster.get("apps/v1/deployments", NS, "root") or {}
    condition = refused["status"]["conditions"][-1]
    assert (condition["type"], condition["reason"]) == ("ReplicaFailure", "FailedCreate")
    assert 'violates PodSecurity "restricted:latest"' in condition["message"]
    pods = [
        p["metadata"]["labels"]["app.kubernetes.io/component"] for p in cluster.items("v1/pods")
    ]
    assert pods == ["ok"]
    assert (cluster.get("apps/v1/deployments", NS, "ok") or {})["status"]["availableReplicas"] == 1
    assert cluster.events("FailedCreate")


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("ImagePullBackOff", "ImagePullBackOff"),
        ("CrashLoopBackOff", "CrashLoopBackOff"),
        ("OOMKilled", "CrashLoopBackOff"),
        ("ContainerCreating", "ContainerCreating"),
    ],
)
async def test_the_kubelet_plays_waiting_states(
    cluster: FakeCluster, state: str, reason: str
) -> None:
    cluster.pod_states["ok"] = state
    cluster.put("apps/v1/deployments", deployment("ok", RESTRICTED_POD))
    cluster.play_controllers()
    cluster.play_controllers()
    (pod,) = cluster.items("v1/pods")
    container = pod["status"]["containerStatuses"][0]
    assert container["state"]["waiting"]["reason"] == reason
    if state == "OOMKilled":
        assert container["lastState"]["terminated"]["reason"] == "OOMKilled"
    status = (cluster.get("apps/v1/deployments", NS, "ok") or {})["status"]
    assert status["availableReplicas"] == 0


async def test_a_missing_secret_is_create_container_config_error(cluster: FakeCluster) -> None:
    spec = {
        **RESTRICTED_POD,
        "containers": [
            {**RESTRICTED_POD["containers"][0], "envFrom": [{"secretRef": {"name": "s3"}}]}
        ],
    }
    cluster.put("apps/v1/deployments", deployment("ok", spec))
    await eventually(lambda: cluster.play_controllers() or cluster.items("v1/pods"))
    cluster.play_controllers()
    (pod,) = cluster.items("v1/pods")
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "CreateContainerConfigError", "message": 'secret "s3" not found'}


def test_watch_namespaces_gives_namespaced_roles_only() -> None:
    """Audit #11: with watchNamespaces the operator can create Jobs there and nowhere else."""
    auth = Authorizer.from_chart({"watchNamespaces": ["team-a"]})
    assert auth.allowed("create", "batch", "jobs", "team-a")
    assert not auth.allowed("create", "batch", "jobs", "kube-system")
    assert auth.allowed("get", "node.k8s.io", "runtimeclasses", None)
    everywhere = Authorizer.from_chart()
    assert everywhere.allowed("create", "batch", "jobs", "kube-system")
    assert not everywhere.allowed("delete", "", "configmaps", "team-a"), "unused verb"
    # Secrets: `get` of those a spec names, to check their label; never list or watch.
    assert everywhere.allowed("get", "", "secrets", "team-a")
    assert auth.allowed("get", "", "secrets", "team-a")
    assert not auth.allowed("get", "", "secrets", "kube-system")
    assert not everywhere.allowed("list", "", "secrets", "team-a")
    assert not everywhere.allowed("watch", "", "secrets", "team-a")


def chart_objects(values: dict[str, Any]) -> list[dict[str, Any]]:
    import helm_python
    import yaml

    from tests.helpers.rbac import CHART, RELEASE_NAMESPACE

    out = helm_python.Chart.load(str(CHART)).render(values, name="ci", namespace=RELEASE_NAMESPACE)
    return [d for p, t in out.items() if p.endswith(".yaml") for d in yaml.safe_load_all(t) if d]


@pytest.mark.parametrize("watch", [[], ["team-a"]], ids=["clusterwide", "namespaced"])
def test_two_replicas_meet_in_a_kopf_peering(watch: list[str]) -> None:
    """Audit #22: with replicas > 1 the operator runs with kopf peering (never --standalone),
    its peering object exists and the RBAC lets it take part."""
    values = {"replicaCount": 2, "watchNamespaces": watch}
    objects = chart_objects(values)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--standalone" not in command and command[command.index("--peering") + 1]
    kind = "KopfPeering" if watch else "ClusterKopfPeering"
    peering = [o for o in objects if o["kind"] == kind]
    assert [p["metadata"]["name"] for p in peering] == [command[command.index("--peering") + 1]]
    auth = Authorizer.from_chart(values)
    plural = "kopfpeerings" if watch else "clusterkopfpeerings"
    assert auth.allowed("patch", "kopf.dev", plural, watch[0] if watch else None)
    crds = (Path(CHART_DIR) / "crds" / "kopf-peering.yaml").read_text()
    assert f"name: {plural}.kopf.dev" in crds
    single = chart_objects({"replicaCount": 1})
    one = next(o for o in single if o["kind"] == "Deployment")
    assert "--standalone" in one["spec"]["template"]["spec"]["containers"][0]["command"]


async def test_kuberay_sequence_retrying_and_validation(cluster: FakeCluster) -> None:
    """The emulated KubeRay: a failed attempt is Retrying with jobStatus FAILED; a spec or a name
    it rejects is ValidationFailed."""
    base = {"apiVersion": "ray.io/v1", "kind": "RayJob"}
    spec = {"entrypoint": "x", "backoffLimit": 1, "submissionMode": "K8sJobMode"}
    cluster.put(
        "ray.io/v1/rayjobs", {**base, "metadata": {"name": "r", "namespace": NS}, "spec": spec}
    )
    cluster.put(
        "ray.io/v1/rayjobs",
        {**base, "metadata": {"name": "bad", "namespace": NS}, "spec": {**spec, "entrypoint": ""}},
    )

    def state(name: str) -> tuple[Any, Any]:
        status = (cluster.get("ray.io/v1/rayjobs", NS, name) or {}).get("status") or {}
        return status.get("jobDeploymentStatus"), status.get("jobStatus")

    seen = []
    for outcome in (False, False):
        for _ in range(30):
            cluster.play_controllers()
            seen.append(state("r"))
            if state("r")[0] == "Running":
                break
        cluster.finish_rayjob(NS, "r", ok=outcome)
        cluster.play_controllers()
        seen.append(state("r"))
    assert ("Retrying", "FAILED") in seen and seen[-1] == ("Failed", "FAILED")
    assert seen.index(("Retrying", "FAILED")) < seen.index(("Running", "RUNNING"), 2)
    assert state("bad")[0] == "ValidationFailed"
    long_name = "x" * 48  # KubeRay refuses RayJob names over 47 characters
    cluster.put(
        "ray.io/v1/rayjobs",
        {**base, "metadata": {"name": long_name, "namespace": NS}, "spec": spec},
    )
    cluster.play_controllers()
    assert state(long_name)[0] == "ValidationFailed"


async def test_a_ray_retry_does_not_fail_the_dataset(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    """Audit #6 end to end: KubeRay retries a failed scoring attempt; the dataset stays
    Scoring and succeeds when the retry does."""
    from codeinstruct.operator.stages import pipeline, scoring_boundary
    from tests.helpers.operator import (
        IDS,
        SAMPLES,
        dataset_of,
        load,
        phase_is,
        setup_cluster,
        status,
        write_card,
        write_stage,
    )

    body = load(next(p for p in SAMPLES if "xcoder" in p.name))
    dataset, name = dataset_of(body), body["metadata"]["name"]
    stages = pipeline(dataset.spec) or []
    boundary = scoring_boundary(stages)
    setup_cluster(cluster, rayjob=True)
    cluster.put(IDS, body)
    async with operator_factory():
        await eventually(phase_is(cluster, name, "Generating"))
        names = [s.name for s in stages]
        for stage in names[: names.index(str(boundary)) + 1]:
            write_stage(dataset, stage, 5)
        cluster.finish_job(NS, f"{name}-driver")
        await eventually(phase_is(cluster, name, "Scoring"))
        running = lambda: (  # noqa: E731
            (
                (cluster.get("ray.io/v1/rayjobs", NS, f"{name}-scoring") or {}).get("status") or {}
            ).get("jobDeploymentStatus")
        )
        await eventually(lambda: running() == "Running")
        cluster.finish_rayjob(NS, f"{name}-scoring", ok=False)
        await eventually(lambda: running() == "Retrying")
        await eventually(lambda: running() != "Retrying")  # ticks saw the retry meanwhile
        assert status(cluster, name)["phase"] == "Scoring"
        await eventually(lambda: running() == "Running")
        for stage in names[names.index(str(boundary)) + 1 :]:
            write_stage(dataset, stage, 5)
        write_card(dataset)
        cluster.finish_rayjob(NS, f"{name}-scoring", ok=True)
        await eventually(phase_is(cluster, name, "Succeeded"))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=a", ["a1"]),
        ("app!=a", ["b1", "none"]),
        ("app in (a, b)", ["a1", "b1"]),
        ("app notin (a)", ["b1", "none"]),
        ("app", ["a1", "b1"]),
        ("!app", ["none"]),
        ("app=b,tier=x", ["b1"]),
    ],
)
async def test_lists_apply_label_selectors(
    cluster: FakeCluster, selector: str, expected: list[str]
) -> None:
    for name, labels in (("a1", {"app": "a"}), ("b1", {"app": "b", "tier": "x"}), ("none", {})):
        cluster.put("v1/configmaps", config_map(name, labels=labels))
    kube = kube_client(cluster)
    from urllib.parse import quote

    path = f"/api/v1/namespaces/{NS}/configmaps?labelSelector={quote(selector)}"
    found = await asyncio.to_thread(kube._call, "GET", path)
    assert sorted(i["metadata"]["name"] for i in found["items"]) == expected


def job(name: str, pod_spec: dict[str, Any], **spec: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/component": name}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "backoffLimit": 2,
            **spec,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def fail_current_pod(
    cluster: FakeCluster, name: str, code: int, disruption: str | None = None
) -> None:
    cluster.play_controllers()
    (pod,) = [p for p in cluster.pods_of(NS, name) if p["status"]["phase"] == "Running"]
    cluster.terminate_pod(NS, pod["metadata"]["name"], code, disruption)
    cluster.play_controllers()


def job_failure(cluster: FakeCluster, name: str) -> dict[str, Any] | None:
    status = (cluster.get("batch/v1/jobs", NS, name) or {}).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == "Failed"), None)


async def test_the_job_controller_retries_failed_pods_until_the_backoff_limit(
    cluster: FakeCluster,
) -> None:
    cluster.put("batch/v1/jobs", job("plain", RESTRICTED_POD))
    for _ in range(2):
        fail_current_pod(cluster, "plain", 2)
        assert job_failure(cluster, "plain") is None
    fail_current_pod(cluster, "plain", 2)
    assert (job_failure(cluster, "plain") or {})["reason"] == "BackoffLimitExceeded"
    assert len(cluster.pods_of(NS, "plain")) == 3


POLICY = {
    "rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": "c", "operator": "In", "values": [2]},
        },
    ]
}


async def test_the_job_controller_plays_the_pod_failure_policy(cluster: FakeCluster) -> None:
    cluster.put("batch/v1/jobs", job("policy", RESTRICTED_POD, podFailurePolicy=POLICY))
    for _ in range(4):  # past backoffLimit: ignored disruptions are not counted
        fail_current_pod(cluster, "policy", 137, disruption="PreemptionByScheduler")
    assert job_failure(cluster, "policy") is None
    fail_current_pod(cluster, "policy", 1)  # counted, retried
    assert job_failure(cluster, "policy") is None
    fail_current_pod(cluster, "policy", 2)
    failure = job_failure(cluster, "policy") or {}
    assert failure["reason"] == "PodFailurePolicy"
    assert "exit code 2 matching FailJob rule at index 1" in failure["message"]
    assert len(cluster.pods_of(NS, "policy")) == 6
