"""XCoder complexity: the expected value over the next-token probabilities of the digits 1-6
after a fixed scoring prompt (weights 0-5, so scores lie in [0, 5])."""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.llm import InfraFailure, LLMClient
from codeinstruct.workers.llm.logprobs import expected_digit_score
from codeinstruct.workers.prompts import xcoder as prompts
from codeinstruct.workers.records import Record
from codeinstruct.workers.stages.base import Drop, Output, Stage, StageContext, StageKind
from codeinstruct.workers.stages.generation import account, failure_drop, run_concurrently


class ScoreComplexity(Stage):
    kind = StageKind.GENERATE
    name = "complexity"

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        async def work(record: Record, client: LLMClient) -> list[Output]:
            result = await client.complete(
                prompts.format_complexity(record["instruction"]),
                max_tokens=prompts.COMPLEXITY_MAX_TOKENS,
                temperature=0.0,
                logprobs=prompts.COMPLEXITY_TOP_LOGPROBS,
            )
            account(ctx, result)
            if isinstance(result, InfraFailure):
                return [failure_drop(record, result)]
            score = expected_digit_score(result.logprobs[0] if result.logprobs else None)
            if score is None:
                return [Drop(record, "complexity_no_digit_logprobs")]
            return [{**record, "complexity": round(score, 6)}]

        return run_concurrently(self.name, records, ctx, work)
