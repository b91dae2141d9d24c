from __future__ import annotations

import numpy as np
import pytest

from codeinstruct.workers.selection import (
    combined_scores,
    diverse_greedy,
    normalize,
    score_order,
)
from codeinstruct.workers.spec import Normalization
from tests.oracles import textbook_diverse_greedy


def test_minmax_and_rank() -> None:
    assert normalize([2, 4, 6], Normalization.MINMAX).tolist() == [0.0, 0.5, 1.0]
    assert normalize([5, 5], Normalization.MINMAX).tolist() == [0.0, 0.0]
    assert normalize([10, 1000, 20, 20], Normalization.RANK).tolist() == [0.0, 1.0, 0.5, 0.5]


def test_alpha_weights_complexity_against_quality() -> None:
    complexity, quality = [0, 1], [1, 0]
    assert combined_scores(complexity, quality, 1.0, Normalization.MINMAX).tolist() == [0, 1]
    assert combined_scores(complexity, quality, 0.0, Normalization.MINMAX).tolist() == [1, 0]


def test_order_breaks_ties_by_id() -> None:
    assert score_order([0.5, 0.9, 0.5], ["b", "z", "a"]) == [1, 2, 0]


@pytest.mark.parametrize("tau", [0.2, 0.5, 0.9])
def test_blocks_equal_the_sequential_definition(tau: float) -> None:
    rng = np.random.default_rng(int(tau * 10))
    base = rng.standard_normal((40, 16))
    vectors = base[rng.integers(0, 40, 2000)] + 0.3 * rng.standard_normal((2000, 16))
    order = list(rng.permutation(2000))
    for target in (5, 60, 5000):
        got = diverse_greedy(vectors, order, tau, target, block=37)
        assert got == textbook_diverse_greedy(vectors, order, tau, target)


def test_tau_is_a_similarity_ceiling() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    # cos(v0, v2) = 0.6 <= tau: accepted; the duplicate v1 (cos 1) is not.
    assert diverse_greedy(vectors, [0, 1, 2, 3], 0.7, 10) == [0, 2]
    assert diverse_greedy(vectors, [0, 1, 2, 3], 0.9, 10) == [0, 2, 3]
    assert diverse_greedy(vectors, [0, 1, 2, 3], 1.0, 2) == [0, 1]
