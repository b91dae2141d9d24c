"""Check counting (pure parts): the rewrite run in-process on our own snippets, the channel's
summary as the supervisor reads it, and the verdict of a checked job."""

from __future__ import annotations

import os
from typing import Any

import pytest

from codeinstruct.workers.sandbox import checks
from codeinstruct.workers.sandbox.verdict import assess

NONCE = "0123456789abcdef"


def run(solution: str, tests: str, precompiled: checks.Precompiled | None = None) -> dict[str, Any]:
    """Run a checked program here (trusted snippets only) and summarize its channel."""
    read, write = os.pipe()
    recorder = checks.Recorder(NONCE, write)
    program = checks.CheckedProgram(solution, tests, recorder, precompiled)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    status = 0
    try:
        exec(program.solution, namespace)
        recorder.solution_done()
        exec(program.tests, namespace)
        checks.collect_and_run(namespace, recorder)
    except AssertionError:
        status = 1
    recorder.end(status, len(program.required_lines - recorder.lines))
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        return checks.summarize(handle.read(), NONCE)


def test_asserts_count_and_failures_are_reported_even_when_swallowed() -> None:
    seen = run(
        "def f(x):\n    return x + 1\n",
        "assert f(1) == 2\ntry:\n    assert f(1) == 3\nexcept AssertionError:\n    pass\n",
    )
    assert seen["ended"] and seen["status"] == 0
    assert seen["executed"] == 2 and seen["failed"] == 1 and seen["failed_lines"] == [3]
    assert seen["called"] and seen["solution_done"]


def test_tautologies_do_not_count_but_a_false_constant_fails() -> None:
    seen = run(
        "def f():\n    return 1\n", "f()\nassert True\nassert 2 == 2\ny = f()\nassert y == y\n"
    )
    assert seen["executed"] == 0 and seen["failed"] == 0
    seen = run("def f():\n    return 1\n", "if f() == 1:\n    pass\nelse:\n    assert False\n")
    assert seen["executed"] == 0
    seen = run("def f():\n    return 1\n", "assert False, 'reached'\n")
    assert seen["failed"] == 1 and seen["status"] == 1


def test_expected_exception_counts_but_a_broad_handler_does_not() -> None:
    solution = "def f(x):\n    raise ValueError(x)\n"
    assert run(solution, "try:\n    f(1)\nexcept ValueError:\n    pass\n")["executed"] == 1
    assert run(solution, "try:\n    f(1)\nexcept Exception:\n    pass\n")["executed"] == 0


def test_uncalled_tests_are_collected_and_run() -> None:
    seen = run(
        "def f(x):\n    return x\n",
        "def test_one():\n    assert f(1) == 1\n\n"
        "def test_called():\n    assert f(2) == 2\n\ntest_called()\n\n"
        "def test_needs_fixture(tmp_path):\n    assert False\n\n"
        "class TestPlain:\n    def test_two(self):\n        assert f(3) == 4\n",
    )
    # test_one and TestPlain.test_two are collected; a test with a parameter is not called.
    assert seen["collected"] == 2
    assert seen["executed"] >= 3 and seen["failed"] >= 1


def test_calls_made_by_the_solution_itself_do_not_count() -> None:
    seen = run("def f():\n    return 1\n\nVALUE = f()\n", "assert VALUE == 1\n")
    assert seen["executed"] == 1 and not seen["called"]


