"""SelfCodeAlign I->R: n responses per instruction, each with its own tests.

One output record per sample: `instruction_id`, `sample`, `response` (the explanation and
code as written), `code` (the solution's code blocks) and `tests` (the test code); a sample
whose answer cannot be parsed is a drop with the parser's reason. An answer that has code but
stopped before its `<tests>` part gets one follow-up turn asking for the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from codeinstruct.workers.llm import InfraFailure, LLMClient
from codeinstruct.workers.prompts import selfcodealign as prompts
from codeinstruct.workers.records import Record, derive
from codeinstruct.workers.stages.base import Drop, Output, Stage, StageContext, StageKind
from codeinstruct.workers.stages.generation import (
    account,
    failure_drop,
    request_seed,
    run_concurrently,
    sampling,
)

FOLLOWUP_MAX_TOKENS = 192


class WriteResponses(Stage):
    kind = StageKind.GENERATE
    name = "responses"

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        samples = ctx.spec.generator.sampling.samples_per_instruction

        async def work(record: Record, client: LLMClient) -> list[Output]:
            shots = prompts.pick_examples(
                ctx.rng(record["id"], self.name), ctx.spec.selfcodealign.response_shots
            )
            messages = prompts.format_response(record["instruction"], shots)
            result = await client.chat(
                messages,
                **sampling(ctx.spec),
                stop=prompts.RESPONSE_STOP,
                n=samples,
                seed=request_seed(ctx, record["id"], self.name),
            )
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
            outputs: list[Output] = []
            for index, text in enumerate(texts):
                base = {"instruction_id": record["id"], "sample": index}
                parsed = prompts.parse_response(text)
                if isinstance(parsed, prompts.Failure):
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

        return run_concurrently(self.name, records, ctx, work)

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
        result = await client.chat(
            prompts.format_tests_followup(messages, text),
            **sampling(
                ctx.spec,
                max_tokens=min(FOLLOWUP_MAX_TOKENS, ctx.spec.generator.sampling.max_tokens),
            ),
            stop=prompts.RESPONSE_STOP,
            seed=request_seed(ctx, record["id"], self.name, "tests", str(index)),
        )
        account(ctx, result)
        if isinstance(result, InfraFailure) or not result.texts:
            return text
        return prompts.join_tests_followup(text, result.texts[0])
