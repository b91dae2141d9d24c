"""SelfCodeAlign C->I: a task from the concepts, with a sampled category and difficulty."""

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

MAX_TOKENS = 320


class WriteInstructions(Stage):
    kind = StageKind.GENERATE
    name = "instructions"

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        async def work(record: Record, client: LLMClient) -> list[Output]:
            rng = ctx.rng(record["id"], self.name)
            category, difficulty = prompts.sample_task_kind(rng)
            shots = prompts.pick_examples(rng, ctx.spec.selfcodealign.instruction_shots)
            parsed = await ask(
                ctx,
                client,
                record,
                prompts.format_instruction(record["concepts"], category, difficulty, shots),
                prompts.parse_instruction,
                **sampling(
                    ctx.spec, max_tokens=min(MAX_TOKENS, ctx.spec.generator.sampling.max_tokens)
                ),
                stop=["</instruction>"],
                seed=request_seed(ctx, record["id"], self.name),
            )
            if isinstance(parsed, Drop):
                return [parsed]
            return [
                derive(
                    record,
                    self.name,
                    "",
                    instruction=parsed,
                    category=category,
                    difficulty=difficulty,
                )
            ]

        return run_concurrently(self.name, records, ctx, work)
