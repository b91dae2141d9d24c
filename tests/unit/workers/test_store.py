from __future__ import annotations

from pathlib import Path

from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.store import LocalStore
from tests.helpers.stores import exercise


def test_local_store(tmp_path: Path) -> None:
    exercise(LocalStore(tmp_path))
    assert not [p for p in tmp_path.rglob("*.tmp")], "no temporary files left behind"


def test_ledger_counts_only_committed_shards(tmp_path: Path) -> None:
    ledger = Ledger(LocalStore(tmp_path), "run-1")
    stats = StageStats(records_in=3, records_out=2)
    stats.dropped["too_long"] = 1
    ledger.commit("seeds", 0, [{"id": "a"}, {"id": "b"}], stats, [{"id": "c", "drop_reason": "x"}])
    # A data object without its marker (a crash between the two writes) does not count.
    ledger.store.put(ledger.key("stages", "seeds", "shard-00001.jsonl"), b'{"id": "z"}\n')
    done = ledger.done("seeds")
    assert list(done) == [0] and done[0]["records"] == 2
    assert ledger.stats("seeds").dropped == {"too_long": 1}
    ledger.complete("seeds", 1, ledger.stats("seeds"))
    assert [r["id"] for r in ledger.read_stage("seeds")] == ["a", "b"]
    assert ledger.store.exists("run-1/excluded/seeds/shard-00000.jsonl")
