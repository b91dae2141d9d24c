"""Evidence that the tests ran, gathered INSIDE the sandbox (standard library only).

A checked job has two parts, the solution and its tests. Before either runs, both are rewritten
(AST) and compiled separately, then executed in one `__main__` namespace, solution first. The
host compiles them when the sandbox runs its interpreter (`Precompiled`: in a freshly forked
process under gVisor the rewrite costs several times more); the job does otherwise.

- every `assert` of the tests becomes a call to the recorder, which counts it as executed and,
  when it is false, as failed, before raising `AssertionError` as the statement would. An assert
  whose expression is a constant (`assert True`, `assert 1 == 1`) or compares a thing with
  itself (`assert x == x`) is a tautology: it never counts as executed, but still fails when
  false (`assert False, "should have raised"`);
- entering an `except SomeError:` handler of the tests (a specific exception type, not bare,
  `Exception`, `BaseException` or `AssertionError`) counts as a passed check: the error the
  test expected happened;
- `unittest.TestCase.assert*`/`fail*` calls count as checks (outermost call only), and every
  failure or error a `unittest` result records counts as a failed check;
- every function, method and lambda the solution defines reports its first call made after the
  solution finished (so: by the tests);
- test functions (`def test*`) and `Test*` classes the tests define but never run are collected
  and run afterwards, as pytest and unittest would (a collected test that raises is a failed
  check);
- the top-level asserts of the tests must all have executed (a `sys.exit(0)` between them is
  caught).

Counts go to the supervisor over a dedicated pipe at a file descriptor above the job's open-file
limit (the program cannot `dup2` onto it), one line per event, each starting with a nonce the
supervisor drew for this job. Printed markers, a redefined counter (the recorder is referenced
from the compiled code's constants, not by any name the program can rebind), a closed or
replaced pipe (no end line arrives), a forced exit status (`sys.exit`, `os._exit`, atexit,
excepthook: the end line carries the status the supervisor computed before atexit runs) and a
failing assert in a thread or inside `try/except AssertionError` (failures are sent when they
happen) all fail the job. A program that inspects its own interpreter's memory (gc, frames) can
reach the recorder; counting outside the process would need ptrace, which this does not do.
"""

from __future__ import annotations

import ast
import base64
import bisect
import contextlib
import importlib.util
import linecache
import marshal
import os
import re
import sys
import threading
import time
import types
import warnings
from typing import Any, NamedTuple, TypeVar

CHANNEL_FD = 1000
SOLUTION_FILE = "solution.py"
TESTS_FILE = "tests.py"
# Failure lines sent one by one; beyond, failures are only counted (in the end line).
MAX_FAILURE_LINES = 50
_UNCOUNTED_HANDLERS = {"Exception", "BaseException", "AssertionError"}
_Node = TypeVar("_Node", bound=ast.AST)


class Recorder:
    """Per-job counters; its methods are what the rewritten code calls."""

    def __init__(self, nonce: str, fd: int = CHANNEL_FD) -> None:
        self.nonce = nonce
        self.fd = fd
        self.lock = threading.Lock()
        # Tests compiled against this recorder, by source: the variants of a job share them.
        self.compiled_tests: dict[str, tuple[types.CodeType, set[int]]] = {}
        self.reset()

    def reset(self) -> None:
        """Counters back to zero, for the next variant of the same job."""
        self.after_solution = False
        self.called = False
        self.executed = 0
        self.failed = 0
        self.collected = 0
        self.lines: set[int] = set()
        self.entered_tests: set[str] = set()
        self.started_cpu = time.process_time()

    def send(self, *fields: object) -> None:
        line = " ".join([self.nonce, *map(str, fields)]) + "\n"
        # Closed by the program: no end line will arrive, and the job fails.
        with contextlib.suppress(OSError):
            os.write(self.fd, line.encode())

    def solution_done(self) -> None:
        self.after_solution = True
        self.send("S")

    def enter(self) -> None:
        if self.after_solution and not self.called:
            self.called = True
            self.send("C")

    def check(self, value: object, line: int, counts: bool = True) -> bool:
        ok = bool(value)
        with self.lock:
            self.lines.add(line)
            if counts or not ok:
                self.executed += 1
            if not ok:
                self.failed += 1
                failed = self.failed
            first = ok and counts and self.executed == 1
        if not ok and failed <= MAX_FAILURE_LINES:
            self.send("F", line)
        elif first:
            self.send("P", line)
        return ok

    def expected(self, line: int) -> None:
        self.check(True, line)

    def failure(self, where: str) -> None:
        self.check(False, 0)

    def enter_test(self, name: str) -> None:
        self.entered_tests.add(name)

    def end(self, status: int, skipped: int) -> None:
        """The end line; its last field is the run's CPU time in milliseconds (what the
        variants' CPU budget is measured against)."""
        cpu_ms = round((time.process_time() - self.started_cpu) * 1000)
        self.send("E", status, self.executed, self.failed, self.collected, skipped, cpu_ms)


