"""The sandbox service client under the shared retry policy, against an in-process transport:
Retry-After in either form, the number of tries, and infra_error when the service stays away."""

from __future__ import annotations

from email.utils import formatdate

import httpx

from codeinstruct.workers.retry import RetryPolicy
from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.client import SandboxClient

JOB = Job("j1", "assert True\n")
PASS = {
    "id": "j1", "verdict": "pass", "exit_code": 0, "stdout": "", "stderr": "",
    "stdout_truncated": False, "stderr_truncated": False, "duration": 0.1,
    "tests_passed": None, "tests_failed": None,
}  # fmt: skip


def client_with(answers: list[httpx.Response], **kw: object) -> tuple[SandboxClient, list[int]]:
    seen: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(len(seen))
        return answers[min(len(seen) - 1, len(answers) - 1)]

    client = SandboxClient("http://sandbox", concurrency=1, **kw)  # type: ignore[arg-type]
    client.http = httpx.Client(transport=httpx.MockTransport(handle))
    return client, seen


def test_retry_after_as_an_http_date_is_honoured_not_a_crash() -> None:
    soon = formatdate(usegmt=True)  # "now": no real wait
    answers = [
        httpx.Response(429, headers={"Retry-After": soon}, text="busy"),
        httpx.Response(200, json={"results": [PASS]}),
    ]
    client, seen = client_with(answers, retry=RetryPolicy(max_attempts=3, backoff_seconds=0.0))
    assert [r.verdict for r in client.run([JOB])] == ["pass"]
    assert len(seen) == 2 and client.retried == 1


def test_max_attempts_counts_every_try_then_infra_error() -> None:
    answers = [httpx.Response(503, text="down")]
    client, seen = client_with(answers, retry=RetryPolicy(max_attempts=3, backoff_seconds=0.0))
    results = client.run([JOB])
    assert [r.verdict for r in results] == ["infra_error"] and "503" in results[0].stderr
    assert len(seen) == 3 and client.retried == 2
