"""Isolation `none` (the mode of a sandbox pod, already inside gVisor): the supervisor's own
confinement still holds, and the choice is announced loudly."""

from __future__ import annotations

import logging

import pytest

from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.pool import Pool


def test_none_still_confines_each_job_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), Pool("none", workers=1, timeout=2) as pool:
        results = pool.run(
            [
                Job("ok", "assert 2 + 2 == 4"),
                Job("spin", "while True:\n    pass\n", timeout=1),
                Job("memory", "x = bytearray(4 << 30)\n", memory_mib=256),
                Job("after", "print('still here')"),
            ]
        )
    assert [r.verdict for r in results] == ["pass", "timeout", "error", "pass"]
    assert "MemoryError" in results[2].stderr
    assert "ISOLATION IS `none`" in caplog.text
    # (No fork bomb here: on a host where `nobody` cannot read the interpreter, jobs keep the
    # caller's user id, and root is exempt from RLIMIT_NPROC; the warning says so.)
