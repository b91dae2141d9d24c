"""KCenterGreedy coreset (WaveCoder): maximum-diversity seeds by greedy k-center, Euclidean.

The first center is given (the stage draws it from the spec seed); every next center is the
point farthest from the centers chosen so far, and each point's distance to its nearest center
is updated incrementally. Ties go to the lowest index, like `np.argmax`.

Speed: the points live in float32 shards; a step costs one matrix-vector product per shard
(squared distance = |x|^2 - 2 x.c + |c|^2, BLAS) and a running minimum. Exactness: float32
rounding could reorder near-equal candidates, so every point within a rounding bound of the
largest distance is re-measured exactly (float64, the textbook formula) against all centers
before the argmax; the chosen indices are the textbook's. Shards may sit in Ray actors
(`engine: ray`): each keeps its points' min-distances, and a step is one broadcast of the new
center plus one global argmax over the shards' candidates.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.floating]


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


@dataclass
class Candidates:
    """Points of a shard whose float32 min-distance is within `tolerance` of the shard's max."""

    indices: NDArray[np.int64]
    approx: NDArray[np.float32]
    vectors: NDArray[np.float32]


class Shard:
    """A block of points and their squared min-distances to the centers chosen so far."""

    def __init__(self, points: Matrix, offset: int = 0, chunk_rows: int = 65536) -> None:
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        self.offset = offset
        self.chunk = chunk_rows
        self.sqnorms = np.einsum("ij,ij->i", self.points, self.points)
        self.mind2 = np.full(len(self.points), np.inf, dtype=np.float32)
        self._scratch = np.empty(min(len(self.points), chunk_rows), dtype=np.float32)

    def max_sqnorm(self) -> float:
        return float(self.sqnorms.max()) if len(self.sqnorms) else 0.0

    def step(self, center: NDArray[np.float32], tolerance: float) -> Candidates:
        """Take `center` into the min-distances; return this shard's farthest candidates."""
        c = np.asarray(center, dtype=np.float32)
        csq = np.float32(c @ c)
        for start in range(0, len(self.points), self.chunk):
            stop = min(start + self.chunk, len(self.points))
            d2 = self._scratch[: stop - start]
            np.matmul(self.points[start:stop], c, out=d2)
            d2 *= -2
            d2 += self.sqnorms[start:stop]
            d2 += csq
            np.maximum(d2, 0, out=d2)
            np.minimum(self.mind2[start:stop], d2, out=self.mind2[start:stop])
        return self.candidates(tolerance)

    def candidates(self, tolerance: float) -> Candidates:
        if not len(self.mind2):
            empty = np.empty(0, dtype=np.int64)
            return Candidates(empty, np.empty(0, np.float32), np.empty((0, 0), np.float32))
        top = self.mind2.max()
        local = np.flatnonzero(self.mind2 >= top - tolerance)
        return Candidates(local + self.offset, self.mind2[local], self.points[local])


class ShardGroup(Protocol):
    """Shards held somewhere (this process, Ray actors): one call per step reaches all."""

    def max_sqnorm(self) -> float: ...
    def vector(self, index: int) -> NDArray[np.float32]: ...
    def step(self, center: NDArray[np.float32], tolerance: float) -> list[Candidates]: ...


class LocalShards:
    def __init__(self, points: Matrix, shards: int = 1) -> None:
        bounds = np.linspace(0, len(points), max(1, shards) + 1).astype(int)
        self.shards = [Shard(points[a:b], int(a)) for a, b in itertools.pairwise(bounds)]
        self.bounds = bounds

    def max_sqnorm(self) -> float:
        return max(s.max_sqnorm() for s in self.shards)

    def vector(self, index: int) -> NDArray[np.float32]:
        shard = int(np.searchsorted(self.bounds, index, side="right")) - 1
        return self.shards[shard].points[index - int(self.bounds[shard])]

    def step(self, center: NDArray[np.float32], tolerance: float) -> list[Candidates]:
        return [s.step(center, tolerance) for s in self.shards]


def rounding_tolerance(dim: int, max_sqnorm: float) -> float:
    """A generous bound on the float32 error of |x|^2 - 2 x.c + |c|^2 (all terms <= 4 max)."""
    return float(64 * np.sqrt(max(dim, 1)) * np.finfo(np.float32).eps * 4 * max(max_sqnorm, 1e-30))


