"""KCenterGreedy: our float32-shard implementation vs the textbook one, same first center.

    python bench/bench_coreset.py                 # 100k x 384, k = 2,000; textbook on 200 steps
    python bench/bench_coreset.py --textbook-steps 2000   # textbook on all steps (~10 min)
    python bench/bench_coreset.py --ray-workers 2 # also time the Ray-sharded version

The textbook's steps all cost the same (one pass over the points), so its time for k steps is
its per-step time times k; the indices of the steps both ran are compared. The projection to
paper scale (2M x 1024, k = 20k) is linear in N*d*k.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from codeinstruct.workers.coreset import kcenter_greedy, kcenter_greedy_ray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.oracles import textbook_kcenter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=2000)
    parser.add_argument("--textbook-steps", type=int, default=200)
    parser.add_argument("--ray-workers", type=int, default=0)
    parser.add_argument("--ray-steps", type=int, default=300)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    points = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    first = int(rng.integers(args.n))
    print(f"points {args.n} x {args.dim} float32, k = {args.k}, first center {first}")

    started = time.perf_counter()
    ours = kcenter_greedy(points, args.k, first)
    ours_s = time.perf_counter() - started
    ours_step = ours_s / len(ours)
    print(f"ours:     {ours_s:8.2f} s for {len(ours)} centers ({ours_step * 1e3:.2f} ms/step)")

    steps = min(args.textbook_steps, args.k)
    started = time.perf_counter()
    reference = textbook_kcenter(points, steps, first)
    text_s = time.perf_counter() - started
    text_step = text_s / len(reference)
    identical = reference == ours[:steps]
    print(
        f"textbook: {text_s:8.2f} s for {len(reference)} centers ({text_step * 1e3:.2f} ms/step)"
        f" -> {text_step * args.k:.1f} s projected for k = {args.k}"
    )
    print(f"identical indices over {steps} steps: {identical}")
    print(f"speed-up: {text_step / ours_step:.1f}x (target >= 5x)")

    # Our cost is dominated by the matrix products that fold new centers into all points:
    # about N*d per center. Projection: linear in N*d*k (the exact candidate updates, about
    # 256*d per step, are small next to it).
    scale = (2_000_000 * 1024 * 20_000) / (args.n * args.dim * len(ours))
    paper_s = ours_s * scale
    text_paper_s = text_step * (2_000_000 * 1024) / (args.n * args.dim) * 20_000
    print(
        f"paper scale (2M x 1024, k = 20,000) on this machine: {paper_s / 3600:.1f} h (ours, "
        f"projected), {text_paper_s / 3600:.1f} h (textbook); points need 8 GB float32"
    )
    if args.ray_workers:
        import ray

        ray.init(num_cpus=max(2, args.ray_workers), include_dashboard=False, log_to_driver=False)
        try:
            steps = min(args.ray_steps, args.k)
            started = time.perf_counter()
            on_ray = kcenter_greedy_ray(ray, points, steps, first, args.ray_workers)
            ray_s = time.perf_counter() - started
            print(
                f"ray ({args.ray_workers} workers): {ray_s:.2f} s for {steps} steps "
                f"({ray_s / steps * 1e3:.2f} ms/step incl. startup), identical: {on_ray == ours[:steps]}"
            )
            tiny = rng.standard_normal((args.ray_workers * 64, 8)).astype(np.float32)
            started = time.perf_counter()
            kcenter_greedy_ray(ray, tiny, 200, 0, args.ray_workers)
            overhead = (time.perf_counter() - started) / 200
            print(f"ray round trip per step (tiny shards): {overhead * 1e3:.2f} ms")
            # Conservative: our run here used every core of this machine; a worker has one.
            core_s = paper_s * (os.cpu_count() or 1)
            for workers in (8, 32, 128):
                hours = (core_s / workers + 20_000 * overhead) / 3600
                print(
                    f"  projected paper scale on {workers:>3} Ray workers (1 core each): {hours:.2f} h"
                )
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
