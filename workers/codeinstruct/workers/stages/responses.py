"""SelfCodeAlign I->R: n responses per instruction, each with its own tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from codeinstruct.workers.llm import InfraFailure, LLMClient
from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.prompts.selfcodealign import format as prompts
from codeinstruct.workers.records import Record, derive
from codeinstruct.workers.spec import Sampling
from codeinstruct.workers.stages.base import Drop, StageContext, StageOutput
from codeinstruct.workers.stages.llm_stage import (
    LLMStage,
    Prompt,
    account,
    failure_drop,
)


class WriteResponses(LLMStage[prompts.ParsedResponse]):
    """`samplesPerInstruction` answers per instruction in one request; one output record per
    sample (a child keyed by its index). An answer that has code but stopped before its
    `<tests>` part gets one follow-up turn asking for the tests.

    Input fields: instruction
    Output fields: instruction_id, sample, response, code, tests
    Drop reasons: missing_tests, no_code, no_tests, tests_without_assert, llm_infra_error,
    llm_request_rejected
    """

    name = "responses"
    inputs = ("instruction",)
    outputs = ("instruction_id", "sample", "response", "code", "tests")
    shots = 1
    stop = tuple(prompts.RESPONSE_STOP)
    followup_max_tokens = 192

    def __init__(self, sampling: Sampling) -> None:
        super().__init__(sampling)
        self.samples = sampling.samples_per_instruction

    def examples(self) -> Sequence[Any]:
        return prompts.examples()

    def format(self, record: Record, shots: list[Any]) -> Prompt:
        return prompts.format_response(record["instruction"], shots)

    def parse(self, text: str) -> prompts.ParsedResponse | ParseFailure:
        return prompts.parse_response(text)

    async def handle(
        self, record: Record, client: LLMClient, ctx: StageContext
    ) -> list[StageOutput]:
        _, shots = self.prepare(record, ctx)
        messages = prompts.format_response(record["instruction"], shots)
        result = await client.chat(messages, **self.params(record, ctx), n=self.samples)
        account(ctx, result)
        if isinstance(result, InfraFailure):
            return [failure_drop(record, result)]
        ctx.count("samples", len(result.texts))
        texts = await asyncio.gather(
            *(
                self._with_tests(record, index, text, messages, client, ctx)
                for index, text in enumerate(result.texts)
            )
        )
        outputs: list[StageOutput] = []
        for index, text in enumerate(texts):
            base = {"instruction_id": record["id"], "sample": index}
            parsed = self.parse(text)
            if isinstance(parsed, ParseFailure):
                dropped = derive(record, self.name, str(index), **base, llm_output=text)
                outputs.append(Drop(dropped, parsed.reason))
                continue
            outputs.append(
                derive(
                    record,
                    self.name,
                    str(index),
                    **base,
                    response=parsed.response,
                    code=parsed.code,
                    tests=parsed.tests,
                )
            )
        return outputs

    async def _with_tests(
        self,
        record: Record,
        index: int,
        text: str,
        messages: list[dict[str, str]],
        client: LLMClient,
        ctx: StageContext,
    ) -> str:
        """The answer, completed by a follow-up turn when it stopped before its tests."""
        if not prompts.needs_tests_followup(text):
            return text
        ctx.count("tests_followups")
        params = self.params(record, ctx, "tests", str(index))
        params["max_tokens"] = min(self.followup_max_tokens, self.sampling.max_tokens)
        result = await client.chat(prompts.format_tests_followup(messages, text), **params)
        account(ctx, result)
        if isinstance(result, InfraFailure) or not result.texts:
            return text
        return prompts.join_tests_followup(text, result.texts[0])
