"""Every SelfCodeAlign few-shot example's tests can fail: in the real sandbox they pass against
the example's code and fail against its null variant (each function and method it defines
replaced by one that raises; `verification.mutants.null_variant`, from the verify branch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeinstruct.workers.extraction import reads_input, strip_main_block
from codeinstruct.workers.prompts.selfcodealign import format as sca
from codeinstruct.workers.sandbox import Job, sandbox_for
from codeinstruct.workers.verification.mutants import null_variant
from tests.helpers.stages import stage_services

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]


def program(code: str, tests: str) -> str:
    # As build_program does: a program reading stdin loses its main guard.
    if reads_input(code):
        code = strip_main_block(code)
    return f"{code.rstrip()}\n\n{tests.rstrip()}\n"


def test_every_example_passes_and_fails_against_its_null_variant(tmp_path: Path) -> None:
    examples = sca.examples()
    jobs = [
        Job(id=f"real-{i}", program=program(e.code, e.test_code)) for i, e in enumerate(examples)
    ]
    jobs += [
        Job(id=f"null-{i}", program=program(null_variant(e.code), e.test_code))
        for i, e in enumerate(examples)
    ]
    with stage_services(tmp_path) as services:
        results = {r.id: r for r in sandbox_for(services).run(jobs)}
    assert len(results) == len(jobs)
    for i, example in enumerate(examples):
        real, null = results[f"real-{i}"], results[f"null-{i}"]
        assert real.verdict == "pass", (example.instruction[:60], real.stderr[-300:])
        assert null.verdict not in {"pass", "infra_error"}, example.instruction[:60]
