"""The null variant and seeded mutants of a solution (pure AST rewrites).

Null variant: the body of every function and method the code defines, at any depth (methods,
nested functions, properties, `__init__`), is replaced by `raise NotImplementedError("null
variant")` (a docstring is kept), and every lambda by one that raises the same; decorators,
class bodies and module-level statements stay. Tests that still pass against it never needed
the solution's behaviour: they are vacuous.

Mutants: one small change each, at a site drawn with a seeded generator among all the sites in
the code's function bodies: a comparison flipped (`<` to `>=`, `==` to `!=`, `in` to `not in`,
...), an arithmetic or bitwise operator swapped (`+` to `-`, `*` to `+`, `//` to `*`, ...), an
integer constant off by one (`n` to `n + 1`), `and` and `or` swapped, `True` and `False`
swapped, a `not` removed. A mutant may behave exactly as the original (equivalent mutant), so
the minimum of mutants to kill is a knob that defaults to none.

Sites in a statement that updates a name its `while` loop's test reads (`x //= base` under
`while x > 0`) are drawn only when the other sites are used up: such a mutant tends never to
end, so it is killed by its time budget alone, which says nothing of the tests and cost a third
of all the variants' sandbox time on HumanEval.
"""

from __future__ import annotations

import ast
import copy
import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Mutant", "mutants", "null_variant"]

NULL_MESSAGE = "null variant"

_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_ARITHMETIC: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Add,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}


def _raising() -> ast.Raise:
    error = ast.Call(
        func=ast.Name("NotImplementedError", ast.Load()),
        args=[ast.Constant(NULL_MESSAGE)],
        keywords=[],
    )
    return ast.Raise(exc=error, cause=None)


class _Null(ast.NodeTransformer):
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        first = node.body[0]
        docstring = (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        )
        node.body = [first, _raising()] if docstring else [_raising()]
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        # `(_ for _ in ()).throw(E)` raises E where an expression is needed.
        generator = ast.GeneratorExp(
            elt=ast.Name("_", ast.Load()),
            generators=[
                ast.comprehension(
                    target=ast.Name("_", ast.Store()),
                    iter=ast.Tuple(elts=[], ctx=ast.Load()),
                    ifs=[],
                    is_async=0,
                )
            ],
        )
        throw = ast.Attribute(value=generator, attr="throw", ctx=ast.Load())
        error = _raising().exc
        assert error is not None
        node.body = ast.Call(func=throw, args=[error], keywords=[])
        return node


def null_variant(code: str) -> str:
    """`code` with every function, method and lambda it defines replaced by one that raises
    `NotImplementedError` (SyntaxError when `code` does not parse)."""
    tree = _Null().visit(ast.parse(code))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


@dataclass(frozen=True)
class Mutant:
    change: str
    """What was changed, e.g. `line 3: Lt -> GtE`."""
    code: str


def _sites(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """(node, kind) of every mutable spot inside a function body, in a fixed order."""
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        body = function.body if isinstance(function.body, list) else [function.body]
        for statement in body:
            for node in ast.walk(statement):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                    continue  # visited as a function of its own
                if isinstance(node, ast.Compare):
                    for index, op in enumerate(node.ops):
                        if type(op) in _COMPARE:
                            yield node, f"compare:{index}"
                elif isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _ARITHMETIC:
                    yield node, "arithmetic"
                elif isinstance(node, ast.BoolOp):
                    yield node, "boolean"
                elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                    yield node, "not"
                elif isinstance(node, ast.Constant) and type(node.value) in (int, bool):
                    yield node, "constant"


def _loop_updates(tree: ast.Module) -> set[int]:
    """ids of the nodes of every statement that assigns a name its enclosing `while` loop's test
    reads (the loop's own progress)."""
    found: set[int] = set()
    for loop in ast.walk(tree):
        if not isinstance(loop, ast.While):
            continue
        read = {node.id for node in ast.walk(loop.test) if isinstance(node, ast.Name)}
        for statement in loop.body:
            for node in ast.walk(statement):
                if not isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                if names & read:
                    found.update(id(inner) for inner in ast.walk(node))
    return found


def _nested_functions_dedup(sites: list[tuple[ast.AST, str]]) -> list[tuple[ast.AST, str]]:
    """Nested functions are walked from their parent too: keep each (node, kind) once."""
    seen: set[tuple[int, str]] = set()
    unique = []
    for node, kind in sites:
        key = (id(node), kind)
        if key not in seen:
            seen.add(key)
            unique.append((node, kind))
    return unique


class _Unnot(ast.NodeTransformer):
    def __init__(self, target: ast.UnaryOp) -> None:
        self.target = target

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        return node.operand if node is self.target else node


def _mutate(tree: ast.Module, node: ast.AST, kind: str) -> str:
    """Apply one change to `node` (in `tree`, a copy); returns its description."""
    line = getattr(node, "lineno", 0)
    if kind.startswith("compare:"):
        assert isinstance(node, ast.Compare)
        index = int(kind.split(":")[1])
        old = type(node.ops[index])
        node.ops[index] = _COMPARE[old]()
        return f"line {line}: {old.__name__} -> {_COMPARE[old].__name__}"
    if kind == "arithmetic":
        assert isinstance(node, ast.BinOp | ast.AugAssign)
        old_op = type(node.op)
        node.op = _ARITHMETIC[old_op]()
        return f"line {line}: {old_op.__name__} -> {_ARITHMETIC[old_op].__name__}"
    if kind == "boolean":
        assert isinstance(node, ast.BoolOp)
        before = type(node.op).__name__
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return f"line {line}: {before} -> {type(node.op).__name__}"
    if kind == "not":
        assert isinstance(node, ast.UnaryOp)
        _Unnot(node).visit(tree)
        return f"line {line}: not removed"
    assert isinstance(node, ast.Constant)
    value = node.value
    assert isinstance(value, int)
    node.value = (not value) if isinstance(value, bool) else value + 1
    return f"line {line}: {value!r} -> {node.value!r}"


def mutants(code: str, count: int, seed: str) -> list[Mutant]:
    """Up to `count` mutants of `code`, each one change at a different site, the sites drawn
    with `random.Random(seed)` (the updates of a `while` loop's own condition last); fewer when
    the code has fewer sites. SyntaxError when `code` does not parse."""
    original = ast.parse(code)
    sites = _nested_functions_dedup(list(_sites(original)))
    if count <= 0 or not sites:
        return []
    updates = _loop_updates(original)
    first = [i for i, (node, _) in enumerate(sites) if id(node) not in updates]
    last = [i for i, (node, _) in enumerate(sites) if id(node) in updates]
    draw = random.Random(seed)
    chosen = draw.sample(first, min(count, len(first)))
    chosen += draw.sample(last, min(count - len(chosen), len(last)))
    baseline = ast.unparse(original)
    found = []
    for index in chosen:
        tree = copy.deepcopy(original)
        node, kind = _nested_functions_dedup(list(_sites(tree)))[index]
        change = _mutate(tree, node, kind)
        text = ast.unparse(ast.fix_missing_locations(tree))
        if text != baseline:
            found.append(Mutant(change, text + "\n"))
    return found
