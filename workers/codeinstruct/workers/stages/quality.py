"""XCoder quality, second half: run each record's unit-test script in the sandbox; quality is
the number of test cases that printed `Test case <i>: True`."""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.records import Record
from codeinstruct.workers.sandbox import Job, sandbox_for
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput
from codeinstruct.workers.stages.unit_tests import unit_test_program
from codeinstruct.workers.verification.batches import run_batch


class MeasureQuality(Stage):
    """Adds `quality` (tests passed) and `quality_run: {verdict, tests_passed, tests_failed}`.

    A sandbox failure is not the sample's fault: it is dropped as `infra_error`, never scored 0.
    A script that printed no test case (a SyntaxError, a crash before the first case) measured
    nothing: it is dropped as `unit_tests_unrunnable`, never scored 0. Quality is capped at the
    k cases asked for.

    Input fields: response, unit_tests
    Output fields: quality, quality_run
    Drop reasons: infra_error, unit_tests_unrunnable
    """

    kind = StageKind.EXECUTE
    name = "quality"
    inputs = ("response", "unit_tests")
    outputs = ("quality", "quality_run")

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        jobs = [Job(str(r["id"]), unit_test_program(r)) for r in records]
        results = run_batch(sandbox_for(ctx.services), jobs, ctx.count) if jobs else {}
        for record in records:
            result = results[str(record["id"])]
            ctx.advance(1)
            run = {
                "verdict": result.verdict,
                "tests_passed": result.tests_passed,
                "tests_failed": result.tests_failed,
            }
            cases = (result.tests_passed or 0) + (result.tests_failed or 0)
            if result.verdict == "infra_error":
                yield Drop({**record, "quality_run": run}, "infra_error")
            elif cases == 0:
                yield Drop({**record, "quality_run": run}, "unit_tests_unrunnable")
            else:
                k = int(record.get("unit_tests_requested") or cases)
                yield {**record, "quality": min(result.tests_passed or 0, k), "quality_run": run}
