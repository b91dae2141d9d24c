"""WaveCoder's generator/judge stage against the in-process FakeLLM: the parsed task name
reaches the record, and the reference's output rules drop with their own reasons."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.stages.wavecoder_tasks import GenerateTasks
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.fakes import FakeLLM, Request

FENCE = "```"
INSTRUCTIONS = {
    0: "Write a Python function that returns zero.",
    1: "Write Python. Return one. Name it f. Keep it short.",  # four sentences
}


def script(request: Request) -> str:
    if request.text.startswith("You review"):
        return "1. <answer: yes, fine>\nOverall answer: yes"
    number = int(request.text.rsplit("return ", 1)[1].split()[0])
    return (
        f"Task name: Return {number}\nInstruction: {INSTRUCTIONS[number]}\n"
        f"Information: <noinput>\nSolution:\n{FENCE}python\ndef f():\n    return {number}\n{FENCE}"
    )


def test_task_name_is_kept_and_a_long_instruction_is_dropped(tmp_path: Path) -> None:
    spec = make_dataset(method="wavecoder", targetSize=2, wavecoder={"taskTypes": ["generation"]})
    seeds = [{"id": f"s{i}", "seed": f"def f():\n    return {i}\n"} for i in INSTRUCTIONS]
    with Services(spec.spec, Ledger(LocalStore(tmp_path), "run")) as services:
        services.provide("llm", FakeLLM(script))
        ctx = StageContext(services, seed=spec.spec.seed)
        stage = GenerateTasks(spec.spec.wavecoder, spec.spec.generator.sampling)
        kept, dropped = list(stage.run(seeds, ctx))
    assert not isinstance(kept, Drop) and kept["task_name"] == "Return 0"
    assert isinstance(dropped, Drop) and dropped.reason == "instruction_sentences"
    assert Counter(dict(ctx.stats.counters))["task_generation"] == 2


def test_the_execution_check_sees_the_judges_rejects_and_drops_them() -> None:
    from codeinstruct.workers.methods import wavecoder
    from codeinstruct.workers.stages.task_execution import CheckTasks

    def built(check: str) -> list[object]:
        spec = make_dataset(method="wavecoder", targetSize=2, wavecoder={"executionCheck": check})
        return list(wavecoder.stages(spec.spec))

    off = built("off")
    assert not any(isinstance(s, CheckTasks) for s in off)
    assert all(not s.keep_rejected for s in off if isinstance(s, GenerateTasks))
    stages = built("filter")
    (generate,) = [s for s in stages if isinstance(s, GenerateTasks)]
    (check,) = [s for s in stages if isinstance(s, CheckTasks)]
    assert generate.keep_rejected and check.mode == "filter"
    assert stages.index(check) == stages.index(generate) + 1
