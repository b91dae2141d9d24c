"""Operator behaviour beyond the happy path: restart, missing gVisor, failures, suspend, delete."""

from __future__ import annotations

from typing import Any

import pytest

from codeinstruct.operator import handlers
from codeinstruct.operator.metrics import REGISTRY
from codeinstruct.operator.stages import stage_names
from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.runner import run_prefix
from codeinstruct.workers.store import open_store
from tests.helpers.kube_cluster import FakeCluster, eventually
from tests.helpers.operator import (
    IDS,
    NS,
    SAMPLES,
    dataset_of,
    load,
    phase_is,
    setup_cluster,
    status,
    write_card,
    write_stage,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SAMPLE = next(p for p in SAMPLES if "selfcodealign" in p.name)


def children_of(cluster: FakeCluster, name: str) -> list[tuple[str, str]]:
    found = []
    for resource in (
        "apps/v1/deployments",
        "batch/v1/jobs",
        "v1/services",
        "v1/configmaps",
        "networking.k8s.io/v1/networkpolicies",
    ):
        for obj in cluster.items(resource):
            if obj["metadata"]["name"].startswith(name):
                found.append((resource, obj["metadata"]["name"]))
    return sorted(found)


def reconcile_ticks() -> float:
    """How many reconcile ticks this process has run (the tick-duration histogram's count)."""
    return REGISTRY.get_sample_value("codeinstruct_reconcile_duration_seconds_count") or 0.0


def start(cluster: FakeCluster, **setup: Any) -> tuple[dict[str, Any], str]:
    body = load(SAMPLE)
    setup_cluster(cluster, **setup)
    cluster.put(IDS, body)
    return body, body["metadata"]["name"]


async def test_restart_resumes_without_duplicates(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    body, name = start(cluster)
    dataset = dataset_of(body)
    total = len(stage_names(dataset.spec) or [])
    async with operator_factory():
        await eventually(phase_is(cluster, name, "Generating"))
        write_stage(dataset, "seeds", 30)
        await eventually(lambda: status(cluster, name).get("progress") == f"1/{total}")
    before = children_of(cluster, name)
    uids = {n: cluster.get(r, NS, n)["metadata"]["uid"] for r, n in before}
    write_stage(dataset, "seed_decontam", 20)  # the driver goes on while the operator is down
    async with operator_factory():
        await eventually(lambda: status(cluster, name).get("progress") == f"2/{total}")
        # Every child is the same object after the restart (before Succeeded deletes some).
        assert {n: cluster.get(r, NS, n)["metadata"]["uid"] for r, n in before} == uids
        for stage in (stage_names(dataset.spec) or [])[2:]:  # the driver runs to the last one
            write_stage(dataset, stage, 10)
        write_card(dataset)
        cluster.finish_job(NS, f"{name}-driver")
        await eventually(phase_is(cluster, name, "Succeeded"))
    after = {n: cluster.get(r, NS, n)["metadata"]["uid"] for r, n in children_of(cluster, name)}
    assert after[f"{name}-driver"] == uids[f"{name}-driver"]  # kept to the end, never recreated


async def test_missing_runtime_class_is_a_condition_and_event(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    _, name = start(cluster, runtime_class=False)
    async with operator_factory():
        state = await eventually(
            lambda: next(
                (
                    c
                    for c in status(cluster, name).get("conditions", [])
                    if c["type"] == "SandboxReady" and c["status"] == "False"
                ),
                None,
            )
        )
        events = await eventually(lambda: cluster.events("RuntimeClassMissing"))
        # No silent fallback, over several ticks rather than at the first one.
        seen = reconcile_ticks()
        await eventually(lambda: reconcile_ticks() >= seen + 3)
        assert cluster.get("apps/v1/deployments", NS, f"{name}-sandbox") is None
        assert cluster.get("batch/v1/jobs", NS, f"{name}-driver") is None
    assert state["reason"] == "RuntimeClassMissing" and "gvisor" in state["message"]
    assert events[0]["type"] == "Warning"
    assert status(cluster, name)["phase"] == "Pending"
    # No silent fallback: neither sandbox pods nor a driver without gVisor.
    assert cluster.get("apps/v1/deployments", NS, f"{name}-sandbox") is None
    assert cluster.get("batch/v1/jobs", NS, f"{name}-driver") is None


async def test_a_tick_that_raises_is_retried_at_the_interval_not_after_a_minute(
    cluster: FakeCluster,
    operator_factory: Any,
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected error in a tick (a storage hiccup, a bug) is retried at the reconcile
    interval: kopf's default is 60 s a retry, so two failed ticks held a dataset for 2 min."""
    real, failures = handlers.observe, []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if len(failures) < 2:
            failures.append(1)
            raise RuntimeError("injected: storage hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(handlers, "observe", flaky)
    _, name = start(cluster)
    async with operator_factory():
        await eventually(lambda: len(failures) == 2)
        # Well within the 60 s kopf waits by default after each of the two failures.
        await eventually(phase_is(cluster, name, "Generating"), timeout=50.0)
    assert cluster.get("batch/v1/jobs", NS, f"{name}-driver") is not None


async def test_driver_failure_fails_with_the_reason(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    _, name = start(cluster)
    async with operator_factory():
        await eventually(phase_is(cluster, name, "Generating"))
        cluster.finish_job(
            NS, f"{name}-driver", ok=False, message="Job has reached the specified backoff limit"
        )
        final = await eventually(phase_is(cluster, name, "Failed"))
    assert final["reason"] == "DriverJobFailed"
    assert "backoff limit" in final["message"]
    assert cluster.events("DriverJobFailed")[0]["type"] == "Warning"
    assert cluster.get("apps/v1/deployments", NS, f"{name}-vllm") is None  # GPUs released


async def test_suspend_scales_down_and_resume_continues(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    _, name = start(cluster)
    async with operator_factory():
        await eventually(phase_is(cluster, name, "Generating"))
        cluster.patch(IDS, NS, name, {"spec": {"suspend": True}})
        await eventually(phase_is(cluster, name, "Suspended"))
        await eventually(
            lambda: cluster.get("batch/v1/jobs", NS, f"{name}-driver")["spec"]["suspend"]
        )
        vllm = cluster.get("apps/v1/deployments", NS, f"{name}-vllm")
        sandbox = cluster.get("apps/v1/deployments", NS, f"{name}-sandbox")
        assert vllm["spec"]["replicas"] == 0 and sandbox["spec"]["replicas"] == 0
        cluster.patch(IDS, NS, name, {"spec": {"suspend": False}})
        await eventually(phase_is(cluster, name, "Generating"))
        job = await eventually(
            lambda: (
                (j := cluster.get("batch/v1/jobs", NS, f"{name}-driver"))
                and not j["spec"]["suspend"]
                and j
            )
        )
        assert (
            job and cluster.get("apps/v1/deployments", NS, f"{name}-vllm")["spec"]["replicas"] == 1
        )
    assert {e["reason"] for e in cluster.events()} >= {"Suspended"}


async def test_delete_removes_children_and_keeps_data(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    body, name = start(cluster)
    dataset = dataset_of(body)
    async with operator_factory():
        await eventually(phase_is(cluster, name, "Generating"))
        write_stage(dataset, "seeds", 30)
        await eventually(lambda: children_of(cluster, name))
        parent = cluster.get(IDS, NS, name)
        assert parent is not None
        for resource, child_name in children_of(cluster, name):
            owner = (cluster.get(resource, NS, child_name) or {})["metadata"]["ownerReferences"][0]
            assert owner["uid"] == parent["metadata"]["uid"]
        import aiohttp

        async with aiohttp.ClientSession() as session:
            url = f"{cluster.url}/apis/codeinstruct.dev/v1alpha1/namespaces/{NS}/instructiondatasets/{name}"
            with cluster.as_user():  # the user deletes it, not the operator
                async with session.delete(url) as response:
                    assert response.status < 300
        await eventually(lambda: cluster.get(IDS, NS, name) is None)
        await eventually(lambda: not children_of(cluster, name))
    ledger = Ledger(open_store(dataset.spec.output.uri), run_prefix(dataset))
    assert ledger.completion("seeds") is not None  # the data stays


def driver_pods(cluster: FakeCluster, name: str) -> list[dict[str, Any]]:
    return cluster.pods_of(NS, f"{name}-driver")


async def test_a_user_error_of_the_driver_fails_the_run_at_once(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    """The CLI exits 2 on a user error: the Job's podFailurePolicy fails it without the
    backoff retries (which would only repeat the same error), and the dataset says why."""
    _, name = start(cluster)
    async with operator_factory():
        await eventually(phase_is(cluster, name, "Generating"))
        (pod,) = await eventually(lambda: driver_pods(cluster, name))
        cluster.terminate_pod(NS, pod["metadata"]["name"], exit_code=2)
        final = await eventually(phase_is(cluster, name, "Failed"))
        job = cluster.get("batch/v1/jobs", NS, f"{name}-driver") or {}
    (failed,) = [c for c in job["status"]["conditions"] if c["type"] == "Failed"]
    assert failed["reason"] == "PodFailurePolicy"
    assert len(driver_pods(cluster, name)) == 1, "no retry of a user error"
    assert final["reason"] == "DriverJobFailed"
    assert "exit code 2" in final["message"] and "user error" in final["message"]


async def test_an_evicted_driver_is_retried_without_spending_its_backoff(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    """Infrastructure disruptions (DisruptionTarget: eviction, preemption, node drain) are
    ignored by the Job's podFailurePolicy: a new pod, nothing counted against backoffLimit."""
    _, name = start(cluster)
    async with operator_factory():
        await eventually(phase_is(cluster, name, "Generating"))
        job = cluster.get("batch/v1/jobs", NS, f"{name}-driver") or {}
        for _ in range(int(job["spec"]["backoffLimit"]) + 1):
            pod = await eventually(
                lambda: next(
                    (p for p in driver_pods(cluster, name) if p["status"]["phase"] == "Running"),
                    None,
                )
            )
            cluster.terminate_pod(
                NS, pod["metadata"]["name"], exit_code=137, disruption="EvictionByEvictionAPI"
            )
        await eventually(
            lambda: len(driver_pods(cluster, name)) == int(job["spec"]["backoffLimit"]) + 2
        )
        job = cluster.get("batch/v1/jobs", NS, f"{name}-driver") or {}
        assert not (job.get("status") or {}).get("failed")
        assert not any(
            c["type"] == "Failed" for c in (job.get("status") or {}).get("conditions") or []
        )
        assert status(cluster, name)["phase"] == "Generating"