def test_asserts_and_handlers_count_in_every_kind_of_block() -> None:
    """The rewrite reaches every statement list: loops and their else, with, try/finally,
    except* handlers, match cases, and functions nested in methods."""
    tests = (
        "import contextlib\n"
        "for i in range(1):\n    assert f(i) == 1\nelse:\n    assert f(1) == 2\n"
        "while False:\n    pass\nelse:\n    assert f(2) == 3\n"
        "with contextlib.nullcontext():\n    assert f(3) == 4\n"
        "try:\n    assert f(4) == 5\nfinally:\n    assert f(5) == 6\n"
        "try:\n    raise ExceptionGroup('g', [ValueError(1)])\nexcept* ValueError:\n"
        "    assert f(6) == 7\n"
        "match f(7):\n    case 8:\n        assert f(8) == 9\n    case _:\n        pass\n"
        "class TestBox:\n    def test_outer(self):\n        def test_inner():\n"
        "            assert f(9) == 10\n        test_inner()\n"
        "TestBox().test_outer()\n"
        "try:\n    match f(0):\n        case 1:\n            assert f(0) == 0\n"
        "except AssertionError:\n    pass\n"
    )
    seen = run("def f(x):\n    return x + 1\n", tests)
    # 10 asserts ran and the except* handler caught what the test expected; the last assert,
    # in a match case, failed (swallowed, still reported with its line).
    failing = tests[: tests.index("assert f(0) == 0")].count("\n") + 1
    assert seen["executed"] == 11 and seen["failed"] == 1 and seen["failed_lines"] == [failing]
    assert seen["collected"] == 0  # TestBox.test_outer ran: nothing left to collect


def test_skipped_top_level_asserts_are_counted() -> None:
    read, write = os.pipe()
    recorder = checks.Recorder(NONCE, write)
    program = checks.CheckedProgram(
        "X = 1\n", "assert X == 1\nassert X > 0\nfor _ in []:\n    assert 0\n", recorder
    )
    assert program.required_lines == {1, 2}
    os.close(write)
    os.close(read)


def test_summary_marks_foreign_lines_as_forged_and_keeps_failures_after_the_end() -> None:
    lines = [
        f"{NONCE} S",
        f"{NONCE} C",
        "ffffffffffffffff E 0 9 0 0 0",
        f"{NONCE} P 3",
        f"{NONCE} E 0 1 0 0 0",
        f"{NONCE} F 7",
        f"{NONCE} E 0 5 0 0 0",
        "garbage",
    ]
    seen = checks.summarize("\n".join(lines).encode(), NONCE)
    assert seen["forged"] == 3
    assert seen["failed"] == 1 and seen["executed"] == 1 and seen["ended"]


def raw(**checks_seen: Any) -> dict[str, Any]:
    seen = {
        "ended": True,
        "status": 0,
        "solution_done": True,
        "called": True,
        "executed": 2,
        "failed": 0,
        "collected": 0,
        "skipped": 0,
        "forged": 0,
    }
    seen.update(checks_seen)
    return {"exit_code": 0, "signal": None, "timed_out": False, "stderr": "", "checks": seen}


@pytest.mark.parametrize(
    ("change", "verdict", "reason"),
    [
        ({}, "pass", None),
        ({"failed": 1}, "fail", "check_failed"),
        ({"forged": 1}, "fail", "channel_tampered"),
        ({"ended": False, "status": None}, "fail", "exited_early"),
        ({"executed": 0}, "fail", "no_checks"),
        ({"called": False}, "fail", "solution_not_called"),
        ({"skipped": 1}, "fail", "checks_skipped"),
        ({"status": 1}, "error", None),
    ],
)
def test_verdict_of_a_checked_job(change: dict[str, Any], verdict: str, reason: str | None) -> None:
    assert assess(raw(**change)) == (verdict, reason)


def test_exit_status_alone_never_makes_a_checked_job_pass() -> None:
    # The program's end said status 1 but an atexit handler forced exit status 0.
    assert assess(raw(status=1))[0] == "error"
    # The end said 0 but the process then died with status 1.
    assert (
        assess({**raw(), "exit_code": 1, "stderr": "Traceback...\nValueError: x\n"})[0] == "error"
    )
    # A timeout stays a timeout even with checks seen.
    assert assess({**raw(), "timed_out": True})[0] == "timeout"


