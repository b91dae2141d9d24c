"""XCoder quality, first half: one test script of k cases per (instruction, response), each
case printing `Test case <i>: True|False`; the sandbox runs `unit_test_program(record)` and
counts the passed cases (quality)."""

from __future__ import annotations

from typing import Any

from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.prompts.xcoder import format as prompts
from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import GeneratorApi, Sampling
from codeinstruct.workers.stages.llm_stage import LLMStage, Prompt


def unit_test_program(record: Record) -> str:
    """The program the sandbox runs for a record: the response's code, then its test script."""
    return prompts.unit_test_program(
        prompts.solution_code(record["response"]), record["unit_tests"]
    )


class WriteUnitTests(LLMStage[str]):
    """Asks (greedily) for a script of `unitTestsPerSample` test cases of the response; the
    record keeps its id.

    Input fields: instruction, response
    Output fields: unit_tests, unit_tests_requested
    Drop reasons: no_test_script, test_script_without_case_lines, unit_tests_truncated,
    llm_infra_error,
    llm_request_rejected
    """

    name = "unit_tests"
    role = "unit_tests"
    # A cut script would be a SyntaxError scored 0: it is asked again with more tokens, then
    # dropped, never measured.
    truncated_reason = "unit_tests_truncated"
    inputs = ("instruction", "response")
    outputs = ("unit_tests", "unit_tests_requested")
    temperature = 0.0

    def __init__(self, sampling: Sampling, cases: int, api: GeneratorApi = "chat") -> None:
        super().__init__(sampling, api)
        self.cases = cases

    def format(self, record: Record, shots: list[Any]) -> Prompt:
        return prompts.format_unit_tests(record["instruction"], record["response"], self.cases)

    def parse(self, text: str) -> str | ParseFailure:
        return prompts.parse_unit_tests(text)

    def emit(self, record: Record, parsed: str) -> Record:
        return {**record, "unit_tests": parsed, "unit_tests_requested": self.cases}
