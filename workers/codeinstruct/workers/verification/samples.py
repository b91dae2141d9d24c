"""A record's solution and tests, or the reason it cannot be checked (pure).

Two shapes of record:
- a response (markdown with fenced code) and its tests (fenced or bare code): the
  solution is the response's Python blocks joined (its `if __name__ == "__main__":` block removed
  when it reads input, as SelfCodeAlign's execution filter does), the tests are the tests' code;
- a whole program: split at its first top-level statement that is neither an import, a
  definition (a `def`/`class` whose name does not start with `test`/`Test`), an assignment nor a
  docstring. What comes before is the solution, the rest the tests.

Reasons: `no_code_block` (no code in the response or program), `no_tests` (empty tests, or a
program with no test part), `no_assert` (the tests never say `assert`, as SelfCodeAlign requires),
`syntax_error` (the solution does not parse: nothing to call, nothing to mutate).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from codeinstruct.workers.extraction import extract_code, reads_input, strip_main_block


@dataclass(frozen=True)
class Sample:
    solution: str
    tests: str

    @property
    def program(self) -> str:
        """Solution and tests as one script (what a reader of the dataset runs)."""
        return f"{self.solution.rstrip()}\n\n{self.tests.rstrip()}\n"


@dataclass(frozen=True)
class Fields:
    """Which record fields hold what (configurable in `codeinstruct verify`)."""

    response: str = "response"
    tests: str = "tests"
    program: str = "program"


def _code_of(text: str) -> str:
    return (extract_code(text) or "") if "```" in text else text.strip()


def sample_of(record: dict[str, Any], fields: Fields = Fields()) -> Sample | str:
    """The record's sample, or the reason it has none."""
    program = record.get(fields.program)
    if isinstance(program, str) and fields.response not in record:
        return split_program(_code_of(program))
    response = record.get(fields.response)
    if not isinstance(response, str) or not response.strip():
        return "no_code_block"
    solution = extract_code(response) or ""
    if not solution.strip():
        return "no_code_block"
    tests_text = record.get(fields.tests)
    tests = _code_of(tests_text) if isinstance(tests_text, str) else ""
    if not tests.strip():
        return "no_tests"
    if reads_input(solution):
        solution = strip_main_block(solution)
    return checked(Sample(solution.rstrip() + "\n", tests.rstrip() + "\n"))


def checked(sample: Sample) -> Sample | str:
    if "assert" not in sample.tests:
        return "no_assert"
    try:
        ast.parse(sample.solution)
    except SyntaxError:
        return "syntax_error"
    return sample


def _is_solution(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return not node.name.startswith("test")
    if isinstance(node, ast.ClassDef):
        return not node.name.startswith("Test")
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    return isinstance(node, ast.Import | ast.ImportFrom | ast.Assign | ast.AnnAssign)


def split_program(program: str) -> Sample | str:
    """A whole program's solution and tests (see the module docstring)."""
    if not program.strip():
        return "no_code_block"
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return "syntax_error"
    first_test = next((node for node in tree.body if not _is_solution(node)), None)
    if first_test is None:
        return "no_tests"
    decorators = getattr(first_test, "decorator_list", [])
    start = min([first_test.lineno, *(d.lineno for d in decorators)])
    lines = program.splitlines(keepends=True)
    solution = "".join(lines[: start - 1])
    if not solution.strip():
        return "no_code_block"
    return checked(Sample(solution, "".join(lines[start - 1 :])))
