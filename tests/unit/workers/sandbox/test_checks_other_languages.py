"""The static `tests_not_run` check of compiled languages and bash, the node preload's text
and the summary of what a checked javascript/typescript job reported (pure)."""

from __future__ import annotations

import pytest

from codeinstruct.workers.sandbox import checks
from codeinstruct.workers.sandbox.verdict import assess

C_SOLUTION = "#include <assert.h>\nint add(int a, int b) { return a + b; }\n"


@pytest.mark.parametrize(
    ("language", "solution", "tests", "expected"),
    [
        # A helper that asserts, reached through another function main calls.
        (
            "c",
            C_SOLUTION,
            "static void check(int ok) { assert(ok); }\nvoid test_add(void) { check(add(2, 3) == 5); }\n"
            "int main(void) { test_add(); return 0; }\n",
            1,
        ),
        # Named only in a comment or a string: not a call.
        (
            "c",
            C_SOLUTION,
            "void test_add(void) { assert(add(2, 3) == 5); }\n#include <stdio.h>\n"
            'int main(void) { /* test_add(); */ puts("test_add"); return 0; }\n',
            0,
        ),
        # An asserting macro used in main counts; the asserts of the solution never do.
        (
            "cpp",
            "#include <cassert>\nint add(int a, int b) { assert(a >= 0); return a + b; }\n",
            "#define CHECK(x) assert(x)\nint main() { CHECK(add(2, 3) == 5); }\n",
            1,
        ),
        ("cpp", "int add(int a, int b) { assert(a >= 0); return a + b; }\n", "int main() {}\n", 0),
        (
            "go",
            "package main\n\nfunc add(a, b int) int { return a + b }\n",
            'func init() {\n\tif add(2, 3) != 5 {\n\t\tpanic("add")\n\t}\n}\n\nfunc main() {}\n',
            1,
        ),
        (
            "rust",
            "fn add(a: i32, b: i32) -> i32 { a + b }\n",
            "#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() { assert_eq!(super::add(2, 3), 5); }\n}\n"
            "fn main() {}\n",
            0,
        ),
        (
            "rust",
            "fn add(a: i32, b: i32) -> i32 { a + b }\n",
            "fn check_all() {\n    assert_eq!(add(2, 3), 5);\n    assert!(add(0, 0) == 0);\n}\n"
            "fn main() { check_all(); }\n",
            2,
        ),
        (
            "java",
            "class Solution { static int add(int a, int b) { return a + b; } }\n",
            "public class Main {\n  static void testAdd() {\n"
            '    if (Solution.add(2, 3) != 5) throw new AssertionError("add");\n  }\n'
            "  public static void main(String[] args) { testAdd(); }\n}\n",
            1,
        ),
        ("bash", "add() { echo $(( $1 + $2 )); }\n", '[[ "$(add 2 3)" == 5 ]] || exit 1\n', 2),
        (
            "bash",
            "add() { echo $(( $1 + $2 )); }\n",
            'function test_add {\n  [[ "$(add 2 3)" == 5 ]] || exit 1\n}\n# test_add\n',
            0,
        ),
    ],
)
def test_reachable_assertions(language: str, solution: str, tests: str, expected: int) -> None:
    assert checks.reachable_assertions(language, solution, tests) == expected


def test_a_long_call_chain_is_followed_to_its_assertion() -> None:
    functions = "".join(f"void f{i}(void) {{ f{i + 1}(); }}\n" for i in range(1500))
    tests = f"{functions}void f1500(void) {{ assert(1 + 1 == 2); }}\nint main(void) {{ f0(); }}\n"
    assert checks.reachable_assertions("c", C_SOLUTION, tests) == 1
    assert checks.reachable_assertions("c", C_SOLUTION, tests.replace("{ f0(); }", "{}")) == 0


def test_beyond_the_function_cap_assertions_are_counted_without_following_calls() -> None:
    many = "".join(f"void g{i}(void) {{}}\n" for i in range(checks.MAX_STATIC_FUNCTIONS))
    tests = f"{many}void test_add(void) {{ assert(add(2, 3) == 5); }}\nint main(void) {{}}\n"
    assert checks.reachable_assertions("c", C_SOLUTION, tests) == 1


def test_bash_main_is_not_called_by_itself() -> None:
    tests = 'main() { [[ "$(add 2 3)" == 5 ]] || exit 1; }\n'
    assert checks.reachable_assertions("bash", "add() { echo $(( $1 + $2 )); }\n", tests) == 0
    assert checks.reachable_assertions("bash", "", tests + 'main "$@"\n') == 2


def test_interpreted_node_languages_have_no_static_check() -> None:
    assert checks.static_check("javascript", "x", "y") is None
    assert checks.static_check("go", "package main\n", "func main() {}\n") == {
        "method": "static",
        "asserts": 0,
    }


def test_node_preload_names_the_channel_and_nonce_descriptors() -> None:
    text = checks.node_preload()
    assert f"fs.readSync({checks.NONCE_FD}," in text
    assert f"fs.writeSync({checks.CHANNEL_FD}," in text
    assert "'node:assert/strict'" in text


def test_summarize_asserts_keeps_the_largest_count_and_counts_forged_lines() -> None:
    lines = [b"n0nce assert 1", b"n0nce assert 4", b"other assert 9", b"n0nce assert x"]
    assert checks.summarize_asserts(lines, "n0nce") == {
        "method": "runtime",
        "asserts": 4,
        "forged": 2,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"exit_code": 0, "language": "go", "compiled": True}, ("pass", None)),
        (
            {
                "exit_code": 0,
                "language": "javascript",
                "checks": {"method": "runtime", "asserts": 0},
            },
            ("fail", "tests_not_run"),
        ),
        (
            {
                "exit_code": 0,
                "language": "javascript",
                "checks": {"method": "runtime", "asserts": 3, "forged": 1},
            },
            ("fail", "channel_tampered"),
        ),
        (
            {
                "exit_code": 0,
                "language": "rust",
                "compiled": True,
                "checks": {"method": "static", "asserts": 1},
            },
            ("pass", None),
        ),
        # A failed run keeps its own verdict and reason.
        (
            {
                "exit_code": None,
                "language": "c",
                "signal": 6,
                "compiled": True,
                "checks": {"method": "static", "asserts": 0},
            },
            ("fail", "signal"),
        ),
    ],
)
def test_assess_other_languages(raw: dict[str, object], expected: tuple[str, str | None]) -> None:
    assert assess(raw) == expected