def summarize_variants(channel: bytes, nonce: str) -> list[dict[str, Any]]:
    """One summary per variant that started (its lines follow its `V <index>` line)."""
    segments: list[list[bytes]] = []
    prefix = f"{nonce} V ".encode()
    for line in channel.splitlines():
        if line.startswith(prefix):
            segments.append([])
        elif segments:
            segments[-1].append(line)
    return [summarize(b"\n".join(lines), nonce) for lines in segments]


def summarize(channel: bytes, nonce: str) -> dict[str, Any]:
    """What the supervisor saw on a job's check channel (run in the supervisor, not the job).

    `ended` is False when no end line came (the program left by `os._exit`, was killed, or
    closed or replaced the channel); `forged` counts lines without this job's nonce;
    `cpu_seconds` is the run's CPU time as its end line says (None without one).
    """
    seen: dict[str, Any] = {
        "ended": False,
        "status": None,
        "solution_done": False,
        "called": False,
        "executed": 0,
        "failed": 0,
        "collected": 0,
        "skipped": 0,
        "failed_lines": [],
        "forged": 0,
        "timed_out": False,
        "cpu_seconds": None,
    }
    for raw in channel.decode("ascii", "replace").splitlines():
        fields = raw.split()
        if len(fields) < 2 or fields[0] != nonce:
            seen["forged"] += 1
            continue
        kind, values = fields[1], fields[2:]
        try:
            numbers = [int(v) for v in values]
        except ValueError:
            seen["forged"] += 1
            continue
        if kind == "S":
            seen["solution_done"] = True
        elif kind == "C":
            seen["called"] = seen["solution_done"]
        elif kind == "P":
            seen["executed"] = max(seen["executed"], 1)
        elif kind == "F":
            seen["failed"] += 1
            seen["executed"] = max(seen["executed"], seen["failed"])
            seen["failed_lines"] += numbers[:1]
        elif kind == "T":
            seen["timed_out"] = True
        elif kind == "E" and len(numbers) in (5, 6) and not seen["ended"]:
            status, executed, failed, collected, skipped = numbers[:5]
            seen.update(ended=True, status=status, collected=collected, skipped=skipped)
            if len(numbers) == 6:
                seen["cpu_seconds"] = numbers[5] / 1000
            seen["executed"] = max(seen["executed"], executed)
            seen["failed"] = max(seen["failed"], failed)
        else:
            seen["forged"] += 1
    return seen


# --- the rewrite -------------------------------------------------------------------------


def _sentinel(nonce: str, name: str) -> str:
    return f"__codeinstruct_{nonce}_{name}"


def _call(sentinel: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Constant(sentinel), args=list(args), keywords=[])


def _is_tautology(test: ast.expr) -> bool:
    if not any(
        isinstance(node, ast.Name | ast.Call | ast.Attribute | ast.Subscript | ast.NamedExpr)
        for node in ast.walk(test)
    ):
        return True
    return (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq | ast.Is | ast.LtE | ast.GtE)
        and type(test.left) is type(test.comparators[0])
        and ast.dump(test.left) == ast.dump(test.comparators[0])
    )


def _body_start(body: list[ast.stmt]) -> int:
    """Index after a docstring."""
    first = body[0] if body else None
    docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    return 1 if docstring else 0


def _located(new: _Node, like: ast.AST) -> _Node:
    """`new` with every node a rewrite added given `like`'s position: what
    `ast.fix_missing_locations` would do, for those nodes only. A node that has a position came
    from the parsed program, and so did everything under it: the walk stops there."""
    stack: list[ast.AST] = [new]
    while stack:
        node = stack.pop()
        if "lineno" in node._attributes:
            if getattr(node, "lineno", None) is not None:
                continue
            ast.copy_location(node, like)
        stack.extend(ast.iter_child_nodes(node))
    return new


