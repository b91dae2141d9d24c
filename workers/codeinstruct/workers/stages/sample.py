"""Keep at most N records, chosen by a shuffle seeded from the spec seed (the same records on
every run, whatever the input order); the others are dropped with a reason."""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput


class TakeSample(Stage):
    """Keeps `size` records drawn by a seeded shuffle.

    Input fields: (none)
    Output fields: (none)
    Drop reasons: the configured reason (over_seed_budget, over_target_size)
    """

    kind = StageKind.SCORE
    whole = True

    def __init__(self, name: str, size: int, reason: str) -> None:
        self.name = name
        self.size = size
        self.reason = reason

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        limit = self.size
        order = sorted(range(len(records)), key=lambda i: str(records[i]["id"]))
        ctx.rng(self.name).shuffle(order)
        kept = set(order[:limit])
        for index, record in enumerate(records):
            ctx.advance(1)
            yield record if index in kept else Drop(record, self.reason)


def seed_budget(spec: Spec) -> int:
    return spec.mining.max_seeds or 4 * spec.target_size


def target_sample(spec: Spec) -> TakeSample:
    """The last stage of a method: at most `targetSize` records."""
    return TakeSample("target_size", spec.target_size, "over_target_size")
