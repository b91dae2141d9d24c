"""The stage contract.

A stage turns the records of the previous stage into its own, one shard at a time (or, for a
stage with `whole = True`, all records at once: dedup, selection). Each output is either a record
to keep or a `Drop` with a short reason; the runner counts drops by reason, keeps dropped records
under `excluded/`, and commits shards through the ledger. Stages do no storage I/O of their own.

A stage gets its slice of the spec when the method builds its pipeline (`NearDedup("seed_dedup",
"seed", spec.mining.dedup)`); at run time it sees only a `StageContext`: the run's services, its
stats, a seeded random generator and a progress callback. It declares the record fields it needs
(`inputs`) and adds (`outputs`), so the runner can check a pipeline before it sends any request.
Its docstring lists them with its drop reasons, in the sections `Input fields:`, `Output
fields:` and `Drop reasons:` that the docs' stage table is generated from.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from codeinstruct.workers.ledger import StageStats
from codeinstruct.workers.records import Record, content_id

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services


@dataclass(frozen=True)
class Drop:
    """A record a stage does not keep, with the reason (counted, and kept under `excluded/`)."""

    record: Record
    reason: str


StageOutput = Record | Drop


@dataclass
class StageContext:
    """What a stage sees while it runs: services, stats, seeded randomness and progress."""

    services: Services
    seed: int
    stats: StageStats = field(default_factory=StageStats)
    advance: Callable[[int], None] = lambda n: None

    def rng(self, *parts: str) -> random.Random:
        """A random generator seeded from the spec seed and the given parts (e.g. a record id)."""
        return random.Random(content_id(str(self.seed), *parts))

    def count(self, counter: str, n: int = 1) -> None:
        self.stats.counters[counter] += n


class StageKind(StrEnum):
    """What kind of work a stage is; the operator reports its phase from this, never from names."""

    PREPARE = "prepare"  # reads, filters, deduplicates: CPU only, no LLM, no sandbox
    GENERATE = "generate"  # asks the LLM (generation, and LLM-scored complexity)
    EXECUTE = "execute"  # runs code in the sandbox
    SCORE = "score"  # embeds, selects, measures leakage, cuts to size: CPU or Ray


class Stage(ABC):
    """One step of a method's pipeline; `name` is its ledger folder (an instance attribute)."""

    name: str = ""
    kind: ClassVar[StageKind]
    whole: ClassVar[bool] = False
    # Record fields the stage reads (each produced by an earlier stage) and the ones it adds.
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    @abstractmethod
    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        """Yield a record or a `Drop` for the given input records."""

    def capacity(self, services: Services) -> int:
        """Records the stage's service works on at once (LLM slots, sandbox workers): the
        runner keeps enough shards in progress, from several threads, to fill it. 1: one shard
        at a time (a CPU stage)."""
        return 1


class SourceStage(Stage):
    """The first stage: reads partitions of the source instead of a previous stage."""

    @abstractmethod
    def partitions(self, ctx: StageContext) -> list[Any]:
        """JSON-able descriptions of the source's parts, in a deterministic order."""

    @abstractmethod
    def read(self, partition: Any, ctx: StageContext) -> Iterator[StageOutput]:
        """Yield the records (or drops) of one partition."""

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        raise TypeError("a source stage reads partitions, not records")


class FilterStage(Stage):
    """A stage that keeps or drops each record on its own."""

    @abstractmethod
    def check(self, record: Record) -> str | None:
        """The drop reason, or None to keep the record."""

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        for record in records:
            reason = self.check(record)
            yield record if reason is None else Drop(record, reason)


def missing_inputs(stages: list[Stage]) -> list[str]:
    """One line per stage input that no earlier stage outputs (records carry every field)."""
    produced: set[str] = {"id", "meta"}
    problems = []
    for stage in stages:
        missing = [name for name in stage.inputs if name not in produced]
        if missing:
            problems.append(f"stage {stage.name!r} needs {missing}, which no earlier stage adds")
        produced.update(stage.outputs)
    return problems