def _instrument_solution(tree: ast.Module, nonce: str) -> ast.Module:
    """Every function, method and lambda of the solution reports its calls (`Recorder.enter`).
    One walk that changes nodes in place: children are listed before their parent is changed."""
    enter = _sentinel(nonce, "enter")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.body.insert(_body_start(node.body), _located(ast.Expr(_call(enter)), node))
        elif isinstance(node, ast.Lambda):
            pair = ast.Tuple(elts=[_call(enter), node.body], ctx=ast.Load())
            call = ast.Subscript(value=pair, slice=ast.Constant(1), ctx=ast.Load())
            node.body = _located(call, node)
    return tree


class _Tests:
    """The tests' rewrite, in place: each `assert` becomes a recorder call, an `except` of a
    specific error counts as an expected check, a `test*` function reports that it ran. Only
    statements are walked: no statement sits inside an expression."""

    def __init__(self, nonce: str) -> None:
        self.check = _sentinel(nonce, "check")
        self.expected = _sentinel(nonce, "expected")
        self.enter_test = _sentinel(nonce, "enter_test")
        self.top_level_lines: set[int] = set()

    def rewrite(self, tree: ast.Module) -> ast.Module:
        self._block(tree.body, (), top=True)
        return tree

    def _block(self, body: list[ast.stmt], scope: tuple[str, ...], top: bool = False) -> None:
        for index, node in enumerate(body):
            if isinstance(node, ast.Assert):
                body[index] = self._assert(node, top)
                continue
            inner = scope
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = (*scope, node.name)
            self._children(node, inner)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"
            ):
                call = ast.Expr(_call(self.enter_test, ast.Constant(".".join(inner))))
                node.body.insert(_body_start(node.body), _located(call, node))

    def _children(self, node: ast.AST, scope: tuple[str, ...]) -> None:
        """The statement lists under `node`: bodies, `except` handlers and `match` cases."""
        for field in node._fields:
            value = getattr(node, field, None)
            if not isinstance(value, list) or not value:
                continue
            if isinstance(value[0], ast.stmt):
                self._block(value, scope)
            elif isinstance(value[0], ast.ExceptHandler):
                for handler in value:
                    self._block(handler.body, scope)
                    if handler.type is not None and not _catches_anything(handler.type):
                        check = ast.Expr(_call(self.expected, ast.Constant(handler.lineno)))
                        handler.body.insert(0, _located(check, handler))
            elif isinstance(value[0], ast.match_case):
                for case in value:
                    self._block(case.body, scope)

    def _assert(self, node: ast.Assert, top: bool) -> ast.stmt:
        counts = not _is_tautology(node.test)
        if top and counts:
            self.top_level_lines.add(node.lineno)
        test = _call(self.check, node.test, ast.Constant(node.lineno), ast.Constant(counts))
        error = ast.Call(
            func=ast.Name("AssertionError", ast.Load()),
            args=[node.msg] if node.msg is not None else [],
            keywords=[],
        )
        raise_ = ast.Raise(exc=error, cause=None)
        return _located(ast.If(test=ast.UnaryOp(ast.Not(), test), body=[raise_], orelse=[]), node)


def _catches_anything(kind: ast.expr) -> bool:
    names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    for name in names:
        label = name.attr if isinstance(name, ast.Attribute) else getattr(name, "id", "")
        if label in _UNCOUNTED_HANDLERS:
            return True
    return False


def _bind(code: types.CodeType, targets: dict[str, Any]) -> types.CodeType:
    consts = tuple(
        _bind(c, targets)
        if isinstance(c, types.CodeType)
        else targets.get(c, c)
        if isinstance(c, str)
        else c
        for c in code.co_consts
    )
    return code.replace(co_consts=consts)


