"""Running untrusted generated code: jobs in, verdicts out.

`sandbox_for(services)` gives the run's executor, started once: a warm pool of sandboxes
(`spec.sandbox.isolation`, `workers`, `timeoutSeconds`, `memoryMib`), or the HTTP client of a
`codeinstruct sandbox serve` service when `spec.sandbox.endpoint` is set.

Isolation levels (never a silent fallback from one to another):
- `gvisor` (default): `runsc run` with an OCI bundle whose read-only root holds only /usr, /etc
  and the interpreter's installation (nothing else of the host exists inside), a 512 MiB tmpfs
  at /tmp, loopback only (`--network=none`). Needs the Debian package `runsc`.
- `bubblewrap`: the same view through Linux namespaces (`bwrap`); weaker, the host kernel is
  shared directly.
- `none`: no isolation, with a loud warning; meant for `sandbox serve` inside a pod that already
  runs under `runtimeClassName: gvisor`.

Jobs are `{"id", "language", "program", "timeout"}`: nine languages (`languages.py`: python,
javascript, typescript, c, cpp, go, rust, java, bash), compiled inside the sandbox; `timeout` is
CPU seconds, measured on the host, with a wall cap at a multiple of it.

In every level a supervisor (`supervisor.py`) runs each job in a forked child: new session, user
`nobody`, fresh working directory, rlimits on CPU, address space, file size, open files and
processes; the wall timeout kills the process group, and leftovers are killed and reaped before
the next job. A sandbox that dies or hangs is replaced and its job retried once, then reported
as `infra_error`, never as `fail`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Protocol

from codeinstruct.workers.sandbox.jobs import ExecResult, Job, Verdict

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services

__all__ = ["ExecResult", "Executor", "Job", "Verdict", "sandbox_for"]


class Executor(Protocol):
    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
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
    from codeinstruct.workers.sandbox.warm_pool import Pool

    pool = Pool.from_settings(settings)
    stack.callback(pool.close)
    return pool
