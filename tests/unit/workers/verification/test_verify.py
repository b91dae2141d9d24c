"""`verify` over a stand-in executor (the verdict logic and batching; the sandbox itself is in
tests/integration/workers/verification/test_verification.py), and the samples a record yields."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import pytest

from codeinstruct.workers.sandbox import ExecResult, Job, Verdict
from codeinstruct.workers.verification.samples import Fields, Sample, sample_of, split_program
from codeinstruct.workers.verification.verify import (
    VARIANT_CPU_FACTOR,
    VARIANT_CPU_MARGIN_SECONDS,
    Settings,
    variant_cpu_budget,
    verify,
)


class Scripted:
    """Answers each job (and each variant of a job, as a job of its own code) with the verdict
    `decide(job)` gives; records every batch it got."""

    def __init__(self, decide: Callable[[Job], Verdict]) -> None:
        self.decide = decide
        self.batches: list[list[Job]] = []

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        self.batches.append(list(jobs))
        results = []
        for job in jobs:
            verdict = self.decide(job)
            checks = {"executed": 1, "failed": int(verdict == "fail"), "called": True}
            variants = None
            if job.variants is not None:
                variants = [
                    {"verdict": self.decide(Job(f"{job.id}#{i}", code, tests=job.tests))}
                    for i, code in enumerate(job.variants)
                ]
            result = ExecResult(job.id, verdict, 0, "", "", False, False, 0.05, None, None, checks)
            results.append(dataclasses.replace(result, variants=variants))
        return results


SOLUTION = "def f(x):\n    if x > 0:\n        return x + 1\n    return 0\n"
SAMPLES = {"a": Sample(SOLUTION, "assert f(1) == 2\n"), "b": Sample(SOLUTION, "assert f(2) == 3\n")}


def is_null(job: Job) -> bool:
    return "null variant" in job.program


def test_variants_of_all_passing_samples_go_in_one_batch_null_first() -> None:
    executor = Scripted(lambda job: "pass" if job.program == SOLUTION else "fail")
    outcomes = verify(SAMPLES, executor, Settings(timeout=10, mutants=3), seed="s")
    assert len(executor.batches) == 2
    first, variants = executor.batches
    assert [j.id for j in first] == ["a", "b"] and all(j.tests for j in first)
    assert [j.id for j in variants] == ["a#variants", "b#variants"]
    for job in variants:
        assert job.variants is not None and len(job.variants) == 4
        assert "null variant" in job.variants[0] and SOLUTION not in job.variants
        assert job.timeout is not None and job.timeout <= 10
    for outcome in outcomes.values():
        assert outcome.reason is None
        assert outcome.execution["null_killed"] is True
        assert outcome.execution["mutants"] == outcome.execution["mutants_killed"] == 3


def test_null_variant_passing_is_vacuous_and_weak_tests_need_the_minimum() -> None:
    vacuous = verify(SAMPLES, Scripted(lambda job: "pass"), Settings(mutants=2))
    assert {o.reason for o in vacuous.values()} == {"vacuous_tests"}
    survives = Scripted(lambda job: "fail" if is_null(job) else "pass")
    weak = verify(SAMPLES, survives, Settings(mutants=2, min_mutants_killed=1))
    assert {o.reason for o in weak.values()} == {"weak_tests"}
    assert all(o.execution["mutants_killed"] == 0 for o in weak.values())
    default = verify(SAMPLES, Scripted(lambda job: "fail" if is_null(job) else "pass"))
    assert {o.reason for o in default.values()} == {None}, "by default only the null must fail"


def test_infrastructure_failures_are_never_a_pass() -> None:
    first_run = verify(SAMPLES, Scripted(lambda job: "infra_error"))
    assert {o.reason for o in first_run.values()} == {"infra_error"}
    null_lost = verify(
        SAMPLES, Scripted(lambda job: "infra_error" if is_null(job) else "pass"), Settings()
    )
    assert {o.reason for o in null_lost.values()} == {"infra_error"}
    mutants_lost = verify(
        SAMPLES,
        Scripted(
            lambda job: "fail" if is_null(job) else "infra_error" if "#" in job.id else "pass"
        ),
        Settings(mutants=3),
    )
    assert all(o.reason is None and o.execution["mutants"] == 0 for o in mutants_lost.values())


def test_failed_first_runs_carry_their_reason() -> None:
    outcomes = verify({"a": SAMPLES["a"]}, Scripted(lambda job: "timeout"))
    assert outcomes["a"].reason == "timeout"
    assert outcomes["a"].execution["mutants"] == 0


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"response": "no code here", "tests": "assert 1"}, "no_code_block"),
        ({"response": 42, "tests": "assert 1"}, "no_code_block"),
        ({"response": "```python\ndef f():\n    return 1\n```"}, "no_tests"),
        ({"response": "```python\ndef f():\n    return 1\n```", "tests": None}, "no_tests"),
        ({"response": "```python\ndef f():\n    return 1\n```", "tests": "f()"}, "no_assert"),
        ({"response": "```python\ndef f(:\n```", "tests": "assert f()"}, "syntax_error"),
        ({}, "no_code_block"),
        ({"program": ""}, "no_code_block"),
        ({"program": "def f():\n    return 1\n"}, "no_tests"),
        ({"program": "assert 1 == 1\n"}, "no_code_block"),
    ],
)
def test_records_without_code_or_tests_are_rejected_with_a_reason(
    record: dict[str, object], expected: str
) -> None:
    assert sample_of(record) == expected


def test_samples_from_fields_and_programs() -> None:
    record = {
        "output": "```python\ndef f():\n    return 1\n```",
        "check": "```python\nassert f() == 1\n```",
    }
    sample = sample_of(record, Fields(response="output", tests="check"))
    assert sample == Sample("def f():\n    return 1\n", "assert f() == 1\n")
    program = (
        '"""Doc."""\nimport math\n\nLIMIT = 3\n\n@staticmethod\ndef helper(x):\n    return x\n\n'
        "class Shape:\n    pass\n\n@decorated\ndef test_shape():\n    assert Shape()\n\nassert helper(1) == 1\n"
    )
    split = split_program(program)
    assert isinstance(split, Sample)
    assert split.solution.endswith("class Shape:\n    pass\n\n")
    assert split.tests.startswith("@decorated\ndef test_shape():")


def test_the_variants_cpu_budget_follows_the_original_runs_cpu_time() -> None:
    def ran(checks: dict[str, object] | None) -> ExecResult:
        return ExecResult("a", "pass", 0, "", "", False, False, 0.5, None, None, checks)

    cpu = 0.2
    expected = VARIANT_CPU_FACTOR * cpu + VARIANT_CPU_MARGIN_SECONDS
    assert variant_cpu_budget(ran({"cpu_seconds": cpu}), timeout=10) == pytest.approx(expected)
    assert variant_cpu_budget(ran({"cpu_seconds": 60.0}), timeout=10) == 10
    # A sandbox that does not report it (an older service): the wall budget alone.
    assert variant_cpu_budget(ran({"executed": 1}), timeout=10) is None
    assert variant_cpu_budget(ran(None), timeout=10) is None


def test_sandbox_time_counts_what_the_sandbox_spent_on_each_job() -> None:
    # The fork of a job's process is part of its sandbox time (`sandbox_seconds`), not only
    # its run (`duration`); a result without it (no sandbox answered) counts its duration.
    class Forked(Scripted):
        def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
            results = super().run(jobs)
            known = [dataclasses.replace(r, sandbox_seconds=0.2) for r in results[:-1]]
            return [*known, results[-1]]

    counted: dict[str, int] = {}

    def count(name: str, value: int) -> None:
        counted[name] = counted.get(name, 0) + value

    executor = Forked(lambda job: "fail" if is_null(job) else "pass")
    verify(SAMPLES, executor, Settings(mutants=1), count=count)
    # Two first runs, then two variant jobs: in each batch one result without sandbox time.
    assert counted["sandbox_ms"] == 2 * (200 + 50)
