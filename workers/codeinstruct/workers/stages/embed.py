"""Embeds each record's text (sentence-transformers; Ray actors with `scoring.engine: ray`).

With `apart=True` each field is embedded on its own and the unit vectors are averaged: a text
longer than the model's window (all-MiniLM-L6-v2 reads 256 word pieces) is cut, so joined, a
long instruction would leave its response out of the vector.

Vectors are cached in the run's storage by the content hash of the shard's texts; each record
gets an `embedding_ref` ({key, row}) that the whole stages (coreset, selection) load from.
"""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.embeddings import (
    embedder_for,
    encode_npy,
    mean_of_parts,
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

    def __init__(
        self, fields: tuple[str, ...], model: str, name: str = "embed", apart: bool = False
    ) -> None:
        self.name = name
        self.fields = fields
        self.model = model
        self.inputs = fields
        self.apart = apart and len(fields) > 1

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        if not records:
            return
        ledger = ctx.services.ledger
        tag = model_tag(self.model)
        parts = [(f,) for f in self.fields] if self.apart else [self.fields]
        texts = [[record_text(r, fields) for r in records] for fields in parts]
        hashes = [content_id(tag, *(t[i] for t in texts)) for i in range(len(records))]
        digest = content_id("apart", *hashes) if self.apart else content_id(*hashes)
        key = ledger.key("embeddings", tag, f"{digest}.npy")
        if ledger.store.exists(key):
            ctx.count("embeddings_cached", len(records))
        else:
            embedder = embedder_for(ctx.services)
            encoded = [embedder.encode(t) for t in texts]
            vectors = mean_of_parts(encoded) if self.apart else encoded[0]
            ledger.store.put(key, encode_npy(vectors))
            ctx.count("embeddings_computed", len(records))
        for row, record in enumerate(records):
            ctx.advance(1)
            yield {**record, "embedding_ref": {"key": key, "row": row}}
