"""TLI: the inverted n-gram index vs pairwise set intersections (XCoder's compute_TLI.py).

    python bench/bench_tli.py                    # 164 HumanEval prompts vs 100k records;
                                                 # pairwise on the first 10k, extrapolated
    python bench/bench_tli.py --pairwise 100000  # pairwise on all of them (several minutes)

Records are ~150-token windows of real code from the standard library (default), or synthetic
texts made of HumanEval's own tokens (`--corpus synthetic`, the index's worst case); 1% carry a
real HumanEval prompt. Both sides start from raw text.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

from codeinstruct.workers.benchmarks import humaneval_problems
from codeinstruct.workers.tli import TestIndex

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.oracles import naive_similarities


def synthetic_train(count: int, prompts: list[str], seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = " ".join(prompts).split()
    texts = []
    for i in range(count):
        tokens = [rng.choice(words) for _ in range(rng.randint(60, 240))]
        if i % 100 == 0:
            tokens.insert(rng.randint(0, len(tokens)), prompts[rng.randrange(len(prompts))])
        texts.append(" ".join(tokens))
    return texts


def stdlib_train(count: int, prompts: list[str], seed: int = 0) -> list[str]:
    """Real code: windows of 60-240 whitespace tokens cut from the standard library's sources,
    1% with a HumanEval prompt inserted."""
    from codeinstruct.workers.sources import list_files

    rng = random.Random(seed)
    words: list[str] = []
    for path in list_files("stdlib", (".py",)):
        try:
            with open(path, encoding="utf-8") as handle:
                words.extend(handle.read().split())
        except (OSError, UnicodeDecodeError):
            continue
        if len(words) > count * 160:
            break
    texts = []
    position = 0
    for i in range(count):
        size = rng.randint(60, 240)
        if position + size > len(words):
            position = 0
        tokens = words[position : position + size]
        position += size
        if i % 100 == 0:
            tokens = [*tokens, prompts[rng.randrange(len(prompts))]]
        texts.append(" ".join(tokens))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--pairwise", type=int, default=10_000, help="records for the reference")
    parser.add_argument(
        "--corpus",
        choices=["stdlib", "synthetic"],
        default="stdlib",
        help="stdlib: windows of real code; synthetic: HumanEval's own tokens shuffled (worst "
        "case for the index: every token is a benchmark token)",
    )
    args = parser.parse_args()
    prompts = [p["prompt"] for p in humaneval_problems()]
    make = stdlib_train if args.corpus == "stdlib" else synthetic_train
    train = make(args.n, prompts)
    print(f"test: {len(prompts)} HumanEval prompts; train: {len(train)} {args.corpus} records")

    started = time.perf_counter()
    index = TestIndex(prompts)
    leakage = index.leakage(train)
    ours_s = time.perf_counter() - started
    print(f"index:    {ours_s:8.2f} s  TLI {leakage.tli:.6f}  max {leakage.tli_max:.6f}")

    # The reference, interleaved chunk by chunk with ours on the same records, so that load
    # from other processes hits both alike.
    count = min(args.pairwise, len(train))
    pair_s = ours_chunks_s = 0.0
    equal = True
    for start in range(0, count, 1000):
        chunk = train[start : min(start + 1000, count)]
        started = time.perf_counter()
        sims = naive_similarities(chunk, prompts)
        pair_s += time.perf_counter() - started
        started = time.perf_counter()
        ours_sims = index.similarities(chunk)
        ours_chunks_s += time.perf_counter() - started
        equal = equal and np.array_equal(ours_sims, sims)
    projected = pair_s * len(train) / count
    print(
        f"pairwise: {pair_s:8.2f} s for {count} records -> {projected:.1f} s projected for "
        f"{len(train)} ({len(prompts) * count / pair_s / 1e6:.2f} M intersections/s)"
    )
    print(f"equal similarity matrices on {count} records: {equal}")
    print(
        f"speed-up: {projected / ours_s:.0f}x whole run vs projection; "
        f"{pair_s / ours_chunks_s:.0f}x interleaved on the same {count} records (target >= 50x)"
    )


if __name__ == "__main__":
    main()
