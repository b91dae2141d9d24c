"""The per-stage ledger: which shards are committed, with record counts and content hashes.

A shard is done when its data object and then its small completion marker are written; a
restart redoes only shards without a marker. Layout under a run prefix:

    stages/<stage>/shard-00000.jsonl        records kept by the stage
    stages/<stage>/_done/00000.json         marker: counts, sha256 of the data, stage stats
    stages/<stage>/_complete.json           the stage finished: number of shards, totals
    excluded/<stage>/shard-00000.jsonl      dropped records with `drop_reason` (optional)
    executions/<stage>/shard-00000.jsonl    every executed sample (`output.keepExecutions`)
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from codeinstruct.workers.records import Record, decode_jsonl, encode_jsonl
from codeinstruct.workers.store import Store


@dataclass
class StageStats:
    """What a stage did: records in and out, drops by reason, and free-form counters."""

    records_in: int = 0
    records_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def merge(self, other: StageStats) -> None:
        self.records_in += other.records_in
        self.records_out += other.records_out
        self.dropped.update(other.dropped)
        self.counters.update(other.counters)
        self.seconds += other.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "dropped": dict(sorted(self.dropped.items())),
            "counters": dict(sorted(self.counters.items())),
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageStats:
        return cls(
            records_in=data["records_in"],
            records_out=data["records_out"],
            dropped=Counter(data.get("dropped", {})),
            counters=Counter(data.get("counters", {})),
            seconds=data.get("seconds", 0.0),
        )


class Ledger:
    def __init__(self, store: Store, run_prefix: str) -> None:
        self.store = store
        self.prefix = run_prefix.strip("/")

    def key(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts))

    def _shard(self, stage: str, index: int) -> str:
        return self.key("stages", stage, f"shard-{index:05d}.jsonl")

    def _marker(self, stage: str, index: int) -> str:
        return self.key("stages", stage, "_done", f"{index:05d}.json")

    def commit(
        self,
        stage: str,
        index: int,
        records: list[Record],
        stats: StageStats,
        excluded: list[Record] | None = None,
    ) -> None:
        """Write a shard, its excluded records, then its marker (the marker makes it count)."""
        data = encode_jsonl(records)
        self.store.put(self._shard(stage, index), data)
        if excluded:
            name = f"shard-{index:05d}.jsonl"
            self.store.put(self.key("excluded", stage, name), encode_jsonl(excluded))
        marker = {
            "shard": index,
            "records": len(records),
            "sha256": hashlib.sha256(data).hexdigest(),
            "stats": stats.to_json(),
        }
        self.store.put(self._marker(stage, index), json.dumps(marker, sort_keys=True).encode())

    def done(self, stage: str) -> dict[int, dict[str, Any]]:
        """Markers of the committed shards of a stage, by shard index."""
        markers: dict[int, dict[str, Any]] = {}
        for key in self.store.list(self.key("stages", stage, "_done") + "/"):
            marker = json.loads(self.store.get(key))
            markers[marker["shard"]] = marker
        return markers

    def read(self, stage: str, index: int) -> list[Record]:
        return decode_jsonl(self.store.get(self._shard(stage, index)))

    def read_stage(self, stage: str) -> Iterator[Record]:
        for index in range(self.shard_count(stage)):
            yield from self.read(stage, index)

    def complete(self, stage: str, shards: int, stats: StageStats) -> None:
        summary = {"shards": shards, "stats": stats.to_json()}
        self.store.put(self.key("stages", stage, "_complete.json"), json.dumps(summary).encode())

    def completion(self, stage: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.store.get(self.key("stages", stage, "_complete.json")))
        except KeyError:
            return None

    def shard_count(self, stage: str) -> int:
        completion = self.completion(stage)
        if completion is None:
            raise RuntimeError(f"stage {stage!r} has not completed")
        return int(completion["shards"])

    def stats(self, stage: str) -> StageStats:
        total = StageStats()
        for marker in self.done(stage).values():
            total.merge(StageStats.from_json(marker["stats"]))
        return total
