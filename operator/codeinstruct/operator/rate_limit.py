"""A client-side token bucket for the operator's Kubernetes requests (client-go's QPS/burst).

`burst` requests may go at once; after that, one every 1/qps seconds. The clock and the sleep
are injected so tests count tokens instead of timing them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"api rate limit: qps must be > 0 and burst >= 1 (got {qps}, {burst})")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.qps)
        self._updated = now

    def acquire(self) -> float:
        """Take one token, sleeping until there is one; returns the seconds waited.

        Waiters reserve their token first (the count goes negative), so each waits its own
        share and concurrent threads never oversubscribe the rate."""
        with self._lock:
            self._refill(self._clock())
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.qps
        if wait > 0:
            self._sleep(wait)
        return wait
