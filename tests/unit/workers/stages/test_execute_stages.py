"""The execute and quality stages' logic against the in-process FakeExecutor: verdicts to drop
reasons, one run per distinct program, and infrastructure failures never scored as code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.stages.execute import ExecuteTests
from codeinstruct.workers.stages.quality import MeasureQuality
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.fakes import FakeExecutor

TESTS = "```python\nassert add(2, 3) == 5\n```"


def verdict_of(program: str) -> str:
    if "a - b" in program or "raise NotImplementedError" in program:  # a mutant, the null variant
        return "fail"
    if "while True" in program:
        return "timeout"
    if "crash" in program:
        return "infra_error"
    return "pass"


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor(verdict_of)  # type: ignore[arg-type]


@pytest.fixture
def ctx(tmp_path: Path, executor: FakeExecutor) -> Iterator[StageContext]:
    spec = make_dataset().spec
    with Services(spec, Ledger(LocalStore(tmp_path), "run")) as services:
        services.provide("sandbox", executor)
        yield StageContext(services, spec.seed)


def response(rid: str, body: str, tests: str = TESTS) -> dict[str, str]:
    return {
        "id": rid,
        "instruction_id": rid[0],
        "response": f"```python\n{body}\n```",
        "tests": tests,
    }


def test_verdicts_become_drop_reasons_and_repeats_run_once(
    ctx: StageContext, executor: FakeExecutor
) -> None:
    records = [
        response("a0", "def add(a, b):\n    return a + b"),
        response("a1", "def add(a, b):\n    return a + b"),  # the same program as a0
        response("b0", "def add(a, b):\n    return a - b"),
        response("c0", "def add(a, b):\n    while True:\n        pass"),
        response("d0", "def add(a, b):\n    crash()"),
        response("e0", "def add(a, b):\n    return a + b", "```python\nprint(1)\n```"),
        {"id": "f0", "instruction_id": "f", "response": "No code.", "tests": TESTS},
    ]
    outputs = list(ExecuteTests(ctx.services.spec.sandbox).run(records, ctx))
    kept = [o["id"] for o in outputs if not isinstance(o, Drop)]
    drops = Counter(o.reason for o in outputs if isinstance(o, Drop))
    assert kept == ["a0", "a1"]
    assert drops == {"fail": 1, "timeout": 1, "infra_error": 1, "no_assert": 1, "no_code_block": 1}
    checked = [j for j in executor.jobs if j.variants is None]
    assert len(checked) == 4 == ctx.stats.counters["programs_executed"]
    # The passing program's tests run once more, against its null variant and mutants.
    assert [j.id for j in executor.jobs if j.variants] == ["a0#variants"]
    assert ctx.stats.counters["verdict_pass"] == 2


def test_quality_counts_passed_cases_and_drops_infra_errors(
    ctx: StageContext, executor: FakeExecutor
) -> None:
    records = [
        {"id": "ok", "response": "def f():\n    return 1\n", "unit_tests": "print(1)\n"},
        {"id": "box", "response": "crash()\n", "unit_tests": "print(1)\n"},
    ]
    outputs = list(MeasureQuality().run(records, ctx))
    # print(1) prints no test case: the script measured nothing, so it is dropped, not scored 0.
    assert isinstance(outputs[0], Drop) and outputs[0].reason == "unit_tests_unrunnable"
    assert outputs[0].record["quality_run"]["verdict"] == "pass"
    assert isinstance(outputs[1], Drop) and outputs[1].reason == "infra_error"
    assert "quality" not in outputs[1].record, "an infrastructure failure is never scored"


def test_a_record_of_another_language_runs_as_a_job_of_that_language(
    ctx: StageContext, executor: FakeExecutor
) -> None:
    record = {
        "id": "j0",
        "instruction_id": "j",
        "language": "javascript",
        "response": "```javascript\nfunction add(a, b) { return a + b; }\n```",
        "tests": "```js\nconst assert = require('assert');\nassert.strictEqual(add(2, 3), 5);\n```",
    }
    executor.verdict = lambda program: "fail" if "null variant" in program else "pass"  # type: ignore[assignment,return-value]
    (kept,) = ExecuteTests(ctx.services.spec.sandbox).run([record], ctx)
    assert not isinstance(kept, Drop)
    # Checked jobs: the tests travel apart, so the sandbox can tell that they asserted.
    tests = "const assert = require('assert');\nassert.strictEqual(add(2, 3), 5);\n"
    assert [(j.id, j.language, j.tests) for j in executor.jobs] == [
        ("j0", "javascript", tests),
        ("j0#null", "javascript", tests),
    ]
    assert kept["program"].startswith("function add(a, b)")
    assert kept["execution"]["null_killed"] is True
