"""Shard stages keep `generator.concurrency` requests in flight across shard boundaries, and
an outage is never committed as lost data (issue 15, items 1 and 2), through the runner and the
CLI against the scriptable OpenAI-compatible server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from codeinstruct.workers.runner import Runner
from tests.conftest import free_port, make_dataset
from tests.helpers.llm_scripts import (
    generator,
    seed_source,
    selfcodealign_answer,
)
from tests.helpers.runs import RunOutput
from tests.openai_server import FakeOpenAI


def test_requests_stay_in_flight_across_shard_boundaries(tmp_path: Path) -> None:
    """40 seeds in shards of 4 with concurrency 16: more than one shard's requests at once,
    never more than the concurrency, and every shard committed exactly once."""
    source = seed_source(tmp_path / "src", 40)
    with FakeOpenAI(selfcodealign_answer, delay=0.2) as server:
        dataset = make_dataset(
            source={"uri": str(source)},
            generator=generator(server, concurrency=16),
            output={"uri": str(tmp_path / "out"), "shardSize": 4},
            decontamination={"benchmarks": []},
        )
        seeds = Runner(dataset, progress=False).run(until="seed_dedup").records
        server.max_in_flight = 0
        report = Runner(dataset, progress=False).run(until="concepts")
    # The seed filters (near-dedup at 0.5, undefined names) keep some of the 40: enough that
    # several shards of 4 must be in flight to fill 16 slots.
    assert 16 < seeds <= 40
    assert report.stages["concepts"].records_out == seeds
    assert 4 < server.max_in_flight <= 16, server.max_in_flight
    run = RunOutput(tmp_path / "out").root
    concepts = RunOutput(tmp_path / "out").records("concepts")
    assert len({r["id"] for r in concepts}) == len(concepts) == seeds
    complete = json.loads((run / "stages" / "concepts" / "_complete.json").read_text())
    assert complete["shards"] == -(-seeds // 4)


def cli_run(spec: dict[str, Any], path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path.write_text(yaml.safe_dump(spec))
    command = [sys.executable, "-m", "codeinstruct.workers.cli", "run", str(path), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=240)


def outage_spec(source: Path, endpoint: str, output: Path) -> dict[str, Any]:
    return {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": "outage"},
        "spec": {
            "method": "selfcodealign",
            "targetSize": 100,
            "source": {"uri": str(source)},
            "generator": {
                "backend": "openai",
                "endpoint": endpoint,
                "model": "fake",
                "maxAttempts": 2,
                "backoffSeconds": 0.01,
                "requestTimeoutSeconds": 2,
                "concurrency": 8,
            },
            "output": {"uri": str(output), "shardSize": 4},
            "decontamination": {"benchmarks": []},
        },
    }


def stage_bytes(output: Path, stage: str) -> dict[str, bytes]:
    run = RunOutput(output).root
    return {p.name: p.read_bytes() for p in sorted((run / "stages" / stage).glob("shard-*"))}


def test_llm_outage_is_not_lost_data_and_a_rerun_after_recovery_completes(tmp_path: Path) -> None:
    """Endpoint down: the CLI exits non-zero naming the endpoint and commits no drop; after the
    server comes back on the same port, the rerun gives what an uninterrupted run gives."""
    source = seed_source(tmp_path / "src", 24)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/v1"
    down = outage_spec(source, endpoint, tmp_path / "out")
    first = cli_run(down, tmp_path / "down.yaml", "--until", "instructions", "--no-progress")
    assert first.returncode != 0, first.stderr
    assert endpoint in first.stderr and "Traceback" not in first.stderr, first.stderr
    run = RunOutput(tmp_path / "out").root
    assert not (run / "stages" / "concepts" / "_complete.json").exists()
    assert not list((run / "stages" / "concepts").glob("shard-*")), "no shard committed"
    with FakeOpenAI(selfcodealign_answer, port=port) as server:
        again = cli_run(down, tmp_path / "down.yaml", "--until", "instructions", "--no-progress")
        assert again.returncode == 0, again.stderr
        reference = outage_spec(source, server.url, tmp_path / "ref")
        whole = cli_run(
            reference, tmp_path / "ref.yaml", "--until", "instructions", "--no-progress"
        )
        assert whole.returncode == 0, whole.stderr
    for stage in ("concepts", "instructions"):
        recovered, uninterrupted = (
            stage_bytes(tmp_path / "out", stage),
            stage_bytes(tmp_path / "ref", stage),
        )
        assert recovered and recovered == uninterrupted, stage
