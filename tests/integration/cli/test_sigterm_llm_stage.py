"""SIGTERM during an LLM stage (asyncio in flight) stops like Ctrl-C: exit 143, one line, the
committed shards and cached completions are kept, and the rerun pays only for the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import CLI
from tests.helpers.llm_scripts import generator, seed_source, selfcodealign_answer
from tests.openai_server import FakeOpenAI

pytestmark = pytest.mark.slow


def test_sigterm_in_an_llm_stage(tmp_path: Path) -> None:
    spec = {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": "term"},
        "spec": {
            "method": "selfcodealign",
            "targetSize": 100,
            "source": {"uri": str(seed_source(tmp_path / "src", 12))},
            "generator": generator(FakeOpenAI(), concurrency=2),
            "decontamination": {"benchmarks": []},
            "output": {"uri": str(tmp_path / "out"), "shardSize": 2},
        },
    }
    with FakeOpenAI(selfcodealign_answer, delay=0.3) as server:
        spec["spec"]["generator"]["endpoint"] = server.url
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec))
        argv = [*CLI, "run", str(path), "--until", "concepts", "--no-progress"]
        runner = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=os.environ)
        deadline = time.monotonic() + 120
        while not list((tmp_path / "out").glob("*/stages/concepts/_done/*.json")):
            assert runner.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        runner.send_signal(signal.SIGTERM)
        _, stderr = runner.communicate(timeout=60)
        assert runner.returncode == 143, stderr
        assert "interrupted (SIGTERM)" in stderr and "Traceback" not in stderr, stderr
        kept = len(list((tmp_path / "out").glob("*/stages/concepts/_done/*.json")))
        assert 0 < kept < 6
        # Counted on arrival: the killed runner has exited, so all it sent has arrived (some
        # answered only after it died: the window keeps several shards in flight).
        arrived = len(server.headers)

        rerun = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert "concepts: in 12, out 12" in rerun.stderr
        assert len(server.headers) - arrived <= 12 - 2 * kept  # committed work not redone
