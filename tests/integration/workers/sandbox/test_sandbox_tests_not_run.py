"""Checked jobs of other languages than Python (`Job.tests` set): tests that never execute an
assertion do not pass on exit status 0 (`tests_not_run`). javascript and typescript count
`assert` calls at run time through a nonce'd channel; the compiled languages and bash are
checked statically before running. One warm gVisor pool for the module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codeinstruct.workers.sandbox import ExecResult, Job
from codeinstruct.workers.sandbox.warm_pool import Pool

pytestmark = [pytest.mark.gvisor, pytest.mark.slow]

JS_SOLUTION = "const assert = require('assert');\nfunction add(a, b) { return a + b; }\n"
# (language, solution, tests, expected verdict, expected reason)
CASES: dict[str, tuple[str, str, str, str, str | None]] = {
    "js-called": (
        "javascript",
        JS_SOLUTION,
        "function testAdd() { assert.strictEqual(add(2, 3), 5); }\ntestAdd();\n",
        "pass",
        None,
    ),
    "js-never-called": (
        "javascript",
        JS_SOLUTION,
        "function testAdd() { assert.strictEqual(add(2, 3), 5); }\n",
        "fail",
        "tests_not_run",
    ),
    "js-exit-before-asserts": (
        "javascript",
        JS_SOLUTION,
        "process.exit(0);\nassert.strictEqual(add(2, 3), 5);\n",
        "fail",
        "tests_not_run",
    ),
    "js-callable-form": (
        "javascript",
        JS_SOLUTION,
        "assert(add(2, 3) === 5);\nassert.strict.equal(add(1, 1), 2);\n",
        "pass",
        None,
    ),
    "js-forges-the-channel": (
        "javascript",
        JS_SOLUTION,
        "const fs = require('fs');\ntry { fs.writeSync(1000, 'x assert 9\\n'); } catch (e) {}\n",
        "fail",
        "channel_tampered",
    ),
    "js-failing-assert": (
        "javascript",
        JS_SOLUTION,
        "assert.strictEqual(add(2, 3), 6);\n",
        "fail",
        None,
    ),
    "ts-called": (
        "typescript",
        "import assert from 'assert';\nfunction add(a: number, b: number): number { return a + b; }\n",
        "assert.strictEqual(add(2, 3), 5);\n",
        "pass",
        None,
    ),
    "ts-never-called": (
        "typescript",
        "import assert from 'assert';\nfunction add(a: number, b: number): number { return a + b; }\n",
        "function testAdd(): void { assert.strictEqual(add(2, 3), 5); }\n",
        "fail",
        "tests_not_run",
    ),
    "c-never-called": (
        "c",
        "#include <assert.h>\nint add(int a, int b) { return a + b; }\n",
        "void test_add(void) { assert(add(2, 3) == 5); }\nint main(void) { return 0; }\n",
        "fail",
        "tests_not_run",
    ),
    "c-called": (
        "c",
        "#include <assert.h>\nint add(int a, int b) { return a + b; }\n",
        "void test_add(void) { assert(add(2, 3) == 5); }\n"
        "int main(void) { test_add(); return 0; }\n",
        "pass",
        None,
    ),
    "rust-test-attribute": (
        "rust",
        "fn add(a: i32, b: i32) -> i32 { a + b }\n",
        "#[test]\nfn adds() { assert_eq!(add(2, 3), 5); }\nfn main() {}\n",
        "fail",
        "tests_not_run",
    ),
    "rust-called": (
        "rust",
        "fn add(a: i32, b: i32) -> i32 { a + b }\n",
        "fn main() { assert_eq!(add(2, 3), 5); }\n",
        "pass",
        None,
    ),
    "go-never-called": (
        "go",
        "package main\n\nfunc add(a, b int) int { return a + b }\n",
        'func testAdd() {\n\tif add(2, 3) != 5 {\n\t\tpanic("add")\n\t}\n}\n\nfunc main() {}\n',
        "fail",
        "tests_not_run",
    ),
    "java-never-called": (
        "java",
        "class Solution { static int add(int a, int b) { return a + b; } }\n",
        "public class Main {\n  static void testAdd() {\n"
        '    if (Solution.add(2, 3) != 5) throw new AssertionError("add");\n  }\n'
        "  public static void main(String[] args) {}\n}\n",
        "fail",
        "tests_not_run",
    ),
    "bash-never-called": (
        "bash",
        "add() { echo $(( $1 + $2 )); }\n",
        'test_add() { [[ "$(add 2 3)" == 5 ]] || exit 1; }\n',
        "fail",
        "tests_not_run",
    ),
    "bash-called": (
        "bash",
        "add() { echo $(( $1 + $2 )); }\n",
        'test_add() { [[ "$(add 2 3)" == 5 ]] || exit 1; }\ntest_add\n',
        "pass",
        None,
    ),
}


@pytest.fixture(scope="module")
def ran() -> Iterator[dict[str, ExecResult]]:
    with Pool("gvisor", workers=2, timeout=10) as pool:
        batch = [
            Job(name, solution, 10, language=language, tests=tests)
            for name, (language, solution, tests, _, _) in CASES.items()
        ]
        yield {result.id: result for result in pool.run(batch)}


@pytest.mark.parametrize("name", list(CASES))
def test_verdict_and_reason(ran: dict[str, ExecResult], name: str) -> None:
    _, _, _, verdict, reason = CASES[name]
    result = ran[name]
    assert (result.verdict, result.reason) == (verdict, reason), result.stderr[-800:]


def test_javascript_counts_the_assert_calls(ran: dict[str, ExecResult]) -> None:
    checks = ran["js-callable-form"].checks
    assert checks is not None
    assert (checks["method"], checks["asserts"], checks["forged"]) == ("runtime", 2, 0)
