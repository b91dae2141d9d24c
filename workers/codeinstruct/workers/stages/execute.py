"""SelfCodeAlign's execution filter: run each response with its self-tests in the sandbox and
keep the passing ones; then keep one passing response per instruction (seeded shuffle).

Drop reasons: no_code_block, no_assert, and the verdicts timeout, fail, error, infra_error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from codeinstruct.workers.extraction import build_program
from codeinstruct.workers.records import Record
from codeinstruct.workers.sandbox import Job, sandbox_for
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services

STDERR_KEPT = 2000


class ExecuteTests(Stage):
    """Runs each response's code with its tests; the same program runs once.

    Input fields: response, tests
    Output fields: program, execution ({verdict, duration, exit_code, tests_passed,
    tests_failed, stderr})
    Drop reasons: no_code_block, no_assert, fail, error, timeout, infra_error
    """

    kind = StageKind.EXECUTE
    name = "execute"
    inputs = ("response", "tests")
    outputs = ("program", "execution")

    def capacity(self, services: Services) -> int:
        """The sandbox's workers (the pool, started here once, before any shard runs)."""
        sandbox_for(services)
        return services.spec.sandbox.workers

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        prepared = {
            r["id"]: build_program(str(r.get("response", "")), str(r.get("tests", "")))
            for r in records
        }
        # The same program (a repeated sample) runs once.
        by_text: dict[str, str] = {}
        for record_id, (program, _) in prepared.items():
            if program is not None:
                by_text.setdefault(program, record_id)
        jobs = [Job(record_id, program) for program, record_id in by_text.items()]
        results = {r.id: r for r in sandbox_for(ctx.services).run(jobs)} if jobs else {}
        ctx.count("programs_executed", len(jobs))
        for record in records:
            ctx.advance(1)
            program, reason = prepared[record["id"]]
            if program is None:
                yield Drop(record, reason or "no_code_block")
                continue
            result = results[by_text[program]]
            execution = {
                "verdict": result.verdict,
                "duration": result.duration,
                "exit_code": result.exit_code,
                "tests_passed": result.tests_passed,
                "tests_failed": result.tests_failed,
                "stderr": result.stderr[-STDERR_KEPT:],
            }
            ctx.count(f"verdict_{result.verdict}")
            kept = {**record, "program": program, "execution": execution}
            yield kept if result.verdict == "pass" else Drop(kept, result.verdict)


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
