"""Near-dedup: codeinstruct's batched MinHash LSH vs datasketch's MinHashLSH, same parameters
(250 permutations, word 5-gram shingles, Jaccard 0.7), on standard-library functions plus
mutated near-copies. Prints the speed ratio (target >= 2x) and how well both agree with the
exact Jaccard similarity.

    python bench/bench_dedup.py [--copies 0.3] [--threshold 0.7]
"""

from __future__ import annotations

import argparse
import ast
import random
import time
from pathlib import Path

from datasketch import MinHash, MinHashLSH

from codeinstruct.workers.minhash import near_duplicates, optimal_bands, shingles
from codeinstruct.workers.sources import list_files, stdlib_root


def stdlib_functions() -> list[str]:
    functions = []
    for path in list_files(str(stdlib_root()), (".py",)):
        try:
            text = Path(path).read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                segment = ast.get_source_segment(text, node)
                if segment and segment.count("\n") >= 4:
                    functions.append(segment)
    return functions


def mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(max(1, len(lines) // 10)):
        lines.insert(rng.randrange(len(lines) + 1), "    # note: " + str(rng.random()))
    return "\n".join(lines)


def datasketch_clusters(texts: list[str], threshold: float, num_perm: int, size: int) -> list[int]:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    hashes = []
    for index, text in enumerate(texts):
        minhash = MinHash(num_perm=num_perm)
        minhash.update_batch(list(shingles(text, size)))
        lsh.insert(index, minhash)
        hashes.append(minhash)
    clusters = list(range(len(texts)))
    for index, minhash in enumerate(hashes):
        earlier = [i for i in lsh.query(minhash) if i < index]
        if earlier:
            clusters[index] = clusters[min(earlier)]
    return clusters


def jaccard(a: set[bytes], b: set[bytes]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=float, default=0.3, help="share of functions copied")
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--num-perm", type=int, default=250)
    args = parser.parse_args()
    rng = random.Random(0)
    texts = stdlib_functions()
    texts += [mutate(t, rng) for t in rng.sample(texts, int(len(texts) * args.copies))]
    print(f"{len(texts)} documents; bands x rows = {optimal_bands(args.threshold, args.num_perm)}")

    start = time.perf_counter()
    ours = near_duplicates(texts, args.threshold, args.num_perm, 5)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    theirs = datasketch_clusters(texts, args.threshold, args.num_perm, 5)
    theirs_seconds = time.perf_counter() - start

    # Agreement per document: a document is truly a near-duplicate when some earlier document has
    # exact Jaccard >= threshold with it; checked exactly on a random sample of documents.
    sets = [shingles(t, 5) for t in texts]
    ours_dups = {i for i, root in enumerate(ours) if root != i}
    theirs_dups = {i for i, root in enumerate(theirs) if root != i}
    sample = rng.sample(range(len(texts)), min(600, len(texts)))
    truth = {
        i for i in sample if any(jaccard(sets[i], sets[j]) >= args.threshold for j in range(i))
    }
    print(
        f"codeinstruct: {ours_seconds:6.2f} s  {len(texts) / ours_seconds:8.0f} docs/s  "
        f"{len(ours_dups)} duplicates"
    )
    print(
        f"datasketch:   {theirs_seconds:6.2f} s  {len(texts) / theirs_seconds:8.0f} docs/s  "
        f"{len(theirs_dups)} duplicates"
    )
    print(
        f"speed ratio (datasketch time / codeinstruct time): {theirs_seconds / ours_seconds:.2f}x"
        " (target >= 2x)"
    )
    both = len(ours_dups & theirs_dups) / max(1, len(ours_dups | theirs_dups))
    print(f"documents flagged by both / by either: {both:.3f}")
    for name, flagged in (("codeinstruct", ours_dups), ("datasketch", theirs_dups)):
        hits = [i for i in sample if i in flagged]
        precision = sum(i in truth for i in hits) / max(1, len(hits))
        recall = sum(i in flagged for i in truth) / max(1, len(truth))
        print(
            f"{name:<13} vs exact Jaccard >= {args.threshold} on {len(sample)} sampled documents: "
            f"precision {precision:.3f}, recall {recall:.3f}"
        )


if __name__ == "__main__":
    main()