def test_variants_share_the_compiled_tests_and_count_from_zero_after_reset() -> None:
    read, write = os.pipe()
    recorder = checks.Recorder(NONCE, write)
    tests = "assert f(1) == 2\nassert f(2) == 3\n"
    first = checks.CheckedProgram("def f(x):\n    return x + 1\n", tests, recorder)
    namespace: dict[str, Any] = {}
    exec(first.solution, namespace)
    recorder.solution_done()
    exec(first.tests, namespace)
    assert recorder.executed == 2 and recorder.called
    recorder.reset()
    second = checks.CheckedProgram("def f(x):\n    return x - 1\n", tests, recorder)
    assert second.tests is first.tests and second.required_lines == {1, 2}
    assert (recorder.executed, recorder.failed, recorder.called, recorder.lines) == (
        0,
        0,
        False,
        set(),
    )
    namespace = {}
    exec(second.solution, namespace)
    recorder.solution_done()
    with pytest.raises(AssertionError):
        exec(second.tests, namespace)
    assert recorder.executed == 1 and recorder.failed == 1 and recorder.called
    os.close(write)
    os.close(read)


def test_the_end_line_carries_the_run_cpu_time() -> None:
    read, write = os.pipe()
    recorder = checks.Recorder(NONCE, write)
    recorder.started_cpu -= 0.25  # as if the run had used 250 ms of CPU
    recorder.end(0, 0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        seen = checks.summarize(handle.read(), NONCE)
    assert seen["ended"] and 0.25 <= seen["cpu_seconds"] < 0.5
    # An end line without it (five numbers) still ends the run; the CPU time is unknown.
    assert checks.summarize(f"{NONCE} E 0 1 0 0 0".encode(), NONCE)["cpu_seconds"] is None


def test_checked_code_keeps_the_programs_own_annotations() -> None:
    # The rewrite is compiled from a module that postpones annotations: a checked program must
    # not inherit that (its annotations stay objects, as when it runs unchecked), and one that
    # asks for postponed annotations itself still gets them.
    solution = "def f(x: int) -> int:\n    return x\n"
    tests = "assert f.__annotations__['x'] is int\nassert f(1) == 1\n"
    seen = run(solution, tests)
    assert seen["executed"] == 2 and seen["failed"] == 0
    postponed = "from __future__ import annotations\n\n" + solution
    seen = run(postponed, "assert f.__annotations__['x'] == 'int'\nassert f(1) == 1\n")
    assert seen["executed"] == 2 and seen["failed"] == 0


def _all_cases() -> list[tuple[str, str, str]]:
    from tests.verification_cases import ADVERSARIAL, CROSS_RUN, HONEST

    return [
        (name, solution, tests) for name, solution, tests, _ in ADVERSARIAL + CROSS_RUN + HONEST
    ]


@pytest.mark.parametrize(("name", "solution", "tests"), _all_cases())
def test_code_compiled_on_the_host_is_the_code_the_job_would_compile(
    name: str, solution: str, tests: str
) -> None:
    # What the host ships (through its text form) is, instruction for instruction and constant
    # for constant, the job's own rewrite of the same sources (both are then bound alike).
    built = checks.Precompiled.build([solution], tests, NONCE)
    assert built is not None, name
    shipped = checks.Precompiled.loads(NONCE, built.dumps())
    assert shipped is not None
    tests_code, lines = checks._tests_code(tests, NONCE)
    assert shipped.solutions == [checks._solution_code(solution, NONCE)]
    assert (shipped.tests, shipped.required_lines) == (tests_code, lines)


def test_a_run_of_shipped_code_counts_as_the_jobs_own() -> None:
    solution, tests = "def f(x):\n    return x + 1\n", "assert f(1) == 2\nassert f(2) == 4\n"
    built = checks.Precompiled.build([solution], tests, "token")
    assert built is not None
    shipped = checks.Precompiled.loads("token", built.dumps())
    seen, own = run(solution, tests, shipped), run(solution, tests)
    seen.pop("cpu_seconds")
    own.pop("cpu_seconds")
    assert seen == own
    assert seen["executed"] == 2 and seen["failed_lines"] == [2] and seen["called"]


def test_what_does_not_compile_or_load_is_left_to_the_job() -> None:
    assert checks.Precompiled.build(["def f(:\n"], "assert f()\n", NONCE) is None
    assert checks.Precompiled.build(["def f():\n    pass\n"], "assert (\n", NONCE) is None
    assert checks.Precompiled.loads(NONCE, "not base64 at all!") is None
    assert checks.Precompiled.loads(NONCE, "AAAA") is None
