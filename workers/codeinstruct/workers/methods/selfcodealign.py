"""SelfCodeAlign: seeds mined from real code -> concepts -> instructions -> responses with
self-tests -> executed in a sandbox -> one passing response per instruction."""

from __future__ import annotations

from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Stage
from codeinstruct.workers.stages.concepts import ExtractConcepts
from codeinstruct.workers.stages.decontam import SubstringDecontam
from codeinstruct.workers.stages.dedup import NearDedup
from codeinstruct.workers.stages.instructions import WriteInstructions
from codeinstruct.workers.stages.responses import WriteResponses
from codeinstruct.workers.stages.seeds import MineSeeds
from codeinstruct.workers.stages.typecheck import TypeCheck


def seed_stages(spec: Spec) -> list[Stage]:
    checked: list[Stage] = [TypeCheck()] if spec.mining.type_check else []
    return [
        MineSeeds(),
        *checked,
        SubstringDecontam("seed_decontam", ("seed",)),
        NearDedup("seed_dedup", "seed"),
    ]


def generation_stages(spec: Spec) -> list[Stage]:
    """S->C, C->I, I->R (the execution stages follow them)."""
    return [ExtractConcepts(), WriteInstructions(), WriteResponses()]


def stages(spec: Spec) -> list[Stage]:
    return [*seed_stages(spec), *generation_stages(spec)]
