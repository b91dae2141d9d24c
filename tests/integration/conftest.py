"""Fixtures for the operator scenarios: kmock as the API server, kopf running in-process."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.helpers.kube_cluster import FakeCluster, emulated_cluster


@pytest.fixture
async def cluster() -> AsyncIterator[FakeCluster]:
    async with emulated_cluster() as fake:
        yield fake


@pytest.fixture
def operator_factory(cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """`async with run_operator():` runs kopf with our handlers (and the fake controllers)."""
    monkeypatch.setenv("CODEINSTRUCT_INTERVAL", "0.1")
    handlers = importlib.import_module("codeinstruct.operator.handlers")
    settings = dataclasses.replace(
        handlers.SETTINGS, api_server=cluster.url, metrics_port=0, interval=0.1
    )
    monkeypatch.setattr(handlers, "SETTINGS", settings)

    @asynccontextmanager
    async def run_operator() -> AsyncIterator[None]:
        import kopf

        handlers._clients.clear()
        stop = asyncio.Event()
        operator = asyncio.create_task(
            kopf.operator(clusterwide=True, standalone=True, stop_flag=stop)
        )
        playing = asyncio.create_task(cluster.play_forever())
        try:
            yield
        finally:
            playing.cancel()
            stop.set()
            await asyncio.wait_for(operator, timeout=10)

    return run_operator
