"""Each method's full stage list through `Runner.run()`, no `--until`: the scriptable
OpenAI-compatible server plays the model, generated code runs in real gVisor, embeddings are
real (all-MiniLM-L6-v2), and the dataset, its card and its reports come out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.runner import Runner
from codeinstruct.workers.store import LocalStore
from tests.helpers.llm_scripts import (
    FENCE,
    HANG_SECONDS,
    generator,
    javascript_seed_source,
    seed_source,
    selfcodealign_answer,
    selfcodealign_javascript_answer,
    wavecoder_answer,
    xcoder_answer,
)
from tests.helpers.runs import RunOutput
from tests.helpers.specs import make_dataset
from tests.openai_server import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.gvisor, pytest.mark.embed]


def dataset_and_card(output: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    run = RunOutput(output)
    return run.dataset(), run.card()


def test_selfcodealign_from_seeds_to_executed_passing_pairs(tmp_path: Path) -> None:
    source = seed_source(tmp_path / "src", 6)
    with FakeOpenAI(
        selfcodealign_answer, fault_rate=0.1, seed=2, hang_seconds=HANG_SECONDS
    ) as server:
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


def test_wavecoder_judge_measured_against_execution(tmp_path: Path) -> None:
    """The scripted generator's generation solutions (`x = N`) run; its repairs have no buggy
    code, so every repair fails its check: the report must say the judge accepted failing
    repairs (false positives) and never a failing generation."""
    source = seed_source(tmp_path / "src", 12)
    with FakeOpenAI(wavecoder_answer) as server:
        dataset = make_dataset(
            method="wavecoder",
            targetSize=8,
            source={"uri": str(source)},
            generator=generator(server),
            wavecoder={"taskTypes": ["generation", "repair"], "executionCheck": "report"},
            output={"uri": str(tmp_path / "out")},
        )
        Runner(dataset, progress=False).run()
    records, card = dataset_and_card(tmp_path / "out")
    judge = card["reports"]["judge"]
    generation, repair = judge["by_task_type"]["generation"], judge["by_task_type"]["repair"]
    assert generation["false_positive"] == generation["true_negative"] == 0
    assert repair["true_positive"] == repair["false_negative"] == 0
    assert judge["checked"] == generation["checked"] + repair["checked"] > 0
    assert judge["tnr"] is None or 0 <= judge["tnr"] <= 1
    kept = {r["task_type"] for r in records}
    assert all(r["execution_check"]["verdict"] in ("pass", "fail") for r in records)
    if "repair" in kept:
        assert repair["false_positive"] > 0


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


def test_selfcodealign_on_javascript_seeds_runs_javascript_in_the_sandbox(tmp_path: Path) -> None:
    """Needs the sandbox to run `language: javascript` jobs (node inside gVisor)."""
    source = javascript_seed_source(tmp_path / "src", 6)
    with FakeOpenAI(selfcodealign_javascript_answer) as server:
        dataset = make_dataset(
            method="selfcodealign",
            targetSize=6,
            source={"uri": str(source), "language": "javascript"},
            generator=generator(server, sampling={"samplesPerInstruction": 4}),
            output={"uri": str(tmp_path / "out")},
        )
        report = Runner(dataset, progress=False).run()
    records, card = dataset_and_card(tmp_path / "out")
    stages = card["stages"]
    assert stages["seeds"]["records_out"] == 6  # `bare` has no JSDoc: not a seed
    assert 0 < len(records) == report.records <= 6
    for record in records:
        assert record["language"] == "javascript"
        assert record["execution"]["verdict"] == "pass"
        assert record["execution"]["null_killed"] is True
        assert "require('assert')" in record["program"]
        assert "return n + 1;" in record["program"]
    assert stages["responses"]["dropped"]["tests_without_assert"] > 0  # console.assert
    dropped = stages["execute"]["dropped"]
    assert dropped["vacuous_tests"] > 0 and dropped["fail"] > 0
