"""Cost of verification on the HumanEval canonical solutions, measured in one run:

  (a) today's single run: each program (solution + `check()` tests) as one unchecked job;
  (b) the same programs as checked jobs (solution and tests apart, checks counted);
  (c) full verification: (b), then the null variant and 3 mutants of each passing sample.

Prints sandbox seconds per passing sample and wall time, the ratio (c)/(a) (target <= 2.5x)
and the throughput ratio (b)/(a) of the checked supervisor against the unchecked path on the
same jobs (target >= 0.8x). A job's sandbox seconds are what the sandbox spent on it
(`ExecResult.sandbox_seconds`: the fork of its process, made before it arrived, its files and
its run); the ratio of the runs alone (`duration`, what this benchmark counted before) is
printed beside it.

Then (d), why the variants keep a job of their own: the cost, inside the sandbox, of forking a
process from a job (the pristine copy one job per sample would need for each of its runs, so
that no run sees what an earlier one left in memory), against what the variants' job costs.

    python bench/bench_verification.py [--workers 2] [--mutants 3] [--isolation gvisor] [--rounds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence

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

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        results = self.pool.run(jobs)
        self.clock.seconds += sum(r.sandbox_time() for r in results)
        self.clock.run_seconds += sum(r.duration for r in results)
        self.clock.jobs += len(results)
        variants = [r for r, job in zip(results, jobs, strict=True) if job.variants is not None]
        self.clock.variant_seconds += sum(r.sandbox_time() for r in variants)
        self.clock.variant_jobs += len(variants)
        return results


class Clock:
    """Sandbox seconds, jobs and wall seconds of one of the three runs, over all chunks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.run_seconds = 0.0
        self.jobs = 0
        self.wall = 0.0
        self.variant_seconds = 0.0
        self.variant_jobs = 0

    @contextlib.contextmanager
    def timing(self, pool: Pool) -> Iterator[Timed]:
        start = time.monotonic()
        yield Timed(pool, self)
        self.wall += time.monotonic() - start

    def time(self, pool: Pool, jobs: list[Job]) -> list[ExecResult]:
        with self.timing(pool) as timed:
            return timed.run(jobs)


# A job that forks pristine copies of itself (each exits at once and is waited for) and prints
# the median milliseconds one took, measured inside the sandbox.
FORK_PROBE = """\
import gc, os, statistics, time
gc.freeze()
took = []
for _ in range(FORKS):
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    took.append(time.monotonic() - start)
print(round(statistics.median(took) * 1000, 2))
"""


def fork_milliseconds(pool: Pool, jobs: int, forks: int = 5) -> float:
    """The median cost of one fork inside a job, over `jobs` jobs of `forks` forks each."""
    program = FORK_PROBE.replace("FORKS", str(forks))
    results = pool.run([Job(f"fork-{k}", program) for k in range(jobs)])
    costs = sorted(float(r.stdout) for r in results if r.verdict == "pass")
    if not costs:
        raise SystemExit(f"the fork probe did not run: {results[0].stderr[-500:]}")
    return costs[len(costs) // 2]


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
        fork_ms = fork_milliseconds(pool, args.rounds)
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
    print(f"    of which variant jobs: {full.variant_jobs}, {full.variant_seconds:.2f} sandbox s")

    def per_sample(seconds: float, samples: int) -> float:
        return seconds / max(samples, 1)

    cost = per_sample(full.seconds, verified) / per_sample(single.seconds, passing_single)
    runs_only = per_sample(full.run_seconds, verified) / per_sample(
        single.run_seconds, passing_single
    )
    print(
        f"verification cost per passing sample (c)/(a): {cost:.2f}x sandbox time, "
        f"{wall_full / wall_single:.2f}x wall (target <= 2.5x); the runs alone, without the "
        f"forks of their processes: {runs_only:.2f}x"
    )
    throughput = (len(found) / wall_checked) / (len(found) / wall_single)
    print(f"checked supervisor throughput (b)/(a): {throughput:.2f}x (target >= 0.8x)")
    runs = 1 + 1 + args.mutants
    per_variant_job = 1000 * full.variant_seconds / max(full.variant_jobs, 1)
    print(
        f"(d) a fork inside a job: {fork_ms:.1f} ms. One job per sample adds {runs * fork_ms:.0f} ms "
        f"of forks per sample with each of its {runs} runs forked from a pristine copy, "
        f"{2 * fork_ms:.0f} ms at the least (the original and its variants each in a fork, so "
        f"that neither can tell itself from the other by its pid), against {per_variant_job:.0f} "
        "ms for the variants' job it would replace"
    )


if __name__ == "__main__":
    main()
