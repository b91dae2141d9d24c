"""Would starting a stage on its upstream's committed shards pay? A SelfCodeAlign-shaped run
(seeds -> concepts -> instructions -> responses -> execute) against the scriptable loopback
OpenAI server with a fixed answer time, the execute stage in the real gVisor warm pool.

    python bench/bench_overlap.py                       # 2.0 s per answer (a real model's pace)
    python bench/bench_overlap.py --delay 0.2 --seeds 24

It measures the responses and execute stages run one after the other (as the runner does) and
prints the most that overlapping them could save: at best the pair takes the longer of the two
plus the execute time of the last shard, so the gain is at most
1 - (max(R, E) + E / shards) / (R + E). Overlap is worth building only above 20 %.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from codeinstruct.workers.runner import Runner
from tests.helpers.llm_scripts import generator, seed_source, selfcodealign_answer
from tests.helpers.specs import make_dataset
from tests.openai_server import FakeOpenAI


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=48)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds per LLM answer")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers")
    parser.add_argument("--shard-size", type=int, default=8)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as root,
        FakeOpenAI(selfcodealign_answer, delay=args.delay) as server,
    ):
        source = seed_source(Path(root) / "src", args.seeds)
        dataset = make_dataset(
            method="selfcodealign",
            targetSize=args.seeds,
            source={"uri": str(source)},
            generator=generator(
                server,
                concurrency=args.concurrency,
                requestTimeoutSeconds=max(5.0, 4 * args.delay),
                sampling={"samplesPerInstruction": 3},
            ),
            sandbox={"isolation": "gvisor", "workers": args.workers},
            output={"uri": str(Path(root) / "out"), "shardSize": args.shard_size},
        )
        report = Runner(dataset, progress=False).run(until="execute")
    responses, execute = report.stages["responses"], report.stages["execute"]
    r, e = responses.seconds, execute.seconds
    shards = max(1, -(-responses.records_out // args.shard_size))
    best = max(r, e) + e / shards
    print(
        f"{args.seeds} seeds, {args.delay} s per answer, concurrency {args.concurrency}, "
        f"{args.workers} sandbox workers, shards of {args.shard_size}:"
    )
    print(f"  responses {r:.1f} s ({responses.records_out} samples), execute {e:.1f} s "
          f"({execute.records_in} programs, {execute.counters['sandbox_ms'] / 1000:.1f} s in the "
          "sandbox)")  # fmt: skip
    print(
        f"  one after the other {r + e:.1f} s; overlapped at best {best:.1f} s: "
        f"gain at most {1 - best / (r + e):.0%} (build it above 20 %)"
    )


if __name__ == "__main__":
    main()
