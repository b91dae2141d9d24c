"""The supervisor's wipe between jobs: everything a job could write is removed, hidden, deep,
locked or linked, but the kept paths and the folders that lead to them stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codeinstruct.workers.sandbox import supervisor
from codeinstruct.workers.sandbox.supervisor import wipe


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_wipe_removes_all_a_job_left_and_keeps_the_python_environment(tmp_path: Path) -> None:
    tmp, shm, outside = tmp_path / "tmp", tmp_path / "shm", tmp_path / "outside"
    scratch = tmp / "state" / "scratch" / "box-7"
    env = tmp / ".cache" / "envs" / "abc"
    for folder in (scratch / "job-1", shm, env / "lib", outside):
        folder.mkdir(parents=True)
    (env / "lib" / "numpy.py").write_text("kept")
    (outside / "target").write_text("not ours")
    # What a job leaves: hidden files, a deep tree, a locked folder, links, a sibling of a kept
    # path, files next to the scratch folder and in its parents.
    (scratch / "job-1" / ".hidden").write_text("s")
    (scratch / "left").write_text("s")
    (tmp / "state" / "scratch" / "up").write_text("s")
    (tmp / "state" / "up").write_text("s")
    (tmp / ".cache" / "envs" / "planted").write_text("s")
    deep = tmp / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "x").write_text("s")
    (tmp / "locked" / "in").mkdir(parents=True)
    (tmp / "locked" / "in" / "x").write_text("s")
    os.chmod(tmp / "locked" / "in", 0)
    os.chmod(tmp / "locked", 0)
    (tmp / "link").symlink_to(outside)
    (shm / "segment").write_text("s")
    wipe([str(scratch), str(tmp), str(shm)], [str(env)])
    assert tree(tmp) == [
        ".cache",
        ".cache/envs",
        ".cache/envs/abc",
        ".cache/envs/abc/lib",
        ".cache/envs/abc/lib/numpy.py",
        "state",
        "state/scratch",
        "state/scratch/box-7",
    ]
    assert tree(shm) == []
    assert (outside / "target").read_text() == "not ours"  # a link is removed, not followed
    assert (env / "lib" / "numpy.py").read_text() == "kept"


def test_processes_that_outlive_every_kill_round_stop_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job's process that outlives the kills (here: kills that do nothing) would count
    against the next job's process limit and could see its files: the sandbox stops."""
    killed: list[int] = []
    monkeypatch.setattr(supervisor, "children", lambda parent: [4242])
    monkeypatch.setattr(supervisor.os, "kill", lambda pid, sig: killed.append(pid))
    monkeypatch.setattr(supervisor.os, "waitpid", lambda pid, flags: (0, 0))
    clock = iter(range(1_000_000))
    monkeypatch.setattr(supervisor.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(supervisor.time, "sleep", lambda seconds: None)
    with pytest.raises(supervisor.DirtyScratch, match="4242"):
        supervisor.reap_all()
    assert killed and set(killed) == {4242}
