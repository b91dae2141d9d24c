"""Run a batch of jobs in the sandbox and count the verdicts: the one piece that SelfCodeAlign's
execution, `codeinstruct verify` and XCoder's quality stage share."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from codeinstruct.workers.sandbox import ExecResult, Executor, Job

Count = Callable[[str, int], None]


def _no_count(counter: str, n: int) -> None:
    pass


def run_batch(
    executor: Executor,
    jobs: Sequence[Job],
    count: Count = _no_count,
    label: str = "verdict",
    executed: str = "programs_executed",
) -> dict[str, ExecResult]:
    """Results by job id. Jobs with the same program, tests and limits run once; each result
    is counted as `<label>_<verdict>`, and the jobs actually run as `<executed>`."""
    first: dict[tuple[object, ...], str] = {}
    unique: list[Job] = []
    alias: dict[str, str] = {}
    for job in jobs:
        key = (job.language, job.program, job.tests, job.variants, job.timeout, job.memory_mib)
        if key not in first:
            first[key] = job.id
            unique.append(job)
        alias[job.id] = first[key]
    ran = {r.id: r for r in executor.run(unique)} if unique else {}
    count(executed, len(unique))
    results = {}
    for job in jobs:
        result = ran[alias[job.id]]
        count(f"{label}_{result.verdict}", 1)
        results[job.id] = result
    return results
