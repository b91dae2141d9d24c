"""Isolation `none` (the mode of a sandbox pod, already inside gVisor): the supervisor's own
confinement still holds, and the choice is announced loudly."""

from __future__ import annotations

import logging
import subprocess
import time

import httpx
import pytest

from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.box import real_interpreter
from codeinstruct.workers.sandbox.gvisor import detect
from codeinstruct.workers.sandbox.pool import Pool
from tests.conftest import CLI, REPO, free_port


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


def test_serve_with_isolation_none_refuses_to_start_outside_gvisor() -> None:
    done = subprocess.run(
        [*CLI, "sandbox", "serve", "--isolation", "none", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "gVisor is not detected" in done.stderr and "--no-gvisor-check" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_with_isolation_none_starts_with_the_override() -> None:
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "sandbox", "serve", "--isolation", "none", "--no-gvisor-check", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server did not become ready")
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.gvisor
def test_gvisor_is_detected_from_inside_gvisor_and_not_on_the_host() -> None:
    assert detect() == []
    probe = (
        f"import sys; sys.path.insert(0, {str(REPO / 'workers')!r}); "
        "from codeinstruct.workers.sandbox.gvisor import detect; print(','.join(detect()))"
    )
    done = subprocess.run(
        ["runsc", "--network=none", "do", real_interpreter(), "-I", "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "/proc/version" in done.stdout
