"""XCoder prompts: the complexity scoring prompt (read through next-token logprobs) and the
unit-test prompt (k cases printing `Test case <i>: True|False`)."""

from __future__ import annotations

import ast
import re

from codeinstruct.workers.prompts.parsing import ParseFailure, code_blocks, fill, load_text

PACKAGE = __name__.rpartition(".")[0]  # the data files sit next to this module
COMPLEXITY_MAX_TOKENS = 3
COMPLEXITY_TOP_LOGPROBS = 20
# The input the released XCoder-Complexity-Scorer was trained on, as its inference code builds
# it (banksy23/XCoder `complexity.py`, `Scorer.infer_complexity`; deita's scorer uses the same):
# a raw completion, no chat template, the query as it is, two spaces after it and one after
# "##Complexity:". An interface fact of that model: any other text is not what it was tuned on.
XCODER_COMPLEXITY_TEMPLATE = (
    "You are a helpful assistant. Please identify the complexity score of the following user "
    "query. \n##Query: {instruction}  \n##Complexity: "
)
XCODER_COMPLEXITY_MAX_TOKENS = 2  # the reference's `max_tokens = 2`
# The reference's score when the digit logprobs are missing (`except IndexError/KeyError`).
XCODER_FALLBACK_SCORE = 2.0
_CASE_LINE = re.compile(r"Test case", re.IGNORECASE)


def format_complexity(instruction: str, prompt: str = "zero-shot") -> str:
    """The scoring prompt for one user query: `xcoder`, the released scorer's own template
    (the query verbatim); `zero-shot`, our rating prompt for a general model."""
    if prompt == "xcoder":
        return XCODER_COMPLEXITY_TEMPLATE.replace("{instruction}", instruction)
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


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":` (either side, either quotes)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return bool(names and mains)


def strip_main_guard(code: str) -> str:
    """The code without its top-level `if __name__ == "__main__":` blocks, which would run
    (and often read stdin) before the tests; code that does not parse is left as it is."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    lines = code.splitlines(keepends=True)
    for node in reversed(tree.body):
        if _is_main_guard(node) and node.end_lineno is not None:
            del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines)


def unit_test_program(instruction_response_code: str, unit_tests: str) -> str:
    """What the sandbox runs: the solution's code without its `__main__` guard, then the
    generated test script."""
    code = strip_main_guard(instruction_response_code)
    return code.rstrip("\n") + "\n\n\n" + unit_tests
