from __future__ import annotations

import numpy as np
import pytest

from codeinstruct.workers.coreset import kcenter_greedy
from tests.oracles import textbook_kcenter


@pytest.mark.parametrize(("shards", "candidates"), [(1, 256), (4, 256), (1, 2), (3, 1)])
def test_same_indices_as_textbook_on_random_points(shards: int, candidates: int) -> None:
    rng = np.random.default_rng(shards)
    points = rng.standard_normal((3000, 48)).astype(np.float32)
    points[500:700] = points[:200]  # exact duplicates make exact ties
    for first in (0, 1234):
        got = kcenter_greedy(points, 250, first, shards=shards, candidates=candidates)
        assert got == textbook_kcenter(points, 250, first)


def test_same_indices_on_clustered_unit_vectors() -> None:
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((20, 32))
    points = centers[rng.integers(0, 20, 4000)] + 0.05 * rng.standard_normal((4000, 32))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    assert kcenter_greedy(points, 300, 3, shards=3) == textbook_kcenter(points, 300, 3)


def test_selection_is_the_indices_not_a_prefix() -> None:
    points = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [0.0, 10.0], [0.2, 0.1]])
    assert kcenter_greedy(points, 3, 0) == [0, 2, 3]


def test_stops_when_every_point_is_a_center() -> None:
    points = np.repeat(np.eye(4), 3, axis=0)
    chosen = kcenter_greedy(points, 10, 5)
    assert chosen == textbook_kcenter(points, 10, 5)
    assert len(chosen) == 4 and len({tuple(points[i]) for i in chosen}) == 4


def test_k_larger_than_points_and_bad_first() -> None:
    points = np.arange(10, dtype=np.float32).reshape(5, 2)
    assert sorted(kcenter_greedy(points, 50, 2)) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        kcenter_greedy(points, 2, 5)
