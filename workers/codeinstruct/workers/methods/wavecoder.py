"""WaveCoder: raw code -> embeddings -> KCenterGreedy coreset -> LLM generator + LLM judge over
four task types (generation, summarization, translation, repair)."""

from __future__ import annotations

from codeinstruct.workers.methods.selfcodealign import seed_stages
from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Stage
from codeinstruct.workers.stages.coreset import Coreset
from codeinstruct.workers.stages.embed import Embed
from codeinstruct.workers.stages.leakage import LeakageFilter
from codeinstruct.workers.stages.sample import final_size
from codeinstruct.workers.stages.wavecoder_tasks import GenerateTasks

# What leakage is measured on: the raw code, and what generation adds to it.
LEAKAGE_FIELDS = ("seed", "instruction", "solution")


def selection_stages(spec: Spec) -> list[Stage]:
    return [*seed_stages(spec), Embed(("seed",)), Coreset()]


def stages(spec: Spec) -> list[Stage]:
    return [
        *selection_stages(spec),
        GenerateTasks(),
        LeakageFilter(tuple(spec.decontamination.fields or LEAKAGE_FIELDS)),
        final_size(spec),
    ]
