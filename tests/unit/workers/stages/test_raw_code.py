"""WaveCoder raw code in any language: JSONL rows with a `language` field (CodeSearchNet
style) become seeds as they are, and the generator's prompt names their language."""

from __future__ import annotations

import json
from pathlib import Path

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.methods import wavecoder
from codeinstruct.workers.prompts.wavecoder import format as wc
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.stages.raw_code import ReadRawCode
from codeinstruct.workers.stages.seeds import MineSeeds
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset

ROWS = [
    {"language": "go", "code": "func Add(a int, b int) int {\n\treturn a + b\n}\n"},
    {"language": "java", "code": "int add(int a, int b) { return a + b; }"},
    {"code": "def add(a, b):\n    return a + b\n"},  # no language: the source's default
    {"language": "ruby", "code": "   "},
    ["not", "an", "object"],
]


def test_rows_of_any_language_become_seeds(tmp_path: Path) -> None:
    pool = tmp_path / "csn.jsonl"
    pool.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    dataset = make_dataset(
        method="wavecoder",
        targetSize=2,
        source={"uri": str(pool), "format": "jsonl", "contentField": "code"},
    )
    stages = wavecoder.stages(dataset.spec)
    assert isinstance(stages[0], ReadRawCode) and not any(isinstance(s, MineSeeds) for s in stages)
    stage = stages[0]
    with Services(dataset.spec, Ledger(LocalStore(tmp_path / "out"), "run")) as services:
        ctx = StageContext(services, seed=1)
        out = [o for p in stage.partitions(ctx) for o in stage.read(p, ctx)]
    kept = [o for o in out if not isinstance(o, Drop)]
    assert [(r["language"], r["seed"]) for r in kept] == [
        ("Go", ROWS[0]["code"]),
        ("Java", ROWS[1]["code"]),
        ("Python", ROWS[2]["code"]),
    ]
    assert sorted(o.reason for o in out if isinstance(o, Drop)) == ["empty_code", "not_an_object"]


def test_the_generator_prompt_names_the_language() -> None:
    task = wc.task_definition("summarization")
    content = wc.format_generator(task, "func F() {}", task.good, task.bad, language="Go")[0][
        "content"
    ]
    assert "Source code (Go):\n```go\nfunc F() {}\n```" in content


def test_tasks_in_a_language_the_sandbox_does_not_run_are_unchecked(tmp_path: Path) -> None:
    from codeinstruct.workers.stages.task_execution import CheckTasks

    dataset = make_dataset(method="wavecoder", targetSize=2)
    record = {
        "id": "g",
        "task_type": "repair",
        "language": "Go",
        "seed": ROWS[0]["code"],
        "information": "```go\nfunc Add(a int, b int) int { return a - b }\n```",
        "solution": "```go\nfunc Add(a int, b int) int { return a + b }\n```",
        "judge": {"verdict": "yes"},
    }
    with Services(dataset.spec, Ledger(LocalStore(tmp_path), "run")) as services:
        plan = CheckTasks("report").plan(record, StageContext(services, seed=1))
    assert getattr(plan, "verdict", None) == "unchecked"
