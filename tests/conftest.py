"""Shared fixtures: small specs, a local S3-compatible server, the CLI as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.spec import InstructionDataset, parse_spec

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "codeinstruct.workers.cli"]


def make_dataset(**spec: Any) -> InstructionDataset:
    """An InstructionDataset from keyword fields of `spec` (camelCase, as in YAML)."""
    spec.setdefault("method", "selfcodealign")
    spec.setdefault("targetSize", 100)
    return parse_spec(
        {
            "apiVersion": "codeinstruct.dev/v1alpha1",
            "kind": "InstructionDataset",
            "metadata": {"name": "test"},
            "spec": spec,
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible server (moto) on loopback; yields its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("moto_server did not start")
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "S3_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **env}


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """Ray started once for the whole test session (≈5 s, ≈1 GB); stages reuse it."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
