"""The LLM client against a real HTTP server that misbehaves: 20 % of requests fail with 500,
429 + Retry-After, hangs past the timeout, connection resets, truncated JSON, empty choices."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.llm import Completion, InfraFailure, LLMClient
from codeinstruct.workers.llm.client import RetryPolicy, current_stage
from tests.helpers.llm_scripts import HANG_SECONDS, REQUEST_TIMEOUT
from tests.helpers.threads import Worker
from tests.openai_server import FakeOpenAI

# How each injected fault shows on the client side.
FAULT_KINDS = {
    "http_500": {"http_500"},
    "http_429": {"http_429"},
    "timeout": {"timeout"},
    "reset": {"connection", "truncated"},
    "truncated": {"invalid_json"},
    "empty_choices": {"empty_choices"},
}


def prompt_echo(kind: str, body: dict[str, Any]) -> str:
    if kind == "chat":
        return f"re:{body['messages'][-1]['content']}:{body.get('seed')}"
    return f"re:{body['prompt']}:{body.get('seed')}"


@pytest.fixture(autouse=True)
def close_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each client these tests make runs its own event loop and session: close them after."""
    made: list[LLMClient] = []
    init = LLMClient.__init__

    def tracked(self: LLMClient, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(LLMClient, "__init__", tracked)
    yield
    for made_client in made:
        made_client.close()


def client(server: FakeOpenAI, **kw: Any) -> LLMClient:
    kw.setdefault("retry", RetryPolicy(max_attempts=12, backoff_seconds=0.01))
    kw.setdefault("timeout", REQUEST_TIMEOUT)
    return LLMClient(server.url, "fake", **kw)


def test_fault_injection_every_request_completes_once() -> None:
    with FakeOpenAI(prompt_echo, fault_rate=0.2, seed=4, hang_seconds=HANG_SECONDS) as server:
        llm = client(server, concurrency=16)

        async def main() -> list[Any]:
            return await asyncio.gather(
                *(llm.complete(f"p{i}", max_tokens=5, seed=i) for i in range(300))
            )

        results = llm.run(main())
    assert all(isinstance(r, Completion) for r in results)
    assert [r.texts for r in results] == [[f"re:p{i}:{i}"] for i in range(300)]
    assert server.requests["completions"] == 300, "each request answered exactly once"
    seen: Counter[str] = Counter()
    for result in results:
        seen.update(result.faults)
    assert sum(server.injected.values()) >= 30  # the 20 % really happened
    assert set(server.injected) == set(FAULT_KINDS)
    for fault in server.injected:
        assert sum(seen[k] for k in FAULT_KINDS[fault]) >= 1, fault
    assert sum(seen.values()) == sum(server.injected.values()), (seen, server.injected)
    assert server.hung_up == server.injected["timeout"], "each hang ended by the client's timeout"


def test_concurrency_is_bounded() -> None:
    with FakeOpenAI(delay=0.02) as server:
        llm = client(server, concurrency=8)

        async def main() -> list[Any]:
            return await asyncio.gather(*(llm.complete(str(i)) for i in range(100)))

        assert all(r.ok for r in llm.run(main()))
    # The bound is what is asserted; how many overlap at the peak depends on scheduling.
    assert 2 <= server.max_in_flight <= 8


def test_a_request_that_keeps_failing_is_an_infra_failure_not_an_exception() -> None:
    with FakeOpenAI(fault_rate=1.0, faults=("http_500", "empty_choices")) as server:
        llm = client(server, retry=RetryPolicy(max_attempts=3, backoff_seconds=0.01))
        result = llm.run(llm.chat([{"role": "user", "content": "hi"}]))
    assert isinstance(result, InfraFailure)
    assert result.reason == "llm_infra_error" and result.attempts == 3
    assert sum(result.faults.values()) == 3
    assert sum(server.injected.values()) == 3


def test_a_server_gone_for_good_fails_at_once_with_why_while_a_refusing_one_is_retried() -> None:
    with FakeOpenAI() as server:
        url = server.url
    retry = RetryPolicy(max_attempts=4, backoff_seconds=0.01)  # the port now refuses
    dead = LLMClient(url, "fake", retry=retry, gone=lambda: "the server died (killed by SIGSEGV)")
    result = dead.run(dead.complete("x"))
    assert isinstance(result, InfraFailure) and result.reason == "llm_infra_error"
    assert result.detail == "the server died (killed by SIGSEGV)" and result.attempts == 1
    down = LLMClient(url, "fake", retry=retry, gone=lambda: None)  # may come back: retried
    result = down.run(down.complete("x"))
    assert isinstance(result, InfraFailure) and result.faults == {"connection": 4}
    assert "Connect" in result.detail


def test_retry_after_is_honoured() -> None:
    with FakeOpenAI(fault_rate=1.0, faults=("http_429",), retry_after="0.4") as server:
        llm = client(server, retry=RetryPolicy(max_attempts=2, backoff_seconds=0.0))
        loop_time = []

        async def main() -> Any:
            start = asyncio.get_running_loop().time()
            result = await llm.complete("x")
            loop_time.append(asyncio.get_running_loop().time() - start)
            return result

        result = llm.run(main())
    assert isinstance(result, InfraFailure) and result.faults == {"http_429": 2}
    assert loop_time[0] >= 0.4


def test_rejected_requests_are_not_retried_and_auth_errors_stop_the_run() -> None:
    with FakeOpenAI(fault_rate=1.0, faults=("http_400",)) as server:
        llm = client(server)
        result = llm.run(llm.complete("x"))
        assert isinstance(result, InfraFailure) and result.reason == "llm_request_rejected"
        assert server.injected["http_400"] == 1
    with FakeOpenAI(fault_rate=1.0, faults=("http_401",)) as server:
        llm = client(server)
        with pytest.raises(UserError, match="apiKeyEnv"):
            llm.run(llm.complete("x"))
    with FakeOpenAI() as server:
        llm = LLMClient(server.url + "/missing", "fake", retry=RetryPolicy(backoff_seconds=0.01))
        with pytest.raises(UserError, match=r"generator\.endpoint"):
            llm.run(llm.complete("x"))


def test_n_samples_fan_out_with_distinct_seeds_when_the_server_lacks_n() -> None:
    with FakeOpenAI(prompt_echo) as server:
        llm = client(server, native_n=False)
        result = llm.run(llm.chat([{"role": "user", "content": "q"}], n=3, seed=10))
        both = client(server)
        native = both.run(both.chat([{"role": "user", "content": "q"}], n=3))
    assert isinstance(result, Completion)
    assert result.texts == ["re:q:10", "re:q:11", "re:q:12"]
    assert isinstance(native, Completion) and len(native.texts) == 3
    assert [b.get("n") for b in server.bodies] == [None, None, None, 3]


def test_api_key_is_sent_and_not_shown() -> None:
    with FakeOpenAI() as server:
        llm = LLMClient(server.url, "m", api_key="sk-secret", retry=RetryPolicy(max_attempts=1))
        result = llm.run(llm.complete("x"))
    assert isinstance(result, Completion)
    assert [h.get("Authorization") for h in server.headers] == ["Bearer sk-secret"]
    assert "sk-secret" not in repr(llm)


def test_each_stage_counts_its_own_answers_latencies_and_tokens() -> None:
    """The per-stage series are looked up once per stage: every answer still counts, under the
    stage that asked, and a second stage gets series of its own."""

    def value(name: str, stage: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"stage": stage, **labels}) or 0.0

    stages = ("metrics_a", "metrics_b")
    before = {
        (s, n): value(
            n, s, **({"verdict": "ok"} if n.startswith("codeinstruct_llm_requests") else {})
        )
        for s in stages
        for n in (
            "codeinstruct_llm_requests_total",
            "codeinstruct_llm_request_seconds_count",
            "codeinstruct_llm_prompt_tokens_total",
            "codeinstruct_llm_completion_tokens_total",
        )
    }
    with FakeOpenAI(prompt_echo) as server:
        llm = client(server, concurrency=4)

        async def ask(stage: str, count: int) -> list[Any]:
            current_stage.set(stage)
            return await asyncio.gather(*(llm.complete(f"two words {i}") for i in range(count)))

        answers = {
            "metrics_a": llm.run(ask("metrics_a", 3)),
            "metrics_b": llm.run(ask("metrics_b", 2)),
        }
    for stage, results in answers.items():
        requests = ("codeinstruct_llm_requests_total", {"verdict": "ok"})
        assert value(requests[0], stage, **requests[1]) - before[stage, requests[0]] == len(results)
        seconds = "codeinstruct_llm_request_seconds_count"
        assert value(seconds, stage) - before[stage, seconds] == len(results)
        for name, attribute in (
            ("codeinstruct_llm_prompt_tokens_total", "prompt_tokens"),
            ("codeinstruct_llm_completion_tokens_total", "completion_tokens"),
        ):
            paid = sum(getattr(r, attribute) for r in results)
            assert paid > 0
            assert value(name, stage) - before[stage, name] == paid


def test_close_with_requests_in_flight_cancels_them(caplog: pytest.LogCaptureFixture) -> None:
    """A stopped run closes the client while abandoned shards still have requests in flight
    (SIGTERM mid-stage): they are cancelled, not retried against the closed session, and no
    task is left with an exception nobody reads (asyncio logs those with a traceback)."""
    with FakeOpenAI(delay=30) as server:
        llm = client(server, concurrency=2, retry=RetryPolicy(max_attempts=3, backoff_seconds=0))

        async def shard() -> list[Any]:
            return await asyncio.gather(*(llm.complete(str(i)) for i in range(4)))

        abandoned = Worker(llm.run, shard())  # as a shard thread of a stopped run
        abandoned.start()
        deadline = time.monotonic() + 30
        while server.in_flight < 2:
            assert time.monotonic() < deadline, "the requests never reached the server"
            time.sleep(0.01)
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            llm.close()
            with pytest.raises(concurrent.futures.CancelledError):
                abandoned.join(timeout=30)  # also fails if the thread still waits
            gc.collect()
    assert "never retrieved" not in caplog.text, caplog.text
