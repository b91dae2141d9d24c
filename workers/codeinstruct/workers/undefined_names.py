"""Names a seed's code uses but its own text never binds (pure; a cheap stand-in for Pyright's
`reportUndefinedVariable`, which SelfCodeAlign runs over every seed).

A seed is the function plus the import lines it needs. A name is undefined when a function or
class scope of the seed reads it as a global, and it is neither a builtin, a module attribute
every module has (`__name__`, ...), nor bound anywhere at the seed's module level (import, def,
class, assignment, or a `global` assignment inside a function). A `from m import *` makes every
name possibly bound, so such a seed has no undefined names.
"""

from __future__ import annotations

import ast
import builtins
import symtable

_ALWAYS_BOUND = frozenset(dir(builtins)) | {
    "__name__",
    "__file__",
    "__doc__",
    "__spec__",
    "__loader__",
    "__package__",
    "__builtins__",
    "__annotations__",
    "__dict__",
}


def undefined_names(source: str) -> list[str]:
    """The undefined global names the code's functions and classes read, sorted.

    Raises SyntaxError for code that does not parse.
    """
    if any(
        isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)
        for node in ast.walk(ast.parse(source))
    ):
        return []
    module = symtable.symtable(source, "<seed>", "exec")
    bound = {s.get_name() for s in module.get_symbols() if s.is_assigned() or s.is_imported()}
    read: set[str] = set()
    stack = list(module.get_children())
    while stack:
        table = stack.pop()
        stack.extend(table.get_children())
        for symbol in table.get_symbols():
            if not symbol.is_global():
                continue
            if symbol.is_assigned():  # `global x; x = ...` binds x at module level
                bound.add(symbol.get_name())
            elif symbol.is_referenced():
                read.add(symbol.get_name())
    return sorted(read - bound - _ALWAYS_BOUND)
