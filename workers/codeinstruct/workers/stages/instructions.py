"""SelfCodeAlign C->I: a task from the concepts, with a sampled category and difficulty."""

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
MAX_TOKENS = 320


class WriteInstructions(Stage):
    name = "instructions"

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        async def work(record: Record, client: LLMClient) -> list[Output]:
            rng = ctx.rng(record["id"], self.name)
            category, difficulty = prompts.sample_task_kind(rng)
            shots = prompts.pick_examples(rng, SHOTS)
            result = await client.chat(
                prompts.format_instruction(record["concepts"], category, difficulty, shots),
                **sampling(
                    ctx.spec, max_tokens=min(MAX_TOKENS, ctx.spec.generator.sampling.max_tokens)
                ),
                stop=["</instruction>"],
                seed=request_seed(ctx, record["id"], self.name),
            )
            account(ctx, result)
            if isinstance(result, InfraFailure):
                return [failure_drop(record, result)]
            parsed = prompts.parse_instruction(first_text(result))
            if isinstance(parsed, prompts.Failure):
                return [Drop({**record, "llm_output": first_text(result)}, parsed.reason)]
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
