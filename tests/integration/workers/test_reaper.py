"""The reaper runs the cleanup of a process that was killed with -9, and only what it was not
told to forget."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

OWNER = textwrap.dedent(
    """
    import os, subprocess, sys, tempfile
    from codeinstruct.workers.reaper import REAPER, Directory, Group
    kept, gone = sys.argv[1], sys.argv[2]
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    REAPER.watch([Directory(gone)])
    REAPER.watch([Group(child.pid)])
    REAPER.forget(REAPER.watch([Directory(kept)]))
    print(child.pid, flush=True)
    sys.stdin.read()  # until killed
    """
)


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] != b"Z"


def test_kill_9_of_the_owner_runs_its_cleanup(tmp_path: Path) -> None:
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    kept.mkdir()
    gone.mkdir()
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(kept), str(gone)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    assert owner.stdout is not None
    child = int(owner.stdout.readline())
    assert running(child)
    owner.kill()
    owner.wait()
    owner.stdout.close()
    if owner.stdin is not None:
        owner.stdin.close()
    deadline = time.monotonic() + 30
    while (running(child) or gone.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert not running(child), "the owner's child outlived it"
        assert not gone.exists()
        assert kept.exists()  # forgotten: its owner had cleaned up itself
    finally:
        if running(child):
            os.kill(child, 9)
