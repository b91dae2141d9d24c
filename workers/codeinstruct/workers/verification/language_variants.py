"""The null variant of a solution in another language than Python (pure, tree-sitter): every
function the solution defines (but `main`) fails at its first call, as Python's null variant
raises. Tests that still pass against it never depended on the solution (`vacuous_tests`).

Bodies become: javascript/typescript `{ throw new Error("null variant"); }` (an arrow's
expression body a throwing call), java `{ throw new RuntimeException("null variant"); }`, go
`{ panic("null variant") }` (an import left unused by that is blanked, `_ "strings"`, as Go
rejects unused imports), rust `{ panic!("null variant") }`, cpp `{ throw 0; }`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from codeinstruct.workers.documented_functions import parser_for

if TYPE_CHECKING:
    from tree_sitter import Node

_FUNCTIONS = {
    "javascript": {"function_declaration", "generator_function_declaration", "method_definition",
                   "arrow_function", "function_expression", "function"},
    "java": {"method_declaration", "constructor_declaration"},
    "go": {"function_declaration", "method_declaration"},
    "rust": {"function_item"},
    "cpp": {"function_definition"},
}  # fmt: skip
_FUNCTIONS["typescript"] = _FUNCTIONS["javascript"]
_RAISE = {
    "javascript": '{ throw new Error("null variant"); }',
    "typescript": '{ throw new Error("null variant"); }',
    "java": '{ throw new RuntimeException("null variant"); }',
    "go": '{ panic("null variant") }',
    "rust": '{ panic!("null variant") }',
    "cpp": "{ throw 0; }",
}


def null_variant(language: str, solution: str, tests: str = "") -> str | None:
    """The solution with every function failing at its first call; None when it defines no
    function (then nothing shows that its tests depend on it)."""
    source = solution.encode("utf-8", "surrogatepass")
    root = parser_for(language).parse(source).root_node
    edits = [(b.start_byte, b.end_byte, _body(language, b)) for b in _bodies(root, language)]
    if not edits:
        return None
    out = source
    for start, end, text in sorted(edits, reverse=True):
        out = out[:start] + text.encode() + out[end:]
    nulled = out.decode("utf-8", "surrogatepass")
    return _blank_unused_imports(nulled, tests) if language == "go" else nulled


def _body(language: str, body: Node) -> str:
    if body.type in ("statement_block", "block", "compound_statement", "constructor_body"):
        return _RAISE[language]
    return '(() => { throw new Error("null variant"); })()'  # an arrow's expression body


def _bodies(root: Node, language: str) -> Iterator[Node]:
    """The bodies of the outermost functions (nested ones go with them), `main` left alone."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in _FUNCTIONS[language] and _name(node) != "main":
            body = node.child_by_field_name("body")
            if body is not None:
                yield body
                continue
        stack.extend(node.named_children)


def _name(node: Node) -> str:
    name = node.child_by_field_name("name")
    declarator = node.child_by_field_name("declarator")
    while name is None and declarator is not None:  # C++: through the declarators
        name = declarator if declarator.type in ("identifier", "field_identifier") else None
        declarator = declarator.child_by_field_name("declarator")
    return (name.text or b"").decode() if name is not None else ""


_GO_IMPORT = re.compile(r'^(\s*(?:import\s+)?)"([\w./-]+)"', re.MULTILINE)


def _blank_unused_imports(program: str, tests: str) -> str:
    """Go: `"pkg/name"` imports whose `name.` no longer occurs become `_ "pkg/name"`."""
    rest = _GO_IMPORT.sub("", program) + tests

    def blank(match: re.Match[str]) -> str:
        name = match.group(2).rsplit("/", 1)[-1]
        used = re.search(rf"\b{re.escape(name)}\.", rest)
        return match.group(0) if used else f'{match.group(1)}_ "{match.group(2)}"'

    return _GO_IMPORT.sub(blank, program)
