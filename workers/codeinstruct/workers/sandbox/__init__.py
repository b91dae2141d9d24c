"""Running untrusted generated code: jobs in, verdicts out.

`sandbox_for(services)` gives the run's executor, started once: a warm pool of gVisor sandboxes
(or bubblewrap, or none, per `spec.sandbox.isolation`), or the HTTP client of a
`codeinstruct sandbox serve` service when `spec.sandbox.endpoint` is set.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Protocol

from codeinstruct.workers.sandbox.jobs import Job, Result, Verdict

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services

__all__ = ["Executor", "Job", "Result", "Verdict", "sandbox_for"]


class Executor(Protocol):
    def run(self, jobs: Sequence[Job]) -> list[Result]:
        """Run the jobs; one result per job, in the same order."""
        ...


def sandbox_for(services: Services) -> Executor:
    """The run's executor, started on first use and stopped when the run ends."""
    return services.get("sandbox", _start)


def _start(services: Services, stack: ExitStack) -> Executor:
    settings = services.spec.sandbox
    if settings.endpoint:
        from codeinstruct.workers.sandbox.client import SandboxClient

        client = SandboxClient(settings.endpoint, concurrency=settings.workers)
        stack.callback(client.close)
        return client
    from codeinstruct.workers.sandbox.pool import Pool

    pool = Pool.from_settings(settings)
    stack.callback(pool.close)
    return pool
