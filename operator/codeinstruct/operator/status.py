"""The InstructionDataset status: typed models mirrored by the CRD's status schema.

Status holds counters, conditions and URIs only; the data lives in object storage.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from codeinstruct.operator.constants import ConditionType, Phase


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Condition(_Model):
    """A metav1.Condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str = Field(
        json_schema_extra={"format": "date-time"},
        description="When the status last changed (RFC 3339).",
    )
    observed_generation: int | None = None


class StageProgress(_Model):
    """Counts of one pipeline stage, read from the storage ledger."""

    name: str
    shards: int = Field(0, description="Committed shards.")
    records_in: int = 0
    records_out: int = 0
    dropped: int = 0
    complete: bool = False
    seconds: float | None = Field(None, description="Stage duration once complete.")


class Status(_Model):
    phase: Phase = Phase.PENDING
    reason: str | None = Field(None, description="Why the run is in this phase (PascalCase).")
    message: str | None = Field(None, description="Human-readable detail, e.g. a failure cause.")
    conditions: list[Condition] = Field(default_factory=list)
    stages: list[StageProgress] = Field(default_factory=list)
    progress: str | None = Field(None, description='Stages complete, "N/M".')
    progress_percentage: int | None = Field(None, ge=0, le=100)
    estimated_remaining_seconds: int | None = Field(None, ge=0)
    selected: int | None = Field(None, description="Records in the final dataset so far.")
    target: int | None = Field(None, description="spec.targetSize.")
    selection: str | None = Field(None, description='"selected/target" for kubectl.')
    signature: str | None = Field(None, description="Run signature (hash of the semantic spec).")
    output_uri: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
    observed_generation: int | None = None

    def condition(self, kind: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind.value), None)

    def to_patch(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def changes(self, previous: dict[str, Any]) -> dict[str, Any]:
        """The top-level status fields that differ from `previous` (an empty patch: no PATCH)."""
        return {k: v for k, v in self.to_patch().items() if previous.get(k) != v}


def set_condition(
    conditions: list[Condition],
    kind: ConditionType,
    ok: bool | None,
    reason: str,
    message: str,
    now: str,
    generation: int | None,
) -> list[Condition]:
    """Conditions with `kind` set; lastTransitionTime moves only when the status flips."""
    value: Literal["True", "False", "Unknown"] = (
        "Unknown" if ok is None else ("True" if ok else "False")
    )
    previous = next((c for c in conditions if c.type == kind.value), None)
    since = previous.last_transition_time if previous and previous.status == value else now
    updated = Condition(
        type=kind.value,
        status=value,
        reason=str(reason),
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    others = [c for c in conditions if c.type != kind.value]
    return sorted([*others, updated], key=lambda c: _ORDER.get(c.type, 99))


_ORDER = {kind.value: index for index, kind in enumerate(ConditionType)}
