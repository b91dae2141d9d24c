"""Textbook implementations the optimised algorithms are proven equal to (tests and bench):
the straightforward definition, slow and obviously right."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from codeinstruct.workers.coreset import Matrix
from codeinstruct.workers.selection import unit_rows
from codeinstruct.workers.tli import DEFAULT_SIZES, END, START


def padded_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """nltk.util.ngrams(text.split(), n, pad_left=True, pad_right=True, <start>/<end>)."""
    tokens = [START] * (n - 1) + text.split() + [END] * (n - 1)
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def gram_set(text: str, sizes: Sequence[int] = DEFAULT_SIZES) -> set[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for n in sizes:
        grams.update(padded_ngrams(text, n))
    return grams


def naive_similarities(
    train: Sequence[str], test: Sequence[str], sizes: Sequence[int] = DEFAULT_SIZES
) -> NDArray[np.float64]:
    """S[i, j] = |grams(train i) & grams(test j)| / |grams(test j)|, by set intersections."""
    train_grams = [gram_set(t, sizes) for t in train]
    result = np.zeros((len(train), len(test)))
    for j, text in enumerate(test):
        grams = gram_set(text, sizes)
        if not grams:
            continue
        for i, other in enumerate(train_grams):
            result[i, j] = len(other & grams) / len(grams)
    return result


def naive_leakage(
    train: Sequence[str], test: Sequence[str], sizes: Sequence[int] = DEFAULT_SIZES, top: int = 1
) -> tuple[float, float, NDArray[np.float64]]:
    """(TLI, TLI-max, train max similarity) by the textbook definition."""
    sims = naive_similarities(train, test, sizes)
    if not len(train):
        return 0.0, 0.0, np.zeros(0)
    per_test = -np.sort(-sims, axis=0)[:top].mean(axis=0)
    return float(per_test.mean()), float(per_test.max()), sims.max(axis=1)


def textbook_kcenter(points: Matrix, k: int, first: int) -> list[int]:
    """The straightforward implementation (float64, one full distance pass per step)."""
    x = np.asarray(points, dtype=np.float64)
    k = min(k, len(x))
    chosen = [first]
    mind = np.sqrt(((x - x[first]) ** 2).sum(axis=1))
    while len(chosen) < k:
        index = int(np.argmax(mind))
        if mind[index] <= 0:
            break
        chosen.append(index)
        mind = np.minimum(mind, np.sqrt(((x - x[index]) ** 2).sum(axis=1)))
    return chosen


def textbook_diverse_greedy(
    vectors: NDArray[np.floating], order: Sequence[int], tau: float, target: int
) -> list[int]:
    """The sequential definition: one similarity vector per candidate (reference for tests)."""
    unit = unit_rows(vectors)
    accepted: list[int] = []
    for i in order:
        if len(accepted) >= target:
            break
        if not accepted or float((unit[accepted] @ unit[i]).max()) <= tau:
            accepted.append(i)
    return accepted
