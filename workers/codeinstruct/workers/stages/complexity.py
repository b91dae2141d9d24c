"""XCoder complexity: the expected value over the next-token probabilities of the digits 1-6
after a fixed scoring prompt (weights 0-5, so scores lie in [0, 5])."""

from __future__ import annotations

from typing import Any

from codeinstruct.workers.llm import Completion
from codeinstruct.workers.llm.logprobs import expected_digit_score
from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.prompts.xcoder import format as prompts
from codeinstruct.workers.records import Record
from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.stages.llm_stage import LLMStage, Prompt


class ScoreComplexity(LLMStage[float]):
    """A greedy completion of the scoring prompt, read through its digit-token logprobs; the
    record keeps its id and gains `complexity`.

    Input fields: instruction
    Output fields: complexity
    Drop reasons: complexity_no_digit_logprobs, llm_infra_error, llm_request_rejected
    """

    name = "complexity"
    role = "complexity"
    inputs = ("instruction",)
    outputs = ("complexity",)
    complete_answers = False  # three tokens by design: only the first one's logprobs count

    def format(self, record: Record, shots: list[Any]) -> Prompt:
        return prompts.format_complexity(record["instruction"])

    def parse(self, text: str) -> float | ParseFailure:
        # The score is the expectation over the digit logprobs; the text alone cannot give it.
        return ParseFailure("complexity_no_digit_logprobs")

    def params(self, record: Record, ctx: StageContext, *parts: str) -> dict[str, Any]:
        return {
            "max_tokens": prompts.COMPLEXITY_MAX_TOKENS,
            "temperature": 0.0,
            "logprobs": prompts.COMPLEXITY_TOP_LOGPROBS,
        }

    def parse_completion(self, result: Completion) -> float | ParseFailure:
        score = expected_digit_score(result.logprobs[0] if result.logprobs else None)
        return ParseFailure("complexity_no_digit_logprobs") if score is None else score

    def parse_drop(self, record: Record, result: Completion, failure: ParseFailure) -> Drop:
        return Drop(record, failure.reason)

    def emit(self, record: Record, parsed: float) -> Record:
        return {**record, "complexity": round(parsed, 6)}
