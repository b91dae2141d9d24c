"""Progress of a run from the ledger: stages done, percentage, ETA, phase (from stage kinds)."""

from __future__ import annotations

from datetime import UTC, datetime

from codeinstruct.operator.constants import Phase
from codeinstruct.operator.ledger_view import LedgerView
from codeinstruct.operator.stages import PlannedStage, later_phase, run_phase
from codeinstruct.operator.status import Status


def driver_phase(status: Status, stages: list[PlannedStage] | None) -> Phase:
    """The phase the ledger shows, never earlier than the current one."""
    if not stages:
        return later_phase(status.phase, Phase.GENERATING)
    complete = [s.name for s in status.stages if s.complete]
    started = [s.name for s in status.stages if s.shards]
    return later_phase(status.phase, run_phase(stages, complete, started))


def final_stage_complete(view: LedgerView, stages: list[PlannedStage] | None) -> bool:
    """The method's last stage wrote its completion marker (without a plan: the card)."""
    if not stages:
        return view.exported
    last = stages[-1].name
    return any(s.name == last and s.complete for s in view.stages)


def update_progress(
    status: Status, view: LedgerView, stages: list[PlannedStage] | None, now: datetime
) -> None:
    status.stages = view.stages
    status.output_uri = view.output_uri
    total = len(stages) if stages else max(len(view.stages), 1)
    done = sum(1 for s in view.stages if s.complete)
    partial = 0.0
    for previous, stage in zip(view.stages, view.stages[1:], strict=False):
        if previous.complete and not stage.complete and previous.shards:
            partial = min(stage.shards / previous.shards, 0.99)
            break
    ratio = min((done + partial) / total, 1.0)
    status.progress = f"{done}/{total}"
    status.progress_percentage = int(ratio * 100)
    finished = [s for s in view.stages if s.complete]
    status.selected = finished[-1].records_out if finished else 0
    status.selection = f"{status.selected}/{status.target}"
    status.estimated_remaining_seconds = None
    if status.start_time and 0 < ratio < 1:
        started = datetime.strptime(status.start_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        elapsed = max((now - started).total_seconds(), 0.0)
        status.estimated_remaining_seconds = int(elapsed * (1 - ratio) / ratio)
