"""The collector's pace in a runner process: young collections every 20,000 allocations, not
Python's 700 (which cost a quarter of the runner's CPU at ~950 LLM requests/s)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.collector import YOUNG_THRESHOLD, pace_for_throughput
from codeinstruct.workers.records import Record
from codeinstruct.workers.runner import Runner
from codeinstruct.workers.stages.base import SourceStage, StageContext, StageKind, StageOutput
from tests.helpers.specs import make_dataset


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


class Numbers(SourceStage):
    name = "numbers"
    kind = StageKind.PREPARE
    outputs = ("n",)

    def partitions(self, ctx: StageContext) -> list[Any]:
        return [0, 1]

    def read(self, partition: Any, ctx: StageContext) -> Iterator[StageOutput]:
        record: Record = {"id": f"r{partition}", "meta": {}, "n": partition}
        yield record


def test_a_run_slows_young_collections_and_keeps_the_older_thresholds(
    tmp_path: Path,
) -> None:
    gc.set_threshold(700, 7, 9)
    dataset = make_dataset(output={"uri": str(tmp_path)})
    Runner(dataset, progress=False).run_stages([Numbers()])
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 7, 9)


def test_a_higher_threshold_or_a_disabled_collector_is_left_as_it_is() -> None:
    gc.set_threshold(50_000, 10, 10)
    pace_for_throughput()
    assert gc.get_threshold() == (50_000, 10, 10)
    gc.set_threshold(0, 10, 10)  # threshold 0 disables automatic collection
    pace_for_throughput()
    assert gc.get_threshold() == (0, 10, 10)
