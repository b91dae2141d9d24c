"""Embeds each record's text (sentence-transformers; Ray actors with `scoring.engine: ray`).

Vectors are cached in the run's storage by the content hash of the shard's texts; each record
gets an `embedding_ref` ({key, row}) that the whole stages (coreset, selection) load from.
"""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.embeddings import (
    embedder_for,
    encode_npy,
    model_tag,
)
from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.stages.base import Stage, StageContext, StageKind, StageOutput


def record_text(record: Record, fields: tuple[str, ...]) -> str:
    return "\n".join(str(record[f]) for f in fields if record.get(f) is not None)


class Embed(Stage):
    """Adds a reference to the stored vector of each record's text (the configured fields).

    Input fields: (the configured fields)
    Output fields: embedding_ref
    Drop reasons: (none)
    """

    kind = StageKind.SCORE
    outputs = ("embedding_ref",)

    def __init__(self, fields: tuple[str, ...], model: str, name: str = "embed") -> None:
        self.name = name
        self.fields = fields
        self.model = model
        self.inputs = fields

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        if not records:
            return
        ledger = ctx.services.ledger
        tag = model_tag(self.model)
        texts = [record_text(r, self.fields) for r in records]
        hashes = [content_id(tag, t) for t in texts]
        key = ledger.key("embeddings", tag, f"{content_id(*hashes)}.npy")
        if ledger.store.exists(key):
            ctx.count("embeddings_cached", len(texts))
        else:
            vectors = embedder_for(ctx.services).encode(texts)
            ledger.store.put(key, encode_npy(vectors))
            ctx.count("embeddings_computed", len(texts))
        for row, record in enumerate(records):
            ctx.advance(1)
            yield {**record, "embedding_ref": {"key": key, "row": row}}
