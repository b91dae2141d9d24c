"""`codeinstruct sandbox serve`: the executor over HTTP, for sandbox pods.

    POST /v1/execute   {"jobs": [{"id", "language"?, "program", "timeout"?, "memory_mib"?}]}
                       (language: python by default; an unknown one is a 400 naming it)
                       -> {"results": [ExecResult, ...]} in the jobs' order
                       429 with Retry-After when the queue is full (back-pressure)
    GET  /healthz      the process is up
    GET  /readyz       sandboxes are warm and the queue has room
    GET  /metrics      Prometheus: jobs by verdict, durations, queue depth, replaced sandboxes

In a pod that already runs under `runtimeClassName: gvisor`, start it with `--isolation none`:
the pod is the gVisor sandbox and the supervisor's per-job confinement (new session, user
`nobody`, fresh directory, rlimits, process-group kill) runs directly inside it. There, jobs
share the pod's files and UID, so the pod runs one supervisor (`--workers 1`: one job at a
time, everything it left wiped before the next); more throughput is more pods.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.sandbox.jobs import ExecResult, Job
from codeinstruct.workers.sandbox.languages import UnknownLanguage, language
from codeinstruct.workers.sandbox.warm_pool import Pool
from codeinstruct.workers.spec import Isolation

MAX_BATCH = 1000
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self, pool: Pool) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "codeinstruct_sandbox_jobs",
            "Jobs run, by verdict.",
            ["verdict"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "codeinstruct_sandbox_job_duration_seconds",
            "Wall time of one job in its sandbox.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        queue = Gauge(
            "codeinstruct_sandbox_queue_depth",
            "Jobs waiting for a sandbox.",
            registry=self.registry,
        )
        queue.set_function(lambda: pool.queue_depth())
        replaced = Gauge(
            "codeinstruct_sandbox_replaced_sandboxes",
            "Sandboxes replaced after dying or hanging since start.",
            registry=self.registry,
        )
        replaced.set_function(lambda: pool.replaced)

    def observe(self, result: ExecResult) -> None:
        self.jobs.labels(verdict=result.verdict).inc()
        self.duration.observe(result.duration)


def parse_jobs(body: Any) -> list[Job]:
    """The jobs of a request body; ValueError with a sentence when it is malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
        raise ValueError('the body must be {"jobs": [...]}')
    jobs = []
    for index, item in enumerate(body["jobs"]):
        if not isinstance(item, dict) or not isinstance(item.get("program"), str):
            raise ValueError(f"jobs[{index}] needs a string `program`")
        name = item.get("language", "python")
        try:
            language(str(name), f"jobs[{index}].language")
        except UnknownLanguage as error:
            raise ValueError(str(error)) from None
        if item.get("tests") is not None and not isinstance(item["tests"], str):
            raise ValueError(f"jobs[{index}]: `tests` must be a string")
        variants = item.get("variants")
        if variants is not None and (
            item.get("tests") is None
            or not isinstance(variants, list)
            or not all(isinstance(v, str) for v in variants)
        ):
            raise ValueError(f"jobs[{index}]: `variants` must be a list of strings, with `tests`")
        jobs.append(
            Job(
                id=str(item.get("id", index)),
                program=item["program"],
                timeout=float(item["timeout"]) if item.get("timeout") is not None else None,
                memory_mib=int(item["memory_mib"]) if item.get("memory_mib") is not None else None,
                language=str(name),
                tests=item.get("tests"),
                variants=tuple(variants) if variants is not None else None,
                variant_timeout=float(item["variant_timeout"])
                if item.get("variant_timeout") is not None
                else None,
                variant_cpu_seconds=float(item["variant_cpu_seconds"])
                if item.get("variant_cpu_seconds") is not None
                else None,
            )
        )
    if len(jobs) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} jobs per request, got {len(jobs)}")
    return jobs


def make_app(pool: Pool, max_queue: int = 4096) -> web.Application:
    metrics = Metrics(pool)

    async def execute(request: web.Request) -> web.Response:
        try:
            jobs = parse_jobs(await request.json())
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        if pool.queue_depth() + len(jobs) > max_queue:
            return web.json_response(
                {"error": "queue full"}, status=429, headers={"Retry-After": "1"}
            )
        futures = [asyncio.wrap_future(pool.submit(job)) for job in jobs]
        results = await asyncio.gather(*futures)
        for result in results:
            metrics.observe(result)
        return web.json_response({"results": [r.to_dict() for r in results]})

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(request: web.Request) -> web.Response:
        warm = any(box is not None and box.alive() for box in pool.boxes)
        if warm and pool.queue_depth() < max_queue:
            return web.Response(text="ready")
        return web.Response(text="not ready", status=503)

    async def prometheus(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/v1/execute", execute)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    return app


def check_sharing(isolation: Isolation, workers: int, hello: dict[str, Any]) -> None:
    """Under `none` the sandboxes of a pool share one filesystem: several of them are refused
    unless the first one said its jobs get a scratch directory of their own (`private_scratch`;
    under gVisor a non-root one does not), since a job could read a concurrent job's files."""
    if isolation is not Isolation.NONE or workers <= 1 or hello.get("private_scratch"):
        return
    raise UserError(
        f"sandbox serve --isolation none --workers {workers}: jobs here cannot get a scratch "
        "directory of their own (no user namespace for a non-root process, as under gVisor), "
        "so concurrent jobs could read each other's files. Use --workers 1 and more replicas "
        "(pods) for throughput"
    )


def serve(pool: Pool, host: str, port: int, max_queue: int) -> None:
    first = pool.boxes[0]
    check_sharing(pool.launcher.isolation, len(pool.boxes), first.hello if first else {})
    web.run_app(make_app(pool, max_queue), host=host, port=port, print=None, access_log=None)
