"""A watcher process that cleans up after this one if it dies, kill -9 included.

Sandboxes run in their own sessions (gVisor's `runsc run`, bubblewrap, a bare supervisor) and
keep a state directory under TMPDIR; nothing the kernel does kills them when the runner dies. So
the first `watch` starts a small process (`python -m codeinstruct.workers.reaper`) in its own
session that reads cleanup entries on a pipe. When the pipe closes without the entries having been
forgotten (the runner died: its end of the pipe is closed by the kernel), it runs them, newest
first: commands (`runsc kill`, `runsc delete`), process groups to SIGKILL, directories to remove.
A normal stop forgets each entry once its owner cleaned up itself, and the watcher then exits.

    entry = REAPER.watch([Command([...]), Group(pid), Directory(path)])
    ...
    REAPER.forget(entry)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any


@dataclass(frozen=True)
class Command:
    argv: list[str]


@dataclass(frozen=True)
class Group:
    """A process group (a child started with `start_new_session=True` leads one)."""

    pgid: int


@dataclass(frozen=True)
class Directory:
    path: str


Action = Command | Group | Directory


class Reaper:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._owner = 0
        self._next = 0

    def watch(self, actions: Sequence[Action]) -> int:
        """Register cleanup `actions` (run in order) for if this process dies; an entry id."""
        with self._lock:
            self._next += 1
            self._send({"id": self._next, "actions": [_encode(a) for a in actions]})
            return self._next

    def forget(self, entry: int) -> None:
        """Its owner cleaned up itself: nothing to do for this entry any more."""
        with self._lock, contextlib.suppress(OSError):
            if self._process is not None and self._owner == os.getpid():
                self._send({"forget": entry})

    def _send(self, message: dict[str, Any]) -> None:
        if self._process is None or self._owner != os.getpid() or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "codeinstruct.workers.reaper"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C and SIGTERM to the runner's group spare it
            )
            self._owner = os.getpid()
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(json.dumps(message).encode() + b"\n")
        stdin.flush()


REAPER = Reaper()


def _encode(action: Action) -> dict[str, Any]:
    if isinstance(action, Command):
        return {"command": action.argv}
    if isinstance(action, Group):
        return {"group": action.pgid}
    return {"directory": action.path}


def run_actions(actions: list[dict[str, Any]]) -> None:
    for action in actions:
        if "command" in action:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    action["command"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=30,
                    check=False,
                )
        elif "group" in action:
            with contextlib.suppress(OSError):
                os.killpg(int(action["group"]), signal.SIGKILL)
        elif "directory" in action:
            shutil.rmtree(action["directory"], ignore_errors=True)


def watch_until_closed(pipe: IO[bytes]) -> None:
    """The watcher: collect entries until the pipe closes, then run what was not forgotten."""
    entries: dict[int, list[dict[str, Any]]] = {}
    for line in pipe:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "forget" in message:
            entries.pop(int(message["forget"]), None)
        else:
            entries[int(message["id"])] = list(message["actions"])
    for entry in sorted(entries, reverse=True):
        run_actions(entries[entry])


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    watch_until_closed(sys.stdin.buffer)
