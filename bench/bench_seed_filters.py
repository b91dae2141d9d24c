"""Seed filters, old defaults against the reference's: how many stdlib seeds each removes.

    python bench/bench_seed_filters.py               # the first 600 stdlib files (recursive)
    python bench/bench_seed_filters.py --files 3000

Mines the accepted seeds of the files, then counts the seeds the undefined-name check drops and
the near-duplicates MinHash removes under our old setting (`words` tokens, 0.7) and the
reference's (`reference` tokens, 0.5), and prints each as a share of the accepted seeds and as a
ratio to the old setting, measured in the same run. Also times the undefined-name check against
the seed extraction it follows.
"""

from __future__ import annotations

import argparse
import time

from codeinstruct.workers.minhash import near_duplicates
from codeinstruct.workers.spec import Mining
from codeinstruct.workers.stages.seeds import extract_seeds, list_python_files
from codeinstruct.workers.undefined_names import undefined_names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=600)
    args = parser.parse_args()
    mining = Mining()
    seeds: list[str] = []
    started = time.perf_counter()
    for path in list_python_files("stdlib/**/*.py", args.files):
        try:
            with open(path, encoding="utf-8") as handle:
                candidates = extract_seeds(handle.read(), mining)
        except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError):
            continue
        seeds += [
            f"{c.imports}\n\n\n{c.code}" if c.imports else c.code
            for c in candidates
            if c.drop_reason is None
        ]
    extract_seconds = time.perf_counter() - started
    started = time.perf_counter()
    undefined = [s for s in seeds if undefined_names(s)]
    check_seconds = time.perf_counter() - started
    print(f"{len(seeds)} accepted seeds from {args.files} files")
    print(
        f"undefined_name: {len(undefined)} ({len(undefined) / len(seeds):.0%}); check time "
        f"{check_seconds / extract_seconds:.2f}x the extraction's"
    )
    removed = {}
    for label, tokenization, threshold in [("old (words, 0.7)", "words", 0.7),
                                           ("reference (0.5)", "reference", 0.5),
                                           ("reference at 0.7", "reference", 0.7)]:  # fmt: skip
        clusters = near_duplicates(seeds, threshold, 250, 5, tokenization)  # type: ignore[arg-type]
        removed[label] = sum(c != i for i, c in enumerate(clusters))
    old = max(1, removed["old (words, 0.7)"])
    for label, count in removed.items():
        print(f"near-duplicates removed, {label}: {count} ({count / old:.1f}x old)")
    kept = [s for s in seeds if not undefined_names(s)]
    clusters = near_duplicates(kept, 0.5, 250, 5)
    final = sum(c == i for i, c in enumerate(clusters))
    print(f"new defaults keep {final} of {len(seeds)} seeds ({final / len(seeds):.0%})")


if __name__ == "__main__":
    main()
