"""MinHash LSH near-duplicate detection, vectorised over whole batches of documents.

The scheme of SelfCodeAlign's dedup (text-dedup lineage): lower-cased word 5-gram shingles,
with the reference's tokenisation by default (the text split on every single non-word character,
so runs of punctuation and indentation leave empty tokens that shingles share) or, as an option,
on runs of non-word characters with empty tokens dropped (`words`),
32-bit shingle hashes, one hash function per permutation, bands × rows chosen by minimising the
false-positive + false-negative areas, union-find over band collisions, the first document of
each cluster kept. The permutations are multiply-shift hashes ((a·h + b) mod 2^64) >> 32 with odd
64-bit a (a universal family for 32-bit keys): three cheap vector operations instead of a 64-bit
modulo, which is where datasketch spends its time.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

MAX_HASH = np.uint32((1 << 32) - 1)
Tokenization = Literal["reference", "words"]
_NON_WORD = re.compile(r"\W")
_NON_WORDS = re.compile(r"\W+")
_CHUNK_ROWS = 1 << 12  # shingles per vector block: keeps the temporaries in cache


def tokens(text: str, tokenization: Tokenization = "reference") -> list[str]:
    """Lower-cased tokens: `reference` keeps the empty strings between adjacent separators."""
    if tokenization == "reference":
        return _NON_WORD.split(text.lower())
    return [w for w in _NON_WORDS.split(text.lower()) if w]


def shingles(text: str, size: int, tokenization: Tokenization = "reference") -> set[bytes]:
    words = tokens(text, tokenization)
    if words == [""]:
        words = []
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 64, size=num_perm, dtype=np.uint64, endpoint=False) | np.uint64(1)
    b = rng.integers(0, 1 << 64, size=num_perm, dtype=np.uint64, endpoint=False)
    return a, b


def signatures(
    texts: Sequence[str],
    num_perm: int,
    shingle_size: int,
    seed: int = 1,
    tokenization: Tokenization = "reference",
) -> npt.NDArray[np.uint32]:
    """MinHash signatures, one row per text (an empty text gets all-max values)."""
    a, b = permutations(num_perm, seed)
    hashed = [
        np.fromiter(
            (zlib.crc32(s) for s in shingles(t, shingle_size, tokenization)), dtype=np.uint64
        )
        for t in texts
    ]
    result = np.full((len(texts), num_perm), MAX_HASH, dtype=np.uint32)
    buffer = np.empty((_CHUNK_ROWS, num_perm), dtype=np.uint64)
    # Concatenate the shingle hashes of many documents and reduce each document's slice, so the
    # per-document Python overhead is one array, not one numpy call per permutation block.
    start = 0
    while start < len(texts):
        rows, stop = 0, start
        while stop < len(texts) and (rows == 0 or rows + len(hashed[stop]) <= _CHUNK_ROWS):
            rows += len(hashed[stop])
            stop += 1
        block = [h for h in hashed[start:stop] if len(h)]
        if block:
            values = np.concatenate(block)
            permuted = _permute(values, a, b, buffer)
            nonempty = [i for i in range(start, stop) if len(hashed[i])]
            offsets = np.cumsum([0] + [len(hashed[i]) for i in nonempty[:-1]])
            result[nonempty] = np.minimum.reduceat(permuted, offsets, axis=0)
        start = stop
    return result


def _permute(
    values: npt.NDArray[np.uint64],
    a: npt.NDArray[np.uint64],
    b: npt.NDArray[np.uint64],
    buffer: npt.NDArray[np.uint64],
) -> npt.NDArray[np.uint32]:
    fits = len(values) <= len(buffer)
    out = buffer[: len(values)] if fits else np.empty((len(values), len(a)), np.uint64)
    np.multiply(values[:, None], a[None, :], out=out)
    out += b
    out >>= np.uint64(32)
    return out.astype(np.uint32)


@lru_cache(maxsize=16)
def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising the false-positive + false-negative areas, weighted equally;
    the first such pair in (bands, rows) order."""
    grid = 1001
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    bands = np.array([b for b, _ in pairs], dtype=float)[:, None]
    rows = np.array([r for _, r in pairs])
    exponents = np.arange(1, num_perm + 1, dtype=float)[:, None]

    def areas(lo: float, hi: float, positive: bool) -> npt.NDArray[np.float64]:
        # One row of the probability curve per (bands, rows) pair, integrated along the row;
        # s**rows comes from a table of the num_perm powers of s.
        s = np.linspace(lo, hi, grid)
        p = 1 - (1 - (s**exponents)[rows - 1]) ** bands
        return np.asarray(np.trapezoid(p if positive else 1 - p, s, axis=1))

    error = 0.5 * areas(0, threshold, True) + 0.5 * areas(threshold, 1, False)
    return pairs[int(np.argmin(error))]


def duplicate_clusters(sigs: npt.NDArray[np.uint32], bands: int, rows: int) -> list[int]:
    """For each document, the index of the first document of its cluster (itself if unique)."""
    parent = list(range(len(sigs)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for band in range(bands):
        buckets: dict[bytes, int] = {}
        block = np.ascontiguousarray(sigs[:, band * rows : (band + 1) * rows])
        for index in range(len(sigs)):
            key = block[index].tobytes()
            first = buckets.setdefault(key, index)
            if first != index:
                root_a, root_b = find(first), find(index)
                if root_a != root_b:
                    parent[max(root_a, root_b)] = min(root_a, root_b)
    return [find(i) for i in range(len(sigs))]


def near_duplicates(
    texts: Sequence[str],
    threshold: float,
    num_perm: int,
    shingle_size: int,
    tokenization: Tokenization = "reference",
) -> list[int]:
    """Cluster representative for each text; text i is a duplicate when the result differs from i."""
    if not texts:
        return []
    bands, rows = optimal_bands(threshold, num_perm)
    sigs = signatures(texts, num_perm, shingle_size, tokenization=tokenization)
    return duplicate_clusters(sigs, bands, rows)
