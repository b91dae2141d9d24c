"""Every SelfCodeAlign few-shot example passes in the real sandbox (gVisor, the default), built
into a program as generated responses are (`build_program`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeinstruct.workers import sandbox
from codeinstruct.workers.extraction import build_program
from codeinstruct.workers.prompts.selfcodealign import format as sca
from tests.helpers.stages import stage_services

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]


def test_every_example_passes_in_the_sandbox(tmp_path: Path) -> None:
    with stage_services(tmp_path) as services:
        executor = sandbox.sandbox_for(services)
        programs = [build_program(e.response, e.tests)[0] for e in sca.examples()]
        jobs = [sandbox.Job(id=str(i), program=p or "") for i, p in enumerate(programs)]
        results = executor.run(jobs)
    assert len(jobs) > 0
    assert [r.id for r in results] == [j.id for j in jobs]
    failed = {r.id: (r.verdict, r.stderr[-300:]) for r in results if r.verdict != "pass"}
    assert not failed
