"""The time limit is CPU time: a CPU-bound job on a loaded machine is judged by the CPU it used,
not by how long the machine made it wait. The load is made certain, not hoped for: the
sandbox's host threads and four busy processes share one CPU."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.warm_pool import Pool

pytestmark = [pytest.mark.gvisor, pytest.mark.slow]

BUSY = 4
TIMEOUT = 1.5


def work_for(seconds: float) -> int:
    """Loop iterations that take about `seconds` of CPU here (measured, not guessed)."""
    count, spent = 200_000, 0.0
    while spent < 0.1:
        count *= 2
        start = time.process_time()
        total = 0
        for i in range(count):
            total += i * i
        spent = time.process_time() - start
    return int(count * seconds / spent)


def pin(pids: list[int], cpus: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(tid), cpus)


@pytest.fixture()
def loaded_cpu() -> Iterator[int]:
    """Four busy processes on one CPU (which the test then gives the sandbox too)."""
    cpu = min(os.sched_getaffinity(0))
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdout=subprocess.DEVNULL)
        for _ in range(BUSY)
    ]
    try:
        pin([process.pid for process in busy], {cpu})
        yield cpu
    finally:
        for process in busy:
            process.kill()
            process.wait()


def test_cpu_bound_job_on_a_loaded_cpu_is_judged_by_its_cpu_time(loaded_cpu: int) -> None:
    iterations = work_for(0.4)  # measured before the load lands on this process's CPUs
    program = (
        f"total = 0\nfor i in range({iterations}):\n    total += i * i\nprint('done', total > 0)\n"
    )
    with Pool("gvisor", workers=1, timeout=TIMEOUT) as pool:
        box = pool.boxes[0]
        assert box is not None
        everything = os.sched_getaffinity(0)
        pin(box.pids(), {loaded_cpu})
        try:
            result = pool.run([Job("busy", program, timeout=TIMEOUT)])[0]
            spin = pool.run([Job("spin", "while True:\n    pass\n", timeout=TIMEOUT)])[0]
        finally:
            pin(box.pids(), everything)
        note = f"duration {result.duration} s, cpu {getattr(result, 'cpu_seconds', None)} s"
        assert result.verdict == "pass", f"{result.reason}: {note}"
        assert result.stdout.strip() == "done True"
        # The CPU time the host measured is the job's, not the machine's wait.
        assert result.cpu_seconds is not None and result.cpu_seconds < TIMEOUT, note
        # A job that really uses up its CPU time on the same loaded CPU is still stopped.
        assert spin.verdict == "timeout", spin
