"""A real Prometheus (Debian) scrapes the three endpoints the chart monitors: the operator's
metrics server, a sandbox service (`codeinstruct sandbox serve`, gVisor) and a runner's
endpoint (`codeinstruct run --metrics-port`), and every query of the shipped Grafana dashboard
is evaluated against it: each must return series, so no panel names a metric that does not
exist. The labels the PodMonitors add (`namespace`, `name`) are added here by the scrape config.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeinstruct.operator import metrics
from codeinstruct.operator.constants import Phase
from codeinstruct.operator.status import StageProgress, Status
from codeinstruct.workers.cli import serve_metrics
from codeinstruct.workers.llm.client import LLMClient, RetryPolicy, current_stage
from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.client import SandboxClient
from tests.conftest import CLI, free_port
from tests.helpers.paths import REPO
from tests.openai_server import FakeOpenAI

pytestmark = [pytest.mark.gvisor, pytest.mark.timeout(240)]

DASHBOARD = REPO / "charts" / "codeinstruct" / "dashboards" / "codeinstruct.json"
NAMESPACE, DATASET = "ml", "sca-demo"


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target, with the dashboard's variables set to `.*`."""
    board = json.loads(DASHBOARD.read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = re.sub(r"\$(namespace|name)\b", ".*", target["expr"])
            assert "$" not in expr, f"{panel['title']}: unknown variable in {expr}"
            out.append((panel["title"], expr))
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            match = re.match(r"label_values\((.*), \w+\)$", query["query"])
            assert match, variable
            out.append((f"variable {variable['name']}", re.sub(r"\$\w+", ".*", match.group(1))))
    return out


@pytest.fixture
def sandbox_service() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "sandbox", "serve", "--port", str(port), "--workers", "2", "--isolation", "gvisor"],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, "sandbox serve exited"
        time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("sandbox service did not become ready")
    yield url
    process.terminate()
    process.wait(timeout=30)


def run_sandbox_jobs(url: str) -> None:
    client = SandboxClient(url, concurrency=2, batch_size=2)
    verdicts = [r.verdict for r in client.run([
        Job("ok", "assert 1 + 1 == 2\n"),
        Job("bad", "assert 1 + 1 == 3\n"),
        Job("slow", "while True:\n    pass\n", timeout=1),
    ])]  # fmt: skip
    client.close()
    assert verdicts == ["pass", "fail", "timeout"]


def run_llm_requests() -> None:
    """Real client requests (some answered with faults, retried) under a stage's name."""
    with FakeOpenAI(fault_rate=0.3, faults=("http_500",), seed=1) as server:
        client = LLMClient(server.url, "fake", retry=RetryPolicy(backoff_seconds=0.01))
        current_stage.set("instructions")

        async def ask() -> None:
            for i in range(12):
                await client.complete(f"def f{i}():", max_tokens=8)
            await client.aclose()

        client.run(ask())
        assert server.injected["http_500"] > 0


def operator_statuses() -> None:
    """What the operator's ticks fold in: one running dataset, one finished, one failing."""
    started = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    running = Status(
        phase=Phase.GENERATING,
        start_time=started,
        progress_percentage=40,
        estimated_remaining_seconds=900,
        stages=[
            StageProgress(name="seeds", shards=2, records_out=800, dropped=200, complete=True,
                          seconds=120.0),
            StageProgress(name="concepts", shards=1, records_out=300, dropped=12),
        ],
    )  # fmt: skip
    metrics.observe(NAMESPACE, DATASET, "selfcodealign", running)
    done = Status(
        phase=Phase.SUCCEEDED,
        progress_percentage=100,
        stages=[StageProgress(name="seeds", records_out=50, complete=True, seconds=30.0)],
    )
    metrics.observe(NAMESPACE, "finished", "wavecoder", done)
    metrics.RECONCILE_ERRORS.labels(NAMESPACE, "broken").inc()
    metrics.RECONCILE_SECONDS.observe(0.02)


def query(port: int, expr: str) -> list[dict[str, Any]] | None:
    try:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}, timeout=5
        ).json()
    except (httpx.TransportError, ValueError):
        return None
    assert answer.get("status") == "success", f"{expr}: {answer}"
    return list(answer["data"]["result"])


def test_every_dashboard_query_returns_series(sandbox_service: str, tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus, "scripts/install.sh installs the Debian package `prometheus`"
    operator_port, runner_port, prometheus_port = free_port(), free_port(), free_port()
    metrics.serve(operator_port)  # the operator's endpoint (kopf startup calls this)
    serve_metrics(runner_port)  # what `codeinstruct run --metrics-port` starts
    operator_statuses()
    run_sandbox_jobs(sandbox_service)
    run_llm_requests()
    sandbox = sandbox_service.removeprefix("http://")
    labels = f"{{namespace: {NAMESPACE}, name: {DATASET}}}"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: operator\n    static_configs: [{{targets: ['127.0.0.1:{operator_port}']}}]\n"
        f"  - job_name: sandbox\n    static_configs: [{{targets: ['{sandbox}'], labels: {labels}}}]\n"
        f"  - job_name: runner\n    static_configs: [{{targets: ['127.0.0.1:{runner_port}'], labels: {labels}}}]\n"
    )  # fmt: skip
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    queries = dashboard_queries()
    assert len(queries) >= 20
    try:
        empty = dict(queries)
        deadline = time.monotonic() + 90
        while empty and time.monotonic() < deadline:
            time.sleep(1)
            for title, expr in list(empty.items()):
                if query(prometheus_port, expr):
                    del empty[title]
        assert not empty, f"dashboard queries with no series: {empty}"
        up = query(prometheus_port, "up == 1") or []
        assert {s["metric"]["job"] for s in up} == {"operator", "sandbox", "runner"}
        verdicts = query(prometheus_port, "sum by (verdict) (codeinstruct_sandbox_jobs_total)")
        assert {s["metric"]["verdict"] for s in verdicts or []} >= {"pass", "fail", "timeout"}
        kept = query(prometheus_port, 'codeinstruct_records_total{stage="seeds",name="sca-demo"}')
        assert kept and float(kept[0]["value"][1]) == 800
    finally:
        server.terminate()
        server.wait(timeout=30)
        for name in (DATASET, "finished", "broken"):
            metrics.forget(NAMESPACE, name)
