"""Which pipeline stages a spec runs, of which kind, and what that means for the run's phase.

Phases come from each stage's declared `StageKind`, never from its name, and never go
backwards: Generating while LLM or sandbox work remains, Executing once the sandbox stages
start, Scoring once every generate/execute stage is complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from codeinstruct.operator.constants import Phase
from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import StageKind

_NEEDS_SERVERS = {StageKind.GENERATE, StageKind.EXECUTE}
# The order phases may move in; a run never goes back to an earlier one.
PHASE_ORDER = (Phase.PENDING, Phase.GENERATING, Phase.EXECUTING, Phase.SCORING)


@dataclass(frozen=True)
class PlannedStage:
    name: str
    kind: StageKind


def pipeline(spec: Spec) -> list[PlannedStage] | None:
    """The method's stages in order, or None when this build cannot list them."""
    from codeinstruct.workers.methods import method_stages

    try:
        return [PlannedStage(stage.name, stage.kind) for stage in method_stages(spec)]
    except Exception:  # a method not available in this build: progress falls back to the ledger
        return None


def stage_names(spec: Spec) -> list[str] | None:
    stages = pipeline(spec)
    return None if stages is None else [stage.name for stage in stages]


def executes_code(stages: list[PlannedStage] | None) -> bool:
    """Whether a sandbox is needed; unknown stages: assume it is."""
    return stages is None or any(stage.kind is StageKind.EXECUTE for stage in stages)


def scoring_boundary(stages: list[PlannedStage] | None) -> str | None:
    """The last stage that needs the LLM or the sandbox, when stages follow it: with a scoring
    child the driver runs `--until` it and the scoring child the rest (resuming from the ledger).

    None when nothing follows the last generate/execute stage.
    """
    if not stages:
        return None
    last = max((i for i, s in enumerate(stages) if s.kind in _NEEDS_SERVERS), default=-1)
    return stages[last].name if 0 <= last < len(stages) - 1 else None


def run_phase(stages: list[PlannedStage], complete: Iterable[str], started: Iterable[str]) -> Phase:
    """The phase of a running driver from which stages are complete and which have started."""
    done, begun = set(complete), set(started) | set(complete)
    work = [s for s in stages if s.kind in _NEEDS_SERVERS]
    if work and all(s.name in done for s in work):
        return Phase.SCORING
    if any(s.kind is StageKind.EXECUTE and s.name in begun for s in work):
        return Phase.EXECUTING
    return Phase.GENERATING


def later_phase(current: Phase, proposed: Phase) -> Phase:
    """`proposed`, unless it would move the run backwards (then `current`)."""
    if current in PHASE_ORDER and proposed in PHASE_ORDER:
        return max(current, proposed, key=PHASE_ORDER.index)
    return proposed
