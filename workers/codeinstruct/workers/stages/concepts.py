"""SelfCodeAlign S->C: the programming concepts a seed function exercises."""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.llm import LLMClient
from codeinstruct.workers.prompts import selfcodealign as prompts
from codeinstruct.workers.records import Record, derive
from codeinstruct.workers.stages.base import Drop, Output, Stage, StageContext, StageKind
from codeinstruct.workers.stages.generation import (
    ask,
    request_seed,
    run_concurrently,
    sampling,
)

MAX_TOKENS = 96


class ExtractConcepts(Stage):
    kind = StageKind.GENERATE
    name = "concepts"

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        async def work(record: Record, client: LLMClient) -> list[Output]:
            shots = prompts.pick_examples(
                ctx.rng(record["id"], self.name), ctx.spec.selfcodealign.concept_shots
            )
            parsed = await ask(
                ctx,
                client,
                record,
                prompts.format_concepts(record["seed"], shots),
                prompts.parse_concepts,
                **sampling(
                    ctx.spec, max_tokens=min(MAX_TOKENS, ctx.spec.generator.sampling.max_tokens)
                ),
                stop=["</concepts>"],
                seed=request_seed(ctx, record["id"], self.name),
            )
            if isinstance(parsed, Drop):
                return [parsed]
            return [derive(record, self.name, "", concepts=parsed)]

        return run_concurrently(self.name, records, ctx, work)