def select_kcenter(
    group: ShardGroup,
    dim: int,
    k: int,
    first: int,
    total: int,
    progress: Callable[[int], None] = lambda n: None,
) -> list[int]:
    """Greedy k-center over the points in `group`; returns the selected indices in order."""
    k = min(k, total)
    if k <= 0:
        return []
    tolerance = rounding_tolerance(dim, group.max_sqnorm())
    chosen = [first]
    centers = [np.asarray(group.vector(first), dtype=np.float64)]
    progress(1)
    center = np.asarray(group.vector(first), dtype=np.float32)
    while len(chosen) < k:
        found = group.step(center, tolerance)
        index, distance, vector = _farthest(found, centers, tolerance)
        if distance <= 0:
            break  # every point coincides with a center
        chosen.append(index)
        center = vector
        centers.append(np.asarray(vector, dtype=np.float64))
        progress(1)
    return chosen


def _farthest(
    found: Sequence[Candidates], centers: list[NDArray[np.float64]], tolerance: float
) -> tuple[int, float, NDArray[np.float32]]:
    """The global farthest point (index, distance, vector); near-ties and near-zero distances
    are settled by exact float64 distances."""
    found = [c for c in found if len(c.indices)]
    approx = np.concatenate([c.approx for c in found])
    indices = np.concatenate([c.indices for c in found])
    vectors = np.concatenate([c.vectors for c in found])
    top = approx.max()
    keep = np.flatnonzero(approx >= top - tolerance)
    if len(keep) == 1 and top > tolerance:
        return int(indices[keep[0]]), float(np.sqrt(top)), vectors[keep[0]]
    exact = _exact_min_distance(vectors[keep].astype(np.float64), np.stack(centers))
    best = exact.max()
    tied = keep[exact == best]
    winner = tied[np.argmin(indices[tied])]
    return int(indices[winner]), float(best), vectors[winner]


def _exact_min_distance(
    points: NDArray[np.float64], centers: NDArray[np.float64], block: int = 256
) -> NDArray[np.float64]:
    """min over centers of sqrt(sum((x - c)**2)), the textbook formula, by blocks of centers."""
    result = np.full(len(points), np.inf)
    for start in range(0, len(centers), block):
        diff = points[:, None, :] - centers[None, start : start + block, :]
        result = np.minimum(result, np.sqrt((diff**2).sum(axis=2)).min(axis=1))
    return result


def kcenter_greedy(
    points: Matrix,
    k: int,
    first: int,
    shards: int = 1,
    progress: Callable[[int], None] = lambda n: None,
) -> list[int]:
    """Greedy k-center on one machine (numpy/BLAS, float32 shards with exact tie-breaking)."""
    points = np.asarray(points)
    if not 0 <= first < len(points):
        raise ValueError(f"first center {first} is outside 0..{len(points) - 1}")
    group = LocalShards(points, shards)
    return select_kcenter(group, points.shape[1], k, first, len(points), progress)


class RayShards:
    """Shards held by Ray actors (one per worker): same arithmetic, one round trip per step."""

    def __init__(self, ray: Any, points: Matrix, workers: int) -> None:
        points = np.asarray(points, dtype=np.float32)
        bounds = np.linspace(0, len(points), max(1, min(workers, len(points))) + 1).astype(int)
        actor = ray.remote(num_cpus=0)(Shard)
        self.ray = ray
        self.bounds = bounds
        self.actors = [
            actor.remote(ray.put(points[a:b]), int(a)) for a, b in itertools.pairwise(bounds)
        ]
        self._first = points  # only rows are read from it, for the first center
        self._max_sqnorm = max(ray.get([a.max_sqnorm.remote() for a in self.actors]))

    def max_sqnorm(self) -> float:
        return float(self._max_sqnorm)

    def vector(self, index: int) -> NDArray[np.float32]:
        return np.asarray(self._first[index], dtype=np.float32)

    def step(self, center: NDArray[np.float32], tolerance: float) -> list[Candidates]:
        return list(self.ray.get([a.step.remote(center, tolerance) for a in self.actors]))

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


def kcenter_greedy_ray(
    ray: Any,
    points: Matrix,
    k: int,
    first: int,
    workers: int,
    progress: Callable[[int], None] = lambda n: None,
) -> list[int]:
    """Greedy k-center with the points sharded across Ray actors."""
    points = np.asarray(points)
    if not 0 <= first < len(points):
        raise ValueError(f"first center {first} is outside 0..{len(points) - 1}")
    group = RayShards(ray, points, workers)
    try:
        return select_kcenter(group, points.shape[1], k, first, len(points), progress)
    finally:
        group.close()
