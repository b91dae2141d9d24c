"""The LLM stages of the three methods against the scriptable OpenAI-compatible server:
SelfCodeAlign through the runner with 20 % faults and a resume from the cache, WaveCoder's
generator/judge with online pools, XCoder's complexity (logprobs) and unit tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.runner import Runner
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.stages.complexity import ScoreComplexity
from codeinstruct.workers.stages.unit_tests import WriteUnitTests, unit_test_program
from codeinstruct.workers.stages.wavecoder_tasks import GenerateTasks
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.openai_server import FakeOpenAI

FENCE = "```"
FAST_RETRIES = {"maxAttempts": 12, "backoffSeconds": 0.01, "requestTimeoutSeconds": 0.5}


def generator(server: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {"backend": "openai", "endpoint": server.url, "model": "fake", **FAST_RETRIES, **extra}


# SelfCodeAlign ---------------------------------------------------------------------------------


def selfcodealign_answer(kind: str, body: dict[str, Any]) -> str:
    """Plays the model: the last user turn says which step this is."""
    query = body["messages"][-1]["content"]
    tag = content_id(query, str(body.get("seed")))[:6]
    if query.startswith(FENCE):
        name = re.search(r"def (\w+)", query)
        return f"<concepts>concept {name.group(1) if name else '?'}, loops"
    if query.startswith("Concepts:"):
        if "concept f3" in query:
            return "I would rather not."  # parsable as an (odd) instruction
        return f"<instruction>\nWrite task_{tag}() returning 1.\n</instruction>"
    if query.startswith("Now write the tests"):
        name = re.search(r"def (\w+)\(", body["messages"][-2]["content"])
        return f"Sure.\n{FENCE}python\nassert {name.group(1) if name else 'g'}() == 1\n{FENCE}"
    if query.startswith("<instruction>"):
        name = re.search(r"Write (\w+)\(\)", query)
        fn = name.group(1) if name else "g"
        if body.get("seed", 0) % 5 == 0:
            return "No tags at all."  # parse failure: missing_tests
        if body.get("seed", 0) % 5 == 1:  # stops before its tests: a follow-up asks for them
            return (
                f"<response>\nEasy.\n{FENCE}python\ndef {fn}():\n    return 1\n{FENCE}\n</response>"
            )
        return (
            f"<response>\nEasy.\n{FENCE}python\ndef {fn}():\n    return 1\n{FENCE}\n</response>\n\n"
            f"<tests>\n{FENCE}python\nassert {fn}() == 1\n{FENCE}\n"
        )
    raise AssertionError(f"unexpected prompt: {query[:80]}")


def seed_source(root: Path, count: int) -> Path:
    functions = [
        textwrap.dedent(f'''
        def f{i}(values, limit={i}):
            """Return the values of the list that are above {i} but at most the limit {i * 7}."""
            kept = [v for v in values if {i} < v <= limit * {i + 1}]
            total_{i} = sum(kept) + {i}
            return kept if total_{i} else [{i}] * {i + 2}
        ''')
        for i in range(count)
    ]
    root.mkdir()
    (root / "seeds.py").write_text("\n".join(functions))
    return root


def run_dir(output: Path) -> Path:
    (run,) = [p for p in output.iterdir() if p.is_dir()]
    return run


def read_stage(run: Path, stage: str) -> list[Record]:
    return [
        json.loads(line)
        for shard in sorted((run / "stages" / stage).glob("shard-*.jsonl"))
        for line in shard.read_text().splitlines()
    ]


def stage_counters(run: Path, stage: str) -> Counter[str]:
    complete = json.loads((run / "stages" / stage / "_complete.json").read_text())
    return Counter(complete["stats"]["counters"]) + Counter(
        {f"drop:{k}": v for k, v in complete["stats"]["dropped"].items()}
    )


@pytest.mark.slow
def test_selfcodealign_llm_stages_with_faults_then_resume_from_cache(tmp_path: Path) -> None:
    source = seed_source(tmp_path / "src", 8)
    with FakeOpenAI(selfcodealign_answer, fault_rate=0.2, seed=11, hang_seconds=1.0) as server:
        dataset = make_dataset(
            source={"uri": str(source)},
            generator=generator(server, sampling={"samplesPerInstruction": 3}),
            output={"uri": str(tmp_path / "out"), "shardSize": 3},
            decontamination={"benchmarks": []},
        )
        Runner(dataset, progress=False).run(until="responses")
        run = run_dir(tmp_path / "out")
        seeds = read_stage(run, "seed_dedup")
        concepts = read_stage(run, "concepts")
        instructions = read_stage(run, "instructions")
        responses = read_stage(run, "responses")
        assert len(seeds) == 8
        assert len(concepts) == 8 and len(instructions) == 8  # no record lost
        counters = {s: stage_counters(run, s) for s in ("concepts", "instructions", "responses")}
        faults = sum(
            n for c in counters.values() for k, n in c.items() if k.startswith("llm_fault_")
        )
        assert faults == sum(server.injected.values()) > 0, "faults are counted apart"
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

        # A crash before the responses stage completed: it runs again, all from the cache.
        paid = server.requests["chat"]
        assert paid == 8 + 8 + 8 + followups
        before = sorted(json.dumps(r, sort_keys=True) for r in responses)
        shutil.rmtree(run / "stages" / "responses")
        Runner(dataset, progress=False).run(until="responses")
        assert server.requests["chat"] == paid, "a resumed run does not pay again"
        again = stage_counters(run, "responses")
        # one request with n=3 per instruction, plus the follow-ups
        assert again["llm_cache_hits"] == 8 + followups and again["llm_requests"] == 0
        assert sorted(json.dumps(r, sort_keys=True) for r in read_stage(run, "responses")) == before


# WaveCoder ------------------------------------------------------------------------------------


def wavecoder_answer(kind: str, body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("You review"):
        instruction = re.search(r"The example:\nInstruction: (.*)", prompt)
        assert instruction is not None
        text = instruction.group(1)
        if "garbled" in text:
            return "Looks fine to me!"  # no overall answer: unparsable
        verdict = "no" if "reject" in text else "yes"
        return f"1. <answer: yes, ok>\n2. <answer: {verdict}, checked>\nOverall answer: {verdict}"
    code = re.search(r"Source code:\n```\n(.*?)\n```", prompt, re.DOTALL)
    assert code is not None
    number = int(re.search(r"seed (\d+)", code.group(1)).group(1))  # type: ignore[union-attr]
    word = "reject" if number % 3 == 0 else "garbled" if number % 7 == 1 else "keep"
    return (
        f"Instruction: Write Python code for seed {number} ({word}).\nInformation: <noinput>\n"
        f"Solution:\n{FENCE}python\nx = {number}\n{FENCE}"
    )


def services_for(tmp_path: Path, **spec: Any) -> Services:
    dataset = make_dataset(**spec)
    return Services(dataset.spec, Ledger(LocalStore(str(tmp_path / "out")), "run"))


def wavecoder_seeds(count: int) -> list[Record]:
    return [
        {"id": content_id(str(i)), "seed": f"# seed {i}\ndef f():\n    return {i}\n"}
        for i in range(count)
    ]


@pytest.mark.slow
def test_wavecoder_generator_and_judge_grow_the_pools(tmp_path: Path) -> None:
    with FakeOpenAI(wavecoder_answer, fault_rate=0.2, seed=3, hang_seconds=1.0) as server:
        services = services_for(
            tmp_path,
            method="wavecoder",
            generator=generator(server),
            wavecoder={"roundSize": 6, "examplePoolSize": 4},
        )
        with services:
            ctx = StageContext(services.spec, services)
            outputs = list(GenerateTasks().run(wavecoder_seeds(30), ctx))
            again = list(
                GenerateTasks().run(wavecoder_seeds(30), StageContext(services.spec, services))
            )
    assert len(outputs) == 30, "one output per seed, none lost"
    kept = [o for o in outputs if not isinstance(o, Drop)]
    drops = Counter(o.reason for o in outputs if isinstance(o, Drop))
    assert drops["judge_rejected"] == sum(1 for i in range(30) if i % 3 == 0)
    assert drops["judge_unparsable"] == sum(1 for i in range(30) if i % 3 and i % 7 == 1)
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
    assert any(
        "A good example:\nInstruction: Write Python code for seed" in p for p in generator_prompts
    )
    assert any(
        re.search(r"A bad example.*\nInstruction: Write Python code for seed \d+ \(reject\)", p)
        for p in generator_prompts
    )
    assert [json.dumps(o.record if isinstance(o, Drop) else o, sort_keys=True) for o in again] == [
        json.dumps(o.record if isinstance(o, Drop) else o, sort_keys=True) for o in outputs
    ], "same seeds and cached completions give the same result"


# XCoder ---------------------------------------------------------------------------------------


def xcoder_answer(kind: str, body: dict[str, Any]) -> Any:
    if kind == "completions":
        assert body["logprobs"] >= 5 and body["max_tokens"] >= 1
        if "unscorable" in body["prompt"]:
            return {
                "text": " The",
                "logprobs": {
                    "tokens": [" The"],
                    "token_logprobs": [-0.1],
                    "top_logprobs": [{" The": -0.1, " A": -3.0}],
                },
            }
        high = "hard" in body["prompt"]
        top = {"5": -0.1, "6": -2.5} if high else {"1": -0.2, "2": -1.8}
        return {
            "text": " ",
            "logprobs": {
                "tokens": [" ", "x"],
                "token_logprobs": [-0.05, -0.1],
                "top_logprobs": [{" ": -0.05}, top],
            },
        }
    content = body["messages"][-1]["content"]
    k = int(re.search(r"exactly (\d+) test cases", content).group(1))  # type: ignore[union-attr]
    cases = "\n".join(
        f"    try:\n        ok = add({i}, 1) == {i + 1 if i % 4 else i}\n    except Exception:\n        ok = False\n    print(f'Test case {i}: {{ok}}')"
        for i in range(1, k + 1)
    )
    return f"Here it is:\n{FENCE}python\ndef test_script():\n{cases}\n\ntest_script()\n{FENCE}\n"


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
    with FakeOpenAI(xcoder_answer, fault_rate=0.2, seed=5, hang_seconds=1.0) as server:
        services = services_for(
            tmp_path,
            method="xcoder",
            generator=generator(server),
            scoring={"unitTestsPerSample": 12},
        )
        with services:
            scored = list(ScoreComplexity().run(pool, StageContext(services.spec, services)))
            tested = list(WriteUnitTests().run(pool[:2], StageContext(services.spec, services)))
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
