"""Local servers for tests: a free port, and waiting until a server accepts connections."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Return once 127.0.0.1:`port` accepts a connection; fail if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before serving")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"nothing served on port {port} within {timeout:.0f} s")


def wait_for(
    condition: Callable[[], bool],
    process: subprocess.Popen[Any],
    what: str,
    timeout: float = 300,
) -> None:
    """Poll `condition` until it holds; fail if `process` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the process exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.01)
