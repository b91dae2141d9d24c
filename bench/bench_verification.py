"""Cost of verification on the HumanEval canonical solutions, measured in one run:

  (a) today's single run: each program (solution + `check()` tests) as one unchecked job;
  (b) the same programs as checked jobs (solution and tests apart, checks counted);
  (c) full verification: (b), then the null variant and 3 mutants of each passing sample.

Prints sandbox seconds per passing sample and wall time, the ratio (c)/(a) (target <= 2.5x)
and the throughput ratio (b)/(a) of the checked supervisor against the unchecked path on the
same jobs (target >= 0.8x).

    python bench/bench_verification.py [--workers 2] [--mutants 3] [--isolation gvisor] [--rounds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import Counter
from collections.abc import Iterator

from codeinstruct.workers.benchmarks import humaneval_problems
from codeinstruct.workers.sandbox import ExecResult, Job
from codeinstruct.workers.sandbox.warm_pool import Pool
from codeinstruct.workers.verification.samples import Sample
from codeinstruct.workers.verification.verify import Settings, verify


def samples() -> dict[str, Sample]:
    return {
        p["task_id"]: Sample(
            f"{p['prompt']}{p['canonical_solution']}\n", f"{p['test']}\ncheck({p['entry_point']})\n"
        )
        for p in humaneval_problems()
    }


class Timed:
    """Wraps the pool: adds up the sandbox seconds of every job it runs."""

    def __init__(self, pool: Pool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock

    def run(self, jobs: list[Job]) -> list[ExecResult]:
        results = self.pool.run(jobs)
        self.clock.seconds += sum(r.duration for r in results)
        self.clock.jobs += len(results)
        return results


class Clock:
    """Sandbox seconds, jobs and wall seconds of one of the three runs, over all chunks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.jobs = 0
        self.wall = 0.0

    @contextlib.contextmanager
    def timing(self, pool: Pool) -> Iterator[Timed]:
        start = time.monotonic()
        yield Timed(pool, self)
        self.wall += time.monotonic() - start

    def time(self, pool: Pool, jobs: list[Job]) -> list[ExecResult]:
        with self.timing(pool) as timed:
            return timed.run(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mutants", type=int, default=3)
    parser.add_argument("--isolation", default="gvisor")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved chunks of problems")
    args = parser.parse_args()
    found = samples()
    ids = list(found)
    single, checked, full = Clock(), Clock(), Clock()
    plain: list[ExecResult] = []
    checked_results: list[ExecResult] = []
    outcomes = {}
    with Pool(args.isolation, args.workers, timeout=10) as pool:
        pool.run([Job("warm", "pass")] * args.workers)
        # (a), (b) and (c) take turns on each chunk, so that the load of a shared machine
        # weighs on the three alike.
        for chunk in (ids[k :: args.rounds] for k in range(args.rounds)):
            part = {i: found[i] for i in chunk}
            plain += single.time(pool, [Job(i, s.program) for i, s in part.items()])
            checked_results += checked.time(
                pool, [Job(i, s.solution, tests=s.tests) for i, s in part.items()]
            )
            with full.timing(pool) as timed:
                outcomes.update(verify(part, timed, Settings(10.0, args.mutants), seed="bench"))
    wall_single, wall_checked, wall_full = single.wall, checked.wall, full.wall
    passing_single = sum(r.verdict == "pass" for r in plain)
    verified = sum(o.reason is None for o in outcomes.values())
    nulls = sum(bool(o.execution["null_killed"]) for o in outcomes.values())
    mutants = sum(o.execution["mutants"] for o in outcomes.values())
    killed = sum(o.execution["mutants_killed"] for o in outcomes.values())
    print(f"problems {len(found)}, workers {args.workers}, isolation {args.isolation}")
    print(
        f"(a) single unchecked run: {passing_single} pass, {single.seconds:.2f} sandbox s, {wall_single:.2f} s wall"
    )
    print(
        f"(b) checked run:          {sum(r.verdict == 'pass' for r in checked_results)} pass, "
        f"{checked.seconds:.2f} sandbox s, {wall_checked:.2f} s wall, "
        f"reasons {dict(Counter(r.reason for r in checked_results if r.reason))}"
    )
    print(
        f"(c) verification:         {verified} verified, null variant killed {nulls}, "
        f"mutants killed {killed}/{mutants}, {full.jobs} jobs, {full.seconds:.2f} sandbox s, "
        f"{wall_full:.2f} s wall"
    )
    variant_seconds = sum(o.execution.get("variants_duration", 0.0) for o in outcomes.values())
    print(f"    of which variant jobs: {variant_seconds:.2f} sandbox s")
    cost = (full.seconds / max(verified, 1)) / (single.seconds / max(passing_single, 1))
    print(
        f"verification cost per passing sample (c)/(a): {cost:.2f}x sandbox time, {wall_full / wall_single:.2f}x wall (target <= 2.5x)"
    )
    throughput = (len(found) / wall_checked) / (len(found) / wall_single)
    print(f"checked supervisor throughput (b)/(a): {throughput:.2f}x (target >= 0.8x)")


if __name__ == "__main__":
    main()
