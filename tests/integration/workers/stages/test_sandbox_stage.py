"""The SelfCodeAlign execution stage and response pick on hand-made response records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.stages.execute import ExecuteTests, PickResponse
from tests.helpers.stages import stage_context, stage_services

pytestmark = pytest.mark.gvisor

GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
TESTS = "```python\nassert add(2, 3) == 5\n```"


def response(instruction: str, sample: int, text: str, tests: str = TESTS) -> dict[str, object]:
    return {
        "id": f"{instruction}-{sample}",
        "instruction_id": instruction,
        "sample": sample,
        "instruction": "Write add.",
        "response": text,
        "tests": tests,
    }


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[StageContext]:
    # Room for a healthy job on a loaded machine; the looping one still times out.
    sandbox = {"isolation": "gvisor", "workers": 2, "timeoutSeconds": 5}
    with stage_services(tmp_path, sandbox=sandbox) as services:
        yield stage_context(services)


def test_execution_keeps_passing_responses_and_counts_drops(ctx: StageContext) -> None:
    records = [
        response("i1", 0, GOOD),
        response("i1", 1, WRONG),
        response("i1", 2, GOOD),  # same program as sample 0: run once
        response("i2", 0, "```python\ndef add(a, b):\n    while True:\n        pass\n```"),
        response("i2", 1, "```python\ndef add(a, b):\n    return a +\n```"),
        response("i3", 0, "I cannot write code."),
        response("i3", 1, GOOD, "```python\nprint(add(1, 1))\n```"),
        response(
            "i4",
            0,
            "```python\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n"
            "    print(add(int(input()), 1))\n```",
        ),
    ]
    outputs = list(ExecuteTests(ctx.services.spec.sandbox).run(records, ctx))
    kept = [o for o in outputs if not isinstance(o, Drop)]
    drops = Counter(o.reason for o in outputs if isinstance(o, Drop))
    assert sorted(r["id"] for r in kept) == ["i1-0", "i1-2", "i4-0"]
    assert drops == {
        "check_failed": 1,
        "cpu_limit": 1,  # the verdict is timeout; the sandbox says which limit
        "syntax_error": 1,
        "no_code_block": 1,
        "no_assert": 1,
    }
    assert all(r["execution"]["verdict"] == "pass" for r in kept)
    assert kept[0]["execution"]["exit_code"] == 0 and "duration" not in kept[0]["execution"]
    assert ctx.stats.counters["sandbox_ms"] > 0, "time in the sandbox is a stage counter"
    # i1-2 repeats i1-0, and i4-0 is i1-0 once its input-reading main block is stripped; the
    # unparsable i2-1 never reaches the sandbox.
    assert ctx.stats.counters["programs_executed"] == 3
    assert all(r["execution"]["null_killed"] and r["execution"]["mutants"] >= 1 for r in kept)


def test_pick_response_is_one_passing_per_instruction_and_seeded(ctx: StageContext) -> None:
    records = [
        {**response(i, s, GOOD), "execution": {"verdict": "pass"}}
        for i in ("a", "b", "c", "d", "e", "f")
        for s in range(4)
    ]
    first = list(PickResponse().run(records, ctx))
    chosen = [r for r in first if not isinstance(r, Drop)]
    assert sorted(r["instruction_id"] for r in chosen) == ["a", "b", "c", "d", "e", "f"]
    assert all(o.reason == "other_response_chosen" for o in first if isinstance(o, Drop))
    again = [
        r["id"] for r in PickResponse().run(list(reversed(records)), ctx) if not isinstance(r, Drop)
    ]
    assert sorted(again) == sorted(r["id"] for r in chosen)  # input order does not matter
    assert len({r["sample"] for r in chosen}) > 1  # a shuffle, not always the first sample
