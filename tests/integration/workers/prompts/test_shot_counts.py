"""The few-shot counts of S->C, C->I and I->R come from the spec (defaults 8 / 8 / 1): the
scripted server counts the example turns of each request."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.runner import Runner
from tests.helpers.llm_scripts import generator, seed_source, selfcodealign_answer
from tests.helpers.specs import make_dataset
from tests.openai_server import FakeOpenAI

pytestmark = pytest.mark.slow


def shots_per_step(tmp_path: Path, **selfcodealign: int) -> dict[str, set[int]]:
    seen: dict[str, set[int]] = defaultdict(set)

    def answer(kind: str, body: dict[str, Any]) -> str:
        messages = body["messages"]
        query = messages[-1]["content"]
        step = "concepts" if query.startswith("```") else query.split(":")[0].split(">")[0]
        seen[step].add(sum(m["role"] == "assistant" for m in messages))
        return selfcodealign_answer(kind, body)

    with FakeOpenAI(answer) as server:
        dataset = make_dataset(
            source={"uri": str(seed_source(tmp_path / "src", 3))},
            generator=generator(server, sampling={"samplesPerInstruction": 1}),
            output={"uri": str(tmp_path / "out")},
            decontamination={"benchmarks": []},
            selfcodealign=selfcodealign,
        )
        Runner(dataset, progress=False).run(until="responses")
    return dict(seen)


def test_default_shot_counts_are_the_references(tmp_path: Path) -> None:
    seen = shots_per_step(tmp_path)
    assert seen["concepts"] == {8} and seen["Concepts"] == {8} and seen["<instruction"] == {1}


def test_shot_counts_are_spec_fields(tmp_path: Path) -> None:
    seen = shots_per_step(tmp_path, conceptShots=3, instructionShots=0, responseShots=2)
    assert seen["concepts"] == {3} and seen["Concepts"] == {0} and seen["<instruction"] == {2}
