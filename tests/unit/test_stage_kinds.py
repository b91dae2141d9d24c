"""Every stage of every method says what kind of work it is: the operator's phases come from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeinstruct.workers.methods import method_stages
from codeinstruct.workers.spec import load_spec
from codeinstruct.workers.stages.base import StageKind
from tests.conftest import REPO


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_stage_declares_its_kind(example: Path) -> None:
    stages = method_stages(load_spec(example).spec)
    assert stages
    for stage in stages:
        assert isinstance(stage.kind, StageKind), stage.name


def test_kinds_of_the_stages_that_call_services() -> None:
    from codeinstruct.workers.stages.execute import ExecuteTests
    from codeinstruct.workers.stages.quality import MeasureQuality
    from codeinstruct.workers.stages.responses import WriteResponses

    assert ExecuteTests.kind is StageKind.EXECUTE
    assert MeasureQuality.kind is StageKind.EXECUTE
    assert WriteResponses.kind is StageKind.GENERATE