def _compile(tree: ast.Module, filename: str) -> types.CodeType:
    """Compiled as the program's own module would be by the sandbox's interpreter: without
    this module's `__future__` flags (postponed annotations), asserts kept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "'str' object is not callable": our sentinels
        return compile(tree, filename, "exec", dont_inherit=True, optimize=0)


def _solution_code(solution: str, token: str) -> types.CodeType:
    return _compile(_instrument_solution(ast.parse(solution, SOLUTION_FILE), token), SOLUTION_FILE)


def _tests_code(tests: str, token: str) -> tuple[types.CodeType, set[int]]:
    rewriter = _Tests(token)
    tree = rewriter.rewrite(ast.parse(tests, TESTS_FILE))
    return _compile(tree, TESTS_FILE), rewriter.top_level_lines


def _remember(filename: str, source: str) -> None:
    """The source that tracebacks through `filename` show."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


# The bytecode's version: code compiled elsewhere runs only on an interpreter of the same.
BYTECODE = importlib.util.MAGIC_NUMBER.hex()


class Precompiled(NamedTuple):
    """A checked job's instrumented code, compiled before it reached the sandbox (by the host:
    a warm process, where parsing and compiling cost a fraction of what they cost in a job's
    freshly forked process under gVisor). One code object per solution (the program, or each
    variant), the tests' code and their top-level assert lines; the sentinels are named by
    `token`, drawn for the job after its text was fixed."""

    token: str
    solutions: list[types.CodeType]
    tests: types.CodeType
    required_lines: set[int]

    @classmethod
    def build(cls, solutions: list[str], tests: str, token: str) -> Precompiled | None:
        """None when any part does not compile (or the rewrite fails on it): the job then
        compiles its sources itself, and reports why as the program's error."""
        try:
            codes = [_solution_code(solution, token) for solution in solutions]
            tests_code, lines = _tests_code(tests, token)
        except Exception:
            return None
        return cls(token, codes, tests_code, lines)

    def dumps(self) -> str:
        blob = marshal.dumps((self.solutions, self.tests, sorted(self.required_lines)))
        return base64.b64encode(blob).decode("ascii")

    @classmethod
    def loads(cls, token: str, text: str) -> Precompiled | None:
        """None when `text` is not what `dumps` wrote (the job compiles its sources then)."""
        try:
            solutions, tests, lines = marshal.loads(base64.b64decode(text))
        except (ValueError, TypeError, EOFError):
            return None
        return cls(token, list(solutions), tests, set(lines))


class CheckedProgram:
    """The compiled, instrumented solution and tests of one run (SyntaxError when unparsable);
    the tests are compiled once per recorder, so the variants of a job share them. With
    `precompiled`, its code of solution number `index` and of the tests is used."""

    def __init__(
        self,
        solution: str,
        tests: str,
        recorder: Recorder,
        precompiled: Precompiled | None = None,
        index: int = 0,
    ) -> None:
        token = precompiled.token if precompiled else recorder.nonce
        targets = {
            _sentinel(token, "enter"): recorder.enter,
            _sentinel(token, "check"): recorder.check,
            _sentinel(token, "expected"): recorder.expected,
            _sentinel(token, "enter_test"): recorder.enter_test,
        }
        self.recorder = recorder
        _remember(SOLUTION_FILE, solution)
        code = precompiled.solutions[index] if precompiled else _solution_code(solution, token)
        self.solution = _bind(code, targets)
        compiled = recorder.compiled_tests.get(tests)
        if compiled is None:
            _remember(TESTS_FILE, tests)
            tests_code, lines = (
                (precompiled.tests, precompiled.required_lines)
                if precompiled
                else _tests_code(tests, token)
            )
            compiled = recorder.compiled_tests[tests] = _bind(tests_code, targets), lines
        self.tests, self.required_lines = compiled


class Current:
    """The recorder of the run in progress (a job may run several variants in turn)."""

    recorder: Recorder | None = None
    unittest_counted = False


CURRENT = Current()


