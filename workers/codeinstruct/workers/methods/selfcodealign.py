"""SelfCodeAlign: seeds mined from real code -> concepts -> instructions -> responses with
self-tests -> executed in a sandbox -> one passing response per instruction."""

from __future__ import annotations

from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Stage
from codeinstruct.workers.stages.concepts import ExtractConcepts
from codeinstruct.workers.stages.decontam import SubstringDecontam
from codeinstruct.workers.stages.dedup import NearDedup
from codeinstruct.workers.stages.execute import ExecuteTests, PickResponse
from codeinstruct.workers.stages.instructions import WriteInstructions
from codeinstruct.workers.stages.leakage import LeakageFilter
from codeinstruct.workers.stages.responses import WriteResponses
from codeinstruct.workers.stages.sample import TakeSample, final_size, seed_budget
from codeinstruct.workers.stages.seeds import MineSeeds
from codeinstruct.workers.stages.typecheck import TypeCheck

# Leakage is measured on what a model is trained on: the instruction and the response.
LEAKAGE_FIELDS = ("instruction", "response")


def seed_stages(spec: Spec) -> list[Stage]:
    checked: list[Stage] = [TypeCheck()] if spec.mining.type_check else []
    return [
        MineSeeds(),
        *checked,
        SubstringDecontam("seed_decontam", ("seed",)),
        NearDedup("seed_dedup", "seed"),
    ]


def stages(spec: Spec) -> list[Stage]:
    return [
        *seed_stages(spec),
        TakeSample("seed_sample", seed_budget, "over_seed_budget"),
        ExtractConcepts(),
        WriteInstructions(),
        WriteResponses(),
        ExecuteTests(),
        PickResponse(),
        SubstringDecontam("decontam", LEAKAGE_FIELDS),
        LeakageFilter(LEAKAGE_FIELDS),
        final_size(spec),
    ]
