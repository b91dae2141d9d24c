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
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")


# Records pending per request slot. A shard is done only when its slowest answer is, and with
# long-tailed latencies (lognormal, sigma 1: the slowest of 100 takes about 12x the median) many
# shards of the window sit in their tail at once, each holding few requests; 8x the slots pending
# keeps the slots full through them (bench/bench_pipeline.py: within 1.2 of the bound).
PENDING_PER_SLOT = 8


def window_width(capacity: int, shard_size: int) -> int:
    """Shards in progress for a stage that works on `capacity` records at once: enough that
    `PENDING_PER_SLOT` times the capacity is pending, plus one; 1 for a stage that works on
    one record at a time. Memory: at most that many shards' records at once."""
    if capacity <= 1:
        return 1
    return math.ceil(PENDING_PER_SLOT * capacity / max(1, shard_size)) + 1


def windowed(
    items: Iterable[T],
    work: Callable[[T], R],
    width: int,
    keep_going: Callable[[], bool] = lambda: True,
) -> Iterator[tuple[T, R]]:
    """`(item, work(item))` for every item, as each finishes, with at most `width` at work.
    Items are drawn from `items` in this thread; an exception in `work` is raised here. Once
    `keep_going()` is false no item is started; those at work still finish and are handed back."""
    finished: queue.Queue[tuple[T, R | None, BaseException | None]] = queue.Queue()
    pending = iter(items)
    running = 0

    def start(item: T) -> None:
        def target() -> None:
            try:
                finished.put((item, work(item), None))
            except BaseException as error:  # handed to the caller's thread
                finished.put((item, None, error))

        threading.Thread(target=target, name="shard", daemon=True).start()

    for item in pending:
        start(item)
        running += 1
        if running >= max(1, width):
            break
    while running:
        item, result, error = finished.get()
        running -= 1
        if error is not None:
            raise error
        yield item, cast(R, result)  # the caller commits it, then judges `keep_going`
        following = next(pending, None) if keep_going() else None
        if following is not None:
            start(following)
            running += 1
