"""The LLM stages of the three methods against the scriptable OpenAI-compatible server:
SelfCodeAlign through the runner with 20 % faults and a resume from the cache, WaveCoder's
generator/judge with online pools, XCoder's complexity (logprobs) and unit tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.runner import Runner
from codeinstruct.workers.stages.base import Drop
from codeinstruct.workers.stages.complexity import ScoreComplexity
from codeinstruct.workers.stages.unit_tests import WriteUnitTests, unit_test_program
from codeinstruct.workers.stages.wavecoder_tasks import GenerateTasks
from tests.helpers.llm_scripts import (
    FENCE,
    HANG_SECONDS,
    generator,
    seed_source,
    selfcodealign_answer,
    wavecoder_answer,
    wavecoder_word,
    xcoder_answer,
)
from tests.helpers.runs import RunOutput
from tests.helpers.specs import make_dataset
from tests.helpers.stages import stage_context, stage_services
from tests.openai_server import FakeOpenAI


@pytest.mark.slow
def test_selfcodealign_llm_stages_with_faults_then_resume_from_cache(tmp_path: Path) -> None:
    source = seed_source(tmp_path / "src", 8)
    script = FakeOpenAI(selfcodealign_answer, fault_rate=0.2, seed=11, hang_seconds=HANG_SECONDS)
    with script as server:
        dataset = make_dataset(
            source={"uri": str(source)},
            generator=generator(server, sampling={"samplesPerInstruction": 3}),
            output={"uri": str(tmp_path / "out"), "shardSize": 3},
            decontamination={"benchmarks": []},
        )
        Runner(dataset, progress=False).run(until="responses")
        run = RunOutput(tmp_path / "out", dataset)
        seeds = run.records("seed_dedup")
        concepts = run.records("concepts")
        instructions = run.records("instructions")
        responses = run.records("responses")
        assert len(seeds) == 8
        assert len(concepts) == 8 and len(instructions) == 8  # no record lost
        counters = {s: run.counters(s) for s in ("concepts", "instructions", "responses")}
        faults = sum(
            n for c in counters.values() for k, n in c.items() if k.startswith("llm_fault_")
        )
        assert faults >= sum(server.injected.values()) > 0, "faults are counted apart"
        assert all(c["llm_failed_requests"] == 0 for c in counters.values())
        samples = counters["responses"]["samples"]
        assert samples == 8 * 3
        followups = counters["responses"]["tests_followups"]
        assert followups > 0 and followups % 3 == 0
        dropped = counters["responses"]["drop:missing_tests"]
        assert 0 < dropped < samples - followups
        assert len(responses) + dropped == samples
        ids = [r["id"] for r in responses]
        assert len(ids) == len(set(ids)), "no duplicated record"
        per_instruction = Counter(r["instruction_id"] for r in responses)
        assert set(per_instruction) <= {r["id"] for r in instructions}
        for record in responses:
            assert record["sample"] in (0, 1, 2)
            assert record["tests"].startswith("assert ") and "def " in record["code"]
            assert record["instruction"] and record["concepts"] and record["seed"]
        assert {r["category"] for r in instructions} <= {"function", "class", "program"}
        assert (
            counters["concepts"]["prompt_tokens"] > 0 < counters["responses"]["completion_tokens"]
        )
        # Paid for: one request per seed (S→C), per concept list (C→I), per instruction (I→R,
        # n=3), plus the follow-ups; counted by the client, so a retried fault is not counted.
        paid = sum(c["llm_requests"] for c in counters.values())
        assert paid == 8 + 8 + 8 + followups

        # A crash before the responses stage completed: it runs again, all from the cache.
        arrived = len(server.headers)
        before = sorted(json.dumps(r, sort_keys=True) for r in responses)
        shutil.rmtree(run.root / "stages" / "responses")
        Runner(dataset, progress=False).run(until="responses")
        assert len(server.headers) == arrived, "a resumed run sends no request at all"
        run = RunOutput(tmp_path / "out", dataset)  # a fresh reader: a ledger remembers markers
        again = run.counters("responses")
        # one request with n=3 per instruction, plus the follow-ups
        assert again["llm_cache_hits"] == 8 + followups and again["llm_requests"] == 0
        assert sorted(json.dumps(r, sort_keys=True) for r in run.records("responses")) == before


# WaveCoder ------------------------------------------------------------------------------------


def wavecoder_seeds(count: int) -> list[Record]:
    return [
        {"id": content_id(str(i)), "seed": f"# seed {i}\ndef f():\n    return {i}\n"}
        for i in range(count)
    ]


@pytest.mark.slow
def test_wavecoder_generator_and_judge_grow_the_pools(tmp_path: Path) -> None:
    script = FakeOpenAI(wavecoder_answer, fault_rate=0.2, seed=3, hang_seconds=HANG_SECONDS)
    with script as server:
        services = stage_services(
            tmp_path,
            method="wavecoder",
            generator=generator(server),
            wavecoder={"roundSize": 6, "examplePoolSize": 4},
        )
        with services:
            ctx = stage_context(services)
            outputs = list(
                GenerateTasks(services.spec.wavecoder, services.spec.generator.sampling).run(
                    wavecoder_seeds(30), ctx
                )
            )
            again = list(
                GenerateTasks(services.spec.wavecoder, services.spec.generator.sampling).run(
                    wavecoder_seeds(30), stage_context(services)
                )
            )
    assert len(outputs) == 30, "one output per seed, none lost"
    kept = [o for o in outputs if not isinstance(o, Drop)]
    drops = Counter(o.reason for o in outputs if isinstance(o, Drop))
    words = Counter(wavecoder_word(i) for i in range(30))
    assert drops["judge_rejected"] == words["reject"] > 0
    assert drops["judge_unparsable"] == words["garbled"] > 0
    assert len(kept) == 30 - drops["judge_rejected"] - drops["judge_unparsable"]
    for record in kept:
        assert record["judge"]["verdict"] == "yes" and record["judge"]["answers"] == ["yes", "yes"]
        assert record["instruction"].startswith("Write Python code") and record["solution"]
    task_types = Counter((o.record if isinstance(o, Drop) else o)["task_type"] for o in outputs)
    assert len(task_types) == 4, "every task type is drawn, not always the first"
    assert ctx.stats.counters["pool_good_added"] > 0 and ctx.stats.counters["pool_bad_added"] > 0
    generator_prompts = [
        b["messages"][-1]["content"]
        for b in server.bodies
        if b["messages"][-1]["content"].startswith("You turn")
    ]
    good_shown = (
        r"A good example, with the code it was made from:\nInput code:\n```\n# seed (\d+)\n"
    )
    assert any(
        # a grown example is shown with its own seed's code, then what it became
        re.search(good_shown + r".*?Output:\nInstruction: Write Python code for seed \1 ", p, re.S)
        for p in generator_prompts
    )
    assert any(
        re.search(
            r"A bad example[^\n]*\nInput code:\n```\n# seed (\d+)\n.*?Output:\n"
            r"Instruction: Write Python code for seed \1 \(reject\)",
            p,
            re.S,
        )
        for p in generator_prompts
    )
    assert [json.dumps(o.record if isinstance(o, Drop) else o, sort_keys=True) for o in again] == [
        json.dumps(o.record if isinstance(o, Drop) else o, sort_keys=True) for o in outputs
    ], "same seeds and cached completions give the same result"


# XCoder ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_xcoder_complexity_and_unit_tests(tmp_path: Path) -> None:
    pool = [
        {
            "id": "a",
            "instruction": "An easy sum.",
            "response": f"{FENCE}python\ndef add(a, b):\n    return a + b\n{FENCE}",
        },
        {"id": "b", "instruction": "A hard sum.", "response": "def add(a, b):\n    return a + b\n"},
        {
            "id": "c",
            "instruction": "An unscorable one.",
            "response": "def add(a, b):\n    return a + b\n",
        },
    ]
    with FakeOpenAI(xcoder_answer, fault_rate=0.2, seed=5, hang_seconds=HANG_SECONDS) as server:
        services = stage_services(
            tmp_path,
            method="xcoder",
            generator=generator(server),
            scoring={"unitTestsPerSample": 12},
        )
        with services:
            scored = list(
                ScoreComplexity(services.spec.generator.sampling).run(pool, stage_context(services))
            )
            tested = list(
                WriteUnitTests(services.spec.generator.sampling, 12).run(
                    pool[:2], stage_context(services)
                )
            )
    assert isinstance(scored[2], Drop) and scored[2].reason == "complexity_no_digit_logprobs"
    easy, hard = scored[0]["complexity"], scored[1]["complexity"]  # type: ignore[index]
    assert 0 <= easy < 1.5 and 3.5 < hard <= 5
    for record in tested:
        assert not isinstance(record, Drop)
        program = unit_test_program(record)
        result = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
        )
        lines = re.findall(r"^Test case (\d+): (True|False)$", result.stdout, re.MULTILINE)
        assert len(lines) == 12
        assert sum(1 for _, ok in lines if ok == "True") == 9  # cases 4, 8, 12 are wrong
