"""WaveCoder: raw code (mined Python functions, or JSONL rows in any language) -> embeddings -> KCenterGreedy coreset -> LLM generator + LLM judge over
four task types (generation, summarization, translation, repair)."""

from __future__ import annotations

from codeinstruct.workers.llm.roles import role_model
from codeinstruct.workers.methods.selfcodealign import seed_stages
from codeinstruct.workers.spec import SourceFormat, Spec
from codeinstruct.workers.stages.base import Stage
from codeinstruct.workers.stages.coreset import Coreset
from codeinstruct.workers.stages.decontam import SubstringDecontam
from codeinstruct.workers.stages.dedup import NearDedup
from codeinstruct.workers.stages.embed import Embed
from codeinstruct.workers.stages.leakage import LeakageFilter
from codeinstruct.workers.stages.raw_code import ReadRawCode
from codeinstruct.workers.stages.sample import target_sample
from codeinstruct.workers.stages.task_execution import CheckTasks
from codeinstruct.workers.stages.wavecoder_tasks import GenerateTasks

# What leakage is measured on: the raw code, and what generation adds to it.
LEAKAGE_FIELDS = ("seed", "instruction", "solution")


def raw_code_stages(spec: Spec) -> list[Stage]:
    """JSONL rows of code in any language, each a seed as it is (decontaminated, deduplicated)."""
    return [
        ReadRawCode(spec.source, spec.mining),
        SubstringDecontam("seed_decontam", ("seed",), spec.decontamination),
        NearDedup("seed_dedup", "seed", spec.mining.dedup),
    ]


def selection_stages(spec: Spec) -> list[Stage]:
    size = spec.wavecoder.coreset_size or spec.target_size
    jsonl = spec.source.format is SourceFormat.JSONL
    return [
        *(raw_code_stages(spec) if jsonl else seed_stages(spec)),
        Embed(("seed",), spec.scoring.embedding_model),
        Coreset(size, spec.scoring),
    ]


def stages(spec: Spec) -> list[Stage]:
    judge = role_model(spec, "judge")
    check = spec.wavecoder.execution_check
    return [
        *selection_stages(spec),
        GenerateTasks(
            spec.wavecoder,
            spec.generator.sampling,
            spec.generator.api,
            judge=(judge.sampling, judge.api),
            keep_rejected=check != "off",
        ),
        *([CheckTasks(check)] if check != "off" else []),
        LeakageFilter(tuple(spec.decontamination.fields or LEAKAGE_FIELDS), spec.decontamination),
        target_sample(spec),
    ]
