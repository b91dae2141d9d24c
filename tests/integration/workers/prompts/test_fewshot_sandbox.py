"""Every SelfCodeAlign few-shot example passes in the real sandbox (issue 3's executor)."""

from __future__ import annotations

import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.prompts import selfcodealign as sca
from codeinstruct.workers.services import Services
from codeinstruct.workers.store import LocalStore
from tests.helpers.specs import make_dataset

sandbox = pytest.importorskip(
    "codeinstruct.workers.sandbox", reason="the sandbox module comes from the sandbox branch"
)

pytestmark = pytest.mark.slow


def test_every_example_passes_in_the_sandbox(tmp_path: object) -> None:
    spec = make_dataset().spec
    with Services(spec, Ledger(LocalStore(str(tmp_path)), "run")) as services:
        executor = sandbox.sandbox_for(services)
        jobs = [
            sandbox.Job(id=str(i), program=e.code + "\n\n" + e.test_code)
            for i, e in enumerate(sca.examples())
        ]
        results = executor.run(jobs)
    assert [r.id for r in results] == [j.id for j in jobs]
    failed = {r.id: (r.verdict, r.stderr[-300:]) for r in results if r.verdict != "pass"}
    assert not failed
