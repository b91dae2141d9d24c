"""The ledger reads back only what it committed: a shard whose bytes differ from the sha256 in
its marker, or whose data object or marker is gone, is refused with an error naming the shard."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.store import LocalStore, StoreError

SHARD = "run-1/stages/seeds/shard-00001.jsonl"
MARKER = "run-1/stages/seeds/_done/00001.json"


def committed(tmp_path: Path) -> Ledger:
    ledger = Ledger(LocalStore(tmp_path), "run-1")
    ledger.commit("seeds", 0, [{"id": "a"}], StageStats(records_in=1, records_out=1))
    ledger.commit("seeds", 1, [{"id": "b"}, {"id": "c"}], StageStats(records_in=2, records_out=2))
    ledger.complete("seeds", 2, ledger.stats("seeds"))
    return ledger


def test_the_marker_holds_the_sha256_of_the_bytes_written(tmp_path: Path) -> None:
    ledger = committed(tmp_path)
    marker = json.loads(ledger.store.get(MARKER))
    assert marker["sha256"] == hashlib.sha256(ledger.store.get(SHARD)).hexdigest()
    assert [r["id"] for r in ledger.read_stage("seeds")] == ["a", "b", "c"]


def test_a_tampered_shard_is_refused(tmp_path: Path) -> None:
    ledger = committed(tmp_path)
    # Still valid JSONL, one record fewer: only the checksum can tell.
    ledger.store.put(SHARD, b'{"id": "b"}\n')
    with pytest.raises(StoreError) as error:
        ledger.read("seeds", 1)
    message = str(error.value)
    assert "seeds" in message and "shard-00001.jsonl" in message and "sha256" in message
    with pytest.raises(StoreError, match="shard-00001"):
        list(ledger.read_stage("seeds"))
    assert [r["id"] for r in ledger.read("seeds", 0)] == ["a"], "the intact shard still reads"


def test_a_committed_shard_whose_data_is_gone_is_refused(tmp_path: Path) -> None:
    ledger = committed(tmp_path)
    ledger.store.delete(SHARD)
    with pytest.raises(StoreError, match=r"seeds.*shard-00001\.jsonl.*missing"):
        ledger.read("seeds", 1)


def test_a_shard_without_its_marker_is_refused(tmp_path: Path) -> None:
    """In a stage still in progress (a completed stage's summary holds every marker), a shard
    whose marker is gone was never committed, whatever data object lies there."""
    ledger = Ledger(LocalStore(tmp_path), "run-1")
    ledger.commit("seeds", 0, [{"id": "a"}], StageStats(records_in=1, records_out=1))
    ledger.commit("seeds", 1, [{"id": "b"}], StageStats(records_in=1, records_out=1))
    ledger.store.delete(MARKER)
    fresh = Ledger(LocalStore(tmp_path), "run-1")  # a rerun: nothing remembered in memory
    with pytest.raises(StoreError, match=r"seeds.*shard 1.*not committed"):
        fresh.read("seeds", 1)
    assert [r["id"] for r in fresh.read("seeds", 0)] == ["a"]


def test_markers_kept_in_the_stage_summary_are_checked_too(tmp_path: Path) -> None:
    # A summary that carries a copy of every marker (no marker object needs reading).
    ledger = committed(tmp_path)
    markers = [json.loads(ledger.store.get(MARKER.replace("00001", f"{i:05d}"))) for i in (0, 1)]
    summary = {
        **json.loads(ledger.store.get("run-1/stages/seeds/_complete.json")),
        "markers": markers,
    }
    ledger.store.put("run-1/stages/seeds/_complete.json", json.dumps(summary).encode())
    ledger.store.delete(MARKER)
    assert [r["id"] for r in ledger.read("seeds", 1)] == ["b", "c"]
    ledger.store.put(SHARD, b'{"id": "b"}\n')
    with pytest.raises(StoreError, match=r"shard-00001\.jsonl.*sha256"):
        ledger.read("seeds", 1)
