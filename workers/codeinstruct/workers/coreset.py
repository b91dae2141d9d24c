"""KCenterGreedy coreset (WaveCoder): maximum-diversity seeds by greedy k-center, Euclidean.

The first center is given (the stage draws it from the spec seed); every next center is the
point farthest from the centers chosen so far, and each point's distance to its nearest center
is updated incrementally. Ties go to the lowest index, like `np.argmax`.

Speed without approximation: every point keeps an approximate (float32) min-distance,
updated by one matrix product per batch of new centers (|x|^2 - 2 x.c + |c|^2, BLAS-3), and a
candidate set (the few hundred farthest by that approximation) keeps exact ones (float64, the
textbook's arithmetic) updated at every step. Since min-distances only go down, the largest
approximate distance outside the set, plus a float32 rounding bound, caps every outside point
for all later steps; while the best candidate exceeds that cap it is certainly the farthest
point, and no pass over all N points is needed. When it no longer does, the pending centers are
folded in with one matrix product and the set is refilled (doubled if still undecided). The
selected indices are the textbook's, ties included. Shards may sit in Ray actors (`engine:
ray`): each certifies its own farthest point; a step is one broadcast of the new center and one
global argmax of the shards' answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.floating]


def exact_distances(
    points: NDArray[np.floating], centers: NDArray[np.float64], budget: int = 1 << 22
) -> NDArray[np.float64]:
    """min over centers of sqrt(sum((x - c)**2)) per point, the textbook's arithmetic
    (temporaries bounded to about `budget` float64 values)."""
    x = np.asarray(points, dtype=np.float64)
    result = np.full(len(x), np.inf)
    block = max(1, budget // max(1, x.size))
    for start in range(0, len(centers), block):
        diff = x[:, None, :] - centers[None, start : start + block, :]
        result = np.minimum(result, np.sqrt((diff**2).sum(axis=2)).min(axis=1))
    return result


@dataclass
class Farthest:
    """A shard's farthest point: global index, exact min-distance, vector."""

    index: int
    distance: float
    vector: NDArray[np.float32]


class Shard:
    """A block of points with approximate (float32) min-distances for all of them and exact
    (float64) ones for a candidate set that provably holds the farthest point."""

    def __init__(
        self, points: Matrix, offset: int = 0, candidates: int = 256, chunk_rows: int = 16384
    ) -> None:
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        self.offset = offset
        self.chunk = chunk_rows
        self.initial = max(1, candidates)
        self.sqnorms = np.einsum("ij,ij->i", self.points, self.points)
        dim = self.points.shape[1] if self.points.ndim == 2 else 1
        top = float(self.sqnorms.max()) if len(self.sqnorms) else 0.0
        # Generous bound on the float32 error of |x|^2 - 2 x.c + |c|^2 (all terms <= 4 top).
        self.tolerance = float(64 * np.sqrt(dim) * np.finfo(np.float32).eps * 4 * max(top, 1e-30))
        self.mind2 = np.full(len(self.points), np.inf, dtype=np.float32)
        self.centers = np.empty((0, dim), dtype=np.float32)
        self.folded = 0  # centers already folded into mind2
        self.candidates = np.empty(0, dtype=np.int64)
        self.exact = np.empty(0)
        self.bound = np.inf  # upper bound on the min-distance of every point outside candidates
        self.refills = 0

    def step(self, center: NDArray[np.floating]) -> Farthest | None:
        """Take `center` into account; return this shard's farthest point (None if empty)."""
        if not len(self.points):
            return None
        c = np.asarray(center, dtype=np.float32)[None]
        self.centers = np.vstack([self.centers, c])
        if len(self.candidates):
            fresh = exact_distances(self.points[self.candidates], c.astype(np.float64))
            np.minimum(self.exact, fresh, out=self.exact)
        size = self.initial
        while True:
            if len(self.candidates):
                best = self.exact.max()
                if best > self.bound or len(self.candidates) == len(self.points):
                    local = int(self.candidates[self.exact == best].min())
                    return Farthest(local + self.offset, float(best), self.points[local])
            self._refill(size)
            size *= 2

    def _refill(self, size: int) -> None:
        """Fold the new centers into every point's approximate distance (one matrix product),
        take the `size` farthest as candidates, and measure those exactly."""
        self.refills += 1
        pending = self.centers[self.folded :]
        if len(pending):
            csq = np.einsum("ij,ij->i", pending, pending)
            for start in range(0, len(self.points), self.chunk):
                stop = min(start + self.chunk, len(self.points))
                d2 = self.points[start:stop] @ pending.T
                d2 *= -2
                d2 += self.sqnorms[start:stop, None]
                d2 += csq[None, :]
                np.minimum(self.mind2[start:stop], d2.min(axis=1), out=self.mind2[start:stop])
            np.maximum(self.mind2, 0, out=self.mind2)
            self.folded = len(self.centers)
        if size >= len(self.points):
            self.candidates = np.arange(len(self.points))
            self.bound = -np.inf
        else:
            part = np.argpartition(-self.mind2, size)
            self.candidates = np.sort(part[:size])
            outside = float(self.mind2[part[size:]].max())
            self.bound = float(np.sqrt(outside + self.tolerance))
        self.exact = exact_distances(self.points[self.candidates], self.centers.astype(np.float64))


