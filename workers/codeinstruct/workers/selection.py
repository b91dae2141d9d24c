"""XCoder selection: score = α·norm(complexity) + (1−α)·norm(quality), then a score-ordered
greedy diversity filter (deita's IterativeFilter): a sample is accepted when its max cosine
similarity to the samples accepted so far is <= τ (a similarity ceiling), until the target size.

The greedy pass is exact and sequential in meaning but works on blocks of candidates: one matrix
product gives a block's similarities to everything accepted before it, and a small block x block
product settles the candidates of the block among themselves, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from codeinstruct.workers.spec import Normalization


def normalize(values: Sequence[float], method: Normalization) -> NDArray[np.float64]:
    """`minmax`: (v - min) / (max - min), all 0 when constant; `rank`: average rank / (n - 1)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return v
    if method is Normalization.MINMAX:
        low, high = v.min(), v.max()
        return np.zeros_like(v) if high == low else (v - low) / (high - low)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v))
    # Equal values share their average rank.
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = sums[inverse] / counts[inverse]
    return ranks / (len(v) - 1) if len(v) > 1 else np.zeros_like(v)


def combined_scores(
    complexity: Sequence[float], quality: Sequence[float], alpha: float, method: Normalization
) -> NDArray[np.float64]:
    return alpha * normalize(complexity, method) + (1 - alpha) * normalize(quality, method)


def score_order(scores: Sequence[float] | NDArray[np.float64], ids: Sequence[str]) -> list[int]:
    """Indices by descending score; equal scores by ascending id (deterministic)."""
    return sorted(range(len(ids)), key=lambda i: (-float(scores[i]), ids[i]))


def unit_rows(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.where(norms > 0, norms, 1)).astype(np.float32)


def nearest_neighbour_similarities(
    vectors: NDArray[np.floating], block: int = 1024
) -> NDArray[np.float32]:
    """Each row's cosine similarity to its nearest other row (-1 for a lone row), exact: one
    block of rows against all rows per matrix product, the row itself left out."""
    unit = unit_rows(vectors)
    n = len(unit)
    nearest = np.full(n, -1.0, dtype=np.float32)
    for start in range(0, n, block):
        sims = unit[start : start + block] @ unit.T
        rows = np.arange(len(sims))
        sims[rows, start + rows] = -np.inf
        if n > 1:
            nearest[start : start + block] = sims.max(axis=1)
    return nearest


def quantile_tau(nearest: NDArray[np.floating], quantile: float) -> float:
    """The smallest τ with at least `quantile` of the candidates' nearest neighbours within it:
    the ⌈q·n⌉-th smallest nearest-neighbour similarity (an order statistic, no interpolation)."""
    ordered = np.sort(np.asarray(nearest, dtype=np.float64))
    rank = max(1, int(np.ceil(quantile * len(ordered))))
    return float(ordered[rank - 1])


def fraction_tau(
    vectors: NDArray[np.floating],
    order: Sequence[int],
    fraction: float,
    tolerance: float = 1e-6,
) -> float:
    """The smallest τ (to `tolerance`) at which the greedy filter, walking `order` over the
    whole pool, keeps ⌈fraction·n⌉ candidates: a bisection between the nearest-neighbour
    order statistic (which keeps at least that many, `quantile_tau`) and -1. Each step is one
    greedy pass that stops once it has that many, so it costs about log2(2/tolerance) ≈ 21
    selection passes."""
    n = len(order)
    wanted = max(1, int(np.ceil(fraction * n)))
    hi = quantile_tau(nearest_neighbour_similarities(vectors[list(order)]), fraction)
    lo = -1.0
    if wanted >= n or len(diverse_greedy(vectors, order, lo, wanted)) >= wanted:
        return hi if wanted >= n else lo
    while hi - lo > tolerance:
        middle = (lo + hi) / 2
        if len(diverse_greedy(vectors, order, middle, wanted)) >= wanted:
            hi = middle
        else:
            lo = middle
    return hi


def diverse_greedy(
    vectors: NDArray[np.floating],
    order: Sequence[int],
    tau: float,
    target: int,
    block: int = 1024,
    progress: Callable[[int], None] = lambda n: None,
) -> list[int]:
    """Walk `order`; accept i when max cosine(i, accepted) <= tau; stop at `target` accepted."""
    unit = unit_rows(vectors)
    accepted: list[int] = []
    kept = np.empty((max(target, 0), unit.shape[1] if unit.ndim == 2 else 0), dtype=np.float32)
    order = list(order)
    for start in range(0, len(order), block):
        if len(accepted) >= target:
            break
        ids = order[start : start + block]
        cand = unit[ids]
        if accepted:
            prior = (cand @ kept[: len(accepted)].T).max(axis=1) <= tau
        else:
            prior = np.ones(len(ids), dtype=bool)
        inner = cand @ cand.T
        taken: list[int] = []  # positions within the block
        for position in range(len(ids)):
            progress(1)
            if not prior[position]:
                continue
            if taken and inner[position, taken].max() > tau:
                continue
            taken.append(position)
            kept[len(accepted)] = cand[position]
            accepted.append(ids[position])
            if len(accepted) >= target:
                break
    return accepted
