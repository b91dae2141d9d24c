"""What starting a stage on its upstream's committed shards gains, on a SelfCodeAlign-shaped run
(seeds -> concepts -> instructions -> responses -> execute) against the scriptable loopback
OpenAI server with a fixed answer time, the execute stage in the real gVisor warm pool.

    python bench/bench_overlap.py                       # 2.0 s per answer (a real model's pace)
    python bench/bench_overlap.py --delay 8 --seeds 24

The same run twice, in the same process against the same server, each to its own output: the
stages up to `instructions` first, then `responses` to `execute` timed, once with the stages one
after the other (`Runner(overlap=False)`, the runner before issue 15) and once overlapped (the
default: execute starts on the responses' committed shards). It prints both times, the gain,
and the most overlap could gain: the pair takes at least the longer of the two plus the execute
time of the last shard, 1 - (max(R, E) + E / shards) / (R + E). The outputs are compared byte
for byte.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from codeinstruct.workers.runner import Runner
from tests.helpers.llm_scripts import generator, seed_source, selfcodealign_answer
from tests.helpers.specs import make_dataset
from tests.openai_server import FakeOpenAI


def timed_run(args: argparse.Namespace, server: FakeOpenAI, root: Path, overlap: bool) -> Any:
    dataset = make_dataset(
        method="selfcodealign",
        targetSize=args.seeds,
        source={"uri": str(root / "src")},
        generator=generator(
            server,
            concurrency=args.concurrency,
            requestTimeoutSeconds=max(5.0, 4 * args.delay),
            sampling={"samplesPerInstruction": 3},
        ),
        sandbox={"isolation": args.isolation, "workers": args.workers},
        output={"uri": str(root / ("overlapped" if overlap else "apart")), "shardSize": args.shard_size},
    )  # fmt: skip
    Runner(dataset, progress=False).run(until="instructions")
    started = time.monotonic()
    report = Runner(dataset, progress=False, overlap=overlap).run(until="execute")
    return time.monotonic() - started, report


def shard_bytes(root: Path) -> dict[str, bytes]:
    runs = [p for p in root.iterdir() if p.is_dir()]
    stages = runs[0] / "stages"
    return {str(p.relative_to(stages)): p.read_bytes() for p in sorted(stages.rglob("shard-*"))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=48)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds per LLM answer")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers")
    parser.add_argument("--shard-size", type=int, default=8)
    parser.add_argument("--isolation", default="gvisor", choices=["none", "bubblewrap", "gvisor"])
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeOpenAI(selfcodealign_answer, delay=args.delay) as server,
    ):
        root = Path(tmp)
        seed_source(root / "src", args.seeds)
        apart, one_by_one = timed_run(args, server, root, overlap=False)
        together, overlapped = timed_run(args, server, root, overlap=True)
        same = shard_bytes(root / "apart") == shard_bytes(root / "overlapped")
    responses, execute = one_by_one.stages["responses"], one_by_one.stages["execute"]
    r, e = responses.seconds, execute.seconds
    shards = max(1, -(-responses.records_out // args.shard_size))
    best = max(r, e) + e / shards
    print(
        f"{args.seeds} seeds, {args.delay} s per answer, concurrency {args.concurrency}, "
        f"{args.workers} sandbox workers ({args.isolation}), shards of {args.shard_size}:"
    )
    print(f"  one after the other: responses {r:.1f} s ({responses.records_out} samples), "
          f"execute {e:.1f} s ({execute.records_in} programs, "
          f"{execute.counters['sandbox_ms'] / 1000:.1f} s in the sandbox); responses..execute "
          f"{apart:.1f} s")  # fmt: skip
    print(
        f"  overlapped: responses..execute {together:.1f} s: gain {1 - together / apart:.0%} "
        f"(estimated at most {1 - best / (r + e):.0%} from the stage times one after the other); same bytes: {same}"
    )
    assert overlapped.stages["execute"].records_out == one_by_one.stages["execute"].records_out


if __name__ == "__main__":
    main()
