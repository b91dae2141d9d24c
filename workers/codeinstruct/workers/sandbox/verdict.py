"""Verdicts from what the supervisor saw (pure): exit status, stderr, and test-case lines."""

from __future__ import annotations

import re
from typing import Any

from codeinstruct.workers.sandbox.jobs import VERDICTS, ExecResult, Verdict

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
    return assess(raw)[0]


# Why a checked job that ran to its end without a failed check still does not pass.
CHECK_REASONS = (
    "check_failed",
    "channel_tampered",
    "exited_early",
    "no_checks",
    "solution_not_called",
    "checks_skipped",
)


def assess(raw: dict[str, Any]) -> tuple[Verdict, str | None]:
    """(verdict, reason) of one supervisor result; the reason says why a checked job failed.

    A checked job passes only when the supervisor saw its end (the status it computed, before
    atexit handlers) with status 0 and exit status 0, no failed check, no line without the job's
    nonce, at least one counted check, a call into the solution made by the tests, and every
    top-level assert of the tests executed.
    """
    verdict = _judge_exit(raw)
    checks = raw.get("checks")
    if checks is None or verdict in ("infra_error", "timeout") or raw.get("memory_exceeded"):
        return verdict, None
    if checks.get("failed"):
        return "fail", "check_failed"
    if checks.get("forged"):
        return "fail", "channel_tampered"
    if not checks.get("ended"):
        return ("fail", "exited_early") if verdict == "pass" else (verdict, None)
    if checks.get("status") != 0 or verdict != "pass":
        return ("error" if verdict == "pass" else verdict), None
    if not checks.get("executed"):
        return "fail", "no_checks"
    if not checks.get("called"):
        return "fail", "solution_not_called"
    if checks.get("skipped"):
        return "fail", "checks_skipped"
    return "pass", None


def _judge_exit(raw: dict[str, Any]) -> Verdict:
    """The verdict from the exit status and stderr alone (unchecked jobs)."""
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


def variant_verdicts(raw: dict[str, Any]) -> list[dict[str, Any]] | None:
    """One `{"verdict", "reason"}` per variant of a job with variants (None for other jobs).

    A variant that reached its end line is judged as a checked job that exited 0 (its own
    status is in the end line); the one running when the job stopped is a timeout, an error
    (memory) or `exited_early`; those that never started are `infra_error` (not counted)."""
    summaries = raw.get("variant_checks")
    if summaries is None:
        return None
    whole = _judge_exit(raw)
    verdicts: list[dict[str, Any]] = []
    for index in range(int(raw.get("variants_total", len(summaries)))):
        verdict: Verdict
        reason: str | None
        if whole == "infra_error" or index >= len(summaries):
            verdict, reason = "infra_error", "not_run"
        elif summaries[index].get("timed_out"):
            verdict, reason = "timeout", None
        elif summaries[index].get("ended"):
            verdict, reason = assess({"exit_code": 0, "checks": summaries[index]})
        elif raw.get("memory_exceeded"):
            verdict, reason = "error", None
        elif raw.get("timed_out"):
            verdict, reason = "timeout", None
        else:
            verdict, reason = "fail", "exited_early"
        verdicts.append({"verdict": verdict, "reason": reason})
    return verdicts


def result_of(raw: dict[str, Any], job_id: str) -> ExecResult:
    """The public result of one supervisor answer."""
    stdout = str(raw.get("stdout", ""))
    passed, failed = count_test_cases(stdout)
    verdict, reason = assess(raw)
    return ExecResult(
        id=job_id,
        verdict=verdict,
        exit_code=raw.get("exit_code"),
        stdout=stdout,
        stderr=str(raw.get("stderr", "")),
        stdout_truncated=bool(raw.get("stdout_truncated")),
        stderr_truncated=bool(raw.get("stderr_truncated")),
        duration=float(raw.get("duration", 0.0)),
        tests_passed=passed,
        tests_failed=failed,
        checks=raw.get("checks"),
        reason=reason,
        variants=variant_verdicts(raw),
        cpu_seconds=raw.get("cpu_seconds"),
    )


def infra_result(job_id: str, reason: str, duration: float = 0.0) -> ExecResult:
    """A sandbox failure: never the code's fault."""
    return ExecResult(job_id, "infra_error", None, "", reason, False, False, duration, None, None)
