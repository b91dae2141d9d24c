"""Every I->R few-shot example of the other languages passes in the real sandbox (gVisor, the
default), built into a program as generated responses are, and its null variant does not pass.
Needs the sandbox to run each `Job.language` (node, tsc, rustc, go, javac, g++ inside gVisor)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeinstruct.workers import sandbox
from codeinstruct.workers.code_languages import LANGUAGES
from codeinstruct.workers.prompts.selfcodealign import format as sca
from codeinstruct.workers.verification.language_samples import LanguageSample, language_sample_of
from tests.helpers.stages import stage_services

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]


def test_every_language_example_passes_and_its_null_variant_fails(tmp_path: Path) -> None:
    jobs, nulls = [], []
    for language in (lang for lang in LANGUAGES if lang != "python"):
        for index, example in enumerate(sca.examples(language)):
            record = {"language": language, "response": example.response, "tests": example.tests}
            sample = language_sample_of(record)
            assert isinstance(sample, LanguageSample), (language, index, sample)
            name = f"{language}-{index}"
            assert sample.null_head is not None
            # Checked jobs, as the execute stage runs them: the tests must execute an assertion.
            jobs.append(sandbox.Job(name, sample.head, 60, language=language, tests=sample.tests))
            nulls.append(
                sandbox.Job(name, sample.null_head, 60, language=language, tests=sample.tests)
            )
    with stage_services(tmp_path) as services:
        executor = sandbox.sandbox_for(services)
        results = executor.run(jobs)
        null_results = executor.run(nulls)
    assert [r.id for r in results] == [j.id for j in jobs]
    failed = {r.id: (r.verdict, r.reason, r.stderr[-300:]) for r in results if r.verdict != "pass"}
    assert not failed
    # The null variant fails at run time, not at compile time (that would prove nothing).
    built = {r.id: (r.verdict, r.reason) for r in null_results}
    assert all(v != "pass" and reason != "compile_error" for v, reason in built.values()), built
