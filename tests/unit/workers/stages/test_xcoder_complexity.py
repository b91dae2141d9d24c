"""XCoder complexity as released: the scorer's own input template, the 2.0 fallback when the
digit logprobs are missing, and multi-turn rows scored per user turn and summed."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.records import Record
from codeinstruct.workers.services import Services
from codeinstruct.workers.spec import Sampling
from codeinstruct.workers.stages.base import Drop, StageContext, StageOutput
from codeinstruct.workers.stages.complexity import ScoreComplexity
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.fakes import FakeLLM, Reply, Request, failing

SAMPLING = Sampling(max_tokens=512)

# Written from banksy23/XCoder complexity.py (`infer_complexity`): two spaces after the query,
# one after "##Complexity:", no chat template.
RELEASED = (
    "You are a helpful assistant. Please identify the complexity score of the following user "
    "query. \n##Query: {q}  \n##Complexity: "
)


@pytest.fixture
def run_stage(tmp_path: Path) -> Iterator[Any]:
    spec = make_dataset().spec
    with Services(spec, Ledger(LocalStore(tmp_path), "run")) as services:

        def run(stage: Any, records: list[Record], llm: FakeLLM) -> list[StageOutput]:
            services.provide("llm", llm)
            run.ctx = StageContext(services, seed=spec.seed)  # type: ignore[attr-defined]
            return list(stage.run(records, run.ctx))  # type: ignore[attr-defined]

        yield run


def digits(weights: dict[str, float]) -> Reply:
    """A first position offering these digits with these logprobs."""
    return Reply("3", logprobs={"top_logprobs": [weights]})


def test_single_turn_prompt_is_the_released_template_byte_for_byte(run_stage: Any) -> None:
    llm = FakeLLM(lambda r: digits({"3": 0.0}))
    record = {"id": "a", "instruction": "Write a function that adds two numbers.\n"}
    out = run_stage(ScoreComplexity(SAMPLING, prompt="xcoder"), [record], llm)
    (request,) = llm.requests
    assert request.kind == "completions", "a raw completion, as the released scorer is run"
    assert request.prompt == RELEASED.format(q="Write a function that adds two numbers.\n")
    assert request.params["max_tokens"] == 2 and request.params["temperature"] == 0.0
    assert out[0]["complexity"] == pytest.approx(2.0)  # digit "3" weighs 2


def test_multi_turn_rows_score_each_user_turn_alone_and_sum(run_stage: Any) -> None:
    def certain(digit: int) -> dict[str, float]:
        """Every digit offered (the released scorer needs all six), one of them certain."""
        return {str(d): 0.0 if d == digit else -60.0 for d in range(1, 7)}

    scores = {"First ask.": certain(2), "Now make it faster.": certain(5)}

    def script(request: Request) -> Reply:
        query = str(request.prompt).split("##Query: ")[1].split("  \n##Complexity")[0]
        return digits(scores[query])

    llm = FakeLLM(script)
    record = {
        "id": "m",
        "instruction": "First ask.\n\nNow make it faster.",
        "response": "done",
        "messages": [
            {"role": "user", "content": "First ask."},
            {"role": "assistant", "content": "def f(): ..."},
            {"role": "user", "content": "Now make it faster."},
            {"role": "assistant", "content": "done"},
        ],
    }
    out = run_stage(ScoreComplexity(SAMPLING, prompt="xcoder"), [record], llm)
    prompts = sorted(str(r.prompt) for r in llm.requests)
    assert prompts == sorted(RELEASED.format(q=q) for q in scores), "no history, one per turn"
    assert out[0]["complexity"] == pytest.approx(1.0 + 4.0)
    assert out[0]["complexity_turns"] == [pytest.approx(1.0), pytest.approx(4.0)]


def test_missing_digit_logprobs_fall_back_to_two_under_xcoder_and_drop_zero_shot(
    run_stage: Any,
) -> None:
    def script(request: Request) -> Reply:
        if "silent" in str(request.prompt):
            return Reply("The", logprobs=None)
        return Reply("The", logprobs={"top_logprobs": [{"The": -0.1, "A": -2.0}]})

    records = [{"id": "a", "instruction": "A task."}, {"id": "b", "instruction": "A silent task."}]
    out = run_stage(ScoreComplexity(SAMPLING, prompt="xcoder"), records, FakeLLM(script))
    assert [o["complexity"] for o in out] == [2.0, 2.0]
    assert run_stage.ctx.stats.counters["complexity_fallback"] == 2
    dropped = run_stage(ScoreComplexity(SAMPLING, prompt="zero-shot"), records, FakeLLM(script))
    assert all(isinstance(d, Drop) and d.reason == "complexity_no_digit_logprobs" for d in dropped)


def test_a_failed_turn_request_drops_the_row_not_a_fallback(run_stage: Any) -> None:
    record = {
        "id": "m",
        "instruction": "a\n\nb",
        "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    }
    llm = FakeLLM(
        lambda r: failing() if r.prompt.endswith("b  \n##Complexity: ") else digits({"1": 0})
    )  # type: ignore[union-attr]
    (out,) = run_stage(ScoreComplexity(SAMPLING, prompt="xcoder"), [record], llm)
    assert isinstance(out, Drop) and out.reason == "llm_infra_error"


def test_the_spec_field_chooses_the_prompt_of_the_xcoder_method() -> None:
    from codeinstruct.workers.methods import xcoder

    def prompt_of(**scoring: Any) -> str:
        spec = make_dataset(method="xcoder", targetSize=2, scoring=scoring).spec
        (stage,) = [s for s in xcoder.stages(spec) if isinstance(s, ScoreComplexity)]
        return stage.prompt

    assert prompt_of() == "zero-shot"
    assert prompt_of(complexityPrompt="xcoder") == "xcoder"


def test_xcoder_falls_back_unless_its_first_token_offers_every_digit(run_stage: Any) -> None:
    """The released inference reads the six digits' logprobs at the first generated token and
    scores 2.0 when any of them is missing; zero-shot weighs the digits that are there."""
    partial = {"1": -0.2, "2": -1.8}  # "3".."6" are not among the top logprobs
    every = {str(d): -float(d) for d in range(1, 7)}

    def script(request: Request) -> Reply:
        first = every if "every" in str(request.prompt) else partial
        return Reply("1", logprobs={"top_logprobs": [first]})

    records = [{"id": "p", "instruction": "A partial task."}, {"id": "e", "instruction": "every"}]
    out = run_stage(ScoreComplexity(SAMPLING, prompt="xcoder"), records, FakeLLM(script))
    weights = [math.exp(-d) for d in range(1, 7)]
    expected_every = sum(i * w for i, w in enumerate(weights)) / sum(weights)
    assert out[0]["complexity"] == 2.0
    assert out[1]["complexity"] == pytest.approx(expected_every, abs=1e-6)
    assert run_stage.ctx.stats.counters["complexity_fallback"] == 1
    zero_shot = run_stage(
        ScoreComplexity(SAMPLING, prompt="zero-shot"), records[:1], FakeLLM(script)
    )
    p1, p2 = math.exp(-0.2), math.exp(-1.8)
    assert zero_shot[0]["complexity"] == pytest.approx(p2 / (p1 + p2), abs=1e-6)
