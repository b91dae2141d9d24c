"""GPU contention queues instead of failing: with Kueue, a second dataset waits (Pending, never
Unschedulable, past the unschedulable grace) and is admitted when the first frees its GPU."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
from typing import Any

import aiohttp
import pytest

from codeinstruct.operator.stages import stage_names
from tests.helpers.kube_cluster import FakeCluster, eventually
from tests.helpers.kueue import QUEUE_LABEL, FakeKueue
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
SAMPLE = next(p for p in SAMPLES if "selfcodealign" in p.name)  # backend vllm, 1 GPU
GRACE = 0.5


def body_named(name: str) -> dict[str, Any]:
    body = load(SAMPLE)
    body["metadata"]["name"] = name
    return body


def start(cluster: FakeCluster, name: str) -> dict[str, Any]:
    body = body_named(name)
    cluster.put(IDS, body)
    return body


async def kubectl_create(cluster: FakeCluster, name: str) -> None:
    url = f"{cluster.url}/apis/codeinstruct.dev/v1alpha1/namespaces/{NS}/instructiondatasets"
    with cluster.as_user():
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=body_named(name)) as r,
        ):
            assert r.status < 300, await r.text()


async def test_a_queued_dataset_is_admitted_when_capacity_frees(
    cluster: FakeCluster,
    operator_factory: Any,
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handlers = importlib.import_module("codeinstruct.operator.handlers")
    settings = dataclasses.replace(
        handlers.SETTINGS, kueue_queue="gpu-queue", unschedulable_grace_seconds=GRACE
    )
    monkeypatch.setattr(handlers, "SETTINGS", settings)
    kueue = FakeKueue(cluster, gpu_quota=1)
    controllers = cluster.play_controllers

    def play() -> None:
        kueue.play()
        controllers()

    monkeypatch.setattr(cluster, "play_controllers", play)
    setup_cluster(cluster)
    first = start(cluster, "first")
    async with operator_factory():
        await eventually(phase_is(cluster, "first", "Generating"))
        await kubectl_create(cluster, "second")  # through the API: the operator watches it
        gated = await eventually(lambda: cluster.get("v1/pods", NS, "second-vllm-gated"))
        assert gated["metadata"]["labels"][QUEUE_LABEL] == "gpu-queue"
        await asyncio.sleep(GRACE * 4)  # well past the unschedulable grace: queued, not failed
        waiting = status(cluster, "second")
        assert waiting["phase"] == "Pending", waiting
        assert cluster.get("batch/v1/jobs", NS, "second-driver") is None
        dataset = dataset_of(first)
        for stage in stage_names(dataset.spec) or []:
            write_stage(dataset, stage, 3)
        write_card(dataset)
        cluster.finish_job(NS, "first-driver")
        await eventually(phase_is(cluster, "first", "Succeeded"))
        await eventually(phase_is(cluster, "second", "Generating"))
        job = await eventually(
            lambda: (
                (j := cluster.get("batch/v1/jobs", NS, "second-driver"))
                and not j["spec"]["suspend"]
                and j
            )
        )
    assert job["metadata"]["labels"][QUEUE_LABEL] == "gpu-queue"
    assert cluster.get("apps/v1/deployments", NS, "first-vllm") is None  # GPU given back
    assert kueue.violations == []
    assert not [
        c for c in status(cluster, "second").get("conditions", []) if c["reason"] == "Unschedulable"
    ]
