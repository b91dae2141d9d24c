"""τ as a quantile of the pool's nearest-neighbour cosine similarities, computed exactly with
the blocked kernel (against a brute-force oracle), and what that guarantees the filter keeps."""

from __future__ import annotations

import numpy as np
import pytest

from codeinstruct.workers.selection import (
    diverse_greedy,
    fraction_tau,
    nearest_neighbour_similarities,
    quantile_tau,
)


def brute_nearest(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return sims.max(axis=1)


def test_nearest_neighbour_similarities_are_exact_across_blocks() -> None:
    vectors = np.random.default_rng(4).normal(size=(203, 16))
    vectors[7] = vectors[150] * 3  # a duplicate in another block: similarity 1
    got = nearest_neighbour_similarities(vectors, block=37)
    np.testing.assert_allclose(got, brute_nearest(vectors), atol=1e-5)
    assert got[7] == pytest.approx(1.0, abs=1e-5) and got[150] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9])
def test_quantile_tau_keeps_at_least_the_fraction(quantile: float) -> None:
    vectors = np.random.default_rng(int(quantile * 10)).normal(size=(164, 8))
    nearest = nearest_neighbour_similarities(vectors)
    tau = quantile_tau(nearest, quantile)
    # The order statistic: at least q·n candidates have their nearest neighbour within τ,
    # and fewer below it.
    assert (nearest <= tau).sum() >= int(np.ceil(quantile * 164))
    assert (nearest < tau).sum() < int(np.ceil(quantile * 164))
    kept = diverse_greedy(vectors, list(range(164)), tau, 164)
    # A candidate whose nearest neighbour is within τ can never be rejected.
    assert set(np.flatnonzero(nearest <= tau)) <= set(kept)


def test_one_candidate_has_no_neighbour() -> None:
    assert nearest_neighbour_similarities(np.ones((1, 3))).tolist() == [-1.0]


@pytest.mark.parametrize("quantile", [0.3, 0.5, 0.7])
def test_quantile_mode_selects_the_requested_fraction(quantile: float) -> None:
    """HumanEval-sized, clustered: the greedy filter at the calibrated τ keeps ⌈q·n⌉ of the pool
    (the nearest-neighbour order statistic alone keeps more: its candidates are always kept,
    and so are some whose neighbours were rejected first)."""
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(20, 16))
    vectors = centres[rng.integers(0, 20, size=164)] + 0.6 * rng.normal(size=(164, 16))
    order = list(rng.permutation(164))
    wanted = int(np.ceil(quantile * 164))
    tau = fraction_tau(vectors, order, quantile)
    assert len(diverse_greedy(vectors, order, tau, 164)) == wanted
    nearest_only = quantile_tau(nearest_neighbour_similarities(vectors), quantile)
    assert len(diverse_greedy(vectors, order, nearest_only, 164)) > wanted
