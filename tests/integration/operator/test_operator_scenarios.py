"""The operator end to end against an emulated API server (kmock) and real S3 storage (moto).

The test plays the kubelet, the Deployment/Job controllers and the garbage collector, and writes
the storage ledger the way the driver Job would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from codeinstruct.operator.stages import pipeline, scoring_boundary
from codeinstruct.workers.runner import run_prefix
from codeinstruct.workers.spec import parse_spec
from tests.helpers.kube_cluster import FakeCluster, eventually
from tests.helpers.operator import (
    IDS,
    LABELLED_SECRET,
    NS,
    SAMPLES,
    child,
    dataset_of,
    load,
    phase_is,
    plan_of,
    setup_cluster,
    status,
    write_card,
    write_stage,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name.split(".")[1])
async def test_sample_runs_to_succeeded(
    sample: Path,
    cluster: FakeCluster,
    operator_factory: Any,
    s3_env: dict[str, str],
) -> None:
    body = load(sample)
    dataset = dataset_of(body)
    plan = plan_of(dataset)
    name = body["metadata"]["name"]
    setup_cluster(cluster, rayjob=True)
    cluster.put(IDS, body)
    async with operator_factory():
        first = await eventually(lambda: status(cluster, name).get("phase"))
        assert first in {"Pending", "Generating"}
        await eventually(phase_is(cluster, name, "Generating"))

        # Children: the spec ConfigMap, servers, the sandbox policy, the driver Job.
        config = child(cluster, "v1/configmaps", f"{name}-spec")
        cluster_spec = yaml.safe_load(config["data"]["spec.yaml"])
        sandbox = child(cluster, "apps/v1/deployments", f"{name}-sandbox")
        if dataset.spec.method.value == "wavecoder":  # executes no code: no sandbox
            assert sandbox is None
        else:
            pod = sandbox["spec"]["template"]["spec"]
            assert pod["runtimeClassName"] == "gvisor"
            assert pod["automountServiceAccountToken"] is False
            assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
            policy = child(cluster, "networking.k8s.io/v1/networkpolicies", f"{name}-sandbox")
            assert policy["spec"]["egress"] == [] and "Egress" in policy["spec"]["policyTypes"]
            endpoint = cluster_spec["spec"]["sandbox"]["endpoint"]
            assert endpoint.startswith(f"http://{name}-sandbox.")
        vllm = child(cluster, "apps/v1/deployments", f"{name}-vllm")
        if dataset.spec.generator.backend.value == "vllm":
            container = vllm["spec"]["template"]["spec"]["containers"][0]
            gpus = str(dataset.spec.generator.vllm.gpus_per_replica)
            assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
            assert container["startupProbe"]["httpGet"]["path"] == "/health"
            assert cluster_spec["spec"]["generator"]["endpoint"].startswith(f"http://{name}-vllm.")
        else:
            assert vllm is None
            assert cluster_spec["spec"]["generator"]["endpoint"] == dataset.spec.generator.endpoint
        job = child(cluster, "batch/v1/jobs", f"{name}-driver")
        assert job["metadata"]["ownerReferences"][0]["kind"] == "InstructionDataset"
        job_pod = job["spec"]["template"]["spec"]
        assert job_pod["automountServiceAccountToken"] is False
        assert job_pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "codeinstruct-s3"}}]
        # Same run prefix in the cluster as for a local run of the same spec.
        assert run_prefix(parse_spec(cluster_spec)) == run_prefix(dataset)

        # The driver works through the stages (up to the scoring boundary when scoring runs on
        # Ray); status follows the ledger.
        ray = dataset.spec.scoring.engine.value == "ray"
        boundary = scoring_boundary(pipeline(dataset.spec)) if ray else None
        command = job["spec"]["template"]["spec"]["containers"][0]["command"]
        if not ray:  # no scoring child: the driver runs the method to its last stage
            assert "--until" not in command
        for index, stage in enumerate(plan):
            write_stage(dataset, stage, records=10 * (len(plan) - index))
            done = index + 1
            await eventually(
                lambda d=done: status(cluster, name).get("progress") == f"{d}/{len(plan)}"
            )
            if stage == boundary:
                break
        scoring = dataset.spec.scoring.engine.value == "ray"
        if scoring:
            cluster.finish_job(NS, f"{name}-driver")
            await eventually(phase_is(cluster, name, "Scoring"))
            rayjob = await eventually(
                lambda: child(cluster, "ray.io/v1/rayjobs", f"{name}-scoring")
            )
            assert "codeinstruct run" in rayjob["spec"]["entrypoint"]
            assert job["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == [
                "--until",
                boundary,
            ]
            for stage in plan[plan.index(str(boundary)) + 1 :]:
                write_stage(dataset, stage, records=5)
            write_card(dataset)
            cluster.patch(
                "ray.io/v1/rayjobs",
                NS,
                f"{name}-scoring",
                {"status": {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}},
            )
        else:
            write_card(dataset)
            cluster.finish_job(NS, f"{name}-driver")
        final = await eventually(phase_is(cluster, name, "Succeeded"))

    assert final["outputUri"] == f"{dataset.spec.output.uri}/{run_prefix(dataset)}/dataset"
    assert final["progressPercentage"] == 100 and final["completionTime"]
    assert final["selection"] == f"{final['selected']}/{dataset.spec.target_size}"
    assert final["stages"][0]["recordsOut"] > 0 and final["stages"][0]["dropped"] == 2
    ready = {c["type"]: c for c in final["conditions"]}
    assert ready["Ready"]["status"] == "True" and ready["Complete"]["status"] == "True"
    # Finished runs free their servers (GPUs); Jobs stay for their logs.
    assert child(cluster, "apps/v1/deployments", f"{name}-sandbox") is None
    assert child(cluster, "batch/v1/jobs", f"{name}-driver") is not None
    reasons = [e["reason"] for e in cluster.events()]
    assert "Succeeded" in reasons and "ChildrenCreated" in reasons
    # Every call was allowed by the chart's RBAC, and no pod was refused by Pod Security.
    assert cluster.k.authorizer is not None and cluster.k.authorizer.denied == []
    assert "FailedCreate" not in reasons


def _pods_naming(cluster: FakeCluster, secret: str) -> list[str]:
    """Children whose pod template would hand `secret` to a container."""
    found = []
    for resource in ("apps/v1/deployments", "batch/v1/jobs", "ray.io/v1/rayjobs"):
        for obj in cluster.items(resource):
            if f"'{secret}'" in repr(obj.get("spec")):
                found.append(f"{resource}/{obj['metadata']['name']}")
    return found


async def test_an_unlabelled_secret_reaches_no_pod_until_labelled(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    """Issue 11: creating a dataset must not mean reading any Secret of the namespace."""
    body = load(next(s for s in SAMPLES if "selfcodealign" in s.name))
    name = body["metadata"]["name"]
    setup_cluster(cluster)
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque"}
    unlabelled = {**secret, "metadata": {"name": "codeinstruct-s3", "namespace": NS}}
    cluster.put("v1/secrets", {**unlabelled, "data": {"AWS_SECRET_ACCESS_KEY": "c2VjcmV0"}})
    cluster.put(IDS, body)
    async with operator_factory():
        failed = await eventually(phase_is(cluster, name, "Failed"))
        assert failed["reason"] == "SecretNotAllowed"
        message = failed["message"]
        assert "spec.output.credentialsSecret" in message and "'codeinstruct-s3'" in message
        assert f"kubectl -n {NS} label secret codeinstruct-s3 codeinstruct.dev/secret=true" in (
            message
        )
        assert "c2VjcmV0" not in repr(status(cluster, name)) + repr(cluster.events())
        assert _pods_naming(cluster, "codeinstruct-s3") == []
        assert child(cluster, "batch/v1/jobs", f"{name}-driver") is None

        cluster.patch(
            "v1/secrets", NS, "codeinstruct-s3", {"metadata": {"labels": LABELLED_SECRET}}
        )
        await eventually(phase_is(cluster, name, "Generating"))
        job = child(cluster, "batch/v1/jobs", f"{name}-driver")
        assert job is not None
        env_from = job["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        assert env_from == [{"secretRef": {"name": "codeinstruct-s3"}}]
    assert cluster.k.authorizer is not None and cluster.k.authorizer.denied == []


async def test_a_missing_secret_waits_and_creates_nothing(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    body = load(next(s for s in SAMPLES if "selfcodealign" in s.name))
    name = body["metadata"]["name"]
    setup_cluster(cluster)
    cluster.remove("v1/secrets", NS, "codeinstruct-s3")
    cluster.put(IDS, body)
    async with operator_factory():
        waiting = await eventually(
            lambda: (s := status(cluster, name)).get("reason") == "SecretMissing" and s
        )
        assert waiting["phase"] == "Pending"
        assert "spec.output.credentialsSecret" in waiting["message"]
        assert child(cluster, "batch/v1/jobs", f"{name}-driver") is None
        assert child(cluster, "v1/configmaps", f"{name}-spec") is None
        labelled = {"name": "codeinstruct-s3", "namespace": NS, "labels": LABELLED_SECRET}
        cluster.put("v1/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": labelled})
        await eventually(phase_is(cluster, name, "Generating"))
    assert cluster.k.authorizer is not None and cluster.k.authorizer.denied == []
