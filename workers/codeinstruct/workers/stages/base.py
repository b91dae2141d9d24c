"""The stage contract.

A stage turns the records of the previous stage into its own, one shard at a time (or, for a
stage with `whole = True`, all records at once: dedup, selection). Each output is either a record
to keep or a `Drop` with a short reason; the runner counts drops by reason, keeps dropped records
under `excluded/`, and commits shards through the ledger. Stages do no storage I/O of their own.
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
    from codeinstruct.workers.spec import Spec


@dataclass(frozen=True)
class Drop:
    record: Record
    reason: str


Output = Record | Drop


@dataclass
class StageContext:
    spec: Spec
    services: Services
    stats: StageStats = field(default_factory=StageStats)
    advance: Callable[[int], None] = lambda n: None

    def rng(self, *parts: str) -> random.Random:
        """A random generator seeded from the spec seed and the given parts (e.g. a record id)."""
        return random.Random(content_id(str(self.spec.seed), *parts))

    def count(self, counter: str, n: int = 1) -> None:
        self.stats.counters[counter] += n


class StageKind(StrEnum):
    """What kind of work a stage is; the operator reports its phase from this, never from names."""

    PREPARE = "prepare"  # reads, filters, deduplicates: CPU only, no LLM, no sandbox
    GENERATE = "generate"  # asks the LLM (generation, and LLM-scored complexity)
    EXECUTE = "execute"  # runs code in the sandbox
    SCORE = "score"  # embeds, selects, measures leakage, cuts to size: CPU or Ray


class Stage(ABC):
    name: ClassVar[str]
    kind: ClassVar[StageKind]
    whole: ClassVar[bool] = False

    @abstractmethod
    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        """Yield a record or a `Drop` for the given input records."""


class SourceStage(Stage):
    """The first stage: reads partitions of the source instead of a previous stage."""

    @abstractmethod
    def partitions(self, ctx: StageContext) -> list[Any]:
        """JSON-able descriptions of the source's parts, in a deterministic order."""

    @abstractmethod
    def read(self, partition: Any, ctx: StageContext) -> Iterator[Output]:
        """Yield the records (or drops) of one partition."""

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        raise TypeError("a source stage reads partitions, not records")


class FilterStage(Stage):
    """A stage that keeps or drops each record on its own."""

    @abstractmethod
    def check(self, record: Record, ctx: StageContext) -> str | None:
        """The drop reason, or None to keep the record."""

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        for record in records:
            reason = self.check(record, ctx)
            yield record if reason is None else Drop(record, reason)
