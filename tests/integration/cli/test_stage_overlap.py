"""kill -9 in the middle of the overlap (issue 15, item 9), through the CLI, the scriptable
OpenAI-compatible server and the gVisor pool: `execute` has committed shards while `responses`
is still running; the rerun gives the bytes of an uninterrupted run."""

from __future__ import annotations

import os
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

from tests.conftest import CLI
from tests.helpers.llm_scripts import generator, seed_source, selfcodealign_answer
from tests.helpers.runs import RunOutput
from tests.openai_server import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]


def spec_file(path: Path, source: Path, server: FakeOpenAI, output: Path) -> Path:
    spec = {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": "overlap"},
        "spec": {
            "method": "selfcodealign",
            "targetSize": 100,
            "source": {"uri": str(source)},
            "generator": generator(server, concurrency=1, sampling={"samplesPerInstruction": 2}),
            "sandbox": {"workers": 2},
            "output": {"uri": str(output), "shardSize": 2},
            "decontamination": {"benchmarks": []},
        },
    }
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def runner_tmpdir() -> Iterator[Path]:
    """TMPDIR of the runner: the sandboxes' rootfs lives there and must be traversable."""
    path = Path(tempfile.mkdtemp(prefix="runner-tmp-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_cli(spec: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [*CLI, "run", str(spec), "--until", "execute", "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def shard_files(output: Path, *stages: str) -> dict[str, bytes]:
    root = RunOutput(output).root / "stages"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for stage in stages
        for p in sorted((root / stage).glob("shard-*"))
    }


def test_kill_9_while_execute_runs_beside_responses_resumes_to_the_same_bytes(
    tmp_path: Path, runner_tmpdir: Path
) -> None:
    source = seed_source(tmp_path / "src", 16)
    env: dict[str, Any] = {**os.environ, "TMPDIR": str(runner_tmpdir)}
    with FakeOpenAI(selfcodealign_answer, delay=0.5) as server:
        spec = spec_file(tmp_path / "run.yaml", source, server, tmp_path / "out")
        runner = subprocess.Popen(
            [*CLI, "run", str(spec), "--until", "execute", "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        run = tmp_path / "out"
        deadline = time.monotonic() + 240
        while True:
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "execute committed nothing"
            ledger = next(run.iterdir(), run) / "stages" if run.exists() else run
            if list((ledger / "execute" / "_done").glob("*.json")):
                break
            time.sleep(0.05)
        responses_done = (ledger / "responses" / "_complete.json").exists()
        os.killpg(runner.pid, signal.SIGKILL)
        runner.communicate()
        assert not responses_done, "execute committed a shard while responses still ran"
        again = run_cli(spec, env)
        assert again.returncode == 0, again.stderr
        reference = spec_file(tmp_path / "ref.yaml", source, server, tmp_path / "ref")
        whole = run_cli(reference, env)
        assert whole.returncode == 0, whole.stderr
    stages = ("responses", "wrong_format", "incomplete", "execute")
    resumed, uninterrupted = (
        shard_files(tmp_path / "out", *stages),
        shard_files(tmp_path / "ref", *stages),
    )
    assert any(name.startswith("execute/") for name in uninterrupted)
    assert resumed == uninterrupted
