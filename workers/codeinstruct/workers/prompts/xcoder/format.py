"""XCoder prompts: the complexity scoring prompt (read through next-token logprobs) and the
unit-test prompt (k cases printing `Test case <i>: True|False`)."""

from __future__ import annotations

import re

from codeinstruct.workers.prompts.parsing import ParseFailure, code_blocks, fill, load_text

PACKAGE = __name__.rpartition(".")[0]  # the data files sit next to this module
COMPLEXITY_MAX_TOKENS = 3
COMPLEXITY_TOP_LOGPROBS = 20
_CASE_LINE = re.compile(r"Test case", re.IGNORECASE)


def format_complexity(instruction: str) -> str:
    return fill(load_text(PACKAGE, "complexity.txt"), instruction=instruction.strip()).rstrip()


def solution_code(response: str) -> str:
    """The Python code of a response: its fenced blocks, or the whole text when it has none."""
    blocks = code_blocks(response)
    return "".join(blocks) if blocks else response.strip() + "\n"


def format_unit_tests(instruction: str, response: str, k: int) -> list[dict[str, str]]:
    prompt = fill(
        load_text(PACKAGE, "unit_tests.txt"),
        k=k,
        instruction=instruction.strip(),
        code=solution_code(response),
    )
    return [{"role": "user", "content": prompt.rstrip() + "\n"}]


def parse_unit_tests(text: str) -> str | ParseFailure:
    """The first code block that prints test-case lines (an unclosed fence runs to the end)."""
    blocks = code_blocks(text)
    if not blocks:
        return ParseFailure("no_test_script")
    for block in blocks:
        if _CASE_LINE.search(block) and "print" in block:
            return block
    return ParseFailure("test_script_without_case_lines")


def unit_test_program(instruction_response_code: str, unit_tests: str) -> str:
    """What the sandbox runs: the solution's code, then the generated test script."""
    return instruction_response_code.rstrip("\n") + "\n\n\n" + unit_tests
