"""A discrete-event model of a shard stage's schedule against a server of `slots` slots, with
no CPU cost anywhere: what the window of shards in progress allows, apart from how fast the
runner can send. It plays the runner's rules: `width` shards start at once, each puts its
requests in one first-come queue (the client's semaphore is first come, first served), and a
shard that finishes (its last answer) starts the next one in order."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence


def makespan(latencies: Sequence[float], shard_size: int, slots: int, width: int) -> float:
    """Seconds until the last answer, request `i` taking `latencies[i]` once it has a slot."""
    shards = [
        range(start, min(start + shard_size, len(latencies)))
        for start in range(0, len(latencies), shard_size)
    ]
    queue: deque[tuple[int, int]] = deque()  # (request, its shard), in the order sent
    left: dict[int, int] = {}  # requests not yet answered, per shard in progress
    busy: list[tuple[float, int]] = []  # (when it ends, its shard), one per slot in use
    started = 0
    now = 0.0

    def start_next() -> None:
        nonlocal started
        left[started] = len(shards[started])
        queue.extend((request, started) for request in shards[started])
        started += 1

    while started < min(width, len(shards)):
        start_next()
    while queue or busy:
        while queue and len(busy) < slots:
            request, shard = queue.popleft()
            heapq.heappush(busy, (now + latencies[request], shard))
        now, shard = heapq.heappop(busy)
        left[shard] -= 1
        if not left[shard] and started < len(shards):
            start_next()
    return now
