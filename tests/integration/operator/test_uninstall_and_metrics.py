"""In the emulator: the operator's metrics across a restart and a deletion, and the uninstall
steps docs/operations.md gives (with the operator running, and after it is gone)."""

from __future__ import annotations

import importlib
from typing import Any

import aiohttp
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from codeinstruct.operator import metrics
from codeinstruct.operator.stages import stage_names
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
    write_stage,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SAMPLE = next(p for p in SAMPLES if "selfcodealign" in p.name)
URL = "/apis/codeinstruct.dev/v1alpha1/namespaces/{ns}/instructiondatasets/{name}"


def start(cluster: FakeCluster, name: str) -> dict[str, Any]:
    body = load(SAMPLE)
    body["metadata"]["name"] = name
    cluster.put(IDS, body)
    return body


def series_of(name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample naming dataset `name`, by (sample name, labels)."""
    text = generate_latest(metrics.REGISTRY).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.labels.get("name") == name
    }


def records(name: str) -> dict[str, float]:
    return {
        dict(labels)["stage"]: value
        for (sample, labels), value in series_of(name).items()
        if sample == "codeinstruct_records_total"
    }


async def kubectl_delete(cluster: FakeCluster, name: str) -> None:
    url = cluster.url + URL.format(ns=NS, name=name)
    with cluster.as_user():
        async with aiohttp.ClientSession() as session, session.delete(url) as response:
            assert response.status < 300


async def kubectl_patch_finalizers_away(cluster: FakeCluster, name: str) -> None:
    """`kubectl patch ids NAME --type=merge -p '{"metadata":{"finalizers":null}}'`"""
    headers = {"Content-Type": "application/merge-patch+json"}
    body = {"metadata": {"finalizers": None}}
    url = cluster.url + URL.format(ns=NS, name=name)
    with cluster.as_user():
        async with (
            aiohttp.ClientSession() as session,
            session.patch(url, json=body, headers=headers) as response,
        ):
            assert response.status < 300


async def test_an_operator_restart_leaves_every_counter_where_it_was(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    setup_cluster(cluster)
    bodies = [start(cluster, "restart-a"), start(cluster, "restart-b")]
    datasets = [dataset_of(b) for b in bodies]
    total = len(stage_names(datasets[0].spec) or [])
    write_stage(datasets[0], "seeds", 30)
    write_stage(datasets[1], "seeds", 12)
    async with operator_factory():
        for body in bodies:
            name = body["metadata"]["name"]
            await eventually(
                lambda name=name: status(cluster, name).get("progress") == f"1/{total}"
            )
        await eventually(lambda: records("restart-a") and records("restart-b"))
    before = {b["metadata"]["name"]: records(b["metadata"]["name"]) for b in bodies}
    assert before["restart-a"]["seeds"] == 30 and before["restart-b"]["seeds"] == 12
    importlib.reload(metrics)  # a new operator process: nothing in memory
    async with operator_factory():
        await eventually(lambda: records("restart-a") and records("restart-b"))
        after = {b["metadata"]["name"]: records(b["metadata"]["name"]) for b in bodies}
    assert after == before
    for body in bodies:
        metrics.forget(NS, body["metadata"]["name"])


async def test_a_deleted_dataset_leaves_no_series(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    setup_cluster(cluster)
    body = start(cluster, "deleted")
    write_stage(dataset_of(body), "seeds", 5)
    async with operator_factory():
        await eventually(lambda: records("deleted").get("seeds") == 5)
        await kubectl_delete(cluster, "deleted")
        await eventually(lambda: cluster.get(IDS, NS, "deleted") is None)
        await eventually(lambda: not series_of("deleted"))


async def test_uninstall_with_the_operator_running_strands_nothing(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    """Step 1 of the docs: `kubectl delete ids --all --wait` before `helm uninstall`."""
    setup_cluster(cluster)
    names = ["u-one", "u-two"]
    for name in names:
        start(cluster, name)
    async with operator_factory():
        for name in names:
            await eventually(phase_is(cluster, name, "Generating"))
        for name in names:
            await kubectl_delete(cluster, name)
        for name in names:
            await eventually(lambda name=name: cluster.get(IDS, NS, name) is None)
    # the operator is gone now (helm uninstall): nothing is left waiting for it
    assert not [d for d in cluster.items(IDS) if d["metadata"]["name"] in names]
    for name in names:
        metrics.forget(NS, name)


async def test_after_the_operator_is_gone_the_documented_patch_releases_a_dataset(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    setup_cluster(cluster)
    start(cluster, "orphan")
    async with operator_factory():
        await eventually(phase_is(cluster, "orphan", "Generating"))
    await kubectl_delete(cluster, "orphan")  # no operator: the finalizer holds it
    stuck = cluster.get(IDS, NS, "orphan")
    assert stuck and stuck["metadata"].get("deletionTimestamp")
    assert stuck["metadata"]["finalizers"] == ["codeinstruct.dev/finalizer"]
    await kubectl_patch_finalizers_away(cluster, "orphan")
    assert cluster.get(IDS, NS, "orphan") is None
    metrics.forget(NS, "orphan")
