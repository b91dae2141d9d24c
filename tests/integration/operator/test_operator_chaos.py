"""Chaos in the cluster emulation: the operator is killed (its kopf task cancelled, no graceful
stop) and restarted at seeded random points while the driver commits stages, and the driver's
pod is deleted mid-run. The dataset still reaches Succeeded with the totals the ledger holds,
no child is ever created twice, and the phase never goes backwards."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import pytest

from codeinstruct.operator.stages import stage_names
from tests.helpers.kube_cluster import FakeCluster, eventually
from tests.helpers.operator import (
    IDS,
    NS,
    SAMPLES,
    dataset_of,
    load,
    setup_cluster,
    status,
    write_card,
    write_stage,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SAMPLE = next(p for p in SAMPLES if "selfcodealign" in p.name)
PHASES = ["Pending", "Generating", "Executing", "Scoring", "Succeeded"]
CHILDREN = (
    "apps/v1/deployments",
    "batch/v1/jobs",
    "v1/services",
    "v1/configmaps",
    "networking.k8s.io/v1/networkpolicies",
)


class Observer:
    """Samples the dataset's phase and its children's uids while the run goes on."""

    def __init__(self, cluster: FakeCluster, name: str) -> None:
        self.cluster, self.name = cluster, name
        self.phases: list[str] = []
        self.uids: dict[tuple[str, str], set[str]] = {}

    def sample(self) -> None:
        phase = status(self.cluster, self.name).get("phase")
        if phase and (not self.phases or self.phases[-1] != phase):
            self.phases.append(phase)
        for resource in CHILDREN:
            for obj in self.cluster.items(resource):
                meta = obj["metadata"]
                if meta.get("namespace") == NS and meta["name"].startswith(self.name):
                    self.uids.setdefault((resource, meta["name"]), set()).add(meta["uid"])

    async def watch(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.02)


def progress_is(cluster: FakeCluster, name: str, progress: str) -> Any:
    return lambda: status(cluster, name).get("progress") == progress


def driver_pods(cluster: FakeCluster, job: str) -> list[dict[str, Any]]:
    return [
        p
        for p in cluster.items("v1/pods")
        if any(ref.get("name") == job for ref in p["metadata"].get("ownerReferences") or [])
    ]


async def test_operator_kills_and_a_deleted_driver_pod_still_reach_succeeded(
    cluster: FakeCluster, operator_factory: Any, s3_env: dict[str, str]
) -> None:
    import kopf

    from codeinstruct.operator import handlers

    operator_factory()  # points kopf at the emulated API server (the handlers' settings)
    rng = random.Random(15)
    body = load(SAMPLE)
    setup_cluster(cluster)
    cluster.put(IDS, body)
    name = body["metadata"]["name"]
    dataset = dataset_of(body)
    stages = stage_names(dataset.spec)
    observer = Observer(cluster, name)

    async def controllers() -> None:
        while True:
            cluster.play_controllers()
            await asyncio.sleep(0.05)

    def start_operator() -> asyncio.Task[Any]:
        handlers._clients.clear()
        stop = asyncio.Event()
        return asyncio.create_task(kopf.operator(clusterwide=True, standalone=True, stop_flag=stop))

    async def kill(task: asyncio.Task[Any]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    background = [asyncio.create_task(controllers()), asyncio.create_task(observer.watch())]
    operator = start_operator()
    kills = 0
    try:
        await eventually(lambda: status(cluster, name).get("phase") == "Generating")
        job = f"{name}-driver"
        first_pod = (await eventually(lambda: driver_pods(cluster, job)))[0]["metadata"]
        delete_at = rng.randrange(2, len(stages) - 2)
        down = False
        for index, stage in enumerate(stages):
            write_stage(dataset, stage, 10 + index)  # the driver commits, the operator up or not
            if index == delete_at:  # the node went away: the Job controller makes a new pod
                cluster.remove("v1/pods", NS, first_pod["name"])
            if down and rng.random() < 0.6:
                operator, down = start_operator(), False
            if not down and rng.random() < 0.7:  # let it catch up, so it sees every phase
                await eventually(progress_is(cluster, name, f"{index + 1}/{len(stages)}"))
            if not down and rng.random() < 0.4:  # killed mid-reconcile
                await asyncio.sleep(rng.uniform(0, 0.3))
                await kill(operator)
                kills, down = kills + 1, True
            await asyncio.sleep(rng.uniform(0.02, 0.2))
        if down:
            operator = start_operator()
        replaced = await eventually(
            lambda: [
                p for p in driver_pods(cluster, job) if p["metadata"]["uid"] != first_pod["uid"]
            ]
        )
        write_card(dataset)
        cluster.finish_job(NS, job)
        await kill(operator)  # one last kill after the driver finished
        kills += 1
        operator = start_operator()
        final = await eventually(
            lambda: status(cluster, name) if status(cluster, name).get("phase") == "Succeeded"
            else None
        )  # fmt: skip
        observer.sample()
    finally:
        await kill(operator)
        for task in background:
            await kill(task)
    assert kills >= 3 and replaced, "the chaos happened"
    # The phase never went backwards.
    order = [PHASES.index(p) for p in observer.phases]
    assert order == sorted(order), observer.phases
    assert observer.phases[0] == "Pending" and observer.phases[-1] == "Succeeded"
    # Every stage's totals are the ledger's, as an uninterrupted run reports them.
    totals = {s["name"]: s for s in final["stages"]}
    assert list(totals) == stages
    for index, stage in enumerate(stages):
        counted = totals[stage]
        expected = (1, 12 + index, 10 + index, 2, True)
        got = (counted["shards"], counted["recordsIn"], counted["recordsOut"], counted["dropped"])
        assert (*got, counted["complete"]) == expected, stage
    assert final["progress"] == f"{len(stages)}/{len(stages)}"
    # No child was ever created twice: one uid per name over the whole run, one driver Job.
    twice = {key: uids for key, uids in observer.uids.items() if len(uids) > 1}
    assert not twice, twice
    assert [n for (r, n) in observer.uids if r == "batch/v1/jobs" and n.endswith("-driver")] == [
        job
    ]
