"""The LLM stage base and the stages built on it, against the in-process FakeLLM: requests
(shots, budget, stop, seed), parsing, drops for malformed and failed answers, follow-ups."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.services import Services
from codeinstruct.workers.spec import Sampling
from codeinstruct.workers.stages.base import Drop, StageContext, StageOutput
from codeinstruct.workers.stages.complexity import ScoreComplexity
from codeinstruct.workers.stages.concepts import ExtractConcepts
from codeinstruct.workers.stages.instructions import WriteInstructions
from codeinstruct.workers.stages.responses import WriteResponses
from codeinstruct.workers.stages.unit_tests import WriteUnitTests
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.fakes import FakeLLM, Reply, Request, failing

FENCE = "```"
SAMPLING = Sampling(max_tokens=512, samples_per_instruction=3)


@pytest.fixture
def run_stage(tmp_path: Path) -> Iterator[Any]:
    """`run_stage(stage, records, llm)`: the stage's outputs; `run_stage.ctx` its context."""
    spec = make_dataset().spec
    with Services(spec, Ledger(LocalStore(tmp_path), "run")) as services:

        def run(stage: Any, records: list[Record], llm: FakeLLM) -> list[StageOutput]:
            services.provide("llm", llm)
            run.ctx = StageContext(services, seed=spec.seed)  # type: ignore[attr-defined]
            return list(stage.run(records, run.ctx))  # type: ignore[attr-defined]

        yield run


def seeds(n: int) -> list[Record]:
    return [{"id": content_id(str(i)), "seed": f"def f{i}(x):\n    return x\n"} for i in range(n)]


def test_concepts_request_declares_budget_stop_shots_and_a_per_record_seed(run_stage: Any) -> None:
    llm = FakeLLM(lambda r: "<concepts>recursion, memoisation</concepts>")
    outputs = run_stage(ExtractConcepts(Sampling(max_tokens=64)), seeds(3), llm)
    assert [o["concepts"] for o in outputs] == [["recursion", "memoisation"]] * 3
    assert all(o["id"] != s["id"] for o, s in zip(outputs, seeds(3), strict=True))
    for request in llm.requests:
        # the stage's ceiling (96) under the spec's 64, its stop sequence, two shots + the ask
        assert request.params["max_tokens"] == 64 and request.params["stop"] == ["</concepts>"]
        assert len(request.prompt) == 1 + 2 * 2 + 1
    assert len({r.params["seed"] for r in llm.requests}) == 3


def test_malformed_and_failed_answers_are_counted_drops_with_what_came_back(
    run_stage: Any,
) -> None:
    def script(request: Request) -> Any:
        if "f0(" in request.text:
            return "I cannot help with that."  # no comma list: unparsable
        if "f1(" in request.text:
            return failing()
        return "<concepts>loops, slicing</concepts>"

    outputs = run_stage(ExtractConcepts(SAMPLING), seeds(3), FakeLLM(script))
    drops = {o.reason: o.record for o in outputs if isinstance(o, Drop)}
    assert set(drops) == {"concepts_unparsable", "llm_infra_error"}
    assert drops["concepts_unparsable"]["llm_output"] == "I cannot help with that."
    assert "scripted failure" in drops["llm_infra_error"]["llm_error"]
    counters = run_stage.ctx.stats.counters
    assert counters["llm_failed_requests"] == 1 and counters["llm_requests"] == 2


def test_instructions_keep_the_drawn_category_and_difficulty(run_stage: Any) -> None:
    prompts: list[str] = []

    def script(request: Request) -> str:
        prompts.append(request.text)
        return "<instruction>\nWrite add(a, b).\n</instruction>"

    records = [{**s, "concepts": ["addition"]} for s in seeds(12)]
    outputs = run_stage(WriteInstructions(SAMPLING), records, FakeLLM(script))
    assert all(o["instruction"] == "Write add(a, b)." for o in outputs)
    kinds = Counter(o["category"] for o in outputs)
    assert set(kinds) <= {"function", "class", "program"} and len(kinds) > 1
    for output, prompt in zip(outputs, prompts, strict=True):
        assert output["difficulty"] in prompt and output["difficulty"] in {"easy", "medium", "hard"}


def test_responses_one_record_per_sample_with_a_tests_followup(run_stage: Any) -> None:
    def script(request: Request) -> str:
        if request.text.startswith("Now write the tests"):
            return f"{FENCE}python\nassert one() == 1\n{FENCE}"
        if request.params.get("seed", 0) % 2:
            return f"<response>\n{FENCE}python\ndef one():\n    return 1\n{FENCE}\n</response>"
        return "no tags"

    llm = FakeLLM(script)
    records = [{"id": content_id(str(i)), "instruction": "Write one()."} for i in range(6)]
    outputs = run_stage(WriteResponses(SAMPLING), records, llm)
    assert len(outputs) == 6 * 3
    kept = [o for o in outputs if not isinstance(o, Drop)]
    assert {o.reason for o in outputs if isinstance(o, Drop)} <= {"missing_tests"}
    assert kept, "odd seeds got tests through the follow-up"
    for record in kept:
        assert record["tests"] == "assert one() == 1\n" and "def one" in record["code"]
        assert record["sample"] in (0, 1, 2) and record["instruction_id"]
    followups = [r for r in llm.requests if r.text.startswith("Now write the tests")]
    assert len(followups) == run_stage.ctx.stats.counters["tests_followups"] == len(kept)
    assert all(r.params["max_tokens"] == 192 for r in followups)
    assert all(r.params["n"] == 3 for r in llm.requests if r not in followups)


def test_unit_tests_greedy_and_complexity_from_logprobs(run_stage: Any) -> None:
    def script(request: Request) -> Any:
        if request.kind == "completions":
            if "unscorable" in request.text:
                return Reply(" The", logprobs={"top_logprobs": [{" The": -0.1}]})
            return Reply(" ", logprobs={"top_logprobs": [{"5": -0.01}]})
        k = int(re.search(r"exactly (\d+) test cases", request.text).group(1))  # type: ignore[union-attr]
        cases = "\n".join(f"print('Test case {i}: True')" for i in range(1, k + 1))
        return f"{FENCE}python\n{cases}\n{FENCE}"

    pool = [
        {"id": "a", "instruction": "A task.", "response": "def f():\n    return 1\n"},
        {"id": "b", "instruction": "An unscorable task.", "response": "x = 1\n"},
    ]
    llm = FakeLLM(script)
    tested = run_stage(WriteUnitTests(SAMPLING, 4), pool, llm)
    assert [t["id"] for t in tested] == ["a", "b"], "the record keeps its id"
    assert all(t["unit_tests"].count("Test case") == 4 for t in tested)
    assert all(r.params["temperature"] == 0.0 for r in llm.requests)
    scored = run_stage(ScoreComplexity(SAMPLING), pool, llm)
    assert scored[0]["complexity"] == pytest.approx(4.0, abs=0.05)
    assert isinstance(scored[1], Drop) and scored[1].reason == "complexity_no_digit_logprobs"
    assert "llm_output" not in scored[1].record
