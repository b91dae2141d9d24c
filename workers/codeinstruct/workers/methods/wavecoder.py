"""WaveCoder: raw code -> embeddings -> KCenterGreedy coreset -> LLM generator + LLM judge over
four task types (generation, summarization, translation, repair)."""

from __future__ import annotations

from codeinstruct.workers.methods.selfcodealign import seed_stages
from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Stage
from codeinstruct.workers.stages.wavecoder_tasks import GenerateTasks


def stages(spec: Spec) -> list[Stage]:
    return [*seed_stages(spec), GenerateTasks()]
