"""XCoder: select from an instruction pool by complexity, quality (unit tests executed) and
diversity; measure and remove benchmark leakage (TLI)."""

from __future__ import annotations

from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Stage
from codeinstruct.workers.stages.embed import Embed
from codeinstruct.workers.stages.leakage import LeakageFilter
from codeinstruct.workers.stages.pool import ReadPool
from codeinstruct.workers.stages.select import Select

# XCoder's TLI measures the user turns (the instruction) of each training sample.
LEAKAGE_FIELDS = ("instruction",)


def stages(spec: Spec) -> list[Stage]:
    # Complexity scoring, unit-test generation and execution go between the pool and `embed`.
    return [
        ReadPool(),
        Embed(("instruction", "response")),
        Select(),
        LeakageFilter(LEAKAGE_FIELDS),
    ]
