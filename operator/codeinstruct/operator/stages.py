"""Which pipeline stages a spec runs and which phase each belongs to (from stage names)."""

from __future__ import annotations

from codeinstruct.operator.constants import Phase
from codeinstruct.workers.spec import Spec

_EXECUTING = ("exec", "quality", "sandbox", "verify")
_SCORING = (
    "score",
    "select",
    "embed",
    "coreset",
    "divers",
    "complex",
    "tli",
    "rank",
    "leak",
    "target_size",
)


def stage_names(spec: Spec) -> list[str] | None:
    """The method's stage names in order, or None when this build cannot list them."""
    from codeinstruct.workers.methods import method_stages

    try:
        return [stage.name for stage in method_stages(spec)]
    except Exception:  # a method not available in this build: progress falls back to the ledger
        return None


def stage_phase(name: str) -> Phase:
    lowered = name.lower()
    if any(word in lowered for word in _SCORING):
        return Phase.SCORING
    if any(word in lowered for word in _EXECUTING):
        return Phase.EXECUTING
    return Phase.GENERATING


def scoring_boundary(names: list[str] | None) -> str | None:
    """The last stage before the first scoring stage: the driver runs `--until` it.

    None when there is no scoring stage after a non-scoring one (the driver runs everything).
    """
    if not names:
        return None
    for index, name in enumerate(names):
        if stage_phase(name) is Phase.SCORING:
            return names[index - 1] if index > 0 else None
    return None
