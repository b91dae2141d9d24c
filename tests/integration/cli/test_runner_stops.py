"""Stopping `codeinstruct run` mid-execute under gVisor: SIGTERM (how Kubernetes stops a pod)
stops as cleanly as Ctrl-C, and after kill -9 no sandbox outlives the runner and no
`codeinstruct-sandbox-*` directory is left behind."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from codeinstruct.workers.sandbox.box import parent_pids
from tests.conftest import CLI
from tests.helpers.llm_scripts import (
    FENCE,
    generator,
    seed_source,
    selfcodealign_answer,
)
from tests.openai_server import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]

JOB_SECONDS = 15  # each execute job sleeps this long: orphans would live as long


def slow_answer(kind: str, body: dict[str, Any]) -> str:
    """Answers whose programs sleep, so jobs are in flight when the runner is stopped."""
    query = body["messages"][-1]["content"]
    if query.startswith("<instruction>"):
        name = re.search(r"Write (\w+)\(\)", query)
        fn = name.group(1) if name else "g"
        return (
            f"<response>\nEasy.\n{FENCE}python\nimport time\ntime.sleep({JOB_SECONDS})\n\n"
            f"def {fn}():\n    return 1\n{FENCE}\n</response>\n\n"
            f"<tests>\n{FENCE}python\nassert {fn}() == 1\n{FENCE}\n"
        )
    return selfcodealign_answer(kind, body)


def spec_file(tmp_path: Path, server: FakeOpenAI) -> Path:
    spec = {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": "stops"},
        "spec": {
            "method": "selfcodealign",
            "targetSize": 100,
            "source": {"uri": str(seed_source(tmp_path / "src", 2))},
            "generator": generator(server, sampling={"samplesPerInstruction": 1}),
            "sandbox": {"isolation": "gvisor", "workers": 2, "timeoutSeconds": 60},
            "decontamination": {"benchmarks": []},
            "output": {"uri": str(tmp_path / "out"), "shardSize": 2},
        },
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def descendants(pid: int) -> set[int]:
    tree = parent_pids()
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in tree.items() if pp == parent and p not in found]
        found.update(kids)
        frontier += kids
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        if state[state.rfind(b")") + 2 :][:1] != b"Z":
            living.add(pid)
    return living


def sandboxes_of(pid: int) -> set[int]:
    """Host processes of the runner's gVisor sandboxes (their argv names the runner's pid)."""
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                argv = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if f"codeinstruct-{pid}-".encode() in argv:
                found.add(int(name))
    return found


def start_mid_execute(spec: Path, tmpdir: Path) -> tuple[subprocess.Popen[str], set[int]]:
    """The runner, once its sandboxes run jobs; and the processes it has then."""
    runner = subprocess.Popen(
        [*CLI, "run", str(spec), "--until", "execute", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmpdir)},
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while len(sandboxes_of(runner.pid)) < 2:
        assert runner.poll() is None, runner.communicate()
        assert time.monotonic() < deadline, "the sandboxes did not start"
        time.sleep(0.2)
    time.sleep(2)  # both jobs are now sleeping in their sandboxes
    return runner, descendants(runner.pid) | sandboxes_of(runner.pid)


def wait_gone(pids: set[int], tmpdir: Path, seconds: float) -> tuple[set[int], list[Path]]:
    """What still lives (and what is left in TMPDIR) after `seconds`, well under a job's time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pids) and not list(tmpdir.glob("codeinstruct-sandbox-*")):
            break
        time.sleep(0.2)
    return alive(pids), list(tmpdir.glob("codeinstruct-sandbox-*"))


def cleanup(pids: set[int]) -> None:
    for pid in alive(pids):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def tmpdir_for_runner() -> Iterator[Path]:
    """TMPDIR of the runner: the sandboxes' rootfs lives there and must be traversable (pytest's
    own temporary directories are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="runner-tmp-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_kill_9_mid_execute_leaves_no_sandbox_and_no_temp_dir(
    tmp_path: Path, tmpdir_for_runner: Path
) -> None:
    tmpdir = tmpdir_for_runner
    with FakeOpenAI(slow_answer) as server:
        runner, pids = start_mid_execute(spec_file(tmp_path, server), tmpdir)
        assert sandboxes_of(runner.pid)
        runner.kill()
        runner.communicate()
        try:
            living, left = wait_gone(pids, tmpdir, JOB_SECONDS / 2)
            assert not living, f"orphans after kill -9: {sorted(living)}"
            assert not left, f"left behind: {left}"
        finally:
            cleanup(pids)


def test_sigterm_mid_execute_stops_like_ctrl_c_and_the_rerun_resumes(
    tmp_path: Path, tmpdir_for_runner: Path
) -> None:
    tmpdir = tmpdir_for_runner
    with FakeOpenAI(slow_answer) as server:
        spec = spec_file(tmp_path, server)
        runner, pids = start_mid_execute(spec, tmpdir)
        runner.send_signal(signal.SIGTERM)
        try:
            _, stderr = runner.communicate(timeout=JOB_SECONDS / 2)
        finally:
            cleanup(pids | {runner.pid})
        assert runner.returncode == 128 + signal.SIGTERM, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr, stderr
        living, left = wait_gone(pids, tmpdir, 5)
        assert not living and not left
        paid = sum(server.requests.values())

        rerun = subprocess.run(
            [*CLI, "run", str(spec), "--until", "execute", "--no-progress"],
            capture_output=True,
            text=True,
            env={**os.environ, "TMPDIR": str(tmpdir)},
            timeout=300,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert "resumed: seeds" in rerun.stderr and "responses" in rerun.stderr
        assert sum(server.requests.values()) == paid  # the LLM work was kept, not redone
        assert re.search(r"execute: in 2, out \d", rerun.stderr), rerun.stderr
