"""`codeinstruct sandbox serve` answers batches over HTTP; the client retries infra failures."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from codeinstruct.workers.retry import RetryPolicy
from codeinstruct.workers.sandbox import Job, sandbox_for
from codeinstruct.workers.sandbox.client import SandboxClient
from codeinstruct.workers.services import Services
from tests.helpers.paths import CLI
from tests.helpers.servers import free_port
from tests.helpers.specs import make_dataset

pytestmark = pytest.mark.gvisor

JOBS = [
    Job("ok", "assert 1 + 1 == 2\nprint('Test case 0: True')\n"),
    Job("bad", "assert 1 + 1 == 3\n"),
    Job("slow", "while True:\n    pass\n", timeout=1),
]


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "sandbox", "serve", "--port", str(port), "--workers", "2", "--isolation", "gvisor"],
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("sandbox service did not become ready")
    yield url
    process.terminate()
    process.wait(timeout=30)
    if process.stderr is not None:
        process.stderr.close()


def test_service_answers_a_batch_and_exports_metrics(service: str) -> None:
    assert httpx.get(f"{service}/healthz").status_code == 200
    client = SandboxClient(service, concurrency=2, batch_size=2)
    results = client.run(JOBS)
    client.close()
    assert [(r.id, r.verdict) for r in results] == [
        ("ok", "pass"),
        ("bad", "fail"),
        ("slow", "timeout"),
    ]
    assert results[0].tests_passed == 1
    metrics = httpx.get(f"{service}/metrics").text
    assert 'codeinstruct_sandbox_jobs_total{verdict="pass"}' in metrics
    assert 'codeinstruct_sandbox_jobs_total{verdict="timeout"}' in metrics
    assert "codeinstruct_sandbox_job_duration_seconds_bucket" in metrics
    assert "codeinstruct_sandbox_queue_depth" in metrics


def test_malformed_batch_is_a_400(service: str) -> None:
    response = httpx.post(f"{service}/v1/execute", json={"jobs": [{"id": "x"}]})
    assert response.status_code == 400 and "program" in response.json()["error"]


class Flaky:
    """A proxy in front of the service that fails the first requests: 503, 429, a dropped
    connection; then forwards."""

    def __init__(self, upstream: str, failures: list[str]) -> None:
        self.upstream = upstream
        self.failures = list(failures)
        self.seen = 0
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.ready = threading.Event()
        self.thread.start()
        self.ready.wait(10)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen += 1
        body = await request.read()
        failure = self.failures.pop(0) if self.failures else None
        if failure == "503":
            return web.Response(status=503, text="overloaded")
        if failure == "429":
            return web.Response(status=429, text="queue full", headers={"Retry-After": "0.1"})
        if failure == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        async with httpx.AsyncClient(timeout=60) as http:
            answer = await http.post(
                f"{self.upstream}/v1/execute",
                content=body,
                headers={"Content-Type": "application/json"},
            )
        return web.Response(
            body=answer.content, status=answer.status_code, content_type="application/json"
        )

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/execute", self._handle)
        self.runner = runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        assert not self.thread.is_alive(), "the proxy's loop did not stop"
        self.loop.close()


def test_client_retries_5xx_backpressure_and_dropped_connections(service: str) -> None:
    flaky = Flaky(service, ["503", "429", "drop"])
    try:
        client = SandboxClient(
            f"http://127.0.0.1:{flaky.port}",
            concurrency=1,
            retry=RetryPolicy(max_attempts=7, backoff_seconds=0.05),
        )
        results = client.run(JOBS[:2])
        client.close()
    finally:
        flaky.close()
    assert [r.verdict for r in results] == ["pass", "fail"]
    assert client.retried == 3 and flaky.seen == 4


def test_unreachable_service_is_infra_error_never_a_code_verdict() -> None:
    client = SandboxClient(
        f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(max_attempts=3, backoff_seconds=0.01)
    )
    results = client.run(JOBS)
    client.close()
    assert [r.verdict for r in results] == ["infra_error"] * 3
    assert "unreachable" in results[0].stderr


def test_sandbox_for_uses_the_endpoint_when_set(service: str) -> None:
    spec = make_dataset(sandbox={"endpoint": service}).spec
    with Services(spec, None) as services:  # type: ignore[arg-type]
        executor = sandbox_for(services)
        assert isinstance(executor, SandboxClient)
        assert sandbox_for(services) is executor
        assert [r.verdict for r in executor.run(JOBS[:1])] == ["pass"]


def test_a_real_prometheus_scrapes_the_service(service: str, tmp_path: Path) -> None:
    """Debian's Prometheus server scrapes /metrics on loopback; the verdict counters arrive."""
    prometheus = shutil.which("prometheus")
    assert prometheus, "scripts/install.sh installs the Debian package `prometheus`"
    scraped = SandboxClient(service, concurrency=1)
    scraped.run([Job("scraped", "assert True\n")])
    scraped.close()
    target = service.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: sandbox\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        query = 'sum(codeinstruct_sandbox_jobs_total{job="sandbox",verdict="pass"})'
        deadline = time.monotonic() + 60
        value = None
        while time.monotonic() < deadline and value is None:
            time.sleep(1)
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=2
                ).json()
            except (httpx.TransportError, ValueError):
                continue
            result = answer.get("data", {}).get("result", [])
            value = float(result[0]["value"][1]) if result else None
        assert value is not None and value >= 1, "Prometheus never saw the pass counter"
    finally:
        server.terminate()
        server.wait(timeout=30)
