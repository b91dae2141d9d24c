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
from tests.integration.test_llm_stages import (
    generator,
    read_stage,
    run_dir,
    seed_source,
    selfcodealign_answer,
)
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
    assert seeds == 40
    assert report.stages["concepts"].records_out == 40
    assert 4 < server.max_in_flight <= 16, server.max_in_flight
    run = run_dir(tmp_path / "out")
    concepts = read_stage(run, "concepts")
    assert len({r["id"] for r in concepts}) == len(concepts) == 40
    complete = json.loads((run / "stages" / "concepts" / "_complete.json").read_text())
    assert complete["shards"] == 10
