from __future__ import annotations

from pathlib import Path

import pytest

from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.store import LocalStore, Store, StoreError, open_store
from tests.helpers.servers import free_port


def exercise(store: Store) -> None:
    store.put("run/a/one.json", b"1")
    store.put("run/a/two.json", b"2")
    store.put("run/b/three.json", b"3")
    store.put("run/a/one.json", b"uno")
    assert store.get("run/a/one.json") == b"uno"
    assert store.list("run/a/") == ["run/a/one.json", "run/a/two.json"]
    assert store.list("run/") == ["run/a/one.json", "run/a/two.json", "run/b/three.json"]
    assert store.exists("run/b/three.json") and not store.exists("run/b/nope")
    with pytest.raises(KeyError):
        store.get("run/missing")
    store.delete("run/a/two.json")
    assert store.list("run/a/") == ["run/a/one.json"]


def test_local_store(tmp_path: Path) -> None:
    exercise(LocalStore(tmp_path))
    assert not [p for p in tmp_path.rglob("*.tmp")], "no temporary files left behind"


def test_s3_store(s3_env: dict[str, str]) -> None:
    store = open_store("s3://codeinstruct-test/some/prefix")
    exercise(store)
    assert store.uri("k") == "s3://codeinstruct-test/some/prefix/k"


def test_unreachable_s3_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A port nothing listens on (port 9, the discard service, may be open on some hosts).
    monkeypatch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="storage unreachable"):
        open_store("s3://bucket/x")


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
