"""A Kueue stand-in for the emulated cluster: one ClusterQueue with a GPU quota behind every
LocalQueue (Kueue's batch/job, ray.io/rayjob and deployment integrations).

As strict as Kueue, or stricter:
- workloads carrying `kueue.x-k8s.io/queue-name` are admitted in creation order, and only while
  their GPU requests fit what is left of the quota; nothing else is admitted ahead of them;
- a queued Job or RayJob that runs (`suspend: false`) before it was admitted is a violation
  (Kueue's webhook would have suspended it; here it is recorded, and the test fails on it);
- admission unsuspends a Job or RayJob; a queued Deployment's pods stay `SchedulingGated`
  (PodScheduled=False, which is not Unschedulable) with no available replica until admitted;
- quota comes back when the workload's object is deleted or its Deployment scaled to 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.helpers.kube_cluster import FakeCluster

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GPU = "nvidia.com/gpu"
QUEUED = ("apps/v1/deployments", "batch/v1/jobs", "ray.io/v1/rayjobs")


def gpus(resource: str, obj: dict[str, Any]) -> int:
    if resource != "apps/v1/deployments":
        return 0
    replicas = int(obj["spec"].get("replicas", 1))
    containers = obj["spec"]["template"]["spec"]["containers"]
    per_pod = sum(
        int((c.get("resources") or {}).get("requests", {}).get(GPU, 0)) for c in containers
    )
    return replicas * per_pod


@dataclass
class FakeKueue:
    cluster: FakeCluster
    gpu_quota: int
    admitted: dict[str, int] = field(default_factory=dict)  # workload uid -> GPUs held
    order: list[str] = field(default_factory=list)  # uids in the order Kueue first saw them
    violations: list[str] = field(default_factory=list)

    def workloads(self) -> list[tuple[str, dict[str, Any]]]:
        found = [
            (resource, obj)
            for resource in QUEUED
            for obj in self.cluster.items(resource)
            if (obj["metadata"].get("labels") or {}).get(QUEUE_LABEL)
        ]
        for _, obj in found:
            if obj["metadata"]["uid"] not in self.order:
                self.order.append(obj["metadata"]["uid"])
        return sorted(found, key=lambda item: self.order.index(item[1]["metadata"]["uid"]))

    def play(self) -> None:
        workloads = self.workloads()
        live = {obj["metadata"]["uid"] for _, obj in workloads}
        for uid in [u for u in self.admitted if u not in live]:
            del self.admitted[uid]  # deleted: its quota comes back
        for resource, obj in workloads:
            uid = obj["metadata"]["uid"]
            need = gpus(resource, obj)
            if uid in self.admitted:
                self.admitted[uid] = need
                continue
            if resource != "apps/v1/deployments" and not obj["spec"].get("suspend"):
                self.violations.append(f"{obj['kind']} {obj['metadata']['name']} ran unadmitted")
            free = self.gpu_quota - sum(self.admitted.values())
            if need <= free:
                self.admit(resource, obj, need)
            elif resource == "apps/v1/deployments":
                self.gate(obj)
            else:
                break  # strict FIFO: nothing overtakes a waiting workload

    def admit(self, resource: str, obj: dict[str, Any], need: int) -> None:
        meta = obj["metadata"]
        self.admitted[meta["uid"]] = need
        if resource == "apps/v1/deployments":
            self.cluster.patch(
                resource, meta["namespace"], meta["name"], {"status": {"unschedulable": False}}
            )
            pod = self.cluster.get("v1/pods", meta["namespace"], f"{meta['name']}-gated")
            if pod is not None:
                self.cluster.remove("v1/pods", meta["namespace"], f"{meta['name']}-gated")
        else:
            self.cluster.patch(
                resource, meta["namespace"], meta["name"], {"spec": {"suspend": False}}
            )

    def gate(self, deployment: dict[str, Any]) -> None:
        meta = deployment["metadata"]
        status = {"unschedulable": True, "replicas": 0, "availableReplicas": 0}
        self.cluster.patch(
            "apps/v1/deployments", meta["namespace"], meta["name"], {"status": status}
        )
        name = f"{meta['name']}-gated"
        if self.cluster.get("v1/pods", meta["namespace"], name) is None:
            condition = {
                "type": "PodScheduled",
                "status": "False",
                "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
            }
            self.cluster.put(
                "v1/pods",
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": name,
                        "namespace": meta["namespace"],
                        "labels": deployment["spec"]["template"]["metadata"]["labels"],
                    },
                    "spec": {"schedulingGates": [{"name": "kueue.x-k8s.io/admission"}]},
                    "status": {"phase": "Pending", "conditions": [condition]},
                },
            )
