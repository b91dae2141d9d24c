"""Embeddings/s of all-MiniLM-L6-v2 on this machine (local, and Ray actors with --ray-workers).

python bench/bench_embeddings.py --texts 1000
"""

from __future__ import annotations

import argparse
import time

from codeinstruct.workers.benchmarks import humaneval_problems
from codeinstruct.workers.embeddings import LocalEmbedder, RayEmbedder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ray-workers", type=int, default=0)
    args = parser.parse_args()
    problems = humaneval_problems()
    texts = [
        problems[i % len(problems)]["prompt"] + problems[i % len(problems)]["canonical_solution"]
        for i in range(args.texts)
    ]
    started = time.perf_counter()
    embedder = LocalEmbedder("all-MiniLM-L6-v2", args.batch_size)
    print(f"model load: {time.perf_counter() - started:.1f} s, dim {embedder.dim}")
    started = time.perf_counter()
    embedder.encode(texts)
    local_s = time.perf_counter() - started
    print(f"local: {len(texts) / local_s:.0f} embeddings/s ({len(texts)} texts, {local_s:.1f} s)")
    if args.ray_workers:
        import ray

        ray.init(num_cpus=max(2, args.ray_workers), include_dashboard=False, log_to_driver=False)
        try:
            remote = RayEmbedder(ray, "all-MiniLM-L6-v2", args.batch_size, args.ray_workers)
            started = time.perf_counter()
            remote.encode(texts)
            ray_s = time.perf_counter() - started
            print(
                f"ray ({args.ray_workers} actors): {len(texts) / ray_s:.0f} embeddings/s, "
                f"ratio to local {local_s / ray_s:.2f}"
            )
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
