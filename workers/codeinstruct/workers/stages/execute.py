"""SelfCodeAlign's execution filter: run each response with its self-tests in the sandbox and
keep the verified ones (`codeinstruct.workers.verification.verify`: the tests ran, passed, and
fail against the null variant); then keep one passing response per instruction (seeded shuffle).

Drop reasons: no_code_block, no_tests, no_assert, syntax_error, the verification's reasons
(check_failed, no_checks, solution_not_called, checks_skipped, exited_early, channel_tampered,
vacuous_tests, weak_tests) and, for a run that did not finish, the sandbox's reason (cpu_limit,
wall_limit, memory_limit, output_limit, signal, ...) or else its verdict (timeout, error,
infra_error). A record of another
`language` than Python gets the reduced checks of `verification.language_samples` (drop reasons
there: no_code_block, no_tests, no_assert, the run's reason such as compile_error, or its
verdict, vacuous_tests, null_variant_not_built).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from codeinstruct.workers.records import Record
from codeinstruct.workers.sandbox import sandbox_for
from codeinstruct.workers.spec import Sandbox as SandboxSpec
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput
from codeinstruct.workers.verification.language_samples import (
    LanguageSample,
    language_sample_of,
    verify_languages,
)
from codeinstruct.workers.verification.samples import Sample, sample_of
from codeinstruct.workers.verification.verify import Settings, verify

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services


class ExecuteTests(Stage):
    """Verifies each response with its tests in the sandbox: the tests must run checks after the
    solution, call what it defines, fail none, and fail against the null variant; seeded mutants
    measure their strength (`docs/sandbox.md`). The same program runs once. Time in the sandbox
    is the stage's `sandbox_ms` counter, never a record field (two runs write the same bytes).

    Input fields: response, tests
    Output fields: program, execution ({verdict, reason, exit_code, checks_executed,
    checks_failed, tests_collected, solution_called, null_killed, mutants, mutants_killed,
    stderr})
    Drop reasons: no_code_block, no_tests, no_assert, syntax_error, check_failed, no_checks,
    solution_not_called, checks_skipped, exited_early, channel_tampered, vacuous_tests,
    weak_tests, cpu_limit, wall_limit, memory_limit, output_limit, signal, timeout, error,
    infra_error (other languages: compile_error, tests_not_run, null_variant_not_built)
    """

    kind = StageKind.EXECUTE
    name = "execute"
    inputs = ("response", "tests")
    outputs = ("program", "execution")

    def __init__(self, sandbox: SandboxSpec) -> None:
        self.settings = Settings(
            sandbox.timeout_seconds, sandbox.mutants, sandbox.min_mutants_killed
        )

    def capacity(self, services: Services) -> int:
        """The sandbox's workers (the pool, started here once, before any shard runs)."""
        sandbox_for(services)
        return services.spec.sandbox.workers

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        prepared: dict[str, Sample | LanguageSample | str] = {
            str(r["id"]): _sample(r) for r in records
        }
        samples = {rid: s for rid, s in prepared.items() if isinstance(s, Sample)}
        others = {rid: s for rid, s in prepared.items() if isinstance(s, LanguageSample)}
        outcomes = (
            verify(samples, sandbox_for(ctx.services), self.settings, str(ctx.seed), ctx.count)
            if samples
            else {}
        )
        if others:
            executor = sandbox_for(ctx.services)
            outcomes |= verify_languages(others, executor, self.settings, ctx.count)
        for record in records:
            ctx.advance(1)
            sample = prepared[str(record["id"])]
            if isinstance(sample, str):
                yield Drop(record, sample)
                continue
            outcome = outcomes[str(record["id"])]
            kept = {**record, "program": sample.program, "execution": outcome.execution}
            yield kept if outcome.reason is None else Drop(kept, outcome.reason)


def _sample(record: Record) -> Sample | LanguageSample | str:
    """Python's sample, or for a record of another `language` its reduced one."""
    if record.get("language", "python") != "python":
        return language_sample_of(record)
    return sample_of(record)


class PickResponse(Stage):
    """One passing response per `instruction_id`: the first after a shuffle seeded by the spec
    seed and the instruction id (the same choice on every run, whatever the input order).

    Input fields: execution (and `instruction_id`)
    Output fields: (none; `chosen` on drops)
    Drop reasons: not_passing, other_response_chosen
    """

    kind = StageKind.SCORE
    name = "pick_response"
    whole = True
    inputs = ("execution",)

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
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
