"""The execute stage against the warm pool's capacity: N samples whose solutions sleep a seeded
lognormal time, verified by SelfCodeAlign's `execute` stage in the real warm pool of W workers,
in shards of S, for the window of shards in progress and for one shard at a time (the runner
before issue 15), in the same process.

    python bench/bench_execute.py                        # 400 samples, 4 workers, no isolation
    python bench/bench_execute.py --workers 8 --isolation gvisor --samples 200

Each run prints its wall time over the list-scheduling bound Σ job time / W + longest job, the
job times being those the pool measured (`ExecResult.duration`: every job of the stage, the
tests' run and the null variant's run of each passing sample), so the pool's own overhead per job
counts against the ratio. Target: ≤ 1.2. Isolation `none` by default: the pool's scheduling, not
gVisor's start-up, on a machine with few cores (the sleeps use no CPU).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from codeinstruct.workers.records import content_id
from codeinstruct.workers.runner import Runner
from codeinstruct.workers.sandbox import ExecResult, Job
from codeinstruct.workers.sandbox.warm_pool import Pool
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import SourceStage, StageContext, StageKind, StageOutput
from codeinstruct.workers.stages.execute import ExecuteTests
from tests.helpers.specs import make_dataset

FENCE = "```"


class SleepingSamples(SourceStage):
    """`count` responses whose function sleeps a lognormal time drawn from its own seed."""

    kind = StageKind.PREPARE
    name = "samples"
    outputs = ("response", "tests")

    def __init__(self, count: int, size: int, median: float, sigma: float) -> None:
        self.count, self.size, self.median, self.sigma = count, size, median, sigma

    def partitions(self, ctx: StageContext) -> list[Any]:
        return [[s, min(s + self.size, self.count)] for s in range(0, self.count, self.size)]

    def read(self, partition: Any, ctx: StageContext) -> Iterator[StageOutput]:
        for i in range(partition[0], partition[1]):
            sleep = random.Random(i).lognormvariate(math.log(self.median), self.sigma)
            solution = (
                f"import time\n\ndef work_{i}():\n    time.sleep({sleep:.4f})\n    return {i}\n"
            )
            yield {
                "id": content_id("sample", str(i)),
                "meta": {},
                "response": f"{FENCE}python\n{solution}{FENCE}",
                "tests": f"{FENCE}python\nassert work_{i}() == {i}\n{FENCE}",
            }


class TimedPool:
    """The warm pool, noting the duration of every job it ran."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.durations: list[float] = []
        self.lock = threading.Lock()

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        results = self.pool.run(jobs)
        with self.lock:
            self.durations.extend(r.duration for r in results)
        return results


class OneShardAtATime(ExecuteTests):
    def capacity(self, services: Services) -> int:
        return 1


def measure(pool: Pool, args: argparse.Namespace, window: bool) -> float:
    timed = TimedPool(pool)
    with tempfile.TemporaryDirectory() as out:
        dataset = make_dataset(
            sandbox={"isolation": args.isolation, "workers": args.workers, "mutants": 0,
                     "minMutantsKilled": 0, "timeoutSeconds": 60},
            output={"uri": out, "shardSize": args.shard_size},
        )  # fmt: skip
        sandbox = dataset.spec.sandbox
        stage = ExecuteTests(sandbox) if window else OneShardAtATime(sandbox)
        source = SleepingSamples(args.samples, args.shard_size, args.median, args.sigma)
        stages = [source, stage]
        runner = Runner(dataset, progress=False, provided={"sandbox": timed})
        runner.run_stages(stages, until="samples")
        report = Runner(dataset, progress=False, provided={"sandbox": timed}).run_stages(stages)
    stats = report.stages["execute"]
    assert stats.records_out == args.samples, f"every sample passes: {stats.dropped}"
    wall = stats.seconds
    bound = sum(timed.durations) / args.workers + max(timed.durations)
    name = "window" if window else "one shard at a time"
    print(
        f"  W={args.workers:<3} shard={args.shard_size:<4} {name:<20} wall {wall:6.1f}s  bound "
        f"{bound:6.1f}s  ratio {wall / bound:5.2f}  ({len(timed.durations)} jobs)",
        flush=True,
    )
    return wall / bound


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--shard-size", type=int, default=25)
    parser.add_argument("--median", type=float, default=0.2, help="median job time, seconds")
    parser.add_argument("--sigma", type=float, default=1.0, help="lognormal sigma")
    parser.add_argument("--isolation", default="none", choices=["none", "bubblewrap", "gvisor"])
    parser.add_argument("--only-window", action="store_true", help="skip one shard at a time")
    args = parser.parse_args()
    print(
        f"{args.samples} samples, lognormal job time median {args.median}s sigma {args.sigma}, "
        f"isolation {args.isolation}"
    )
    with Pool(args.isolation, workers=args.workers, timeout=60) as pool:
        ratio = measure(pool, args, window=True)
        if not args.only_window:
            before = measure(pool, args, window=False)
            print(f"  -> window is {before / ratio:.2f}x faster (target ratio <= 1.2)")


if __name__ == "__main__":
    main()
