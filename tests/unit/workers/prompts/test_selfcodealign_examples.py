"""Our few-shot examples are real and have the reference's breadth: each one's code followed by
its tests runs and passes, built into a program the way generated responses are; each concept is
shown by its seed; responses reason before the code; and the examples pass our own sanitize."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from codeinstruct.workers.extraction import build_program
from codeinstruct.workers.prompts.parsing import load_text
from codeinstruct.workers.prompts.selfcodealign import format as sca
from codeinstruct.workers.sanitize import (
    format_problem,
    function_names,
    incomplete_marker,
    python_blocks,
)


def run_program(program: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "example.py"
    path.write_text(program)
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("index", range(len(sca.examples())))
def test_example_code_passes_its_tests(index: int, tmp_path: Path) -> None:
    example = sca.examples()[index]
    assert example.category in sca.CATEGORIES and example.difficulty in sca.DIFFICULTIES
    program, reason = build_program(example.response, example.tests)
    assert program is not None, reason
    result = run_program(program, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("index", range(len(sca.examples())))
def test_each_concept_is_shown_by_the_seed(index: int) -> None:
    example = sca.examples()[index]
    assert len(example.in_seed) == len(example.concepts) >= 3
    for concept, evidence in zip(example.concepts, example.in_seed, strict=True):
        assert evidence in example.seed, f"{concept!r}: {evidence!r} is not in the seed"


def test_examples_have_the_reference_breadth() -> None:
    examples = sca.examples()
    assert len(examples) >= 21
    categories = Counter(e.category for e in examples)
    assert categories["function"] >= 15 and categories["class"] >= 2
    assert categories["program"] >= 4
    difficulties = Counter(e.difficulty for e in examples)
    assert set(difficulties) == set(sca.DIFFICULTIES) and difficulties["hard"] >= 2
    assert len({e.seed for e in examples}) == len(examples)


def test_tasks_are_not_steered_towards_raising_errors() -> None:
    system = load_text(sca.PACKAGE, "instruction.txt").lower()
    assert "raise" not in system and "error" not in system
    assert "without saying which concept" in system
    raising = [e for e in sca.examples() if re.search(r"ValueError|\braise", e.instruction)]
    assert len(raising) <= 2, [e.instruction[:60] for e in raising]


def test_responses_reason_step_by_step_before_the_code() -> None:
    assert "step by step" in load_text(sca.PACKAGE, "response.txt")
    for example in sca.examples():
        reasoning = example.response.split("```")[0]
        assert len(reasoning.split()) >= 60, example.instruction[:60]
        assert len(example.instruction.split()) >= 35, example.instruction[:60]


def test_examples_pass_our_own_sanitize() -> None:
    names = []
    for example in sca.examples():
        assert format_problem(example.response, example.tests) is None, example.instruction[:60]
        assert incomplete_marker(example.response) is None, example.instruction[:60]
        names.append(function_names(python_blocks(example.response)[0]))
    assert len(set(names)) == len(names), "every example defines other names"


def test_a_broken_example_would_be_caught(tmp_path: Path) -> None:
    example = sca.examples()[0]
    broken = example.response.replace("1 << (n - 1).bit_length()", "1 << n.bit_length()")
    assert broken != example.response
    program, _ = build_program(broken, example.tests)
    assert program is not None
    assert run_program(program, tmp_path).returncode != 0
