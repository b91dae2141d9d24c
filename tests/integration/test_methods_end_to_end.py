"""Each method's full stage list through `Runner.run()`, no `--until`: the scriptable
OpenAI-compatible server plays the model, generated code runs in real gVisor, embeddings are
real (all-MiniLM-L6-v2), and the dataset, its card and its reports come out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from codeinstruct.workers.runner import Runner
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.integration.test_llm_stages import (
    FENCE,
    generator,
    seed_source,
    selfcodealign_answer,
    xcoder_answer,
)
from tests.openai_server import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]


def dataset_and_card(output: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    (run,) = [p for p in output.iterdir() if p.is_dir()]
    records = [
        json.loads(line)
        for shard in sorted((run / "dataset").glob("data-*.jsonl"))
        for line in shard.read_text().splitlines()
    ]
    card = (run / "dataset" / "README.md").read_text()
    return records, yaml.safe_load(card.split("---")[1])["codeinstruct"]


def test_selfcodealign_from_seeds_to_executed_passing_pairs(tmp_path: Path) -> None:
    source = seed_source(tmp_path / "src", 6)
    with FakeOpenAI(selfcodealign_answer, fault_rate=0.1, seed=2, hang_seconds=1.0) as server:
        dataset = make_dataset(
            method="selfcodealign",
            targetSize=4,
            source={"uri": str(source)},
            generator=generator(server, sampling={"samplesPerInstruction": 3}),
            output={"uri": str(tmp_path / "out"), "keepExecutions": True},
        )
        report = Runner(dataset, progress=False).run()
    records, card = dataset_and_card(tmp_path / "out")
    assert 0 < len(records) == report.records <= 4
    # keepExecutions: every sample that reached the sandbox, kept or not, loadable with datasets.
    import datasets

    (run,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    files = sorted(str(p) for p in (run / "executions" / "execute").glob("shard-*.jsonl"))
    executions = datasets.load_dataset("json", data_files=files, split="train")
    execute = card["stages"]["execute"]
    ran = execute["records_in"] - sum(
        n
        for reason, n in execute["dropped"].items()
        if reason in ("no_code_block", "no_tests", "no_assert", "syntax_error")
    )
    assert len(executions) == ran >= execute["records_out"] > 0
    verdicts = executions["execution"]
    assert {v["verdict"] for v in verdicts} >= {"pass"}
    assert all(isinstance(v["checks_executed"], int) for v in verdicts)
    assert len({r["instruction_id"] for r in records}) == len(records), "one per instruction"
    for record in records:
        assert record["execution"]["verdict"] == "pass"
        assert "assert" in record["program"] and record["instruction"]
    stages = card["stages"]
    assert stages["execute"]["records_out"] > 0
    assert stages["responses"]["dropped"]["missing_tests"] > 0, "parse failures are counted"
    assert stages["pick_response"]["dropped"].get("other_response_chosen", 0) > 0
    assert "leakage" in card["reports"] and card["reports"]["leakage"]["benchmarks"]


def wavecoder_answer(kind: str, body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("You review"):
        return "1. <answer: yes, ok>\n2. <answer: yes, fine>\nOverall answer: yes"
    name = re.search(r"def (\w+)", prompt.split("Source code:")[-1])
    return (
        f"Instruction: Explain what {name.group(1) if name else 'it'} returns.\n"
        f"Information: <noinput>\nSolution:\n{FENCE}python\nprint('ok')\n{FENCE}"
    )


def test_wavecoder_coreset_then_generator_and_judge(tmp_path: Path) -> None:
    source = seed_source(tmp_path / "src", 12)
    with FakeOpenAI(wavecoder_answer) as server:
        dataset = make_dataset(
            method="wavecoder",
            targetSize=5,
            source={"uri": str(source)},
            generator=generator(server),
            output={"uri": str(tmp_path / "out")},
        )
        Runner(dataset, progress=False).run()
    records, card = dataset_and_card(tmp_path / "out")
    assert card["stages"]["coreset"]["records_out"] == 5
    assert len(records) == 5
    assert {r["task_type"] for r in records} <= {
        "generation",
        "summarization",
        "translation",
        "repair",
    }
    assert all(r["judge"]["verdict"] == "yes" and r["instruction"] for r in records)


def test_xcoder_complexity_quality_diversity_and_leakage(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    rows = [
        {
            "instruction": f"A {'hard' if i % 2 else 'simple'} task {i}: add two numbers "
            + "carefully " * i,
            "response": f"{FENCE}python\ndef add(a, b):\n    return a + b\n{FENCE}",
        }
        for i in range(8)
    ]
    pool.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with FakeOpenAI(xcoder_answer) as server:
        dataset = make_dataset(
            method="xcoder",
            targetSize=3,
            source={"uri": str(pool), "format": "jsonl"},
            generator=generator(server),
            scoring={"unitTestsPerSample": 12, "tau": 0.999},
            output={"uri": str(tmp_path / "out")},
        )
        Runner(dataset, progress=False).run()
    records, card = dataset_and_card(tmp_path / "out")
    assert len(records) == 3
    for record in records:
        # The scripted test script fails every fourth of its 12 cases: quality is 9.
        assert record["quality"] == 9 and record["quality_run"]["tests_failed"] == 3
        assert 0 <= record["complexity"] <= 5
    assert all("hard" in r["instruction"] for r in records), "the high-complexity ones first"
    assert card["reports"]["selection"]["complexity"].startswith("llm")
    assert "leakage" in card["reports"]
    store = LocalStore(tmp_path / "out")
    assert any("/reports/leakage.json" in k for k in store.list(""))
