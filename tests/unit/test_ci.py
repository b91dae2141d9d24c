"""`.ci/run` passes only when `make test` passes, and a run that collected no tests fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.paths import REPO


def ci_with_make_exiting(tmp_path: Path, status: int) -> subprocess.CompletedProcess[str]:
    """Run a copy of .ci/run with a stand-in `make` that exits with `status`."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    make = bin_dir / "make"
    make.write_text(f'#!/bin/sh\necho "make $*" > {tmp_path / "called"}\nexit {status}\n')
    make.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize(("status", "expected"), [(0, 0), (2, 2), (5, 1)])
def test_ci_exit_status(tmp_path: Path, status: int, expected: int) -> None:
    done = ci_with_make_exiting(tmp_path, status)
    assert (tmp_path / "called").read_text().strip() == "make test"
    assert done.returncode == expected, done.stderr
    if status == 5:
        assert "collected no tests" in done.stderr
