from __future__ import annotations

from typing import Any

import pytest

from codeinstruct.workers.sandbox.verdict import (
    assess,
    count_test_cases,
    exception_name,
    infra_result,
    judge,
    judge_exit,
    result_of,
)

ASSERTION = 'Traceback (most recent call last):\n  File "main.py", line 3, in <module>\n    assert f(1) == 2\nAssertionError\n'
NAME_ERROR = "Traceback (most recent call last):\n  File \"main.py\", line 1, in <module>\nNameError: name 'x' is not defined\n"


def test_exit_zero_passes_even_with_stderr() -> None:
    assert judge({"exit_code": 0, "stderr": "DeprecationWarning: x"}) == "pass"


def test_assertion_is_a_failure_other_exceptions_are_errors() -> None:
    assert judge({"exit_code": 1, "stderr": ASSERTION}) == "fail"
    assert judge({"exit_code": 1, "stderr": NAME_ERROR}) == "error"
    assert (
        judge({"exit_code": 1, "stderr": '  File "x", line 1\nSyntaxError: invalid syntax\n'})
        == "error"
    )
    assert judge({"exit_code": 3, "stderr": ""}) == "error"


def test_chained_traceback_uses_the_last_exception() -> None:
    chained = (
        NAME_ERROR
        + "\nDuring handling of the above exception, another exception occurred:\n\n"
        + ASSERTION
    )
    assert exception_name(chained) == "AssertionError"
    assert judge({"exit_code": 1, "stderr": chained}) == "fail"
    assert exception_name(ASSERTION + "\n" + NAME_ERROR) == "NameError"


def test_unittest_failures_fail_and_its_errors_are_errors() -> None:
    report = "F\n======\nFAIL: test_x\n----\nRan 1 test in 0.001s\n\nFAILED (failures=1)\n"
    assert judge({"exit_code": 1, "stderr": report}) == "fail"
    assert judge({"exit_code": 1, "stderr": report.replace("failures", "errors")}) == "error"


def test_timeout_and_signals_and_infra() -> None:
    assert judge({"exit_code": None, "signal": 9, "timed_out": True}) == "timeout"
    assert judge({"exit_code": None, "signal": 11, "timed_out": False}) == "error"
    assert judge({"internal_error": "boom"}) == "infra_error"
    assert judge({"exit_code": None, "unsupported": True}) == "error"


def test_test_case_lines() -> None:
    stdout = (
        "noise\nTest case 1: True\nTest case 2: False\n  Test case 3 : True\nTest case 4: maybe\n"
    )
    assert count_test_cases(stdout) == (2, 1)
    assert count_test_cases("no cases here\n") == (None, None)
    # A case printed twice counts once, with its last value.
    assert count_test_cases("Test case 1: False\nTest case 1: True\n") == (1, 0)


def test_result_of_and_infra_result() -> None:
    raw = {
        "exit_code": 0,
        "stdout": "Test case 0: True\n",
        "stderr": "",
        "stdout_truncated": True,
        "duration": 0.25,
    }
    result = result_of(raw, "job-1")
    assert (result.id, result.verdict, result.tests_passed, result.tests_failed) == (
        "job-1",
        "pass",
        1,
        0,
    )
    assert result.stdout_truncated and not result.stderr_truncated
    infra = infra_result("job-2", "sandbox died")
    assert (infra.verdict, infra.exit_code, infra.stderr) == ("infra_error", None, "sandbox died")


def test_memory_exceeded_is_an_error_even_when_also_timed_out() -> None:
    assert (
        judge({"exit_code": None, "signal": 9, "memory_exceeded": True, "timed_out": True})
        == "error"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # The host measured more CPU than the limit: a timeout, even if the program then ended.
        ({"exit_code": 0, "host_cpu_seconds": 2.5, "cpu_limit": 2.0}, ("timeout", "cpu_limit")),
        ({"exit_code": 0, "host_cpu_seconds": 1.5, "cpu_limit": 2.0}, ("pass", None)),
        (
            {"exit_code": None, "signal": 9, "timed_out": True, "cpu_exceeded": True},
            ("timeout", "cpu_limit"),
        ),
        (
            {"exit_code": None, "signal": 9, "timed_out": True, "wall_exceeded": True},
            ("timeout", "wall_limit"),
        ),
        ({"exit_code": None, "signal": 9, "output_exceeded": True}, ("error", "output_limit")),
        ({"exit_code": None, "signal": 9, "memory_exceeded": True}, ("error", "memory_limit")),
        (
            {"exit_code": 1, "stderr": "Traceback (most recent call last):\nMemoryError\n"},
            ("error", "memory_limit"),
        ),
        ({"exit_code": None, "signal": 11}, ("error", "signal")),
        ({"exit_code": None, "unsupported": True}, ("error", "unsupported_language")),
        # Other languages: the compiler failed (the supervisor's channel said so).
        (
            {"language": "rust", "exit_code": 1, "compiled": False, "compile_error": True},
            ("error", "compile_error"),
        ),
        (
            {"language": "java", "exit_code": None, "timed_out": True, "compile_timed_out": True},
            ("timeout", "compile_timeout"),
        ),
        # It compiled: an assert that failed exits non-zero (or aborts, in C).
        ({"language": "go", "exit_code": 2, "compiled": True}, ("fail", None)),
        ({"language": "c", "exit_code": None, "signal": 6, "compiled": True}, ("fail", "signal")),
        ({"language": "c", "exit_code": None, "signal": 11, "compiled": True}, ("error", "signal")),
        # Node aborts when it runs out of memory: not an assert.
        (
            {"language": "javascript", "exit_code": None, "signal": 6, "compiled": True},
            ("error", "signal"),
        ),
        ({"language": "c", "exit_code": 0, "compiled": True}, ("pass", None)),
        # Never got as far as compiling: the supervisor's failure, not the program's.
        ({"language": "c", "exit_code": 1, "compiled": False}, ("infra_error", "not_started")),
    ],
)
def test_reasons(raw: dict[str, Any], expected: tuple[str, str | None]) -> None:
    assert judge_exit(raw) == expected
    result = result_of({"stdout": "", "stderr": "", **raw}, "j")
    assert (result.verdict, result.reason) == expected


def test_a_checked_job_over_its_cpu_time_is_a_timeout() -> None:
    checks = {"executed": 3, "failed": 0, "called": True, "ended": True, "status": 0}
    raw = {"exit_code": 0, "checks": checks, "host_cpu_seconds": 3.0, "cpu_limit": 1.0}
    assert assess(raw) == ("timeout", "cpu_limit")
    assert assess({**raw, "host_cpu_seconds": 0.5}) == ("pass", None)
