"""The dataset export holds one dataset file's records at a time, not the whole final stage
(peak memory stays flat as the dataset grows: bench/bench_memory.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codeinstruct.workers.export import export_dataset
from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.records import Record, decode_jsonl
from codeinstruct.workers.store import LocalStore
from tests.helpers.specs import make_dataset


def test_export_writes_each_file_before_reading_the_next_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = make_dataset(output={"uri": str(tmp_path), "shardSize": 4})
    store = LocalStore(tmp_path)
    ledger = Ledger(store, "run")
    for shard in range(5):
        records = [{"id": f"r{shard}-{i}", "instruction": "x"} for i in range(3)]
        ledger.commit("final", shard, records, StageStats(records_out=3))
    ledger.complete("final", 5, ledger.stats("final"))
    read = 0
    original = ledger.read_stage

    def counted(stage: str) -> Iterator[Record]:
        nonlocal read
        for record in original(stage):
            read += 1
            yield record

    writes: list[tuple[str, int]] = []
    put = store.put

    def noted(key: str, data: bytes) -> None:
        if "/dataset/data-" in key:
            writes.append((key.rsplit("/", 1)[-1], read))
        put(key, data)

    monkeypatch.setattr(ledger, "read_stage", counted)
    monkeypatch.setattr(store, "put", noted)
    _, total = export_dataset(dataset, ledger, "final", {})
    assert total == 15
    assert [name for name, _ in writes] == [f"data-{i:05d}-of-00004.jsonl" for i in range(4)]
    assert [seen for _, seen in writes] == [4, 8, 12, 15], "records read before each file"
    files = sorted((tmp_path / "run" / "dataset").glob("data-*.jsonl"))
    ids = [r["id"] for f in files for r in decode_jsonl(f.read_bytes())]
    assert ids == [f"r{s}-{i}" for s in range(5) for i in range(3)]
