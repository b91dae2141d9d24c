"""Near-duplicate removal with MinHash LSH (the first record of each cluster is kept)."""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.minhash import near_duplicates
from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import Dedup
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput


class NearDedup(Stage):
    """Keeps the first record of each cluster of near-duplicates of `field`.

    Input fields: (the configured field)
    Output fields: (none)
    Drop reasons: near_duplicate, or the configured reason (with `duplicate_of`)
    """

    kind = StageKind.PREPARE
    whole = True

    def __init__(self, name: str, field: str, dedup: Dedup, reason: str = "near_duplicate") -> None:
        self.name = name
        self.field = field
        self.dedup = dedup
        self.reason = reason
        self.inputs = (field,)

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        dedup = self.dedup
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
