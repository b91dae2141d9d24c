"""Shared fixtures: small specs, a local S3-compatible server, the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

# Re-exported for modules that import them from here; new code imports from tests.helpers.
from tests.helpers.paths import CLI, REPO
from tests.helpers.requirements import NEEDS, lacking, lacking_message
from tests.helpers.servers import free_port, wait_until_serving
from tests.helpers.specs import make_dataset

__all__ = ["CLI", "REPO", "free_port", "make_dataset"]

# kopf binds the reconcile timer's interval when codeinstruct.operator.handlers is first imported,
# and collecting a test module that imports it happens before any fixture runs: without this,
# every emulated-cluster test would tick every 10 s instead of every 0.1 s.
os.environ.setdefault("CODEINSTRUCT_INTERVAL", "0.1")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test using the Ray session is marked `ray` (before `-m` deselects)."""
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop, naming what to install, when a selected test needs something this machine lacks."""
    items = session.items
    used = {mark.name for item in items for mark in item.iter_markers() if mark.name in NEEDS}
    missing = lacking(used)
    if missing:
        raise pytest.UsageError(lacking_message(missing))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible server (moto) on loopback; yields its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_serving(port, process)
    yield f"http://127.0.0.1:{port}"
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
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
