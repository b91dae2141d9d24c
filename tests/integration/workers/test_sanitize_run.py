"""SelfCodeAlign's sanitize chain in a full run: a scripted model writes, among honest pairs, a
response with a TODO, tests that are defined but never called, an instruction written twice, a
response given to two instructions and a function name used twice; generated code runs in real
gVisor; each step's drops, by reason, come out in the dataset card."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.runner import Runner
from tests.helpers.llm_scripts import FENCE, generator, seed_source
from tests.helpers.runs import RunOutput
from tests.helpers.specs import make_dataset
from tests.openai_server import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]

# seed index -> (instruction text, the solution's function name, how its tests are written)
TASKS = {
    0: ("Write task_zero() returning 1.", "task_zero", "asserts"),
    1: ("Write task_zero() returning 1.", "task_zero", "asserts"),  # the same instruction text
    2: ("Write task_two() returning 1, carefully.", "task_two", "todo"),
    3: ("Write task_three() returning 1.", "task_three", "uncalled"),
    4: ("Please write task_zero() returning 1.", "task_zero", "asserts"),  # the same response
    5: ("Write Task_Zero_() returning 1.", "Task_Zero_", "asserts"),  # the same names, normalised
    6: ("Write task_six() returning 1.", "task_six", "asserts"),
    7: ("Write task_seven() returning 1.", "task_seven", "asserts"),
}


def answer(kind: str, body: dict[str, Any]) -> str:
    query = body["messages"][-1]["content"]
    if query.startswith(FENCE):
        index = re.search(r"def f(\d+)", query)
        return f"<concepts>concept f{index.group(1) if index else '?'}, loops</concepts>"
    if query.startswith("Concepts:"):
        index = int(re.search(r"concept f(\d+)", query).group(1))  # type: ignore[union-attr]
        return f"<instruction>\n{TASKS[index][0]}\n</instruction>"
    if query.startswith("<instruction>"):
        instruction = query.split("<instruction>")[1].split("</instruction>")[0].strip()
        _, name, style = next(t for t in TASKS.values() if t[0] == instruction)
        body_line = (
            "    # TODO: check the spec\n    return 1" if style == "todo" else "    return 1"
        )
        tests = f"assert {name}() == 1"
        if style == "uncalled":
            tests = f"def test_{name}():\n    assert {name}() == 1"
        return (
            f"<response>\nIt returns one.\n{FENCE}python\ndef {name}():\n{body_line}\n{FENCE}\n"
            f"</response>\n\n<tests>\n{FENCE}python\n{tests}\n{FENCE}\n</tests>"
        )
    raise AssertionError(f"unexpected prompt: {query[:80]}")


def test_each_sanitize_step_drops_with_its_reason_and_shows_in_the_card(tmp_path: Path) -> None:
    source = seed_source(tmp_path / "src", len(TASKS))
    with FakeOpenAI(answer) as server:
        dataset = make_dataset(
            targetSize=20,
            source={"uri": str(source)},
            generator=generator(server, sampling={"samplesPerInstruction": 2}),
            output={"uri": str(tmp_path / "out")},
        )
        report = Runner(dataset, progress=False).run()
    run = RunOutput(tmp_path / "out", dataset)
    card = run.card()
    stages = card["stages"]
    assert stages["seed_names"]["records_in"] == len(TASKS)
    assert stages["wrong_format"]["dropped"] == {"no_top_level_test": 2}
    assert stages["incomplete"]["dropped"] == {"incomplete_marker": 2}
    assert stages["exact_dedup"]["dropped"] == {"duplicate_instruction": 1, "duplicate_response": 1}
    assert stages["name_diversity"]["dropped"] == {"repeated_function_names": 1}
    for name in ["instruction_length", "code_representation", "instruction_dedup"]:
        assert stages[name]["records_in"] == stages[name]["records_out"] > 0
    for name in ["response_dedup", "code_dedup"]:
        assert stages[name]["records_in"] > 0
    records = run.dataset()
    assert report.records == len(records) == 3
    names = {re.search(r"def (\w+)", r["response"]).group(1) for r in records}  # type: ignore[union-attr]
    assert names - {"task_six", "task_seven"} in ({"task_zero"}, {"Task_Zero_"})
    assert all("code_representation" in r for r in records)
    leakage = card["reports"]["leakage"]
    assert leakage["fields"] == ["instruction", "response"]
    assert leakage["xcoder_comparable"]["fields"] == ["instruction"]
    text = run.store.get(run.ledger.key("dataset", "README.md")).decode()
    row = next(line for line in text.splitlines() if line.startswith("| humaneval |"))
    comparable = leakage["xcoder_comparable"]["benchmarks"]["humaneval"]
    assert f"{comparable['before']['tli']:.4f} → {comparable['after']['tli']:.4f}" in row
    assert "TLI on instruction, response (before → after)" in text
