"""WaveCoder's coreset: KCenterGreedy over the embeddings keeps the most diverse records.

The records written are the ones actually selected (in selection order, with `coreset_rank`);
the others are dropped with reason `not_in_coreset`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from codeinstruct.workers.coreset import kcenter_greedy, kcenter_greedy_ray
from codeinstruct.workers.embeddings import load_vectors
from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import Scoring
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput


class Coreset(Stage):
    """Keeps the `size` most diverse records (KCenterGreedy), in selection order; writes
    `reports/coreset.json`.

    Input fields: embedding_ref
    Output fields: coreset_rank
    Drop reasons: not_in_coreset
    """

    kind = StageKind.SCORE
    name = "coreset"
    whole = True
    inputs = ("embedding_ref",)
    outputs = ("coreset_rank",)

    def __init__(self, size: int, scoring: Scoring) -> None:
        self.size = size
        self.scoring = scoring

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        size = self.size
        if not records:
            return
        vectors = load_vectors(ctx.services.ledger.store, records)
        first = ctx.rng("coreset", "first").randrange(len(records))
        if self.scoring.engine.value == "ray":
            from codeinstruct.workers.ray_session import ray_for, ray_workers

            chosen = kcenter_greedy_ray(
                ray_for(ctx.services), vectors, size, first, ray_workers(ctx.services)
            )
        else:
            chosen = kcenter_greedy(vectors, size, first)
        ctx.count("coreset_size", len(chosen))
        rank = {index: position for position, index in enumerate(chosen)}
        report = {
            "algorithm": "kcenter_greedy (euclidean)",
            "candidates": len(records),
            "requested": size,
            "selected": len(chosen),
            "first_center": records[first]["id"],
            "engine": self.scoring.engine.value,
            "embedding_model": self.scoring.embedding_model,
        }
        ledger = ctx.services.ledger
        ledger.store.put(ledger.key("reports", "coreset.json"), json.dumps(report).encode())
        for index in chosen:
            yield {**records[index], "coreset_rank": rank[index]}
        for index, record in enumerate(records):
            ctx.advance(1)
            if index not in rank:
                yield Drop(record, "not_in_coreset")
