"""The operator scenarios' shared pieces: the CRD samples, the test namespace with its Secrets,
Pod Security and RBAC, and the storage ledger written the way the driver Job would."""

import uuid
from pathlib import Path
from typing import Any

import yaml

from codeinstruct.operator.stages import stage_names
from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.runner import run_prefix
from codeinstruct.workers.spec import InstructionDataset, parse_spec
from codeinstruct.workers.store import open_store
from tests.helpers.kube_cluster import FakeCluster
from tests.helpers.paths import REPO

SAMPLES = sorted((REPO / "crds" / "samples").glob("instructiondataset.*.yaml"))
IDS = "codeinstruct.dev/v1alpha1/instructiondatasets"
NS = "data"


def load(path: Path) -> dict[str, Any]:
    """A sample in the test namespace, writing to a bucket of its own (tests share one S3)."""
    body = yaml.safe_load(path.read_text())
    body["metadata"]["namespace"] = NS
    body["spec"]["output"]["uri"] = f"s3://t-{uuid.uuid4().hex[:12]}/datasets"
    open_store(
        body["spec"]["output"]["uri"]
    )  # the user creates the bucket; the operator never does
    return body


def dataset_of(body: dict[str, Any]) -> InstructionDataset:
    return parse_spec({**body, "metadata": {"name": body["metadata"]["name"]}})


def plan_of(dataset: InstructionDataset) -> list[str]:
    names = stage_names(dataset.spec)
    assert names, "every method lists its stages"
    return names


def status(cluster: FakeCluster, name: str) -> dict[str, Any]:
    obj = cluster.get(IDS, NS, name) or {}
    return obj.get("status") or {}


def phase_is(cluster: FakeCluster, name: str, phase: str) -> Any:
    return lambda: status(cluster, name) if status(cluster, name).get("phase") == phase else None


def child(cluster: FakeCluster, resource: str, name: str) -> dict[str, Any] | None:
    return cluster.get(resource, NS, name)


def write_stage(dataset: InstructionDataset, stage: str, records: int) -> None:
    """Commit one shard and the stage's completion marker, as the runner does."""
    ledger = Ledger(open_store(dataset.spec.output.uri), run_prefix(dataset))
    rows = [{"id": f"{stage}-{i}", "instruction": "x", "response": "y"} for i in range(records)]
    stats = StageStats(records_in=records + 2, records_out=records)
    stats.dropped["too_long"] = 2
    stats.seconds = 1.5
    ledger.commit(stage, 0, rows, stats)
    ledger.complete(stage, 1, stats)


def write_card(dataset: InstructionDataset) -> None:
    ledger = Ledger(open_store(dataset.spec.output.uri), run_prefix(dataset))
    ledger.store.put(ledger.key("dataset", "data-00000-of-00001.jsonl"), b"{}\n")
    ledger.store.put(ledger.key("dataset", "README.md"), b"---\n---\n")


SECRETS = ("codeinstruct-s3", "hf-token", "llm-api-key")  # those the samples name
# The label docs/kubernetes.md tells users to put on a Secret a dataset may name (spelled out,
# not imported: the test checks the documented name).
LABELLED_SECRET = {"codeinstruct.dev/secret": "true"}


def setup_cluster(
    cluster: FakeCluster, runtime_class: bool = True, rayjob: bool = False, strict: bool = True
) -> None:
    """The test namespace enforcing Pod Security `restricted`, the Secrets the samples name
    (labelled for codeinstruct), and (strict) the chart's RBAC on every call the operator makes."""
    labels = {"pod-security.kubernetes.io/enforce": "restricted"} if strict else {}
    cluster.put(
        "v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": labels}},
    )
    for secret in SECRETS:
        cluster.put(
            "v1/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret, "namespace": NS, "labels": LABELLED_SECRET},
            },
        )
    if strict:
        cluster.enforce_rbac()
    if runtime_class:
        cluster.put(
            "node.k8s.io/v1/runtimeclasses",
            {
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": {"name": "gvisor"},
                "handler": "runsc",
            },
        )
    if rayjob:
        cluster.put(
            "apiextensions.k8s.io/v1/customresourcedefinitions",
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": "rayjobs.ray.io"},
                "spec": {
                    "group": "ray.io",
                    "scope": "Namespaced",
                    "names": {"kind": "RayJob", "plural": "rayjobs", "singular": "rayjob"},
                    "versions": [{"name": "v1", "served": True, "storage": True}],
                },
            },
        )
