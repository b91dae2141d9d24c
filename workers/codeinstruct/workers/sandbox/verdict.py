"""Verdicts from what the supervisor saw (pure): exit status, stderr, and test-case lines."""

from __future__ import annotations

import re
from typing import Any

from codeinstruct.workers.sandbox.jobs import VERDICTS, Result, Verdict

__all__ = ["VERDICTS", "Verdict", "judge", "result_of"]


_TEST_CASE = re.compile(r"^\s*Test case (\d+)\s*:\s*(True|False)\s*$", re.MULTILINE)
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
# Failures of the program's own checks, as opposed to crashes.
_FAILURES = ("AssertionError",)
_UNITTEST_FAILED = re.compile(r"^FAILED \((failures|errors)=\d+", re.MULTILINE)


def count_test_cases(stdout: str) -> tuple[int | None, int | None]:
    """(passed, failed) from `Test case <i>: True|False` lines; (None, None) when there are none.

    A case reported twice counts once, with its last value.
    """
    cases: dict[str, bool] = {}
    for number, value in _TEST_CASE.findall(stdout):
        cases[number] = value == "True"
    if not cases:
        return None, None
    passed = sum(cases.values())
    return passed, len(cases) - passed


def exception_name(stderr: str) -> str | None:
    """The type of the exception a Python traceback ends with (None when there is none)."""
    start = stderr.rfind("Traceback (most recent call last):")
    tail = stderr[start:] if start >= 0 else stderr
    name = None
    for line in tail.splitlines():
        if not line or line[0].isspace() or line.startswith("Traceback"):
            continue
        match = _EXCEPTION.match(line)
        if match and (start >= 0 or "Error" in match.group(1)):
            name = match.group(1)
    return name


def judge(raw: dict[str, Any]) -> Verdict:
    """The verdict of one supervisor result (see `supervisor.py` for its fields)."""
    if raw.get("internal_error") or raw.get("infra_error"):
        return "infra_error"
    if raw.get("unsupported"):
        return "error"
    if raw.get("memory_exceeded"):
        return "error"
    if raw.get("timed_out"):
        return "timeout"
    if raw.get("exit_code") == 0:
        return "pass"
    if raw.get("exit_code") is None:
        return "error"  # killed by a signal: memory, a crash of the program itself
    stderr = str(raw.get("stderr", ""))
    name = exception_name(stderr)
    if name is not None and name.rsplit(".", 1)[-1] in _FAILURES:
        return "fail"
    unittest = _UNITTEST_FAILED.search(stderr)
    if name is None and unittest and unittest.group(1) == "failures":
        return "fail"
    return "error"


def result_of(raw: dict[str, Any], job_id: str) -> Result:
    """The public result of one supervisor answer."""
    stdout = str(raw.get("stdout", ""))
    passed, failed = count_test_cases(stdout)
    return Result(
        id=job_id,
        verdict=judge(raw),
        exit_code=raw.get("exit_code"),
        stdout=stdout,
        stderr=str(raw.get("stderr", "")),
        stdout_truncated=bool(raw.get("stdout_truncated")),
        stderr_truncated=bool(raw.get("stderr_truncated")),
        duration=float(raw.get("duration", 0.0)),
        tests_passed=passed,
        tests_failed=failed,
    )


def infra_result(job_id: str, reason: str, duration: float = 0.0) -> Result:
    """A sandbox failure: never the code's fault."""
    return Result(job_id, "infra_error", None, "", reason, False, False, duration, None, None)
