"""Samples in another language than Python, and their reduced verification.

A record whose `language` is not Python (set by the seed miner from `source.language`) is
checked as follows, instead of the Python checks (counted checks, mutants):
1. its solution is the response's code blocks fenced in that language (or untagged), its tests
   the test part's; the tests must assert in the language's idiom (`code_languages.IDIOMS`,
   else `no_assert`): `console.assert` or a defined `NDEBUG`, which cannot fail, do not count;
2. the solution and the tests run as one program of that language (`Job.language`, the tests
   as `Job.tests`); it must `pass` (exit status 0 within the limits, compiled inside the sandbox
   where the language is compiled, and an assertion of the tests executed: counted at run time
   for javascript/typescript, reachable from `main` for the others, see `sandbox/checks.py`);
   else the drop reason is the result's `reason` (e.g. `compile_error`, `tests_not_run`) or
   verdict;
3. the null variant (`language_variants`: every solution function fails at its first call)
   must not pass, else `vacuous_tests`; a solution without a function to null cannot show that
   its tests depend on it and is dropped as `vacuous_tests` too. An `infra_error` null run drops
   the sample as `infra_error`; a null variant that does not compile shows nothing and drops
   the sample as `null_variant_not_built`.
What is not checked for these languages: the number of checks run or failed, whether the tests
ran after the solution, and mutants (`mutants` is 0, `mutants_killed` 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codeinstruct.workers.code_languages import FENCE_TAGS, assertion_reason, program_of
from codeinstruct.workers.prompts.parsing import code_blocks
from codeinstruct.workers.sandbox import Executor, Job
from codeinstruct.workers.verification.batches import Count, _no_count, run_batch
from codeinstruct.workers.verification.language_variants import null_variant
from codeinstruct.workers.verification.verify import (
    Outcome,
    Settings,
    execution_of,
    variant_timeout,
)


@dataclass(frozen=True)
class LanguageSample:
    language: str
    solution: str
    tests: str

    @property
    def program(self) -> str:
        return program_of(self.language, self.solution, self.tests)

    @property
    def head(self) -> str:
        """The program without its tests (the job's `program`; the supervisor appends the
        job's `tests`, and checks that they execute an assertion)."""
        return program_of(self.language, self.solution, "")

    @property
    def null_program(self) -> str | None:
        nulled = null_variant(self.language, self.solution, self.tests)
        return None if nulled is None else program_of(self.language, nulled, self.tests)

    @property
    def null_head(self) -> str | None:
        nulled = null_variant(self.language, self.solution, self.tests)
        return None if nulled is None else program_of(self.language, nulled, "")


def _code(text: str, language: str) -> str:
    if "```" not in text:
        return text.strip()
    return "\n".join(code_blocks(text, FENCE_TAGS[language]))


def language_sample_of(record: Mapping[str, Any]) -> LanguageSample | str:
    """The record's sample, or the reason it has none."""
    language = str(record["language"])
    response = record.get("response")
    solution = (
        "\n".join(code_blocks(response, FENCE_TAGS[language])) if isinstance(response, str) else ""
    )
    if not solution.strip():
        return "no_code_block"
    tests_text = record.get("tests")
    tests = _code(tests_text, language) if isinstance(tests_text, str) else ""
    if not tests.strip():
        return "no_tests"
    reason = assertion_reason(language, tests)
    if reason is not None:
        return reason
    return LanguageSample(language, solution.rstrip() + "\n", tests.rstrip() + "\n")


def verify_languages(
    samples: Mapping[str, LanguageSample],
    executor: Executor,
    settings: Settings,
    count: Count = _no_count,
) -> dict[str, Outcome]:
    """The outcome of each sample, by id (steps 2 and 3 of the module docstring)."""
    jobs = [
        Job(sid, s.head, timeout=settings.timeout, language=s.language, tests=s.tests)
        for sid, s in samples.items()
    ]
    first = run_batch(executor, jobs, count)
    nulls: list[Job] = []
    unnullable: set[str] = set()
    for sid, result in first.items():
        if result.verdict != "pass":
            continue
        sample = samples[sid]
        head = sample.null_head
        if head is None:
            unnullable.add(sid)
            continue
        # Compiled languages build the variant from scratch: the full timeout, not a fraction.
        timeout = max(variant_timeout(result.duration, settings.timeout), settings.timeout)
        nulls.append(
            Job(f"{sid}#null", head, timeout, language=sample.language, tests=sample.tests)
        )
    ran = run_batch(executor, nulls, count, "variants", "variant_jobs_executed") if nulls else {}
    outcomes = {}
    for sid, result in first.items():
        execution = execution_of(result)
        null = ran.get(f"{sid}#null")
        if result.verdict != "pass":
            outcomes[sid] = Outcome(execution, result.reason or result.verdict)
        elif sid in unnullable or null is None:
            outcomes[sid] = Outcome(execution, "vacuous_tests")
        else:
            killed = None if null.verdict == "infra_error" else null.verdict != "pass"
            execution.update(null_killed=killed, null_reason=null.reason)
            count(f"variant_{null.verdict}", 1)
            outcomes[sid] = Outcome(execution, _null_reason(null.verdict, null.reason))
    return outcomes


def _null_reason(verdict: str, reason: str | None) -> str | None:
    if verdict == "infra_error":
        return "infra_error"
    if verdict == "pass":
        return "vacuous_tests"
    if reason == "compile_error":  # it failed before any test ran: it shows nothing
        return "null_variant_not_built"
    return None
