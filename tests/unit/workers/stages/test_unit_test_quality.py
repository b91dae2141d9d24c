"""XCoder unit tests that measure the sample, not the token budget: the solution's `__main__`
guard is stripped, a cut script is retried then dropped `unit_tests_truncated`, a script that
does not run is dropped `unit_tests_unrunnable` (never scored 0), quality is capped at k. The
executor runs each program for real in a subprocess with no stdin (as the sandbox does) and
reads its output through the sandbox's own verdict code."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.records import Record
from codeinstruct.workers.sandbox import ExecResult, Job
from codeinstruct.workers.sandbox.verdict import result_of
from codeinstruct.workers.services import Services
from codeinstruct.workers.spec import Sampling
from codeinstruct.workers.stages.base import Drop, StageContext, StageOutput
from codeinstruct.workers.stages.quality import MeasureQuality
from codeinstruct.workers.stages.unit_tests import WriteUnitTests, unit_test_program
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.fakes import FakeLLM, Request, truncated
from tests.helpers.llm_scripts import FENCE


class SubprocessExecutor:
    """Runs each program in a fresh interpreter, stdin closed, and judges it like the sandbox."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        self.jobs.extend(jobs)
        results = []
        for job in jobs:
            done = subprocess.run(
                [sys.executable, "-c", job.program],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=60,
            )
            raw = {"exit_code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
            results.append(result_of(raw, job.id))
        return results


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    spec = make_dataset(method="xcoder").spec
    with Services(spec, Ledger(LocalStore(tmp_path), "run")) as services:
        services.provide("sandbox", SubprocessExecutor())
        yield services


def run(services: Services, stage: Any, records: list[Record]) -> list[StageOutput]:
    return list(stage.run(records, StageContext(services, seed=services.spec.seed)))


def script(cases: int, passing: int) -> str:
    lines = [f"print('Test case {i}: {i <= passing}')" for i in range(1, cases + 1)]
    return "\n".join(lines) + "\n"


SOLUTION = (
    f"{FENCE}python\ndef add(a, b):\n    return a + b\n\n"
    "if __name__ == '__main__':\n    a, b = map(int, input().split())\n    print(add(a, b))\n"
    f"{FENCE}"
)


def record(id: str, unit_tests: str, k: int = 4, response: str = SOLUTION) -> Record:
    return {
        "id": id,
        "instruction": "Add two numbers read from a line.",
        "response": response,
        "unit_tests": unit_tests,
        "unit_tests_requested": k,
    }


def test_the_solutions_main_guard_is_stripped_before_the_tests(services: Services) -> None:
    program = unit_test_program(record("a", "print('Test case 1: ' + str(add(1, 2) == 3))\n"))
    assert "input()" not in program and "def add(a, b)" in program
    (scored,) = run(services, MeasureQuality(), [record("a", script(4, 3))])
    assert not isinstance(scored, Drop)
    assert scored["quality"] == 3, "the guard reading stdin would have raised EOFError first"


def test_a_script_that_does_not_run_is_dropped_never_scored_zero(services: Services) -> None:
    records = [
        record("syntax", "print('Test case 1: True'\n"),  # cut mid-call: a SyntaxError
        record("silent", "x = 1\n"),  # runs, prints no test case
        record("ok", script(4, 0)),  # runs, every case fails: a real 0
    ]
    syntax, silent, ok = run(services, MeasureQuality(), records)
    assert isinstance(syntax, Drop) and syntax.reason == "unit_tests_unrunnable"
    assert isinstance(silent, Drop) and silent.reason == "unit_tests_unrunnable"
    assert not isinstance(ok, Drop) and ok["quality"] == 0


def test_quality_is_capped_at_k(services: Services) -> None:
    (scored,) = run(services, MeasureQuality(), [record("a", script(20, 20), k=12)])
    assert not isinstance(scored, Drop) and scored["quality"] == 12


def test_a_cut_script_is_retried_with_more_tokens_then_dropped(services: Services) -> None:
    def answer(request: Request) -> Any:
        return truncated(f"{FENCE}python\nprint('Test case 1: True')\nprint('Test ca")

    llm = FakeLLM(answer)
    services.provide("llm", llm)
    stage = WriteUnitTests(Sampling(max_tokens=512, truncation_max_tokens=2048), 4)
    (output,) = run(services, stage, [record("a", "")])
    assert isinstance(output, Drop) and output.reason == "unit_tests_truncated"
    assert [r.params["max_tokens"] for r in llm.requests] == [512, 1024]
