"""SIGTERM, the signal Kubernetes stops a pod with, stops a run exactly as Ctrl-C does.

The handler hands SIGTERM to whatever handles SIGINT at that moment: Python's default (raise
KeyboardInterrupt) or asyncio's (cancel the main task, then raise KeyboardInterrupt). So every
cleanup path written for Ctrl-C (services stopped, sandboxes closed, nothing half-committed) runs
for SIGTERM too. The exit status is 128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM.
"""

from __future__ import annotations

import signal
from types import FrameType

_received: list[int] = []


def stop_on_sigterm_like_ctrl_c() -> None:
    """Install the SIGTERM handler (main thread only, as every Python signal handler)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored or default (e.g. started in the background): interrupt anyway
        raise KeyboardInterrupt


def stopped_by() -> str:
    """How the run was stopped, for the message: `Ctrl-C` or the signal's name."""
    return signal.Signals(_received[-1]).name if _received else "Ctrl-C"


def exit_status() -> int:
    return 128 + (_received[-1] if _received else signal.SIGINT)
