"""SelfCodeAlign's execution filter: run each response with its self-tests in the sandbox and
keep the verified ones (`codeinstruct.workers.verification.verify`: the tests ran, passed, and
fail against the null variant); then keep one passing response per instruction (seeded shuffle).

Drop reasons: no_code_block, no_tests, no_assert, syntax_error, the verification's reasons
(check_failed, no_checks, solution_not_called, checks_skipped, exited_early, channel_tampered,
vacuous_tests, weak_tests) and the verdicts timeout, error, infra_error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from codeinstruct.workers.records import Record
from codeinstruct.workers.sandbox import sandbox_for
from codeinstruct.workers.stages.base import Drop, Output, Stage, StageContext, StageKind
from codeinstruct.workers.verification.samples import Sample, sample_of
from codeinstruct.workers.verification.verify import Settings, verify


def settings_of(ctx: StageContext) -> Settings:
    sandbox = ctx.spec.sandbox
    return Settings(sandbox.timeout_seconds, sandbox.mutants, sandbox.min_mutants_killed)


class ExecuteTests(Stage):
    """Adds `program` and `execution: {verdict, reason, duration, exit_code, checks_executed,
    checks_failed, tests_collected, solution_called, null_killed, mutants, mutants_killed,
    stderr}`."""

    kind = StageKind.EXECUTE
    name = "execute"

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        prepared = {str(r["id"]): sample_of(r) for r in records}
        samples = {rid: s for rid, s in prepared.items() if isinstance(s, Sample)}
        outcomes = (
            verify(
                samples, sandbox_for(ctx.services), settings_of(ctx), str(ctx.spec.seed), ctx.count
            )
            if samples
            else {}
        )
        for record in records:
            ctx.advance(1)
            sample = prepared[str(record["id"])]
            if not isinstance(sample, Sample):
                yield Drop(record, sample)
                continue
            outcome = outcomes[str(record["id"])]
            kept = {**record, "program": sample.program, "execution": outcome.execution}
            yield kept if outcome.reason is None else Drop(kept, outcome.reason)


class PickResponse(Stage):
    """One passing response per `instruction_id`: the first after a shuffle seeded by the spec
    seed and the instruction id (the same choice on every run, whatever the input order)."""

    kind = StageKind.SCORE
    name = "pick_response"
    whole = True

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[Output]:
        groups: dict[str, list[Record]] = defaultdict(list)
        for record in records:
            groups[str(record.get("instruction_id", record["id"]))].append(record)
        for instruction_id, group in groups.items():
            candidates = sorted(group, key=lambda r: r["id"])
            ctx.rng("pick_response", instruction_id).shuffle(candidates)
            passing = [r for r in candidates if r.get("execution", {}).get("verdict") == "pass"]
            chosen = passing[0]["id"] if passing else None
            for record in group:
                ctx.advance(1)
                if record["id"] == chosen:
                    yield record
                elif record.get("execution", {}).get("verdict") != "pass":
                    yield Drop(record, "not_passing")
                else:
                    yield Drop({**record, "chosen": chosen}, "other_response_chosen")
