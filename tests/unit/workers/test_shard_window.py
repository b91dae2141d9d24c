"""The window of shards in progress: its width, hand-back in completion order, and the sandbox
stage sending several shards' jobs to the pool at once (issue 15, item 1)."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from codeinstruct.workers.runner import Runner
from codeinstruct.workers.sandbox import ExecResult, Job
from codeinstruct.workers.shard_window import Feed, window_width, windowed
from codeinstruct.workers.stages.execute import ExecuteTests
from codeinstruct.workers.stages.seeds import MineSeeds
from tests.conftest import make_dataset
from tests.helpers.window_model import makespan
from tests.unit.workers.test_outages import Answer, seed_dir


def test_width_fills_the_capacity_and_cpu_stages_run_one_shard() -> None:
    assert window_width(1, 100) == 1
    assert window_width(256, 100) * 100 >= 8 * 256
    assert window_width(64, 1000) >= 2


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("slots", "shard_size"), [(64, 100), (64, 1000), (256, 100), (256, 1000)])
def test_shards_in_their_tails_do_not_leave_slots_idle(
    slots: int, shard_size: int, seed: int
) -> None:
    """With long-tailed latencies (lognormal, sigma 1, as bench_pipeline), the window's
    schedule is within 3 % of sending every request at once, counting no CPU anywhere
    (tests/helpers/window_model.py). A window of 8 x the slots pending was up to 15 % behind
    at C = 256 and shards of 1,000: four shards, all in their tails, a few requests each."""
    rng = random.Random(seed)
    latencies = [rng.lognormvariate(math.log(0.1), 1.0) for _ in range(10_000)]
    everything_at_once = makespan(latencies, shard_size, slots, width=len(latencies))
    window = makespan(latencies, shard_size, slots, window_width(slots, shard_size))
    assert window <= 1.03 * everything_at_once


def test_results_come_back_as_they_finish_and_the_window_is_bounded() -> None:
    gates = {i: threading.Event() for i in range(4)}
    running: set[int] = set()
    most = 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal most
        with lock:
            running.add(i)
            most = max(most, len(running))
        if i == 0:
            gates[0].wait(timeout=30)  # shard 0 is the slow one: released after shard 1
        with lock:
            running.discard(i)
        return i * 10

    order = []
    for item, result in windowed(range(4), work, width=2):
        assert result == item * 10
        order.append(item)
        if item == 1:
            gates[0].set()
    assert order[0] == 1 and sorted(order) == [0, 1, 2, 3]
    assert most <= 2


def test_a_feed_hands_results_back_while_it_waits_for_more_items() -> None:
    """The upstream stage puts its shards in as it commits them: a result is handed back (and
    committed) before the next item has arrived, and the window ends when the feed is closed."""
    feed: Feed[int] = Feed()
    feed.put(0)
    seen = []
    for item, result in windowed(feed, lambda i: i + 100, width=4):
        seen.append((item, result))
        if item == 0:
            feed.put(1)  # only now does the next shard arrive
        else:
            feed.close()
    assert seen == [(0, 100), (1, 101)]


def test_nothing_starts_once_the_caller_stops_even_with_items_waiting() -> None:
    feed = Feed.of(range(5))
    started = []

    def work(i: int) -> int:
        started.append(i)
        return i

    assert [item for item, _ in windowed(feed, work, width=1, keep_going=lambda: not started)] == [
        0
    ]
    assert started == [0]


class PairedExecutor:
    """Runs a batch only once another batch is running at the same time (a barrier of two):
    one shard at a time breaks the barrier."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=10)
        self.batches = 0

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        if any(j.variants for j in jobs):  # a passing sample's variant run: its null variant fails
            return [
                ExecResult(j.id, "pass", 0, "", "", False, False, 0.01, None, None,
                       variants=[{"verdict": "fail", "reason": None} for _ in j.variants or ()])
                for j in jobs
            ]  # fmt: skip
        self.barrier.wait()
        self.batches += 1
        return [ExecResult(j.id, "pass", 0, "", "", False, False, 0.01, None, None) for j in jobs]


def test_execute_sends_several_shards_to_the_pool_at_once(tmp_path: Path) -> None:
    dataset = make_dataset(
        source={"uri": str(seed_dir(tmp_path / "src", 4)), "filesPerShard": 1},
        output={"uri": str(tmp_path / "out"), "shardSize": 1},
        sandbox={"workers": 2},
    )
    spec = dataset.spec
    executor = PairedExecutor()
    stages = [MineSeeds(spec.source, spec.mining), Answer(), ExecuteTests(spec.sandbox)]
    report = Runner(dataset, progress=False, provided={"sandbox": executor}).run_stages(stages)
    assert report.stages["execute"].records_out == 4 and executor.batches == 4
