"""Answers cut by the token limit (`finish_reason: length`): asked again once with more tokens,
bounded by `sampling.truncationMaxTokens`, else dropped as `truncated`; never parsed."""

from __future__ import annotations

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
from codeinstruct.workers.stages.responses import WriteResponses
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.fakes import FakeLLM, Reply, Request, truncated

FENCE = "```"
SEEDS: list[Record] = [{"id": content_id("s"), "seed": "def f(x):\n    return x\n"}]


@pytest.fixture
def run_stage(tmp_path: Path) -> Iterator[Any]:
    spec = make_dataset().spec
    with Services(spec, Ledger(LocalStore(tmp_path), "run")) as services:

        def run(stage: Any, records: list[Record], llm: FakeLLM) -> list[StageOutput]:
            services.provide("llm", llm)
            run.ctx = StageContext(services, seed=spec.seed)  # type: ignore[attr-defined]
            return list(stage.run(records, run.ctx))  # type: ignore[attr-defined]

        yield run


def test_a_cut_answer_is_asked_again_with_twice_the_tokens(run_stage: Any) -> None:
    def script(request: Request) -> Any:
        if request.params["max_tokens"] < 192:
            return truncated("<concepts>loops, recur")
        return "<concepts>loops, recursion</concepts>"

    llm = FakeLLM(script)
    (output,) = run_stage(ExtractConcepts(Sampling()), SEEDS, llm)
    assert output["concepts"] == ["loops", "recursion"]
    assert [r.params["max_tokens"] for r in llm.requests] == [96, 192]
    assert run_stage.ctx.stats.counters["llm_truncation_retries"] == 1


def test_still_cut_is_dropped_as_truncated_never_parsed(run_stage: Any) -> None:
    llm = FakeLLM(lambda request: truncated("<concepts>loops, recur"))
    (output,) = run_stage(ExtractConcepts(Sampling()), SEEDS, llm)
    assert isinstance(output, Drop) and output.reason == "truncated"
    assert output.record["llm_output"] == "<concepts>loops, recur"
    assert len(llm.requests) == 2, "one retry, not more"


def test_the_knob_bounds_the_retry(run_stage: Any) -> None:
    llm = FakeLLM(lambda request: truncated("<concepts>a, b"))
    stage = ExtractConcepts(Sampling(max_tokens=64, truncation_max_tokens=64))
    (output,) = run_stage(stage, SEEDS, llm)
    assert isinstance(output, Drop) and output.reason == "truncated"
    assert [r.params["max_tokens"] for r in llm.requests] == [64], "no room to grow: no retry"


def test_a_cut_response_sample_is_retried_alone_and_dropped_if_still_cut(
    run_stage: Any,
) -> None:
    complete = (
        f"<response>\n{FENCE}python\ndef one():\n    return 1\n{FENCE}\n</response>\n\n"
        f"<tests>\n{FENCE}python\nassert one() == 1\n{FENCE}\n"
    )
    cut = f"<response>\n{FENCE}python\ndef one():\n    return 1\n{FENCE}\n</response>\n\n<tests>\n"

    first = [Reply(complete), truncated(cut), truncated(cut)]  # the n = 3 samples

    def script(request: Request) -> Any:
        if request.params.get("n") == 3:
            return first.pop(0)
        return truncated(cut)  # the lone retry of a cut sample is cut again

    llm = FakeLLM(script)
    records = [{"id": content_id("i"), "instruction": "Write one()."}]
    outputs = run_stage(WriteResponses(Sampling(samples_per_instruction=3)), records, llm)
    assert [o.reason if isinstance(o, Drop) else "kept" for o in outputs] == [
        "kept",
        "truncated",
        "truncated",
    ]
    retries = [r for r in llm.requests if "n" not in r.params]
    assert [r.params["max_tokens"] for r in retries] == [3072, 3072]
    assert len({r.params["seed"] for r in retries}) == 2, "each sample's retry has its own seed"


def test_complexity_reads_the_first_tokens_and_is_not_retried(run_stage: Any) -> None:
    llm = FakeLLM(lambda request: Reply(" ", "length", {"top_logprobs": [{"5": -0.01}]}))
    records = [{"id": "a", "instruction": "A task."}]
    (output,) = run_stage(ScoreComplexity(Sampling()), records, llm)
    assert output["complexity"] == pytest.approx(4.0, abs=0.05) and len(llm.requests) == 1
