"""`codeinstruct operator` as a process: settings from the environment, metrics, invalid specs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import urllib.request
from typing import Any

import pytest

from tests.conftest import CLI, free_port
from tests.helpers.kube_cluster import FakeCluster, eventually
from tests.helpers.operator import (
    IDS,
    NS,
    SAMPLES,
    load,
    setup_cluster,
    status,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


async def test_operator_command_reconciles_and_serves_metrics(
    cluster: FakeCluster, s3_env: dict[str, str], tmp_path: Any
) -> None:
    metrics_port, health_port = free_port(), free_port()
    env = {
        **s3_env,
        "CODEINSTRUCT_API_SERVER": cluster.url,
        "CODEINSTRUCT_INTERVAL": "0.2",
        "CODEINSTRUCT_METRICS_PORT": str(metrics_port),
    }
    setup_cluster(cluster)
    good = load(next(p for p in SAMPLES if "wavecoder" in p.name))
    bad = load(next(p for p in SAMPLES if "xcoder" in p.name))
    bad["metadata"]["name"] = "broken"
    bad["spec"]["targetSize"] = 0  # kmock has no admission: the operator must still refuse it
    cluster.put(IDS, good)
    cluster.put(IDS, bad)
    log = (tmp_path / "operator.log").open("w")
    process = subprocess.Popen(
        [*CLI, "operator", "--standalone", "--liveness", f"http://127.0.0.1:{health_port}/healthz"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=os.getcwd(),
    )
    playing = asyncio.create_task(cluster.play_forever())
    try:
        name = good["metadata"]["name"]
        await eventually(lambda: status(cluster, name).get("phase") == "Generating", timeout=40)
        failed = await eventually(
            lambda: status(cluster, "broken").get("phase") == "Failed" and status(cluster, "broken")
        )
        assert failed["reason"] == "InvalidSpec"
        assert "spec.targetSize: must be > 0" in failed["message"]
        assert cluster.events("InvalidSpec")
        text = await eventually(
            lambda: (
                (t := scrape(metrics_port))
                and 'codeinstruct_datasets{phase="Generating"} 1.0' in t
                and t
            )
        )
        assert "codeinstruct_reconcile_duration_seconds_count" in text
        assert NS in text and f'name="{name}"' in text
    finally:
        playing.cancel()
        process.terminate()
        try:
            process.wait(timeout=60)  # a graceful kopf stop; slow on a loaded machine
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
