"""The operator's view of a run: per-stage counts from the ledger, the exported dataset."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from codeinstruct.operator.ledger_view import read_ledger
from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.runner import run_prefix
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset


def test_counts_running_and_complete_stages(tmp_path: Path) -> None:
    dataset = make_dataset(output={"uri": str(tmp_path)})
    ledger = Ledger(LocalStore(tmp_path), run_prefix(dataset))
    for shard in range(3):
        stats = StageStats(records_in=10, records_out=8)
        stats.dropped["syntax_error"] = 2
        ledger.commit("seeds", shard, [{"id": str(i)} for i in range(8)], stats)
    ledger.complete("seeds", 3, ledger.stats("seeds"))
    ledger.commit("seed_decontam", 0, [{"id": "a"}], StageStats(records_in=8, records_out=1))
    view = read_ledger(dataset, ["seeds", "seed_decontam", "seed_dedup"])
    seeds, decontam, dedup = view.stages
    assert (seeds.shards, seeds.records_in, seeds.records_out, seeds.dropped) == (3, 30, 24, 6)
    assert seeds.complete and not decontam.complete
    assert (decontam.shards, decontam.records_out) == (1, 1)
    assert dedup.shards == 0 and not view.exported
    assert view.output_uri == str(tmp_path / run_prefix(dataset) / "dataset")
    ledger.store.put(ledger.key("dataset", "README.md"), b"---\n---\n")
    assert read_ledger(dataset, None).exported


def test_unknown_plan_lists_stages_found_in_storage(tmp_path: Path) -> None:
    dataset = make_dataset(output={"uri": str(tmp_path)})
    ledger = Ledger(LocalStore(tmp_path), run_prefix(dataset))
    ledger.commit("pool", 0, [{"id": "x"}], StageStats(records_in=1, records_out=1))
    assert [s.name for s in read_ledger(dataset, None).stages] == ["pool"]


def test_the_operator_never_creates_a_bucket(s3_env: dict[str, str]) -> None:
    """Audit #11: reading a ledger must not create the bucket a dataset names."""
    import pytest

    from codeinstruct.workers.store import StoreError

    name = f"nobucket-{uuid.uuid4().hex[:8]}"
    dataset = make_dataset(output={"uri": f"s3://{name}/datasets"})
    with pytest.raises(StoreError, match="does not exist"):
        read_ledger(dataset, None)
    from minio import Minio

    endpoint = s3_env["S3_ENDPOINT_URL"].removeprefix("http://")
    client = Minio(endpoint, "testing", "testing-secret", secure=False)
    assert not client.bucket_exists(name)


class CountingStore(LocalStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.calls: list[str] = []

    def list(self, prefix: str) -> list[str]:
        self.calls.append("list")
        return super().list(prefix)

    def get(self, key: str) -> bytes:
        self.calls.append("get")
        return super().get(key)

    def exists(self, key: str) -> bool:
        self.calls.append("exists")
        return super().exists(key)


def test_a_tick_costs_one_listing_and_reads_only_new_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API load (issue 11): per tick O(changes) storage reads, not O(stages)."""
    from codeinstruct.operator import ledger_view

    store = CountingStore(tmp_path)
    monkeypatch.setattr(ledger_view, "ledger_store", lambda uri: store)
    reader = ledger_view.LedgerReader()
    dataset = make_dataset(output={"uri": str(tmp_path)})
    names = ["seeds", "seed_decontam", "seed_dedup", "responses", "tests", "selection"]
    ledger = Ledger(LocalStore(tmp_path), run_prefix(dataset))
    for shard in range(4):
        ledger.commit("seeds", shard, [{"id": "a"}], StageStats(records_in=2, records_out=1))
    ledger.complete("seeds", 4, ledger.stats("seeds"))
    ledger.commit("seed_decontam", 0, [{"id": "a"}], StageStats(records_in=1, records_out=1))
    first = reader.read(dataset, names)
    assert store.calls.count("list") == 1 and store.calls.count("get") == 2
    store.calls.clear()
    again = reader.read(dataset, names)
    assert store.calls == ["list"], "nothing new: one listing, no reads"
    assert again == first
    ledger.commit("seed_decontam", 1, [{"id": "b"}], StageStats(records_in=3, records_out=2))
    store.calls.clear()
    view = reader.read(dataset, names)
    assert store.calls == ["list", "get"], "only the new marker is read"
    decontam = view.stages[1]
    assert (decontam.shards, decontam.records_in, decontam.records_out) == (2, 4, 3)
    # A stage deleted to be redone is forgotten with its keys.
    for key in LocalStore(tmp_path).list(ledger.key("stages", "seed_decontam") + "/"):
        LocalStore(tmp_path).delete(key)
    assert reader.read(dataset, names).stages[1].shards == 0
