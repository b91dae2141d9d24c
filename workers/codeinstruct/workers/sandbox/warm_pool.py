"""A warm pool of sandboxes: jobs are queued, each worker thread feeds its own sandbox one job at
a time. A sandbox that dies, hangs (no answer by the job's timeout plus a margin) or garbles its
answer is killed and replaced, and the job it held is retried once; a second infrastructure
failure makes the job's verdict `infra_error` (never `fail`)."""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from codeinstruct.workers.sandbox import checks, languages
from codeinstruct.workers.sandbox.box import Box, Launcher, SandboxCrashed, SandboxUnavailable
from codeinstruct.workers.sandbox.jobs import ExecResult, Job
from codeinstruct.workers.sandbox.python_env import PythonEnv, resolve
from codeinstruct.workers.sandbox.verdict import infra_result, result_of
from codeinstruct.workers.spec import Isolation, Sandbox

log = logging.getLogger(__name__)

RETRIES = 1
HUNG_MARGIN_SECONDS = 10.0


@dataclass
class _Task:
    job: Job
    future: Future[ExecResult] = field(default_factory=Future)
    attempts: int = 0
    queued: float = field(default_factory=time.monotonic)


class Pool:
    """`workers` warm sandboxes of one isolation level; `run` is safe to call from many threads."""

    def __init__(
        self,
        isolation: Isolation | str = Isolation.GVISOR,
        workers: int = 2,
        timeout: float = 10.0,
        memory_mib: int = 1024,
        hung_margin: float = HUNG_MARGIN_SECONDS,
        python: PythonEnv | None = None,
    ) -> None:
        """`timeout`: CPU seconds per job (the wall clock caps it, `languages.wall_cap`).
        Every sandbox runs every language of `languages.LANGUAGES`; `python` is the
        environment of Python jobs (default: this interpreter, standard library only)."""
        self.timeout = timeout
        self.memory_mib = memory_mib
        self.hung_margin = hung_margin
        self.launcher = Launcher(Isolation(isolation), python)
        self.replaced = 0
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closing = False
        try:
            first = self._start_first()
        except BaseException:
            self.launcher.close()
            raise
        self.boxes: list[Box | None] = [first, *([None] * (workers - 1))]
        self._threads = [
            threading.Thread(target=self._work, args=(slot,), name=f"sandbox-{slot}", daemon=True)
            for slot in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def from_settings(cls, settings: Sandbox) -> Pool:
        python = resolve(settings.python.packages, settings.python.prefix)
        return cls(
            settings.isolation,
            settings.workers,
            settings.timeout_seconds,
            settings.memory_mib,
            python=python,
        )

    def _start_first(self) -> Box:
        try:
            return self.launcher.start()
        except SandboxCrashed as failure:
            isolation = self.launcher.isolation.value
            raise SandboxUnavailable(
                f"sandbox.isolation is `{isolation}` but a sandbox does not start on this "
                f"machine: {failure}. Check the installation (for gVisor: `apt-get install "
                "runsc`, and `runsc --network=none do true` must work as root), or set "
                "`sandbox.isolation: bubblewrap` or `none` to opt into weaker isolation"
            ) from None

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def submit(self, job: Job) -> Future[ExecResult]:
        task = _Task(job)
        try:
            languages.language(job.language, f"job {job.id!r}: language")
        except languages.UnknownLanguage as error:
            raw = {"exit_code": None, "unsupported": True, "stderr": str(error), "language": None}
            task.future.set_result(result_of(raw, job.id))
        else:
            self._queue.put(task)
        return task.future

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        futures = [self.submit(job) for job in jobs]
        return [future.result() for future in futures]

    def _payload(self, job: Job, box: Box) -> dict[str, Any]:
        payload = {
            "id": job.id,
            "program": job.program,
            "timeout": job.timeout or self.timeout,
            "memory_mib": job.memory_mib or self.memory_mib,
            "language": job.language,
        }
        if job.tests is not None:
            payload["tests"] = job.tests
        if job.variants is not None:
            payload["variants"] = list(job.variants)
            payload["variant_timeout"] = job.variant_timeout
            payload["variant_cpu_seconds"] = job.variant_cpu_seconds
        if box.hello.get("bytecode") == checks.BYTECODE:
            precompiled = precompile(job)
            if precompiled is not None:
                payload["precompiled"] = precompiled
        return payload

    def _work(self, slot: int) -> None:
        failures_in_a_row = 0
        while not self._closing:
            box = self.boxes[slot]
            if box is None:
                try:
                    box = self.boxes[slot] = self.launcher.start()
                    failures_in_a_row = 0
                except SandboxCrashed as failure:
                    failures_in_a_row += 1
                    log.warning("sandbox did not start: %s", failure)
                    box = None
                    start_failure: SandboxCrashed | None = failure
                else:
                    start_failure = None
            else:
                start_failure = None
            task = self._queue.get()
            if task is None:
                return
            if start_failure is not None:
                self._fail(task, start_failure)
                time.sleep(min(5.0, 0.2 * 2**failures_in_a_row))
                continue
            assert box is not None
            try:
                self._serve(task, box, slot)
            except Exception as error:
                # A fault of ours: the caller hears of it, and the next job gets a sandbox
                # whose exchange with us is not left half-way.
                log.exception("sandbox pool: job %s", task.job.id)
                task.future.set_exception(error)
                self._replace(slot, box)

    def _serve(self, task: _Task, box: Box, slot: int) -> None:
        """Run `task` in `box`: its result, or back in the queue for its retry."""
        payload = self._payload(task.job, box)
        compiles = bool(languages.LANGUAGES[task.job.language].compile)
        wait = languages.wall_cap(payload["timeout"]) + self.hung_margin
        if compiles:
            wait += languages.COMPILE_WALL_SECONDS
        try:
            raw = box.run(
                payload,
                wait,
                cpu_limit=payload["timeout"],
                compile_limit=languages.COMPILE_CPU_SECONDS if compiles else None,
            )
        except SandboxCrashed as failure:
            log.warning("sandbox %s failed on job %s: %s", box.name, task.job.id, failure)
            self._replace(slot, box)
            self._fail(task, failure)
            return
        result = result_of(raw, task.job.id)
        if result.verdict == "infra_error" and task.attempts < RETRIES:
            task.attempts += 1
            self._queue.put(task)
            return
        task.future.set_result(result)

    def _replace(self, slot: int, box: Box) -> None:
        """Kill `box`: the slot's next job starts a new sandbox."""
        box.kill()
        self.boxes[slot] = None
        with self._lock:
            self.replaced += 1

    def _fail(self, task: _Task, failure: SandboxCrashed) -> None:
        if task.attempts < RETRIES:
            task.attempts += 1
            self._queue.put(task)
        else:
            waited = time.monotonic() - task.queued
            task.future.set_result(infra_result(task.job.id, f"sandbox failure: {failure}", waited))

    def close(self) -> None:
        self._closing = True
        for _ in self._threads:
            self._queue.put(None)
        for slot, thread in enumerate(self._threads):
            thread.join(timeout=1)
            box = self.boxes[slot]
            if thread.is_alive() and box is not None:
                box.kill()  # a job still in flight: the run is stopping, its result is not wanted
            thread.join(timeout=60)
        for box in self.boxes:
            if box is not None:
                box.close()
        self.boxes = [None] * len(self.boxes)
        self.launcher.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def precompile(job: Job) -> dict[str, str] | None:
    """A checked Python job's instrumented code, compiled on the host for a supervisor of the
    same interpreter (`checks.Precompiled`): in a job's freshly forked process under gVisor,
    parsing and compiling cost several times what they cost here. None for other jobs, and
    when the code does not compile (the job compiles it then, and reports why)."""
    if job.tests is None or job.language != "python":
        return None
    token = secrets.token_hex(8)
    sources = list(job.variants) if job.variants is not None else [job.program]
    precompiled = checks.Precompiled.build(sources, job.tests, token)
    return None if precompiled is None else {"token": token, "code": precompiled.dumps()}
