"""A model per role: XCoder's complexity scorer and unit-test writer, and WaveCoder's judge,
each on its own OpenAI-compatible endpoint (scripted servers standing in for the specialist
models), shown by the requests each server received; tokens are accounted per role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.llm.roles import role_usage
from codeinstruct.workers.runner import Runner
from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.helpers.llm_scripts import (
    FENCE,
    generate_tasks,
    generator,
    wavecoder_answer,
    wavecoder_seeds,
    xcoder_answer,
)
from tests.helpers.stages import stage_services as services_for
from tests.openai_server import FakeOpenAI

pytestmark = pytest.mark.slow


def refuse(kind: str, body: dict[str, Any]) -> str:
    raise AssertionError(f"the generator's endpoint was asked a {kind} request: {body}")


def xcoder_pool(path: Path, rows: int) -> Path:
    lines = [
        json.dumps(
            {
                "instruction": f"A {'hard' if i % 2 else 'simple'} task {i}: add two numbers.",
                "response": f"{FENCE}python\ndef add(a, b):\n    return a + b\n{FENCE}",
            }
        )
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_xcoder_complexity_and_unit_tests_go_to_their_own_endpoints(tmp_path: Path) -> None:
    pool = xcoder_pool(tmp_path / "pool.jsonl", 6)
    with (
        FakeOpenAI(refuse) as main,
        FakeOpenAI(xcoder_answer) as scorer,
        FakeOpenAI(xcoder_answer) as tester,
    ):
        dataset = make_dataset(
            method="xcoder",
            targetSize=3,
            source={"uri": str(pool), "format": "jsonl"},
            generator=generator(main),
            scoring={
                "unitTestsPerSample": 4,
                "complexityModel": generator(scorer, model="xcoder-complexity-scorer"),
                "unitTestModel": generator(tester, model="unit-test-writer"),
            },
            output={"uri": str(tmp_path / "out")},
        )
        Runner(dataset, progress=False).run(until="unit_tests")
    assert main.bodies == [], "the generator was asked nothing"
    assert len(scorer.bodies) == 6 and len(tester.bodies) == 6
    assert all("logprobs" in b and b["model"] == "xcoder-complexity-scorer" for b in scorer.bodies)
    assert all(
        "messages" in b and "logprobs" not in b and b["model"] == "unit-test-writer"
        for b in tester.bodies
    )
    ledger = Ledger(LocalStore(str(tmp_path / "out")), dataset_run(tmp_path / "out"))
    counters = {name: ledger.stats(name).counters for name in ("complexity", "unit_tests")}
    assert counters["complexity"]["complexity_requests"] == 6
    assert counters["unit_tests"]["unit_tests_requests"] == 6
    assert "generator_requests" not in counters["unit_tests"]
    merged: dict[str, int] = {}
    for stage in counters.values():
        for key, n in stage.items():
            merged[key] = merged.get(key, 0) + n
    usage = role_usage(dataset.spec, merged)
    assert set(usage) == {"complexity", "unit_tests"}
    assert usage["complexity"]["model"] == "xcoder-complexity-scorer"
    assert usage["complexity"]["set_at"] == "scoring.complexityModel"
    assert usage["unit_tests"]["requests"] == 6 and usage["unit_tests"]["completion_tokens"] > 0


def dataset_run(output: Path) -> str:
    (run,) = [p.name for p in output.iterdir() if p.is_dir()]
    return run


def test_wavecoder_judge_on_its_own_endpoint(tmp_path: Path) -> None:
    with FakeOpenAI(wavecoder_answer) as gen, FakeOpenAI(wavecoder_answer) as judge:
        services = services_for(
            tmp_path,
            method="wavecoder",
            generator=generator(gen),
            wavecoder={"roundSize": 4, "judgeModel": generator(judge, model="judge-model")},
        )
        with services:
            ctx = StageContext(services, services.spec.seed)
            outputs = list(generate_tasks(services.spec).run(wavecoder_seeds(8), ctx))

    def prompts(server: FakeOpenAI) -> list[str]:
        return [b["messages"][-1]["content"] for b in server.bodies]

    judged = [o for o in outputs if not isinstance(o, Drop) or o.reason == "judge_rejected"]
    assert len(outputs) == 8 and judged
    assert len(gen.bodies) == 8 and all(p.startswith("You turn") for p in prompts(gen))
    assert all(p.startswith("You review") for p in prompts(judge))
    # The judge sees the seed code the example was made from.
    seeds = [s["seed"] for s in wavecoder_seeds(8)]
    assert all(any(f"{FENCE}\n{seed}" in p for seed in seeds) for p in prompts(judge))
    assert len(judge.bodies) >= len(judged)
    assert all(b["model"] == "judge-model" for b in judge.bodies)
    assert all(b["model"] == "fake" for b in gen.bodies)
    assert ctx.stats.counters["judge_requests"] == len(judge.bodies)
    assert ctx.stats.counters["generator_requests"] == 8
