"""Near-duplicate removal with MinHash LSH (the first record of each cluster is kept)."""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.minhash import near_duplicates
from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import Dedup
from codeinstruct.workers.stages.base import Drop, Output, Stage, StageContext, StageKind


class NearDedup(Stage):
    kind = StageKind.PREPARE
    whole = True

    def __init__(
        self, name: str, field: str, config: Dedup | None = None, reason: str = "near_duplicate"
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.field = field
        self.config = config  # None: the spec's `mining.dedup`
        self.reason = reason

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        dedup = self.config or ctx.spec.mining.dedup
        texts = [str(r.get(self.field, "")) for r in records]
        clusters = near_duplicates(
            texts, dedup.threshold, dedup.num_perm, dedup.shingle_size, dedup.tokenization
        )
        for index, record in enumerate(records):
            ctx.advance(1)
            if clusters[index] == index:
                yield record
            else:
                yield Drop({**record, "duplicate_of": records[clusters[index]]["id"]}, self.reason)
