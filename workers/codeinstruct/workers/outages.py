"""Infrastructure failures are never lost data.

A record dropped because the infrastructure failed (`llm_infra_error`: the LLM unreachable or
failing after its retries; `infra_error`: the sandbox failed) is not the record's fault, so the
runner never commits the shard that holds it: the shard stays uncommitted and the next run does it
again (completions already paid for come from the cache). The rest of the stage goes on, unless
the failures pass `limit(records)`: then no new shard is started. Either way the stage is not
complete, and the run stops with an `InfraOutage` that names the endpoint.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import Spec

INFRA_REASONS = frozenset({"llm_infra_error", "infra_error"})
MIN_LIMIT = 10  # infra-failed records a stage tolerates before it stops starting shards
LIMIT_FRACTION = 0.01  # ... or this fraction of the stage's records, whichever is larger


class InfraOutage(UserError):
    """Shards left uncommitted because the LLM or the sandbox failed; a rerun retries them."""


def limit(records: int) -> int:
    """Infra-failed records past which a stage stops starting new shards."""
    return max(MIN_LIMIT, int(records * LIMIT_FRACTION))


def failure_detail(record: Record) -> str:
    """What the client or the sandbox said about the failure."""
    execution = record.get("execution")
    stderr = execution.get("stderr") if isinstance(execution, dict) else None
    return str(record.get("llm_error") or stderr or "")


def target(reason: str, spec: Spec) -> str:
    """What failed, as the user names it in the spec."""
    if reason == "llm_infra_error":
        endpoint = spec.generator.endpoint
        return f"generator.endpoint {endpoint}" if endpoint else "the embedded LLM server"
    where = spec.sandbox.endpoint or f"isolation {spec.sandbox.isolation}"
    return f"the sandbox ({where})"


@dataclass
class Outages:
    """The infra failures of one stage: shards left uncommitted, records by reason."""

    stage: str
    records: int
    shards: list[int] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    detail: str = ""

    def add_shard(self, shard: int, excluded: list[Record]) -> bool:
        """Note the shard's infra drops (its excluded records); whether it had any, in which
        case the caller leaves it uncommitted."""
        infra = [r for r in excluded if r.get("drop_reason") in INFRA_REASONS]
        if not infra:
            return False
        self.shards.append(shard)
        self.reasons.update(str(r["drop_reason"]) for r in infra)
        self.detail = self.detail or failure_detail(infra[0])
        return True

    def within_limit(self) -> bool:
        return sum(self.reasons.values()) <= limit(self.records)

    def error(self, spec: Spec) -> InfraOutage:
        failed = sum(self.reasons.values())
        where = ", ".join(target(reason, spec) for reason in sorted(self.reasons))
        stopped = "" if self.within_limit() else f" (past the limit of {limit(self.records)})"
        return InfraOutage(
            f"stage {self.stage}: {failed} records failed on infrastructure{stopped}: {where}"
            f" ({self.detail[:200]}); {len(self.shards)} shards left uncommitted and nothing "
            "of them dropped: rerun the same command once it is reachable"
        )
