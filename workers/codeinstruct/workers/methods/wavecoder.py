"""WaveCoder: raw code -> embeddings -> KCenterGreedy coreset -> LLM generator + LLM judge over
four task types (generation, summarization, translation, repair) -> leakage filter."""

from __future__ import annotations

from codeinstruct.workers.methods.selfcodealign import seed_stages
from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Stage
from codeinstruct.workers.stages.coreset import Coreset
from codeinstruct.workers.stages.embed import Embed
from codeinstruct.workers.stages.leakage import LeakageFilter

# What leakage is measured on: the raw code, and what generation adds to it.
LEAKAGE_FIELDS = ("seed", "instruction", "solution")


def selection_stages(spec: Spec) -> list[Stage]:
    return [*seed_stages(spec), Embed(("seed",)), Coreset()]


def stages(spec: Spec) -> list[Stage]:
    # The generator and judge stages go between the coreset and the leakage filter.
    return [*selection_stages(spec), LeakageFilter(LEAKAGE_FIELDS)]
