"""Our few-shot examples are real: each one's code followed by its tests runs and passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codeinstruct.workers.prompts.selfcodealign import format as sca


@pytest.mark.parametrize("index", range(len(sca.examples())))
def test_example_code_passes_its_tests(index: int, tmp_path: Path) -> None:
    example = sca.examples()[index]
    assert example.category in sca.CATEGORIES and example.difficulty in sca.DIFFICULTIES
    assert "assert" in example.test_code and example.code.strip()
    program = tmp_path / "example.py"
    program.write_text(example.code + "\n\n" + example.test_code)
    result = subprocess.run(
        [sys.executable, str(program)], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr


def test_examples_cover_every_category_and_difficulty() -> None:
    assert {e.category for e in sca.examples()} == set(sca.CATEGORIES)
    assert {e.difficulty for e in sca.examples()} == set(sca.DIFFICULTIES)


def test_a_broken_example_would_be_caught(tmp_path: Path) -> None:
    example = sca.examples()[0]
    program = tmp_path / "broken.py"
    program.write_text(
        example.code.replace("range(0, len(s), size)", "range(0, len(s), size + 1)")
        + example.test_code
    )
    result = subprocess.run([sys.executable, str(program)], capture_output=True, timeout=30)
    assert result.returncode != 0
