"""The reduced verification of samples in other languages, against a stand-in executor: the
program must pass, its null variant (every solution function fails at its first call) must not,
and a null variant that does not build, or a solution with nothing to null, proves nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from codeinstruct.workers.sandbox import ExecResult, Job
from codeinstruct.workers.verification.language_samples import (
    LanguageSample,
    language_sample_of,
    verify_languages,
)
from codeinstruct.workers.verification.language_variants import null_variant
from codeinstruct.workers.verification.verify import Settings

JS_TESTS = (
    "```javascript\nconst assert = require('assert');\nassert.strictEqual(add(2, 3), 5);\n```"
)


@dataclass
class ScriptedRuns:
    """A stand-in for the sandbox: the verdict and reason of a job by the program's content
    (`null variant` in it marks a null variant); every job is recorded."""

    null: tuple[str, str | None] = ("fail", None)
    first: tuple[str, str | None] = ("pass", None)
    jobs: list[Job] = field(default_factory=list)

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        self.jobs.extend(jobs)
        out = []
        for job in jobs:
            verdict, reason = self.null if "null variant" in job.program else self.first
            out.append(
                ExecResult(
                    job.id,
                    verdict,
                    0 if verdict == "pass" else 1,
                    "",
                    "",
                    False,
                    False,
                    0.01,
                    None,
                    None,
                    reason=reason,
                )
            )
        return out


def js(body: str, tests: str = JS_TESTS) -> dict[str, str]:
    return {"language": "javascript", "response": f"```javascript\n{body}\n```", "tests": tests}


def test_a_passing_program_whose_null_variant_fails_is_verified() -> None:
    sample = language_sample_of(js("function add(a, b) { return a + b; }"))
    assert isinstance(sample, LanguageSample)
    runs = ScriptedRuns()
    outcome = verify_languages({"s": sample}, runs, Settings(timeout=5))["s"]
    assert outcome.reason is None
    assert outcome.execution["null_killed"] is True
    assert [(j.id, j.language) for j in runs.jobs] == [
        ("s", "javascript"),
        ("s#null", "javascript"),
    ]
    assert 'throw new Error("null variant")' in runs.jobs[1].program
    assert runs.jobs[1].tests is not None
    assert runs.jobs[1].tests.endswith("assert.strictEqual(add(2, 3), 5);\n")


def test_tests_that_pass_against_the_null_variant_are_vacuous() -> None:
    sample = language_sample_of(js("function add(a, b) { return a + b; }"))
    assert isinstance(sample, LanguageSample)
    outcome = verify_languages({"s": sample}, ScriptedRuns(null=("pass", None)), Settings())["s"]
    assert outcome.reason == "vacuous_tests"


def test_a_null_variant_that_does_not_compile_proves_nothing() -> None:
    sample = LanguageSample(
        "rust", "fn add(a: i32) -> i32 { a }\n", "fn main() { assert_eq!(add(1), 1); }\n"
    )
    runs = ScriptedRuns(null=("error", "compile_error"))
    assert verify_languages({"s": sample}, runs, Settings())["s"].reason == "null_variant_not_built"


def test_the_first_run_reason_is_the_drop_reason_and_no_null_runs_after_it() -> None:
    sample = LanguageSample(
        "go",
        "package main\n\nfunc F() int { return 1 }\n",
        "func main() { if F() != 1 { panic(1) } }\n",
    )
    runs = ScriptedRuns(first=("error", "compile_error"))
    assert verify_languages({"s": sample}, runs, Settings())["s"].reason == "compile_error"
    assert [j.id for j in runs.jobs] == ["s"]


def test_a_solution_without_functions_cannot_be_shown_to_matter() -> None:
    sample = language_sample_of(js("const add = 5;", JS_TESTS.replace("add(2, 3)", "add")))
    assert isinstance(sample, LanguageSample)
    runs = ScriptedRuns()
    assert verify_languages({"s": sample}, runs, Settings())["s"].reason == "vacuous_tests"
    assert [j.id for j in runs.jobs] == ["s"]


def test_samples_without_code_or_failable_tests_are_not_run() -> None:
    assert language_sample_of({**js("x"), "response": "no code"}) == "no_code_block"
    console = "```javascript\nconsole.assert(add(2, 3) === 5);\n```"
    assert language_sample_of(js("function add(a, b) { return a + b; }", console)) == "no_assert"


def test_null_variants_per_language_keep_main_and_go_imports_compiling() -> None:
    go = null_variant(
        "go",
        'package main\n\nimport (\n\t"strings"\n\t"fmt"\n)\n\nfunc Up(s string) string { return strings.ToUpper(s) }\n',
        'func main() { fmt.Println(Up("a")) }',
    )
    assert go is not None
    assert '_ "strings"' in go and '\t"fmt"' in go and 'panic("null variant")' in go
    cpp = null_variant("cpp", "int add(int a) { return a; }\nint main() { return add(1); }\n")
    assert cpp == "int add(int a) { throw 0; }\nint main() { return add(1); }\n"
    rust = null_variant("rust", "impl S { fn f(&self) -> i32 { 1 } }\n")
    assert rust == 'impl S { fn f(&self) -> i32 { panic!("null variant") } }\n'
    java = null_variant("java", "class A { static int f() { return 1; } }\n")
    assert java == 'class A { static int f() { throw new RuntimeException("null variant"); } }\n'
    arrow = null_variant("typescript", "const f = (x: number): number => x + 1;\n")
    assert (
        arrow
        == 'const f = (x: number): number => (() => { throw new Error("null variant"); })();\n'
    )
    assert null_variant("javascript", "const x = 1;\n") is None
