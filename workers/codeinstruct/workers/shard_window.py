"""A window of shards in progress: up to `width` items worked on at once, each in a daemon
thread, handed back in the order they finish.

The runner uses it so a shard stage keeps its server busy across shard boundaries (the next
shard starts as soon as one finishes, not after the slowest answer of the whole window); each
result is then committed by the caller, in the caller's thread, exactly once. Daemon threads:
an interrupted run never waits for requests still in flight.
"""

from __future__ import annotations

import math
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")


# Records pending per request slot. A shard is done only when its slowest answer is, and with
# long-tailed latencies (lognormal, sigma 1: the slowest of 100 takes about 12x the median) many
# shards of the window sit in their tail at once, each holding few requests. 16x the slots
# pending keeps the slots full through them: modelled with no CPU cost, within 2 % of sending
# every request at once (8x was up to 15 % behind with shards of 1,000 at 256 slots: four
# shards, all in their tails; tests/unit/workers/test_shard_window.py).
PENDING_PER_SLOT = 16


def window_width(capacity: int, shard_size: int) -> int:
    """Shards in progress for a stage that works on `capacity` records at once: enough that
    `PENDING_PER_SLOT` times the capacity is pending, plus one; 1 for a stage that works on
    one record at a time. Memory: at most that many shards' records at once."""
    if capacity <= 1:
        return 1
    return math.ceil(PENDING_PER_SLOT * capacity / max(1, shard_size)) + 1


class Feed(Generic[T]):
    """Items that arrive over time, from any thread, then end: the committed shards of an
    upstream stage that is still running (the stages overlap), or a list known up front
    (`Feed.of`). One consumer, `windowed`, which also receives its workers' results here."""

    def __init__(self) -> None:
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()

    @classmethod
    def of(cls, items: Iterable[T]) -> Feed[T]:
        feed: Feed[T] = cls()
        for item in items:
            feed.put(item)
        feed.close()
        return feed

    def put(self, item: T) -> None:
        self._events.put((_ITEM, item))

    def close(self) -> None:
        """No more items (the upstream completed, or stopped)."""
        self._events.put((_END, None))


_ITEM, _END, _RESULT = "item", "end", "result"


def windowed(
    items: Iterable[T] | Feed[T],
    work: Callable[[T], R],
    width: int,
    keep_going: Callable[[], bool] = lambda: True,
) -> Iterator[tuple[T, R]]:
    """`(item, work(item))` for every item, as each finishes, with at most `width` at work.
    Items come from a `Feed` (waited for while none is at hand: results that finish meanwhile
    are handed back at once) or an iterable; an exception in `work` is raised here. Once
    `keep_going()` is false no item is started; those at work still finish and are handed back."""
    feed = items if isinstance(items, Feed) else Feed.of(items)
    events = feed._events
    waiting: deque[T] = deque()
    running = 0
    ended = False

    def start(item: T) -> None:
        def target() -> None:
            try:
                events.put((_RESULT, (item, work(item), None)))
            except BaseException as error:  # handed to the caller's thread
                events.put((_RESULT, (item, None, error)))

        threading.Thread(target=target, name="shard", daemon=True).start()

    while True:
        going = keep_going()
        while going and waiting and running < max(1, width):
            start(waiting.popleft())
            running += 1
        if not running and (not going or (ended and not waiting)):
            return
        kind, payload = events.get()
        if kind == _ITEM:
            waiting.append(payload)
        elif kind == _END:
            ended = True
        else:
            item, result, error = payload
            running -= 1
            if error is not None:
                raise error
            yield item, cast(R, result)  # the caller commits it, then `keep_going` is judged