class ShardGroup(Protocol):
    """Shards held somewhere (this process, Ray actors): one call per step reaches all."""

    def vector(self, index: int) -> NDArray[np.float32]: ...
    def step(self, center: NDArray[np.float32]) -> list[Farthest | None]: ...


class LocalShards:
    def __init__(self, points: Matrix, shards: int = 1, candidates: int = 256) -> None:
        bounds = np.linspace(0, len(points), max(1, shards) + 1).astype(int)
        self.shards = [
            Shard(points[a:b], int(a), candidates) for a, b in itertools.pairwise(bounds)
        ]
        self.points = points

    def vector(self, index: int) -> NDArray[np.float32]:
        return np.asarray(self.points[index], dtype=np.float32)

    def step(self, center: NDArray[np.float32]) -> list[Farthest | None]:
        return [s.step(center) for s in self.shards]


def select_kcenter(
    group: ShardGroup,
    k: int,
    first: int,
    total: int,
    progress: Callable[[int], None] = lambda n: None,
) -> list[int]:
    """Greedy k-center over the points in `group`; returns the selected indices in order."""
    k = min(k, total)
    if k <= 0:
        return []
    chosen = [first]
    progress(1)
    center = group.vector(first)
    while len(chosen) < k:
        answers = [a for a in group.step(center) if a is not None]
        best = max(answers, key=lambda a: (a.distance, -a.index))
        if best.distance <= 0:
            break  # every point coincides with a center
        chosen.append(best.index)
        center = best.vector
        progress(1)
    return chosen


def kcenter_greedy(
    points: Matrix,
    k: int,
    first: int,
    shards: int = 1,
    progress: Callable[[int], None] = lambda n: None,
    candidates: int = 256,
) -> list[int]:
    """Greedy k-center on one machine; identical indices to the textbook k-center (`tests/oracles.py`)."""
    points = np.asarray(points)
    if not 0 <= first < len(points):
        raise ValueError(f"first center {first} is outside 0..{len(points) - 1}")
    group = LocalShards(points, shards, candidates)
    return select_kcenter(group, k, first, len(points), progress)


class RayShards:
    """Shards held by Ray actors (one per worker): same arithmetic, one round trip per step."""

    def __init__(self, ray: Any, points: Matrix, workers: int) -> None:
        points = np.asarray(points, dtype=np.float32)
        bounds = np.linspace(0, len(points), max(1, min(workers, len(points))) + 1).astype(int)
        actor = ray.remote(num_cpus=0)(Shard)
        self.ray = ray
        self.points = points
        self.actors = [
            actor.remote(ray.put(points[a:b]), int(a)) for a, b in itertools.pairwise(bounds)
        ]

    def vector(self, index: int) -> NDArray[np.float32]:
        return np.asarray(self.points[index], dtype=np.float32)

    def step(self, center: NDArray[np.float32]) -> list[Farthest | None]:
        return list(self.ray.get([a.step.remote(center) for a in self.actors]))

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
        return select_kcenter(group, k, first, len(points), progress)
    finally:
        group.close()
