"""XCoder complexity: the expected value over the next-token probabilities of the digits 1-6
after a scoring prompt (weights 0-5, so a turn scores in [0, 5]).

`scoring.complexityPrompt: xcoder` sends the released XCoder-Complexity-Scorer's own input
template and, as its inference code does, scores 2.0 when the digit logprobs are missing;
`zero-shot` sends our rating prompt (for a general model) and drops such a row. A multi-turn
row is scored per user turn, each without its history, and the turn scores are summed (XCoder
§3.1); the turn scores are kept as `complexity_turns`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from codeinstruct.workers.llm import Completion, InfraFailure, LLMClient
from codeinstruct.workers.llm.logprobs import expected_digit_score, released_digit_score
from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.prompts.xcoder import format as prompts
from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import GeneratorApi, Sampling
from codeinstruct.workers.stages.base import Drop, StageContext, StageOutput
from codeinstruct.workers.stages.llm_stage import LLMStage, Prompt, account, failure_drop

ComplexityPrompt = Literal["xcoder", "zero-shot"]
NO_DIGITS = "complexity_no_digit_logprobs"


def user_turns(record: Record) -> list[str]:
    """The user turns of a chat row (`messages`), else the instruction alone."""
    messages = record.get("messages")
    if isinstance(messages, list):
        turns = [
            str(m.get("content", ""))
            for m in messages
            if isinstance(m, dict) and str(m.get("role", "")).lower() == "user"
        ]
        if turns:
            return turns
    return [str(record["instruction"])]


class ScoreComplexity(LLMStage[float]):
    """A greedy completion of the scoring prompt per user turn, read through its digit-token
    logprobs; the record keeps its id and gains `complexity` (the sum over its user turns).

    Input fields: instruction (and `messages` for chat rows)
    Output fields: complexity, complexity_turns (chat rows with several user turns)
    Drop reasons: complexity_no_digit_logprobs (zero-shot prompt only), llm_infra_error,
    llm_request_rejected
    """

    name = "complexity"
    role = "complexity"
    inputs = ("instruction",)
    outputs = ("complexity",)
    complete_answers = False  # a few tokens by design: only the first one's logprobs count

    def __init__(
        self,
        sampling: Sampling,
        api: GeneratorApi = "chat",
        shots: int | None = None,
        prompt: ComplexityPrompt = "zero-shot",
    ) -> None:
        super().__init__(sampling, api, shots)
        self.prompt = prompt

    def format(self, record: Record, shots: list[Any]) -> Prompt:
        return prompts.format_complexity(record["instruction"], self.prompt)

    def parse(self, text: str) -> float | ParseFailure:
        # The score is the expectation over the digit logprobs; the text alone cannot give it.
        return ParseFailure(NO_DIGITS)

    def params(self, record: Record, ctx: StageContext, *parts: str) -> dict[str, Any]:
        released = self.prompt == "xcoder"
        return {
            "max_tokens": (
                prompts.XCODER_COMPLEXITY_MAX_TOKENS if released else prompts.COMPLEXITY_MAX_TOKENS
            ),
            "temperature": 0.0,
            "logprobs": prompts.COMPLEXITY_TOP_LOGPROBS,
        }

    def parse_completion(self, result: Completion) -> float | ParseFailure:
        logprobs = result.logprobs[0] if result.logprobs else None
        score = (
            released_digit_score(logprobs)
            if self.prompt == "xcoder"
            else expected_digit_score(logprobs)
        )
        return ParseFailure(NO_DIGITS) if score is None else score

    async def handle(
        self, record: Record, client: LLMClient, ctx: StageContext
    ) -> list[StageOutput]:
        turns = user_turns(record)
        params = self.params(record, ctx)

        async def score(turn: str) -> float | ParseFailure | InfraFailure:
            prompt = prompts.format_complexity(turn, self.prompt)
            result = await self.ask(client, prompt, **params)
            account(ctx, result, self.role)
            if isinstance(result, InfraFailure):
                return result
            parsed = self.parse_completion(result)
            if isinstance(parsed, ParseFailure) and self.prompt == "xcoder":
                ctx.count("complexity_fallback")
                return prompts.XCODER_FALLBACK_SCORE
            return parsed

        scores = await asyncio.gather(*(score(turn) for turn in turns))
        for outcome in scores:
            if isinstance(outcome, InfraFailure):
                return [failure_drop(record, outcome)]
            if isinstance(outcome, ParseFailure):
                return [Drop(record, outcome.reason)]
        values = [float(s) for s in scores if isinstance(s, float)]
        out: Record = {**record, "complexity": round(sum(values), 6)}
        if len(values) > 1:
            out["complexity_turns"] = [round(v, 6) for v in values]
        return [out]
