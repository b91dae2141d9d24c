"""Which pipeline stages a spec runs and which phase each belongs to (from stage names)."""

from __future__ import annotations

from codeinstruct.operator.constants import Phase
from codeinstruct.workers.spec import Spec

# The phase of each stage the methods run; unknown names fall back to keywords.
_KNOWN = {
    "complexity": Phase.GENERATING,  # an LLM call, even though it yields a score
    "unit_tests": Phase.GENERATING,
    "execute": Phase.EXECUTING,
    "pick_response": Phase.EXECUTING,
    "quality": Phase.EXECUTING,
    "leakage": Phase.SCORING,
    "target_size": Phase.SCORING,
}
_EXECUTING = ("exec", "quality", "sandbox", "verify")
_SCORING = ("score", "select", "embed", "coreset", "divers", "tli", "rank", "leak")


def stage_names(spec: Spec) -> list[str] | None:
    """The method's stage names in order, or None when this build cannot list them."""
    from codeinstruct.workers.methods import method_stages

    try:
        return [stage.name for stage in method_stages(spec)]
    except Exception:  # a method not available in this build: progress falls back to the ledger
        return None


def stage_phase(name: str) -> Phase:
    if name in _KNOWN:
        return _KNOWN[name]
    lowered = name.lower()
    if any(word in lowered for word in _SCORING):
        return Phase.SCORING
    if any(word in lowered for word in _EXECUTING):
        return Phase.EXECUTING
    return Phase.GENERATING


def scoring_boundary(names: list[str] | None) -> str | None:
    """The last stage that needs the LLM or the sandbox, when scoring stages follow it: the
    driver runs `--until` it and the scoring job the rest (resuming from the ledger).

    None when no scoring stage follows the last generating/executing one (the driver runs
    everything).
    """
    if not names:
        return None
    last = max((i for i, n in enumerate(names) if stage_phase(n) is not Phase.SCORING), default=-1)
    return names[last] if 0 <= last < len(names) - 1 else None
