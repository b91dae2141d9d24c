"""XCoder quality, first half: one test script of k cases per (instruction, response), each
case printing `Test case <i>: True|False`; the sandbox runs `unit_test_program(record)` and
counts the passed cases (quality)."""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.llm import LLMClient
from codeinstruct.workers.prompts import xcoder as prompts
from codeinstruct.workers.records import Record
from codeinstruct.workers.stages.base import Drop, Output, Stage, StageContext, StageKind
from codeinstruct.workers.stages.generation import (
    ask,
    request_seed,
    run_concurrently,
    sampling,
)


def unit_test_program(record: Record) -> str:
    """The program the sandbox runs for a record: the response's code, then its test script."""
    return prompts.unit_test_program(
        prompts.solution_code(record["response"]), record["unit_tests"]
    )


class WriteUnitTests(Stage):
    kind = StageKind.GENERATE
    name = "unit_tests"

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        k = ctx.spec.scoring.unit_tests_per_sample

        async def work(record: Record, client: LLMClient) -> list[Output]:
            script = await ask(
                ctx,
                client,
                record,
                prompts.format_unit_tests(record["instruction"], record["response"], k),
                prompts.parse_unit_tests,
                **sampling(ctx.spec, temperature=0.0),
                seed=request_seed(ctx, record["id"], self.name),
            )
            if isinstance(script, Drop):
                return [script]
            return [{**record, "unit_tests": script, "unit_tests_requested": k}]

        return run_concurrently(self.name, records, ctx, work)
