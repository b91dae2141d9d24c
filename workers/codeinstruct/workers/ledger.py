"""The per-stage ledger: which shards are committed, with record counts and content hashes.

A shard is done when its data object and then its small completion marker are written; a
restart redoes only shards without a marker. Layout under a run prefix:

    stages/<stage>/shard-00000.jsonl        records kept by the stage
    stages/<stage>/_done/00000.json         marker: counts, sha256 of the data, stage stats
    stages/<stage>/_complete.json           the stage finished: number of shards, totals, and
                                            a copy of every marker
    excluded/<stage>/shard-00000.jsonl      dropped records with `drop_reason` (optional)
    executions/<stage>/shard-00000.jsonl    every executed sample (`output.keepExecutions`)

Reading the ledger costs few requests: a completed stage is one object (`_complete.json` holds
its markers); a stage in progress is one listing plus each marker not yet known to this process,
fetched concurrently. Markers this process wrote or read are remembered (one runner per prefix:
the run lease).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from codeinstruct.workers.records import Record, decode_jsonl, encode_jsonl
from codeinstruct.workers.store import Store, StoreError


class LedgerError(StoreError):
    """The ledger does not hold what its markers say: a shard changed, lost or never committed."""


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


MARKER_READERS = 8


class Ledger:
    def __init__(self, store: Store, run_prefix: str) -> None:
        self.store = store
        self.prefix = run_prefix.strip("/")
        self._markers: dict[str, dict[int, dict[str, Any]]] = {}
        self._completions: dict[str, dict[str, Any]] = {}

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
        self._markers.setdefault(stage, {})[index] = marker

    def done(self, stage: str) -> dict[int, dict[str, Any]]:
        """Markers of the committed shards of a stage, by shard index."""
        completion = self._completions.get(stage)  # known complete: its summary has them
        if completion is not None and "markers" in completion:
            return {int(m["shard"]): m for m in completion["markers"]}
        known = self._markers.setdefault(stage, {})
        keys = self.store.list(self.key("stages", stage, "_done") + "/")
        unknown = [k for k in keys if _marker_index(k) not in known]
        with ThreadPoolExecutor(MARKER_READERS) as pool:
            for marker in pool.map(lambda key: json.loads(self.store.get(key)), unknown):
                known[int(marker["shard"])] = marker
        listed = {_marker_index(k) for k in keys}
        return {i: m for i, m in sorted(known.items()) if i in listed}

    def read(self, stage: str, index: int) -> list[Record]:
        """The records of a committed shard, checked against the sha256 in its marker."""
        shard = self._shard(stage, index)
        marker = self._committed_marker(stage, index)
        if marker is None:
            raise LedgerError(
                f"stage {stage!r} shard {index} is not committed (no marker "
                f"{self._marker(stage, index)}); delete {self.key('stages', stage)}/ to redo "
                "the stage"
            )
        try:
            data = self.store.get(shard)
        except KeyError:
            raise LedgerError(
                f"stage {stage!r}: {shard} is missing although its marker says it was committed; "
                f"delete {self._marker(stage, index)} and {self.key('stages', stage)}/"
                "_complete.json to redo it"
            ) from None
        if hashlib.sha256(data).hexdigest() != marker["sha256"]:
            raise LedgerError(
                f"stage {stage!r}: {shard} does not match the sha256 in its marker (it changed "
                f"after it was committed); delete {self._marker(stage, index)} and "
                f"{self.key('stages', stage)}/_complete.json to redo it"
            )
        return decode_jsonl(data)

    def _committed_marker(self, stage: str, index: int) -> dict[str, Any] | None:
        """The marker of a shard: the one this process committed or read (no request: a stage
        reads its upstream's shards while the upstream still runs), else from the stage's
        summary when it holds the markers, else its own object (None when there is none)."""
        known = self._markers.get(stage, {}).get(index)  # written or read by this process
        if known is not None:
            return known
        completion = self.completion(stage)
        if completion is not None and "markers" in completion:
            return {int(m["shard"]): m for m in completion["markers"]}.get(index)
        try:
            marker: dict[str, Any] = json.loads(self.store.get(self._marker(stage, index)))
        except KeyError:
            return None
        return marker

    def read_stage(self, stage: str) -> Iterator[Record]:
        for index in range(self.shard_count(stage)):
            yield from self.read(stage, index)

    def complete(self, stage: str, shards: int, stats: StageStats) -> None:
        markers = list(self.done(stage).values())
        summary = {"shards": shards, "stats": stats.to_json(), "markers": markers}
        self.store.put(self.key("stages", stage, "_complete.json"), json.dumps(summary).encode())
        self._completions[stage] = summary

    def completion(self, stage: str) -> dict[str, Any] | None:
        if stage in self._completions:
            return self._completions[stage]
        try:
            summary = json.loads(self.store.get(self.key("stages", stage, "_complete.json")))
        except KeyError:
            return None
        self._completions[stage] = summary
        return summary

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


def _marker_index(key: str) -> int:
    """The shard index of a marker key (`.../_done/00012.json` -> 12)."""
    return int(key.rsplit("/", 1)[-1].split(".", 1)[0])
