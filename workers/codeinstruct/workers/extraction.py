"""Code out of LLM text (pure), as SelfCodeAlign's execution filter does it: every fenced code
block concatenated; an `if __name__ == "__main__":` block removed when the code reads input
(it would wait on stdin); the self-tests appended after the response's code."""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(
    r"^[ \t]*```[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<code>.*?)^[ \t]*```", re.DOTALL | re.MULTILINE
)
_CODE_LANGUAGES = {"", "python", "py", "python3"}
_READS_INPUT = re.compile(r"\binput\s*\(|\bsys\.stdin\b")
_MAIN_GUARD = re.compile(r"^if\s+__name__\s*==\s*['\"]__main__['\"]\s*:", re.MULTILINE)


def code_blocks(text: str) -> list[str]:
    """The contents of the Python (or unlabelled) fenced blocks of `text`, non-empty ones only."""
    return [
        match.group("code").strip("\n")
        for match in _FENCE.finditer(text)
        if match.group("lang").lower() in _CODE_LANGUAGES and match.group("code").strip()
    ]


def extract_code(text: str) -> str | None:
    """The blocks joined, or None when there is none."""
    blocks = code_blocks(text)
    return "\n\n".join(blocks) if blocks else None


def reads_input(code: str) -> bool:
    return bool(_READS_INPUT.search(code))


def strip_main_block(code: str) -> str:
    """`code` without its top-level `if __name__ == "__main__":` statement(s)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        match = _MAIN_GUARD.search(code)  # unparsable: cut from the guard on, as the reference
        return code[: match.start()].rstrip() + "\n" if match else code
    lines = code.splitlines(keepends=True)
    spans = [
        (node.lineno, node.end_lineno or node.lineno)
        for node in tree.body
        if isinstance(node, ast.If) and _is_main_guard(node.test)
    ]
    for start, end in reversed(spans):
        del lines[start - 1 : end]
    return "".join(lines)


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def build_program(response: str, tests: str) -> tuple[str | None, str | None]:
    """(program, None) to execute, or (None, drop reason): `no_code_block` or `no_assert`.

    `tests` may be fenced text or bare code.
    """
    code = extract_code(response)
    if code is None:
        return None, "no_code_block"
    test_code = extract_code(tests) if "```" in tests else tests.strip()
    if not test_code or "assert" not in test_code:
        return None, "no_assert"
    if reads_input(code):
        code = strip_main_block(code)
    return f"{code.rstrip()}\n\n{test_code.rstrip()}\n", None