def count_unittest() -> None:
    """Count `TestCase` assertions (outermost call) and every failure a result records, for
    the current recorder (patched once per process)."""
    if CURRENT.unittest_counted:
        return
    CURRENT.unittest_counted = True
    import unittest

    def recorder_now() -> Recorder:
        assert CURRENT.recorder is not None
        return CURRENT.recorder

    depth = threading.local()

    def counting(method: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            level = getattr(depth, "level", 0)
            depth.level = level + 1
            try:
                result = method(self, *args, **kwargs)
            except BaseException as error:
                if level == 0 and isinstance(error, self.failureException):
                    recorder_now().check(False, 0)
                raise
            finally:
                depth.level = level
            if level == 0:
                recorder_now().check(True, 0)
            return result

        return wrapper

    case = unittest.TestCase
    for name in dir(case):
        if name.startswith(("assert", "fail")) and name != "failureException":
            method = getattr(case, name)
            if callable(method):
                setattr(case, name, counting(method))

    def failing(method: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            recorder_now().failure(method.__name__)
            return method(self, *args, **kwargs)

        return wrapper

    result = unittest.TestResult
    for name in ("addError", "addFailure", "addUnexpectedSuccess"):
        setattr(result, name, failing(getattr(result, name)))
    add_subtest = result.addSubTest

    def subtest(self: Any, test: Any, sub: Any, err: Any) -> None:
        if err is not None:
            recorder_now().failure("addSubTest")
        add_subtest(self, test, sub, err)

    setattr(result, "addSubTest", subtest)  # noqa: B010


def collect_and_run(namespace: dict[str, Any], recorder: Recorder) -> None:
    """Run the tests the program defined but did not run, as pytest and unittest would."""
    # A program that never imported unittest defined no TestCase (and importing it costs tens
    # of milliseconds under gVisor).
    unittest = sys.modules.get("unittest")
    cases = []
    for name, value in list(namespace.items()):
        if isinstance(value, types.FunctionType) and name.startswith("test"):
            if _from_tests(value) and name not in recorder.entered_tests:
                _run_test(value, recorder)
        elif isinstance(value, type) and _class_from_tests(value):
            methods = [m for m in vars(value) if m.startswith("test")]
            if any(f"{value.__name__}.{m}" in recorder.entered_tests for m in methods):
                continue
            if unittest is not None and issubclass(value, unittest.TestCase):
                cases.append(value)
            elif name.startswith("Test") and methods:
                for method in methods:
                    _run_test(lambda cls=value, m=method: getattr(cls(), m)(), recorder)
    if cases and unittest is not None:
        loader = unittest.TestLoader()
        suite = unittest.TestSuite(loader.loadTestsFromTestCase(c) for c in cases)
        recorder.collected += suite.countTestCases()
        unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)


def _from_tests(function: types.FunctionType) -> bool:
    code = function.__code__
    return code.co_filename == TESTS_FILE and code.co_argcount == len(function.__defaults__ or ())


def _class_from_tests(cls: type) -> bool:
    return any(
        isinstance(v, types.FunctionType) and v.__code__.co_filename == TESTS_FILE
        for v in vars(cls).values()
    )


def _run_test(test: Any, recorder: Recorder) -> None:
    recorder.collected += 1
    try:
        test()
    except BaseException as error:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__)
        recorder.failure("collected test")


# --- Other languages than Python: evidence that the tests executed an assertion. ---
#
# javascript, typescript: counted at run time. A preload (`node --require`) wraps Node's
# `assert` module (every function of it, `assert(...)` itself, `.strict`) and, at the first call,
# writes `<nonce> assert <n>` on the channel (inherited by node at `CHANNEL_FD`; it is written
# again at exit with the final count). The nonce reaches the preload through a pipe at
# `NONCE_FD` that it drains and closes before the program runs: the program can write on the
# channel, but a line without the nonce is forged (`channel_tampered`), and no line is zero
# assertions (`tests_not_run`), however the program left (`process.exit(0)` before its tests).
# c, cpp, go, rust, java, bash: a static check before running (`reachable_assertions`): at least
# one assertion of the test part must lie where the program's entry can reach it (in `main` or a
# function named from reachable code; bash: top-level code). A `#[test] fn`, a `func TestX`, a
# `void test_add()` the test part defines and never calls has none.

