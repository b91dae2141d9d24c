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
from codeinstruct.workers.stages.base import Drop, Output, Stage, StageContext, StageKind


class Coreset(Stage):
    kind = StageKind.SCORE
    name = "coreset"
    whole = True

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        spec = ctx.spec
        size = spec.wavecoder.coreset_size or spec.target_size
        if not records:
            return
        vectors = load_vectors(ctx.services.ledger.store, records)
        first = ctx.rng("coreset", "first").randrange(len(records))
        if spec.scoring.engine.value == "ray":
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
            "engine": spec.scoring.engine.value,
            "embedding_model": spec.scoring.embedding_model,
        }
        ledger = ctx.services.ledger
        ledger.store.put(ledger.key("reports", "coreset.json"), json.dumps(report).encode())
        for index in chosen:
            yield {**records[index], "coreset_rank": rank[index]}
        for index, record in enumerate(records):
            ctx.advance(1)
            if index not in rank:
                yield Drop(record, "not_in_coreset")
