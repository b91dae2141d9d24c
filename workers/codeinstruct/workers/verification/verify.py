"""Verify samples: their tests ran and passed, and they can fail.

1. Every sample runs once as a checked job (the supervisor counts its checks; see
   `codeinstruct.workers.sandbox.checks`): it must pass.
2. Each passing sample's tests then run against its null variant and `mutants` seeded mutants
   (`mutants.py`): one job per sample whose variants run in turn in one sandbox process (null
   first, each in a fresh `__main__`), all those jobs in one more batch through the warm pool,
   with a shorter timeout (a variant that loops uses it up: it is killed, later ones are not
   counted). The original and its variants never share a process: a test that tells its first
   run from a later one (a marker in memory or in a file, its pid) would pass a wrong solution
   and fail its null variant; both jobs start in a pristine process with the between-jobs
   cleanup, the null variant first in its job (docs/scoring.md). The null variant must fail (else
   `vacuous_tests`); at least `min_mutants_killed` mutants must fail (else `weak_tests`).
   A variant is killed by any verdict but `pass`; an `infra_error` variant is not counted (an
   `infra_error` null variant drops the sample as `infra_error`).

Drop reasons: the first run's failure reason when there is one (`check_failed`, `no_checks`,
`solution_not_called`, `checks_skipped`, `exited_early`, `channel_tampered`), else its verdict
(`fail`, `error`, `timeout`, `infra_error`); then `vacuous_tests`, `weak_tests`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from codeinstruct.workers.sandbox import ExecResult, Executor, Job
from codeinstruct.workers.verification.batches import Count, _no_count, run_batch
from codeinstruct.workers.verification.mutants import mutants, null_variant
from codeinstruct.workers.verification.samples import Sample

STDERR_KEPT = 2000
# A variant gets this many times the original run's duration (plus a margin), at most the
# sandbox timeout: a mutant that loops forever is killed by its timeout (a kill, as mutation
# testing counts it), not waited for. The null variant raises at its first call.
VARIANT_TIME_FACTOR = 3.0
VARIANT_MARGIN_SECONDS = 0.25
# On CPU time, against the CPU the original run itself used (its end line; gVisor counts it in
# 10 ms ticks), a tighter budget: CPU time does not grow with the load of the machine, so an
# equivalent mutant (same work) stays well inside it, while a spinning one stops soon. The wall
# budget above still stops a variant that waits.
VARIANT_CPU_FACTOR = 2.0
VARIANT_CPU_MARGIN_SECONDS = 0.1


@dataclass(frozen=True)
class Settings:
    timeout: float = 10.0
    mutants: int = 3
    min_mutants_killed: int = 0


@dataclass(frozen=True)
class Outcome:
    execution: dict[str, Any]
    reason: str | None
    """None when verified, else the drop reason."""


def execution_of(result: ExecResult) -> dict[str, Any]:
    checks = result.checks or {}
    return {
        "verdict": result.verdict,
        "reason": result.reason,
        "exit_code": result.exit_code,
        "checks_executed": checks.get("executed", 0),
        "checks_failed": checks.get("failed", 0),
        "tests_collected": checks.get("collected", 0),
        "solution_called": bool(checks.get("called")),
        "null_killed": None,
        "mutants": 0,
        "mutants_killed": 0,
        "stderr": result.stderr[-STDERR_KEPT:],
    }


def count_sandbox_time(results: Iterable[ExecResult], count: Count) -> None:
    """Wall-clock time in the sandbox (`ExecResult.sandbox_seconds`: with the fork of each
    job's process) goes to the stage's `sandbox_ms` counter, never into a record: records stay
    byte-identical from run to run."""
    count("sandbox_ms", sum(round(result.sandbox_time() * 1000) for result in results))


def variant_timeout(duration: float, timeout: float) -> float:
    return round(min(timeout, VARIANT_TIME_FACTOR * duration + VARIANT_MARGIN_SECONDS), 3)


def variant_cpu_budget(result: ExecResult, timeout: float) -> float | None:
    """CPU seconds each variant may use (None when the run did not report its CPU time)."""
    cpu = (result.checks or {}).get("cpu_seconds")
    if cpu is None:
        return None
    return round(min(timeout, VARIANT_CPU_FACTOR * float(cpu) + VARIANT_CPU_MARGIN_SECONDS), 3)


def verify(
    samples: Mapping[str, Sample],
    executor: Executor,
    settings: Settings = Settings(),
    seed: str = "",
    count: Count = _no_count,
) -> dict[str, Outcome]:
    """The outcome of each sample, by id (the id also seeds its mutants)."""
    jobs = [
        Job(sid, s.solution, timeout=settings.timeout, tests=s.tests) for sid, s in samples.items()
    ]
    first = run_batch(executor, jobs, count)
    count_sandbox_time(first.values(), count)
    variants: list[Job] = []
    for sid, result in first.items():
        if result.verdict != "pass":
            continue
        sample = samples[sid]
        codes = [null_variant(sample.solution)]
        codes += [m.code for m in mutants(sample.solution, settings.mutants, f"{seed}:{sid}")]
        each = variant_timeout(result.duration, settings.timeout)
        variants.append(
            Job(
                f"{sid}#variants",
                sample.solution,
                timeout=min(settings.timeout * len(codes), each * len(codes) + 1.0),
                tests=sample.tests,
                variants=tuple(codes),
                variant_timeout=each,
                variant_cpu_seconds=variant_cpu_budget(result, settings.timeout),
            )
        )
    ran = (
        run_batch(executor, variants, count, "variants", "variant_jobs_executed")
        if variants
        else {}
    )
    count_sandbox_time(ran.values(), count)
    outcomes = {}
    for sid, result in first.items():
        execution = execution_of(result)
        variant_run = ran.get(f"{sid}#variants")
        if variant_run is None:
            outcomes[sid] = Outcome(execution, result.reason or result.verdict)
            continue
        judged = variant_run.variants or [{"verdict": "infra_error"}]
        null, *others = (v["verdict"] for v in judged)
        counted = [v for v in others if v != "infra_error"]
        killed = sum(v != "pass" for v in counted)
        execution.update(
            null_killed=None if null == "infra_error" else null != "pass",
            mutants=len(counted),
            mutants_killed=killed,
        )
        for verdict in (null, *others):
            count(f"variant_{verdict}", 1)
        outcomes[sid] = Outcome(execution, _variant_reason(null, killed, settings))
    return outcomes


def _variant_reason(null: str, killed: int, settings: Settings) -> str | None:
    if null == "infra_error":
        return "infra_error"
    if null == "pass":
        return "vacuous_tests"
    if killed < settings.min_mutants_killed:
        return "weak_tests"
    return None