NONCE_FD = 3
PRELOAD_FILE = ".codeinstruct-asserts.js"
ASSERT_MODULES = ("assert", "node:assert", "assert/strict", "node:assert/strict")
NODE_PRELOAD = """'use strict';
(() => {
  const fs = require('fs');
  const Module = require('module');
  const buffer = Buffer.alloc(64);
  let nonce = '';
  try {
    nonce = buffer.toString('ascii', 0, fs.readSync(%(nonce_fd)d, buffer, 0, 64, null)).trim();
    fs.closeSync(%(nonce_fd)d);
  } catch (error) {}
  let counted = 0;
  const report = () => {
    try { fs.writeSync(%(channel_fd)d, `${nonce} assert ${counted}\\n`); } catch (error) {}
  };
  const count = () => { counted += 1; if (counted === 1) report(); };
  process.on('exit', report);
  const facades = new Map();
  const facade = (original) => {
    if (facades.has(original)) return facades.get(original);
    const wrapped = function (...args) { count(); return Reflect.apply(original, this, args); };
    facades.set(original, wrapped);
    for (const key of Reflect.ownKeys(original)) {
      if (['length', 'name', 'prototype', 'arguments', 'caller'].includes(key)) continue;
      const value = original[key];
      const counts = typeof value === 'function' && typeof key === 'string' && /^[a-z]/.test(key);
      wrapped[key] = counts ? facade(value) : value;
    }
    return wrapped;
  };
  const modules = new Set(%(modules)s);
  const load = Module._load;
  Module._load = function (request, ...rest) {
    const exported = Reflect.apply(load, this, [request, ...rest]);
    return modules.has(request) && typeof exported === 'function' ? facade(exported) : exported;
  };
})();
"""


def node_preload() -> str:
    """The preload of a checked javascript/typescript job."""
    modules = "[" + ", ".join(f"'{name}'" for name in ASSERT_MODULES) + "]"
    return NODE_PRELOAD % {"nonce_fd": NONCE_FD, "channel_fd": CHANNEL_FD, "modules": modules}


def summarize_asserts(lines: list[bytes], nonce: str) -> dict[str, Any]:
    """What a checked job of another language reported: `asserts` counted (the largest count
    of a line with the nonce), `forged` lines without it."""
    seen: dict[str, Any] = {"method": "runtime", "asserts": 0, "forged": 0}
    for raw in lines:
        fields = raw.decode("ascii", "replace").split()
        if len(fields) == 3 and fields[0] == nonce and fields[1] == "assert":
            with contextlib.suppress(ValueError):
                seen["asserts"] = max(seen["asserts"], int(fields[2]))
                continue
        seen["forged"] += 1
    return seen


# What fails a test, per language checked statically (in the test part).
ASSERTIONS = {
    "c": r"\bassert\s*\(|\babort\s*\(|\bexit\s*\(\s*[1-9]",
    "cpp": r"\bassert\s*\(|\babort\s*\(|\bexit\s*\(\s*[1-9]|\bthrow\b",
    "go": r"\bpanic\s*\(|\bos\.Exit\s*\(\s*[1-9]|\blog\.Fatal|\bt\.(?:Errorf?|Fatalf?|Fail(?:Now)?)\b",
    "rust": r"\b(?:debug_)?assert(?:_eq|_ne)?!|\bpanic!|\bunreachable!|process::exit\s*\(\s*[1-9]",
    "java": r"\bthrow\s+new\s+[\w.]*(?:Error|Exception)\b|\bassert\b|System\.exit\s*\(\s*[1-9]",
    "bash": r"\[\[|\[\s|\btest\s|\bexit\s+[1-9]|\breturn\s+[1-9]|\bfalse\b",
}
_HEADERS = {
    "c": r"(?<![\w.>])(\w+)\s*\([^;{}()]*(?:\([^()]*\)[^;{}()]*)*\)\s*(?:const\s*)?(?:noexcept\s*)?\{",
    "go": r"\bfunc\s+(?:\([^)]*\)\s*)?(\w+)\s*(?:\[[^\]]*\])?\s*\([^{]*\{",
    "rust": r"\bfn\s+(\w+)\s*(?:<[^{]*?>)?\s*\([^{;]*\{",
    "java": r"(?<![\w.])(\w+)\s*\([^;{}()]*\)\s*(?:throws\s+[\w.,\s]+)?\{",
    "bash": r"^[ \t]*(?:function[ \t]+([\w-]+)[ \t]*(?:\([ \t]*\))?|([\w-]+)[ \t]*\([ \t]*\))\s*\{",
}
_HEADERS["cpp"] = _HEADERS["c"]
_KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "sizeof", "synchronized", "do",
             "else", "new", "function", "defined"}  # fmt: skip
_C_COMMENTS = re.compile(
    r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.DOTALL
)
_SHELL_COMMENTS = re.compile(r"(?:^|(?<=[\s;]))#[^\n]*")


