"""`generator.api: completion`: the same stages send one text of numbered few-shot examples to
/completions and stop before the next example; no chat request is made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.prompts.completion import EXAMPLE_STOP, as_completion
from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.services import Services
from codeinstruct.workers.spec import Sampling
from codeinstruct.workers.stages.base import Drop, StageContext, StageOutput
from codeinstruct.workers.stages.concepts import ExtractConcepts
from codeinstruct.workers.stages.responses import WriteResponses
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.fakes import FakeLLM, Request
from tests.helpers.llm_scripts import FENCE


@pytest.fixture
def run_stage(tmp_path: Path) -> Iterator[Any]:
    spec = make_dataset().spec
    with Services(spec, Ledger(LocalStore(tmp_path), "run")) as services:

        def run(stage: Any, records: list[Record], llm: FakeLLM) -> list[StageOutput]:
            services.provide("llm", llm)
            return list(stage.run(records, StageContext(services, seed=spec.seed)))

        yield run


def test_messages_become_numbered_examples_the_model_continues() -> None:
    text = as_completion(
        [
            {"role": "system", "content": "Extract concepts."},
            {"role": "user", "content": "seed A"},
            {"role": "assistant", "content": "<concepts>a</concepts>"},
            {"role": "user", "content": "seed B\n"},
        ]
    )
    assert text == (
        "Extract concepts.\n\n## Example 1\nseed A\n<concepts>a</concepts>\n\n## Example 2\nseed B\n"
    )


def test_concepts_in_completion_mode(run_stage: Any) -> None:
    llm = FakeLLM(lambda request: "<concepts>loops, slicing</concepts>")
    records = [{"id": content_id("s"), "seed": "def f(x):\n    return x[1:]\n"}]
    (output,) = run_stage(ExtractConcepts(Sampling(), api="completion"), records, llm)
    assert output["concepts"] == ["loops", "slicing"]
    (request,) = llm.requests
    assert request.kind == "completions" and isinstance(request.prompt, str)
    assert request.prompt.count(EXAMPLE_STOP) == 3, "two shots, then the seed"
    assert request.prompt.rstrip().endswith("```") and "return x[1:]" in request.prompt
    assert request.params["stop"] == ["</concepts>", EXAMPLE_STOP]


def test_responses_in_completion_mode_get_no_tests_followup(run_stage: Any) -> None:
    def script(request: Request) -> str:
        assert request.kind == "completions"
        return f"<response>\n{FENCE}python\ndef one():\n    return 1\n{FENCE}\n</response>"

    llm = FakeLLM(script)
    records = [{"id": content_id("i"), "instruction": "Write one()."}]
    stage = WriteResponses(Sampling(samples_per_instruction=2), api="completion")
    outputs = run_stage(stage, records, llm)
    assert [o.reason for o in outputs if isinstance(o, Drop)] == ["missing_tests"] * 2
    assert len(llm.requests) == 1 and llm.requests[0].params["n"] == 2
