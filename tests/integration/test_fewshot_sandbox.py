"""Every SelfCodeAlign few-shot example passes in the real sandbox (issue 3's executor), built
into a program as generated responses are (`build_program`)."""

from __future__ import annotations

import pytest

from codeinstruct.workers.extraction import build_program
from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.prompts import selfcodealign as sca
from codeinstruct.workers.services import Services
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset

sandbox = pytest.importorskip(
    "codeinstruct.workers.sandbox", reason="the sandbox module comes from the sandbox branch"
)

pytestmark = pytest.mark.slow


def test_every_example_passes_in_the_sandbox(tmp_path: object) -> None:
    spec = make_dataset().spec
    with Services(spec, Ledger(LocalStore(str(tmp_path)), "run")) as services:
        executor = sandbox.sandbox_for(services)
        programs = [build_program(e.response, e.tests)[0] for e in sca.examples()]
        jobs = [sandbox.Job(id=str(i), program=p or "") for i, p in enumerate(programs)]
        results = executor.run(jobs)
    assert [r.id for r in results] == [j.id for j in jobs]
    failed = {r.id: (r.verdict, r.stderr[-300:]) for r in results if r.verdict != "pass"}
    assert not failed