def _blank(match: re.Match[str]) -> str:
    """A comment or string literal as spaces (offsets kept); strings keep their quotes."""
    text = match.group(0)
    if text[0] in "\"'":
        return text[0] + re.sub(r"[^\n]", " ", text[1:-1]) + text[-1]
    return re.sub(r"[^\n]", " ", text)


def _braces(code: str) -> dict[int, int]:
    """The position of the `}` that closes each `{` (one pass; unclosed: the end)."""
    closing: dict[int, int] = {}
    opened: list[int] = []
    for index, char in enumerate(code):
        if char == "{":
            opened.append(index)
        elif char == "}" and opened:
            closing[opened.pop()] = index
    for index in opened:
        closing[index] = len(code)
    return closing


def _functions(language: str, code: str) -> list[tuple[str, int, int, int]]:
    """(name, header start, body start, body end) of each function, in the order of the text."""
    closing = _braces(code)
    found = []
    for match in re.finditer(_HEADERS[language], code, re.MULTILINE):
        name = next(group for group in match.groups() if group)
        if name not in _KEYWORDS:
            body = match.end() - 1
            found.append((name, match.start(), body, closing.get(body, len(code))))
    return found


# Beyond these the static check counts the tests' assertions without following calls (the
# supervisor runs it before the job, outside the job's limits).
MAX_STATIC_CHARS = 256 * 1024
MAX_STATIC_FUNCTIONS = 2000


def reachable_assertions(language: str, program: str, tests: str) -> int:
    """Assertions of `tests` (appended to `program`, as the supervisor runs them) that the
    program's entry can reach: in `main` (Go: also `init`; bash: top-level code) or in a
    function whose name occurs in reachable code, transitively."""
    text = f"{program}\n\n{tests}"
    tests_start = len(text) - len(tests)
    pattern = _SHELL_COMMENTS if language == "bash" else _C_COMMENTS
    code = pattern.sub(_blank, text)
    assertion = ASSERTIONS[language]
    if language in ("c", "cpp"):  # macros that assert count as assertions where used
        macros = re.findall(rf"^[ \t]*#[ \t]*define[ \t]+(\w+)[^\n]*(?:{assertion})", code, re.M)
        assertion = "|".join([assertion, *(rf"\b{name}\s*\(" for name in macros)])
    found = [m.start() for m in re.finditer(assertion, code) if m.start() >= tests_start]
    if len(code) > MAX_STATIC_CHARS:
        return len(found)
    functions = _functions(language, code)
    if len(functions) > MAX_STATIC_FUNCTIONS:
        return len(found)
    starts = [body for _, _, body, _ in functions]

    def owner(position: int) -> int | None:
        """The innermost function whose body holds `position` (functions nest: the last
        one starting before it that has not ended)."""
        index = bisect.bisect_left(starts, position) - 1
        while index >= 0 and functions[index][3] < position:
            index -= 1
        return index if index >= 0 else None

    def region(index: int) -> str:
        """A function's body (the whole text: -1) without the functions nested in it."""
        begin, end = (0, len(code)) if index == -1 else functions[index][2:]
        parts, cursor = [], begin
        for nested in range(index + 1, len(functions)):
            _, header, _, body_end = functions[nested]
            if header >= end:
                break
            if header >= cursor:
                parts.append(code[cursor:header])
                cursor = body_end + 1
        parts.append(code[cursor:end])
        return " ".join(parts)

    by_name: dict[str, list[int]] = {}
    for index, (name, _, _, _) in enumerate(functions):
        by_name.setdefault(name, []).append(index)
    roots = {"go": ("main", "init"), "bash": ()}.get(language, ("main",))
    reachable = {index for root in roots for index in by_name.get(root, [])}
    frontier = [-1] if language == "bash" else list(reachable)
    while frontier:
        for word in set(re.findall(r"[\w-]+", region(frontier.pop()))) & by_name.keys():
            for other in by_name[word]:
                if other not in reachable:
                    reachable.add(other)
                    frontier.append(other)
    count = 0
    for position in found:
        home = owner(position)
        if (home is None and language == "bash") or home in reachable:
            count += 1
    return count


def static_check(language: str, program: str, tests: str) -> dict[str, Any] | None:
    """The static evidence of a checked job of a language without a run-time count (None for
    the others)."""
    if language not in ASSERTIONS:
        return None
    return {"method": "static", "asserts": reachable_assertions(language, program, tests)}
