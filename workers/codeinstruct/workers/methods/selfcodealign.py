"""SelfCodeAlign: seeds mined from real code -> concepts -> instructions -> responses with
self-tests -> executed in a sandbox -> one passing response per instruction -> the reference's
sanitize chain (format, incompleteness, length, exact and name dedup, MinHash on instruction,
response and code representation) -> decontamination."""

from __future__ import annotations

from codeinstruct.workers.spec import Spec
from codeinstruct.workers.spec.models import SourceLanguage
from codeinstruct.workers.stages.base import Stage
from codeinstruct.workers.stages.concepts import ExtractConcepts
from codeinstruct.workers.stages.decontam import SubstringDecontam
from codeinstruct.workers.stages.dedup import NearDedup
from codeinstruct.workers.stages.execute import ExecuteTests, PickResponse
from codeinstruct.workers.stages.instructions import WriteInstructions
from codeinstruct.workers.stages.leakage import LeakageFilter
from codeinstruct.workers.stages.responses import WriteResponses
from codeinstruct.workers.stages.sample import TakeSample, seed_budget, target_sample
from codeinstruct.workers.stages.sanitize import (
    CodeRepresentation,
    ExactDedup,
    IncompleteResponse,
    InstructionLength,
    NameDiversity,
    WrongFormat,
)
from codeinstruct.workers.stages.seed_names import UndefinedNames
from codeinstruct.workers.stages.seeds import MineSeeds
from codeinstruct.workers.stages.typecheck import TypeCheck

# Leakage is measured on what a model is trained on: the instruction and the response.
LEAKAGE_FIELDS = ("instruction", "response")


def seed_stages(spec: Spec) -> list[Stage]:
    """Mining and the seed filters; the undefined-name and type checks read Python only."""
    python = spec.source.language == SourceLanguage.PYTHON
    named: list[Stage] = [UndefinedNames()] if spec.mining.undefined_names and python else []
    checked: list[Stage] = [TypeCheck()] if spec.mining.type_check and python else []
    return [
        MineSeeds(spec.source, spec.mining),
        *named,
        *checked,
        SubstringDecontam("seed_decontam", ("seed",), spec.decontamination),
        NearDedup("seed_dedup", "seed", spec.mining.dedup),
    ]


def sanitize_stages(spec: Spec) -> list[Stage]:
    """After the pick: SelfCodeAlign's final sanitize (`sanitize.sh`)."""
    dedup = spec.selfcodealign.dedup
    return [
        InstructionLength(spec.selfcodealign.max_instruction_words),
        ExactDedup(),
        NameDiversity(),
        CodeRepresentation(),
        NearDedup("instruction_dedup", "instruction", dedup, "near_duplicate_instruction"),
        NearDedup("response_dedup", "response", dedup, "near_duplicate_response"),
        NearDedup("code_dedup", "code_representation", dedup, "near_duplicate_code"),
    ]


def stages(spec: Spec) -> list[Stage]:
    sampling, api = spec.generator.sampling, spec.generator.api
    shots = spec.selfcodealign
    fields = tuple(spec.decontamination.fields or LEAKAGE_FIELDS)
    return [
        *seed_stages(spec),
        TakeSample("seed_sample", seed_budget(spec), "over_seed_budget"),
        ExtractConcepts(sampling, api, shots.concept_shots),
        WriteInstructions(sampling, api, shots.instruction_shots),
        WriteResponses(sampling, api, shots.response_shots),
        WrongFormat(),
        IncompleteResponse(),
        ExecuteTests(spec.sandbox),
        PickResponse(),
        *sanitize_stages(spec),
        SubstringDecontam("decontam", LEAKAGE_FIELDS, spec.decontamination),
        LeakageFilter(fields, spec.decontamination),
        target_sample(spec),
    ]
