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
from codeinstruct.workers.stages.sample import TakeSample, seed_budget, target_sample
from codeinstruct.workers.stages.seeds import MineSeeds
from codeinstruct.workers.stages.typecheck import TypeCheck

# Leakage is measured on what a model is trained on: the instruction and the response.
LEAKAGE_FIELDS = ("instruction", "response")


def seed_stages(spec: Spec) -> list[Stage]:
    checked: list[Stage] = [TypeCheck()] if spec.mining.type_check else []
    return [
        MineSeeds(spec.source, spec.mining),
        *checked,
        SubstringDecontam("seed_decontam", ("seed",), spec.decontamination),
        NearDedup("seed_dedup", "seed", spec.mining.dedup),
    ]


def stages(spec: Spec) -> list[Stage]:
    sampling, api = spec.generator.sampling, spec.generator.api
    return [
        *seed_stages(spec),
        TakeSample("seed_sample", seed_budget(spec), "over_seed_budget"),
        ExtractConcepts(sampling, api),
        WriteInstructions(sampling, api),
        WriteResponses(sampling, api),
        ExecuteTests(spec.sandbox),
        PickResponse(),
        SubstringDecontam("decontam", LEAKAGE_FIELDS, spec.decontamination),
        LeakageFilter(LEAKAGE_FIELDS, spec.decontamination),
        target_sample(spec),
    ]
