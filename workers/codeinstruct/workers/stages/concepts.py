"""SelfCodeAlign S->C: the programming concepts a seed function exercises."""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.llm import InfraFailure, LLMClient
from codeinstruct.workers.prompts import selfcodealign as prompts
from codeinstruct.workers.records import Record, derive
from codeinstruct.workers.stages.base import Drop, Output, Stage, StageContext
from codeinstruct.workers.stages.generation import (
    account,
    failure_drop,
    first_text,
    request_seed,
    run_concurrently,
    sampling,
)

SHOTS = 2
MAX_TOKENS = 96


class ExtractConcepts(Stage):
    name = "concepts"

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        async def work(record: Record, client: LLMClient) -> list[Output]:
            shots = prompts.pick_examples(ctx.rng(record["id"], self.name), SHOTS)
            result = await client.chat(
                prompts.format_concepts(record["seed"], shots),
                **sampling(
                    ctx.spec, max_tokens=min(MAX_TOKENS, ctx.spec.generator.sampling.max_tokens)
                ),
                stop=["</concepts>"],
                seed=request_seed(ctx, record["id"], self.name),
            )
            account(ctx, result)
            if isinstance(result, InfraFailure):
                return [failure_drop(record, result)]
            parsed = prompts.parse_concepts(first_text(result))
            if isinstance(parsed, prompts.Failure):
                return [Drop({**record, "llm_output": first_text(result)}, parsed.reason)]
            return [derive(record, self.name, "", concepts=parsed)]

        return run_concurrently(self.name, records, ctx, work)
