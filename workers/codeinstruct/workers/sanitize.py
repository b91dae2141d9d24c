"""SelfCodeAlign's sanitize rules (pure): what a kept pair must look like, and which pairs are
duplicates of one another. The stages in `stages/sanitize.py` apply them.

The reference (`sanitize_data.py`, `sanitize.sh`): a response needs a ```python block and tests
need at least one top-level statement that is not a def, class or import (tests that only define
functions never run); responses with incompleteness markers go; instructions over 200 words go;
one pair per instruction text and per response text; the set of function or class names of the
first code block may occur once; near-duplicates go by MinHash on the instruction, the response
and a code representation (the code's defs and classes without docstrings).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Hashable, Sequence

from codeinstruct.workers.extraction import extract_code

_PYTHON_FENCE = re.compile(
    r"^[ \t]*```[ \t]*(python3?|py)\b[^\n]*\n(.*?)^[ \t]*```",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)
# The reference's markers, matched case-insensitively; "todo"/"fixme" as words (so `todos` is
# not one) and `NotImplementedError` rather than any "notimplemented": `return NotImplemented` is
# how a binary operator declines a type, not a stub.
_INCOMPLETE = re.compile(
    r"\b(todo|fixme|notimplementederror)\b|(write )?your code (goes )?here", re.IGNORECASE
)
_NOT_A_TEST = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_NOT_A_TEST_LINE = re.compile(r"^(?:def|async\s+def|class|import|from)\b|^[@#]")


def python_blocks(text: str) -> list[str]:
    """The non-empty ```python (py, python3) blocks of `text`, in order."""
    return [m.group(2) for m in _PYTHON_FENCE.finditer(text) if m.group(2).strip()]


def format_problem(response: str, tests: str) -> str | None:
    """`no_python_block`, `no_top_level_test`, or None for a well-formed pair.

    `tests` is test code, or text with fenced blocks.
    """
    if not python_blocks(response):
        return "no_python_block"
    code = (extract_code(tests) or "") if "```" in tests else tests
    return None if has_top_level_statement(code) else "no_top_level_test"


def has_top_level_statement(code: str) -> bool:
    """Whether the module runs something besides defining functions and classes and importing
    (a docstring or `pass` does not count). Unparsable code is judged line by line."""
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return any(
            line.strip() and not line[0].isspace() and not _NOT_A_TEST_LINE.match(line)
            for line in code.splitlines()
        )
    return any(
        not isinstance(node, _NOT_A_TEST)
        and not isinstance(node, ast.Pass)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        for node in body
    )


def incomplete_marker(response: str) -> str | None:
    """The first marker of unfinished code in the response (lower-cased), or None."""
    match = _INCOMPLETE.search(response)
    return match.group(0).lower() if match else None


def too_many_words(text: str, limit: int) -> bool:
    return len(text.split()) > limit


def exact_duplicates(instructions: Sequence[str], responses: Sequence[str]) -> list[str | None]:
    """Walking in order, the drop reason of each pair: `duplicate_instruction` when its
    instruction text (whitespace-stripped) was seen, `duplicate_response` when its response text
    was, None for a first occurrence. As the reference, the two share one set of seen texts."""
    seen: set[str] = set()
    reasons: list[str | None] = []
    for instruction, response in zip(instructions, responses, strict=True):
        keys = (instruction.strip(), response.strip())
        if keys[0] in seen:
            reasons.append("duplicate_instruction")
        elif keys[1] in seen:
            reasons.append("duplicate_response")
        else:
            reasons.append(None)
            seen.update(keys)
    return reasons


def function_names(code: str) -> frozenset[str]:
    """Normalised (lower-cased, `_` removed) names of the top-level functions and classes."""
    try:
        names = [
            node.name
            for node in ast.parse(code).body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
    except SyntaxError:
        names = re.findall(r"^(?:async\s+def|def|class)\s+(\w+)", code, re.MULTILINE)
    return frozenset(name.replace("_", "").lower() for name in names)


def repeated_keys(keys: Sequence[Hashable]) -> list[int | None]:
    """For each key, the index of its first occurrence when it is a repeat, else None. An empty
    key (a program that defines nothing) is never a repeat."""
    first: dict[Hashable, int] = {}
    result: list[int | None] = []
    for index, key in enumerate(keys):
        if not key:
            result.append(None)
            continue
        earlier = first.setdefault(key, index)
        result.append(earlier if earlier != index else None)
    return result


def code_representation(code: str) -> str:
    """The code's top-level defs and classes, docstrings removed, as `ast.unparse` writes them
    (comments and formatting gone); code without any def or class is represented by all of its
    statements. Raises SyntaxError."""
    tree = ast.parse(code)
    defs: list[ast.stmt] = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    module = ast.Module(body=defs or tree.body, type_ignores=[])
    for node in ast.walk(module):
        scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module
        if isinstance(node, scope) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(module)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )
