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
    "tests_not_run",
)


def assess(raw: dict[str, Any]) -> tuple[Verdict, str | None]:
    """(verdict, reason) of one supervisor result; the reason says why a checked job failed.

    A checked job passes only when the supervisor saw its end (the status it computed, before
    atexit handlers) with status 0 and exit status 0, no failed check, no line without the job's
    nonce, at least one counted check, a call into the solution made by the tests, and every
    top-level assert of the tests executed.
    """
    verdict, reason = judge_exit(raw)
    checks = raw.get("checks")
    if checks is not None and checks.get("method") in ("runtime", "static"):
        return assess_other_language(verdict, reason, checks)
    if checks is None or verdict in ("infra_error", "timeout") or reason is not None:
        return verdict, reason
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


def assess_other_language(
    verdict: Verdict, reason: str | None, checks: dict[str, Any]
) -> tuple[Verdict, str | None]:
    """A checked job of another language than Python that exited 0 passes only with a line of
    its nonce and no forged line (javascript, typescript: counted at run time) or with an
    assertion its entry reaches (the others: `checks.reachable_assertions`)."""
    if verdict != "pass" or reason is not None:
        return verdict, reason
    if checks.get("forged"):
        return "fail", "channel_tampered"
    if not checks.get("asserts"):
        return "fail", "tests_not_run"
    return "pass", None


# Why a job is not a pass, beyond its verdict, from what the supervisor and the host saw.
EXIT_REASONS = (
    "unsupported_language",
    "memory_limit",
    "output_limit",
    "cpu_limit",
    "wall_limit",
    "compile_error",
    "compile_timeout",
    "signal",
)
_ABORT = 6  # SIGABRT: a failed assert() of C and C++


def cpu_used_up(raw: dict[str, Any]) -> bool:
    """Whether the job's CPU time (measured on the host when it was) passed its limit."""
    limit = raw.get("cpu_limit")
    used = raw.get("host_cpu_seconds")
    return bool(raw.get("cpu_exceeded")) or (
        limit is not None and used is not None and float(used) > float(limit)
    )


def judge_exit(raw: dict[str, Any]) -> tuple[Verdict, str | None]:
    """(verdict, reason) from the limits, the exit status and stderr alone (unchecked jobs).

    Python: a traceback ending in AssertionError (or unittest failures) is `fail`, another
    error `error`. Other languages have no traceback to read: their tests are asserts in the
    program, so a non-zero exit status (or an aborted C/C++ assert) is `fail`."""
    if raw.get("internal_error") or raw.get("infra_error"):
        return "infra_error", None
    if raw.get("unsupported"):
        return "error", "unsupported_language"
    if raw.get("memory_exceeded"):
        return "error", "memory_limit"
    if raw.get("compile_timed_out"):
        return "timeout", "compile_timeout"
    if raw.get("compile_error"):
        return "error", "compile_error"
    if cpu_used_up(raw):
        return "timeout", "cpu_limit"
    if raw.get("timed_out"):
        return "timeout", "wall_limit"
    if raw.get("output_exceeded"):
        return "error", "output_limit"
    native = raw.get("language") not in (None, "python")
    if native and raw.get("compiled") is False:
        return "infra_error", "not_started"  # the supervisor failed before the program ran
    if raw.get("exit_code") == 0:
        return "pass", None
    if raw.get("exit_code") is None:
        # Killed by a signal: a crash of the program itself, or an aborted assert.
        if raw.get("language") in ("c", "cpp") and raw.get("signal") == _ABORT:
            return "fail", "signal"
        return "error", "signal"
    if native:
        return "fail", None
    stderr = str(raw.get("stderr", ""))
    name = exception_name(stderr)
    if name == "MemoryError":
        return "error", "memory_limit"
    if name is not None and name.rsplit(".", 1)[-1] in _FAILURES:
        return "fail", None
    unittest = _UNITTEST_FAILED.search(stderr)
    if name is None and unittest and unittest.group(1) == "failures":
        return "fail", None
    return "error", None


def _judge_exit(raw: dict[str, Any]) -> Verdict:
    return judge_exit(raw)[0]


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
        language=raw.get("language") or "python",
        signal=raw.get("signal"),
        cpu_seconds=raw.get("host_cpu_seconds", raw.get("cpu_seconds")),
        sandbox_seconds=raw.get("sandbox_seconds"),
    )


def infra_result(job_id: str, reason: str, duration: float = 0.0) -> ExecResult:
    """A sandbox failure: never the code's fault."""
    return ExecResult(job_id, "infra_error", None, "", reason, False, False, duration, None, None)
