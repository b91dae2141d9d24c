"""Reads a run's progress from the storage ledger (the only storage I/O of the operator)."""

from __future__ import annotations

from dataclasses import dataclass, field

from codeinstruct.operator.status import StageProgress
from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.runner import run_prefix
from codeinstruct.workers.spec import InstructionDataset
from codeinstruct.workers.store import open_store


@dataclass
class LedgerView:
    """Per-stage counts (in stage order) and the dataset URI once it is exported."""

    stages: list[StageProgress] = field(default_factory=list)
    output_uri: str = ""
    exported: bool = False


def read_ledger(dataset: InstructionDataset, names: list[str] | None) -> LedgerView:
    """Counts of each stage; raises StoreError (or any client error) when storage fails."""
    store = open_store(dataset.spec.output.uri)
    ledger = Ledger(store, run_prefix(dataset))
    known = list(names or [])
    for key in store.list(ledger.key("stages") + "/"):
        stage = key[len(ledger.key("stages")) + 1 :].split("/", 1)[0]
        if stage not in known:
            known.append(stage)
    stages = [_stage(ledger, name) for name in known]
    card = ledger.key("dataset", "README.md")
    return LedgerView(
        stages=stages, output_uri=store.uri(ledger.key("dataset")), exported=store.exists(card)
    )


def _stage(ledger: Ledger, name: str) -> StageProgress:
    """A complete stage costs one read (its summary); a running one reads its shard markers."""
    completion = ledger.completion(name)
    if completion is not None:
        stats = completion.get("stats", {})
        return StageProgress(
            name=name,
            shards=int(completion.get("shards", 0)),
            records_in=int(stats.get("records_in", 0)),
            records_out=int(stats.get("records_out", 0)),
            dropped=sum(int(n) for n in stats.get("dropped", {}).values()),
            complete=True,
            seconds=float(stats.get("seconds", 0.0)),
        )
    markers = ledger.done(name)
    records_in = records_out = dropped = 0
    for marker in markers.values():
        stats = marker.get("stats", {})
        records_in += int(stats.get("records_in", 0))
        records_out += int(stats.get("records_out", marker.get("records", 0)))
        dropped += sum(int(n) for n in stats.get("dropped", {}).values())
    return StageProgress(
        name=name,
        shards=len(markers),
        records_in=records_in,
        records_out=records_out,
        dropped=dropped,
    )
