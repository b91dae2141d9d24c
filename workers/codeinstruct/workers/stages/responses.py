"""SelfCodeAlign I->R: n responses per instruction, each with its own tests, in the record's
`language` (Python unless the seeds were of another language)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from codeinstruct.workers.llm import Completion, InfraFailure, LLMClient
from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.prompts.selfcodealign import format as prompts
from codeinstruct.workers.records import Record, derive
from codeinstruct.workers.spec import GeneratorApi, Sampling
from codeinstruct.workers.stages.base import Drop, StageContext, StageOutput
from codeinstruct.workers.stages.llm_stage import (
    LLMStage,
    Prompt,
    account,
    complete_answer,
    failure_drop,
    first_text,
    is_cut,
    retry_longer,
)


class WriteResponses(LLMStage[prompts.ParsedResponse]):
    """`samplesPerInstruction` answers per instruction in one request; one output record per
    sample (a child keyed by its index). An answer that has code but stopped before its
    `<tests>` part gets one follow-up turn asking for the tests. A sample cut by the token limit
    is asked again alone with twice the tokens; still cut, it is dropped as `truncated`.

    Input fields: instruction
    Output fields: instruction_id, sample, response, code, tests
    Drop reasons: missing_tests, no_code, no_tests, tests_without_assert, truncated,
    llm_infra_error, llm_request_rejected
    """

    name = "responses"
    inputs = ("instruction",)
    outputs = ("instruction_id", "sample", "response", "code", "tests")
    shots = 1
    stop = tuple(prompts.RESPONSE_STOP)
    followup_max_tokens = 192

    def __init__(
        self, sampling: Sampling, api: GeneratorApi = "chat", shots: int | None = None
    ) -> None:
        super().__init__(sampling, api, shots)
        self.samples = sampling.samples_per_instruction

    def examples(self) -> Sequence[Any]:
        return prompts.examples()

    def format(self, record: Record, shots: list[Any]) -> Prompt:
        return prompts.format_response(record["instruction"], shots, _language(record))

    def parse(self, text: str, language: str = "python") -> prompts.ParsedResponse | ParseFailure:
        return prompts.parse_response(text, language)

    def prepare(self, record: Record, ctx: StageContext) -> tuple[dict[str, Any], list[Any]]:
        """Python's shots as every LLM stage draws them; another language's from its own
        examples (`examples_<language>.yaml`)."""
        language = _language(record)
        if language == "python":
            return super().prepare(record, ctx)
        pool = prompts.examples(language)
        rng = ctx.rng(record["id"], self.name)
        return {}, rng.sample(pool, min(self.shots, len(pool))) if self.shots else []

    async def handle(
        self, record: Record, client: LLMClient, ctx: StageContext
    ) -> list[StageOutput]:
        _, shots = self.prepare(record, ctx)
        language = _language(record)
        messages = prompts.format_response(record["instruction"], shots, language)
        result = await self.ask(client, messages, **self.params(record, ctx), n=self.samples)
        account(ctx, result)
        if isinstance(result, InfraFailure):
            return [failure_drop(record, result)]
        ctx.count("samples", len(result.texts))
        answers = await asyncio.gather(
            *(
                self._complete(record, index, result, messages, client, ctx)
                for index in range(len(result.texts))
            )
        )
        outputs: list[StageOutput] = []
        for index, (text, cut) in enumerate(answers):
            base = {"instruction_id": record["id"], "sample": index}
            parsed = ParseFailure("truncated") if cut else self.parse(text, language)
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
                    **({} if language == "python" else {"language": parsed.language}),
                )
            )
        return outputs

    async def _complete(
        self,
        record: Record,
        index: int,
        result: Completion,
        messages: list[dict[str, str]],
        client: LLMClient,
        ctx: StageContext,
    ) -> tuple[str, bool]:
        """(answer, still cut): a sample cut by the token limit asked again alone with more
        tokens, then completed by a follow-up turn when it stopped before its tests."""
        text = result.texts[index]
        if is_cut(result, index):
            ctx.count("llm_truncated")
            params = self.params(record, ctx, "longer", str(index))
            longer = await retry_longer(
                lambda p: self.ask(client, messages, **p), params, self.sampling, ctx
            )
            if not isinstance(longer, Completion) or is_cut(longer):
                return (first_text(longer) if isinstance(longer, Completion) else text), True
            text = first_text(longer)
        # A base model (`api: completion`) gets no follow-up turn, as in the reference: an answer
        # without its tests is the wrong format.
        language = _language(record)
        if self.api == "completion" or not prompts.needs_tests_followup(text, language):
            return text, False
        ctx.count("tests_followups")
        params = self.params(record, ctx, "tests", str(index))
        params["max_tokens"] = min(self.followup_max_tokens, self.sampling.max_tokens)
        followup = await complete_answer(
            lambda p: self.ask(
                client, prompts.format_tests_followup(messages, text, language), **p
            ),
            params,
            self.sampling,
            ctx,
        )
        if isinstance(followup, InfraFailure) or not followup.texts:
            return text, False
        joined = prompts.join_tests_followup(text, followup.texts[0])
        return joined, is_cut(followup)


def _language(record: Record) -> str:
    return str(record.get("language", "python"))
