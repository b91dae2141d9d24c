"""The pipeline's client of a `codeinstruct sandbox serve` service (`spec.sandbox.endpoint`).

Jobs go in batches, a bounded number of batches in flight. Connection errors, 5xx answers and
429 (the service's back-pressure; its Retry-After is honoured) are retried under the shared
`RetryPolicy`; a batch that still fails ends as `infra_error` results, never as code verdicts.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from codeinstruct.workers.retry import RetryPolicy, parse_retry_after
from codeinstruct.workers.sandbox.jobs import ExecResult, Job
from codeinstruct.workers.sandbox.verdict import infra_result

log = logging.getLogger(__name__)


class SandboxClient:
    def __init__(
        self,
        endpoint: str,
        concurrency: int = 2,
        batch_size: int = 32,
        retry: RetryPolicy | None = None,
        request_timeout: float = 600.0,
    ) -> None:
        self.url = endpoint.rstrip("/") + "/v1/execute"
        self.batch_size = batch_size
        self.retry = retry or RetryPolicy(max_attempts=7)
        self.concurrency = concurrency
        self.http = httpx.Client(timeout=request_timeout)
        self.retried = 0
        self._lock = threading.Lock()
        self._rng = random.Random()

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        batches = [jobs[i : i + self.batch_size] for i in range(0, len(jobs), self.batch_size)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as executor:
            answers = executor.map(self._run_batch, batches)
            return [result for batch in answers for result in batch]

    def _run_batch(self, batch: Sequence[Job]) -> list[ExecResult]:
        body = {"jobs": [job.to_dict() for job in batch]}
        started = time.monotonic()
        problem = ""
        for attempt in range(self.retry.max_attempts):
            if attempt:
                with self._lock:
                    self.retried += 1
            retry_after = None
            try:
                response = self.http.post(self.url, json=body)
            except httpx.TransportError as error:
                problem = f"sandbox service unreachable: {type(error).__name__}: {error}"
            else:
                if response.status_code == 200:
                    return self._results(batch, response.json())
                problem = f"sandbox service answered {response.status_code}: {response.text[:200]}"
                if response.status_code == 429:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                elif response.status_code < 500:
                    break  # our request is wrong: retrying will not help
            if attempt + 1 < self.retry.max_attempts:
                delay = self.retry.delay(attempt, retry_after, self._rng)
                log.warning("%s; retrying in %.1f s", problem, delay)
                time.sleep(delay)
        waited = time.monotonic() - started
        return [infra_result(job.id, problem, waited) for job in batch]

    @staticmethod
    def _results(batch: Sequence[Job], answer: dict[str, Any]) -> list[ExecResult]:
        results = [ExecResult.from_dict(item) for item in answer.get("results", [])]
        if [r.id for r in results] != [job.id for job in batch]:
            return [infra_result(job.id, "sandbox service answered other jobs") for job in batch]
        return results

    def close(self) -> None:
        self.http.close()
