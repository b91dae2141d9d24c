"""Two live operator replicas (issue 11, item 16), each a process of its own as each pod of the
chart's Deployment is (`tests/helpers/operator_replica.py`). They meet in the chart's
ClusterKopfPeering with the options `codeinstruct operator --peering` gives them: only the one
with the highest priority reconciles; when it dies (its process is killed, as a crashed pod
does not shut down gracefully either) the other takes over once the dead one's peering record
expires, and reconciles what changes after that; no child is created twice.

Every wait is bounded (`eventually`); nothing is asserted about how long anything took."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.operator.constants import LABEL_DATASET
from codeinstruct.operator.main import operator_options
from tests.helpers.kube_cluster import FakeCluster, eventually
from tests.helpers.operator import IDS, SAMPLES, load, phase_is, setup_cluster
from tests.helpers.paths import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SAMPLE = next(p for p in SAMPLES if "selfcodealign" in p.name)
PEERING = "codeinstruct"
PEERINGS = "kopf.dev/v1/clusterkopfpeerings"
# Seconds a replica's peering record stays valid; the replicas renew theirs 5-9 s before it
# runs out, so a stalled loaded machine does not make a live leader look dead.
LIFETIME = 10
CHILDREN = {
    "jobs": "batch/v1/jobs",
    "deployments": "apps/v1/deployments",
    "services": "v1/services",
    "configmaps": "v1/configmaps",
    "networkpolicies": "networking.k8s.io/v1/networkpolicies",
}
WAIT = 180.0  # the bound of every wait: two operators start in processes of their own


class Replica:
    """One `operator_replica` process and the ticks it recorded."""

    def __init__(self, name: str, priority: int, folder: Path, env: dict[str, str]) -> None:
        self.identity = f"replica-{name}"
        self.ticks_file = folder / f"ticks-{name}.txt"
        self.ticks_file.touch()
        self.log_file = folder / f"log-{name}.txt"
        self.log = open(self.log_file, "wb")  # noqa: SIM115 (closed in stop)
        command = [sys.executable, "-m", "tests.helpers.operator_replica"]
        command += [self.identity, str(self.ticks_file), str(LIFETIME), str(priority)]
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def ticks(self) -> int:
        return len(self.ticks_file.read_text().splitlines())

    def alive(self) -> bool:
        return self.process.poll() is None

    async def kill(self) -> None:
        """Dies the way a crashed pod does: no cleanup, its peering record stays behind."""
        self.process.kill()
        await eventually(lambda: not self.alive(), timeout=WAIT)
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_file.read_text()[-3000:]


def chart_priorities() -> tuple[int, int]:
    """Two priorities drawn as `codeinstruct operator --peering` draws them for each replica."""
    args = argparse.Namespace(standalone=False, peering=PEERING, priority=None, liveness=None)
    first, second = (operator_options(args, [])["priority"] for _ in range(2))
    assert first != second, "a tie is a ~1e-9 chance"
    return max(first, second), min(first, second)


def peers(cluster: FakeCluster) -> dict[str, Any]:
    return dict((cluster.get(PEERINGS, None, PEERING) or {}).get("status") or {})


def creates(cluster: FakeCluster) -> dict[str, int]:
    counted = {plural: 0 for plural in CHILDREN}
    for (_, action, plural), count in cluster.k.requests.items():
        if action == "CREATE" and plural in CHILDREN:
            counted[plural] += count
    return counted


@pytest.fixture
def replica_env(cluster: FakeCluster, s3_env: dict[str, str]) -> dict[str, str]:
    path = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        **s3_env,
        "PYTHONPATH": os.pathsep.join(path),
        "CODEINSTRUCT_API_SERVER": cluster.url,
        "CODEINSTRUCT_METRICS_PORT": "0",
        "CODEINSTRUCT_INTERVAL": "0.1",
    }


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        if replica.alive():
            replica.process.kill()
        replica.process.wait(timeout=60)
        replica.log.close()


async def test_two_replicas_one_acts_and_the_other_takes_over(
    cluster: FakeCluster, replica_env: dict[str, str], replicas: list[Replica], tmp_path: Path
) -> None:
    import asyncio

    setup_cluster(cluster)
    cluster.enforce_rbac({"replicaCount": 2})  # the chart's RBAC for several replicas
    cluster.put(
        PEERINGS,
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}},
    )
    body = load(SAMPLE)
    name = body["metadata"]["name"]
    cluster.put(IDS, body)
    playing = asyncio.create_task(cluster.play_forever())
    try:
        high, low = chart_priorities()
        # The leader runs alone first; the other replica starts while it is live (a second
        # pod of the Deployment, or a rolling update).
        leader = Replica("a", high, tmp_path, replica_env)
        replicas.append(leader)
        await eventually(lambda: leader.identity in peers(cluster), timeout=WAIT)
        await eventually(phase_is(cluster, name, "Generating"), timeout=WAIT)
        other = Replica("b", low, tmp_path, replica_env)
        replicas.append(other)
        await eventually(lambda: other.identity in peers(cluster), timeout=WAIT)

        # Both live: the leader keeps reconciling, the other never does.
        seen = leader.ticks()
        await eventually(lambda: leader.ticks() >= seen + 30, timeout=WAIT)
        assert other.alive(), other.output()
        assert other.ticks() == 0, "only the highest priority reconciles while both live"
        assert creates(cluster)["jobs"] == 1

        # The leader dies; its record expires; the other resumes.
        await leader.kill()
        assert leader.identity in peers(cluster), "a killed replica leaves its record behind"
        await eventually(lambda: other.ticks() > 0, timeout=WAIT)
        await eventually(lambda: leader.identity not in peers(cluster), timeout=WAIT)

        # A change made after the takeover is reconciled by the survivor: a new dataset gets
        # its children and its status, and the first one keeps its own.
        late = load(SAMPLE)
        late["metadata"]["name"] = f"{name}-late"
        cluster.put(IDS, late)
        await eventually(phase_is(cluster, f"{name}-late", "Generating"), timeout=WAIT)
        assert [
            job
            for job in cluster.items("batch/v1/jobs")
            if job["metadata"]["labels"].get(LABEL_DATASET) == f"{name}-late"
        ], "the survivor created the new dataset's driver Job"
        assert phase_is(cluster, name, "Generating")(), "the first dataset keeps its phase"
        assert other.alive(), other.output()
    finally:
        playing.cancel()
    counts = {plural: len(cluster.items(path)) for plural, path in CHILDREN.items()}
    assert creates(cluster) == counts, "each child created once, by one replica"
    assert len(cluster.items("batch/v1/jobs")) == 2, "one driver Job per dataset"
    assert not (cluster.k.authorizer and cluster.k.authorizer.denied), "RBAC refusals"
