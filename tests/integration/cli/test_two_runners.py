"""Two `codeinstruct run` of one spec on one output at once: the run lease lets one work, the
other waits or refuses, and no LLM request is paid twice."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import CLI
from tests.helpers.llm_scripts import generator, seed_source, selfcodealign_answer
from tests.openai_server import FakeOpenAI

pytestmark = pytest.mark.slow


def spec_file(path: Path, source: Path, output: Path, server: FakeOpenAI) -> Path:
    spec = {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": "two"},
        "spec": {
            "method": "selfcodealign",
            "targetSize": 100,
            "source": {"uri": str(source)},
            "generator": generator(server, concurrency=2, sampling={"samplesPerInstruction": 2}),
            "decontamination": {"benchmarks": []},
            "output": {"uri": str(output), "shardSize": 2},
        },
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def start(spec: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "run", str(spec), "--until", "responses", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CODEINSTRUCT_LEASE_SECONDS": "2"},
    )


def responses(output: Path) -> list[dict[str, object]]:
    (run,) = [p for p in output.iterdir() if p.is_dir()]
    shards = sorted((run / "stages" / "responses").glob("shard-*.jsonl"))
    return [json.loads(line) for shard in shards for line in shard.read_text().splitlines()]


def test_two_runners_at_once_pay_once(tmp_path: Path) -> None:
    source = seed_source(tmp_path / "src", 8)
    with FakeOpenAI(selfcodealign_answer, delay=0.05) as server:
        alone = start(spec_file(tmp_path / "ref.yaml", source, tmp_path / "ref", server))
        _, stderr = alone.communicate(timeout=300)
        assert alone.returncode == 0, stderr
        once = sum(server.requests.values())
        server.requests.clear()

        spec = spec_file(tmp_path / "spec.yaml", source, tmp_path / "out", server)
        runners = [start(spec), start(spec)]
        results = [(r.wait(timeout=300), r.communicate()[1]) for r in runners]

    assert once > 20
    assert sum(server.requests.values()) == once, results  # nothing paid twice
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0, results
    for code, stderr in results:
        assert "Traceback" not in stderr, stderr
        if code != 0:  # the one that gave up waiting says why, in one line
            assert code == 2, stderr
            (line,) = [x for x in stderr.splitlines() if x.startswith("error:")]
            assert "_lease.json" in line and "in progress" in line, stderr
    assert responses(tmp_path / "out") == responses(tmp_path / "ref")
