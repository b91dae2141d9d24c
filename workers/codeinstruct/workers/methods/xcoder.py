"""XCoder: select from an instruction pool by complexity (LLM logprob score), quality (generated
unit tests, executed) and diversity (cosine ceiling τ); measure and remove leakage (TLI)."""

from __future__ import annotations

from codeinstruct.workers.llm.roles import role_model
from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Stage
from codeinstruct.workers.stages.complexity import ScoreComplexity
from codeinstruct.workers.stages.embed import Embed
from codeinstruct.workers.stages.instruction_pool import PoolDuplicates, ReadInstructionPool
from codeinstruct.workers.stages.leakage import LeakageFilter
from codeinstruct.workers.stages.quality import MeasureQuality
from codeinstruct.workers.stages.select import Select
from codeinstruct.workers.stages.unit_tests import WriteUnitTests

# XCoder's TLI measures the user turns (the instruction) of each training sample.
LEAKAGE_FIELDS = ("instruction",)


def stages(spec: Spec) -> list[Stage]:
    scoring = spec.scoring
    scorer, tester = role_model(spec, "complexity"), role_model(spec, "unit_tests")
    complexity: list[Stage] = (
        [ScoreComplexity(scorer.sampling, prompt=scoring.complexity_prompt)]
        if scoring.complexity_scorer == "llm"
        else []
    )
    quality: list[Stage] = (
        [
            WriteUnitTests(tester.sampling, scoring.unit_tests_per_sample, tester.api),
            MeasureQuality(),
        ]
        if scoring.quality_scorer == "unit_tests"
        else []
    )
    # Leaked samples leave the pool before they cost LLM calls, so selection still fills
    # `targetSize` from clean samples.
    return [
        ReadInstructionPool(spec.source),
        PoolDuplicates(),
        LeakageFilter(tuple(spec.decontamination.fields or LEAKAGE_FIELDS), spec.decontamination),
        *complexity,
        *quality,
        # Apart and averaged: a long instruction must not push the response out of the window.
        Embed(("instruction", "response"), scoring.embedding_model, apart=True),
        Select(scoring, spec.target_size),
    ]
