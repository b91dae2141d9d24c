"""The operator's client-side rate limit (issue 11, item 9): a token bucket with client-go's
QPS/burst semantics, counted against an injected clock (no wall-clock timing)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from codeinstruct.operator.kube import Kube
from codeinstruct.operator.rate_limit import TokenBucket
from codeinstruct.operator.settings import Settings


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def sent_at(bucket: TokenBucket, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        bucket.acquire()
        times.append(clock.now)
    return times


def test_a_burst_goes_at_once_then_one_request_per_qps_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=5, burst=10, clock=clock, sleep=clock.sleep)
    times = sent_at(bucket, clock, 60)
    assert times[:10] == [1000.0] * 10, "the burst needs no wait"
    assert len(clock.slept) == 50, "every request past the burst waited"
    assert times[-1] == pytest.approx(1000.0 + 50 / 5)
    # In every window of one second, at most burst + qps requests start.
    for start in times:
        assert sum(1 for t in times if start <= t < start + 1.0) <= 10 + 5


def test_idle_time_refills_the_bucket_but_never_past_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=2, burst=4, clock=clock, sleep=clock.sleep)
    sent_at(bucket, clock, 4)
    clock.now += 3600.0  # an hour idle: still only `burst` tokens
    slept = len(clock.slept)
    sent_at(bucket, clock, 4)
    assert len(clock.slept) == slept, "4 tokens were back"
    assert bucket.acquire() == pytest.approx(0.5), "the fifth waits for 1/qps"


def test_concurrent_callers_share_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=1, clock=clock, sleep=lambda _s: None)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            wait = bucket.acquire()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The clock never moves, so 99 callers after the first each waited their own slot:
    # 0.1, 0.2, ... 9.9 s (every slot taken once, none twice).
    assert sorted(round(w, 6) for w in waits) == [round(i / 10, 6) for i in range(100)]


def test_bad_settings_are_refused_with_their_names() -> None:
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(qps=0, burst=10)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(qps=5, burst=0)


class CountingApi:
    def __init__(self) -> None:
        self.calls = 0

    def param_serialize(self, method: str, path: str, **_: Any) -> tuple[Any, ...]:
        return None, path, {}, None, None

    def call_api(self, *_: Any, **__: Any) -> Any:
        self.calls += 1

        class Response:
            status = 200

            def read(self) -> bytes:
                return json.dumps({"metadata": {"name": "x"}}).encode()

        return Response()


def test_every_request_of_the_kube_client_takes_a_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=5, burst=3, clock=clock, sleep=clock.sleep)
    api = CountingApi()
    kube = Kube(api, bucket)
    for i in range(8):
        kube.get("v1", "ConfigMap", "ns", f"c{i}")
    assert api.calls == 8
    assert len(clock.slept) == 5 and clock.now == pytest.approx(1000.0 + 5 / 5)


def test_rate_limit_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"CODEINSTRUCT_API_QPS": "7.5", "CODEINSTRUCT_API_BURST": "15"})
    assert (settings.api_qps, settings.api_burst) == (7.5, 15)
