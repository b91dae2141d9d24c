"""Every SelfCodeAlign few-shot example passes in the real sandbox (gVisor, the default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeinstruct.workers import sandbox
from codeinstruct.workers.prompts.selfcodealign import format as sca
from tests.helpers.stages import stage_services

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]


def test_every_example_passes_in_the_sandbox(tmp_path: Path) -> None:
    with stage_services(tmp_path) as services:
        executor = sandbox.sandbox_for(services)
        jobs = [
            sandbox.Job(id=str(i), program=e.code + "\n\n" + e.test_code)
            for i, e in enumerate(sca.examples())
        ]
        results = executor.run(jobs)
    assert len(jobs) > 0
    assert [r.id for r in results] == [j.id for j in jobs]
    failed = {r.id: (r.verdict, r.stderr[-300:]) for r in results if r.verdict != "pass"}
    assert not failed
