"""The operator's view of a run: per-stage counts from the ledger, the exported dataset."""

from __future__ import annotations

import uuid
from pathlib import Path

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
