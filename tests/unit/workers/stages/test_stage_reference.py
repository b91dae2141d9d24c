"""docs/stages.md is generated from the stages' docstrings, and the docstrings match what each
stage declares."""

from __future__ import annotations

import re

import pytest

from codeinstruct.workers.spec import Method
from codeinstruct.workers.stage_reference import (
    SECTIONS,
    docstring_sections,
    method_pipeline,
    stage_reference,
)
from tests.conftest import REPO

STAGES = {type(s): s for m in Method for s in method_pipeline(m)}


def test_stage_table_is_up_to_date() -> None:
    committed = (REPO / "docs" / "stages.md").read_text()
    assert committed == stage_reference(), "run `make generate` to regenerate docs/stages.md"


@pytest.mark.parametrize("stage", list(STAGES.values()), ids=lambda s: type(s).__name__)
def test_docstring_lists_the_declared_fields(stage: object) -> None:
    sections = docstring_sections(type(stage))
    assert set(sections) == set(SECTIONS), f"{type(stage).__name__} lacks a docstring section"
    for title, declared in (
        ("Input fields", stage.inputs),  # type: ignore[attr-defined]
        ("Output fields", stage.outputs),  # type: ignore[attr-defined]
    ):
        text = sections[title]
        if text.startswith("(the configured"):
            continue
        named = set(re.findall(r"[a-z_]+", text.split("(")[0]))
        assert set(declared) <= named, f"{type(stage).__name__}: {title} misses {declared}"
