"""Peak memory as work grows: a shard stage at 10k vs 100k records (target: at most 1.5x), a
whole stage's memory per record, and a large seed-mining run from a synthetic source.

Each measurement runs in its own subprocess (`resource.getrusage(RUSAGE_SELF).ru_maxrss` is the
process's peak), next to the same process's RSS right before the run (imports included), so
the ratios compare like with like.

python bench/bench_memory.py                 # shard and whole stage, 10k and 100k records
python bench/bench_memory.py --seeds 200000  # + seed mining of that many functions
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SHARD = 1000
WORDS = tuple(
    [
        "sort",
        "the",
        "list",
        "of",
        "numbers",
        "and",
        "return",
        "the",
        "largest",
        "value",
        "found",
        "in",
        "it",
    ]
)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _synthetic_stage(count: int) -> Any:
    from codeinstruct.workers.records import Record, content_id
    from codeinstruct.workers.stages.base import SourceStage, StageContext, StageKind, StageOutput

    class Synthetic(SourceStage):
        """`count` instruction/response pairs of about 700 bytes, in parts of one shard."""

        kind = StageKind.PREPARE
        name = "synthetic"
        outputs = ("instruction", "response")

        def partitions(self, ctx: StageContext) -> list[Any]:
            return list(range(0, count, SHARD))

        def read(self, partition: Any, ctx: StageContext) -> Iterator[StageOutput]:
            for i in range(partition, min(partition + SHARD, count)):
                ctx.stats.records_in += 1
                words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(40))
                record: Record = {
                    "id": content_id("synthetic", str(i)),
                    "instruction": f"Task {i}: {words}.",
                    "response": f"```python\ndef task_{i}(xs):\n    return max(xs) + {i}\n```\n"
                    + words,
                }
                yield record

    return Synthetic()


def child_stage(kind: str, count: int) -> dict[str, Any]:
    """Run the synthetic source, then one shard stage or one whole stage, in this process."""
    from codeinstruct.workers.runner import Runner
    from codeinstruct.workers.spec import parse_spec
    from codeinstruct.workers.stages.sanitize import ExactDedup, InstructionLength

    with tempfile.TemporaryDirectory() as output:
        dataset = parse_spec({
            "apiVersion": "codeinstruct.dev/v1alpha1", "kind": "InstructionDataset",
            "metadata": {"name": "bench"},
            "spec": {"method": "selfcodealign", "targetSize": 1,
                     "output": {"uri": output, "shardSize": SHARD}},
        })  # fmt: skip
        stage = InstructionLength(200) if kind == "shard" else ExactDedup()
        before = _peak_mib()
        start = time.perf_counter()
        report = Runner(dataset, progress=False).run_stages([_synthetic_stage(count), stage])
        seconds = time.perf_counter() - start
    return {
        "records": report.stages[stage.name].records_in,
        "before_mib": before,
        "peak_mib": _peak_mib(),
        "seconds": seconds,
    }


def child_seeds(functions: int) -> dict[str, Any]:
    """Mine `functions` seeds from synthetic files of 100 functions (`--until seeds`)."""
    from codeinstruct.workers.runner import Runner
    from codeinstruct.workers.spec import parse_spec

    with tempfile.TemporaryDirectory() as root:
        source = Path(root) / "src"
        source.mkdir()
        for start in range(0, functions, 100):
            text = "import math\n\n" + "".join(
                f'def f{i}(x):\n    """Return x scaled by the constant number {i}."""\n'
                f"    return math.sqrt(x) * {i}\n\n\n"
                for i in range(start, min(start + 100, functions))
            )
            (source / f"m{start // 100:06d}.py").write_text(text)
        dataset = parse_spec({
            "apiVersion": "codeinstruct.dev/v1alpha1", "kind": "InstructionDataset",
            "metadata": {"name": "bench"},
            "spec": {"method": "selfcodealign", "targetSize": 1, "source": {"uri": str(source)},
                     "output": {"uri": str(Path(root) / "out"), "shardSize": SHARD}},
        })  # fmt: skip
        before = _peak_mib()
        start = time.perf_counter()
        report = Runner(dataset, progress=False).run(until="seeds")
        seconds = time.perf_counter() - start
    return {
        "records": report.stages["seeds"].records_out,
        "before_mib": before,
        "peak_mib": _peak_mib(),
        "seconds": seconds,
    }


def measure(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report_growth(kind: str, small: int, large: int) -> None:
    a, b = measure(kind, str(small)), measure(kind, str(large))
    ratio = b["peak_mib"] / a["peak_mib"]
    per_record = (b["peak_mib"] - a["peak_mib"]) * 1024 * 1024 / (large - small)
    for r in (a, b):
        print(
            f"  {kind} stage, {r['records']:>7} records: peak RSS {r['peak_mib']:6.0f} MiB "
            f"(before the run {r['before_mib']:.0f} MiB), {r['seconds']:.1f} s"
        )
    target = " (target <= 1.5)" if kind == "shard" else ""
    print(
        f"  {kind}: peak at {large} / peak at {small} = {ratio:.2f}{target}; "
        f"{per_record:,.0f} bytes per extra record"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"))
    parser.add_argument("--seeds", type=int, default=0, help="also mine this many functions")
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000])
    args = parser.parse_args()
    if args.child:
        kind, n = args.child[0], int(args.child[1])
        result = child_seeds(n) if kind == "seeds" else child_stage(kind, n)
        print(json.dumps(result))
        return
    small, large = args.sizes
    print(f"memory as records grow ({small} -> {large}), shards of {SHARD}:")
    report_growth("shard", small, large)
    report_growth("whole", small, large)
    if args.seeds:
        r = measure("seeds", str(args.seeds))
        print(
            f"seed mining of {args.seeds} functions: {r['records']} seeds in {r['seconds']:.0f} s "
            f"({args.seeds / r['seconds']:,.0f} functions/s), peak RSS {r['peak_mib']:.0f} MiB "
            f"(before the run {r['before_mib']:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
