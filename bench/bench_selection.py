"""XCoder diversity selection: blocked matrix products vs one similarity vector per candidate.

    python bench/bench_selection.py               # 100k x 384 (10k clusters), target 5k
    python bench/bench_selection.py --target 10000 # the sequential side takes minutes

Vectors are clustered unit vectors, so many candidates are rejected; the textbook version
walks the same order and must accept the same samples.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from codeinstruct.workers.selection import diverse_greedy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.oracles import textbook_diverse_greedy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--target", type=int, default=5_000)
    parser.add_argument("--tau", type=float, default=0.9)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((args.n // 10, args.dim)).astype(np.float32)
    vectors = centers[rng.integers(0, len(centers), args.n)]
    vectors += 0.25 * rng.standard_normal(vectors.shape).astype(np.float32)
    order = list(rng.permutation(args.n))
    print(f"{args.n} x {args.dim}, target {args.target}, tau {args.tau}")

    started = time.perf_counter()
    ours = diverse_greedy(vectors, order, args.tau, args.target)
    ours_s = time.perf_counter() - started
    walked = order.index(ours[-1]) + 1 if ours else 0
    print(f"blocked:    {ours_s:8.2f} s, accepted {len(ours)} after {walked} candidates")
    started = time.perf_counter()
    reference = textbook_diverse_greedy(vectors, order, args.tau, args.target)
    text_s = time.perf_counter() - started
    print(f"sequential: {text_s:8.2f} s, identical: {reference == ours}")
    print(f"speed-up: {text_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()
