"""Distance kernels of the portfolio features: how far each upload lies from its
artist's earlier accepted works, and how far those works usually lie from each other.

* Centroid distance: 1 - cosine to the normalised sum of the portfolio; between 0 and
  2, **higher = further from the artist's usual work**.
* kNN distance: 1 - the mean cosine to the ``min(k, size)`` nearest works; between 0
  and 2, **higher = less like any of the artist's works**.
* Spread: per portfolio size, the mean and population std of the leave-one-out versions
  of both distances (each work against the others).
* z-score: ``(d - mean) / max(std, floor)``; unbounded, around 0 is typical for the
  artist, **higher = more unlike their body of work**.

Undefined values (no portfolio, a sum of works with no direction) are NaN.

How it scales: the works are one artist's accepted uploads in time order, so every
portfolio is a prefix of them. Centroids come from prefix sums; neighbours and the
leave-one-out spread come from one walk over the artist's Gram matrix, a block of
:data:`BLOCK` works against all earlier works at a time, keeping a running sum and a
running top-k per work. For an artist with n uploads, time is O(n^2 * D) for the
products plus O(n^2 * k) for the running top-k (nothing is O(n^3)), and extra memory is
O(n * (D + BLOCK)), never the n x n matrix.

Similarities are float32 products (the embeddings' precision); sums and statistics
are float64. The products are many and thin: on a busy or shared machine a single BLAS
thread (``OPENBLAS_NUM_THREADS=1``) can be several times faster than the default; see
``scripts/bench_portfolio.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BLOCK",
    "Spread",
    "centroid_distances",
    "prefix_sums",
    "query_knn_distances",
    "standardise",
    "walk_works",
    "zero_padded",
]

#: Works per matrix-product block. Fixed, because block shapes decide float rounding.
BLOCK = 128
# Below this, a sum of unit vectors has no direction (works cancelling each other out).
_MIN_SUM_NORM = 1e-9


def zero_padded(vectors: np.ndarray, rows: int) -> np.ndarray:
    """``vectors`` followed by zero rows, ``rows`` in all (zero rows are masked out later)."""
    out = np.zeros((rows, vectors.shape[1]), np.float32)
    out[: len(vectors)] = vectors
    return out


def prefix_sums(works: np.ndarray) -> np.ndarray:
    """Row m is the sum of the first m works (float64); shape (M + 1, D)."""
    sums = np.zeros((len(works) + 1, works.shape[1]))
    if len(works):
        sums[1:] = _running_sums(works, sums[0])
    return sums


def centroid_distances(vectors: np.ndarray, prefix: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """1 - cosine between each upload and the sum of its first ``sizes`` works."""
    sums = prefix[sizes]
    norms = np.sqrt((sums * sums).sum(axis=1))
    dots = (vectors.astype(np.float64) * sums).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms > _MIN_SUM_NORM, 1.0 - dots / norms, np.nan)


def _top_k_sums(sims: np.ndarray, k: int) -> np.ndarray:
    """Per row, the sum of the k largest finite values, added largest first."""
    return _sum_of_finite(_top_k_rows(sims, k).T)


def _top_k_rows(sims: np.ndarray, k: int) -> np.ndarray:
    """Per row, the k largest values, descending, padded with -inf; shape (rows, k)."""
    out = np.full((len(sims), k), -np.inf, np.float32)
    keep = min(k, sims.shape[1])
    if keep:
        largest = np.partition(sims, sims.shape[1] - keep, axis=1)[:, -keep:]
        out[:, :keep] = -np.sort(-largest, axis=1)
    return out


def _mean_distance(top_k_sums: np.ndarray, sizes: np.ndarray, k: int) -> np.ndarray:
    """1 - mean similarity of the min(k, size) nearest; NaN where size is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sizes > 0, 1.0 - top_k_sums / np.minimum(k, sizes), np.nan)


def query_knn_distances(
    queries: np.ndarray, works: np.ndarray, sizes: np.ndarray, k: int
) -> np.ndarray:
    """kNN distance of each query to its first ``size`` works (NaN where size is 0).

    Products use fixed (BLOCK x BLOCK) tiles, so each similarity is computed the
    same way however many queries and works there are.
    """
    padded = zero_padded(queries, -(-len(queries) // BLOCK) * BLOCK)
    sums = np.zeros(len(queries))
    for start in range(0, len(queries), BLOCK):
        limits = sizes[start : start + BLOCK]
        width = limits.max()
        if width == 0:
            continue
        block = padded[start : start + BLOCK]
        tiles = [block @ works[c : c + BLOCK].T for c in range(0, width, BLOCK)]
        sims = np.hstack(tiles)[: len(limits), :width]
        sums[start : start + BLOCK] = _top_k_sums(_mask_from(sims, limits), k)
    return _mean_distance(sums, sizes, k)


def _mask_from(sims: np.ndarray, limits: np.ndarray, first_column: int = 0) -> np.ndarray:
    """``sims`` with -inf where the work index (``first_column`` + column) >= ``limits[row]``."""
    columns = np.arange(first_column, first_column + sims.shape[1])
    return np.where(columns[None, :] < limits[:, None], sims, -np.inf)


@dataclass(frozen=True)
class Spread:
    """Leave-one-out mean and std per portfolio size m (index m; NaN for m < 2)."""

    centroid_mean: np.ndarray
    centroid_std: np.ndarray
    knn_mean: np.ndarray
    knn_std: np.ndarray


def walk_works(
    works: np.ndarray, count: int, prefix: np.ndarray, sizes: np.ndarray, k: int
) -> tuple[Spread, np.ndarray]:
    """One pass over the works' similarities, in upload order, for two results.

    1. The leave-one-out spread of every portfolio of the first m works: mean and std
       over its works j of j's cosine distance to the sum of the other m - 1 works, and
       of j's mean cosine distance to its min(k, m - 1) nearest other works.
    2. Each work's own kNN distance to its first ``sizes[j]`` works (NaN where 0).

    Step l adds work l (so m = l + 1). A block of steps takes one product of its works
    with all works so far; every earlier work keeps a running similarity sum and a
    running top-k. Memory per block: O(BLOCK * M).
    """
    sum_sq_norms = (prefix * prefix).sum(axis=1)  # |S_m|^2
    own_sq_norms = np.square(works, dtype=np.float64).sum(axis=1)
    moments = np.zeros((4, count + 1))  # per m: sums of dc, dc^2, dk, dk^2 over works
    knn_sums = np.zeros(count)
    top = np.full((k, 0), -np.inf, np.float32)  # per work j: k largest sims, descending
    running = np.zeros(0)  # per work j: sum of its sims to the other works so far
    for start in range(0, count, BLOCK):
        stop = start + BLOCK  # all widths depend on ``start`` only, never on ``count``
        steps = np.arange(start, min(stop, count))
        product = works[start:stop] @ works[:stop].T  # [a, j] = works[start + a] . works[j]
        earlier_top = _top_k_rows(product[:, :start], k)
        top = np.hstack([top, earlier_top.T])
        running = np.concatenate([running, product[:, :start].sum(axis=1, dtype=np.float64)])
        sims = product[: len(steps)]
        knn_sums[steps] = _own_top_k_sums(sims, earlier_top[: len(steps)], start, sizes[steps], k)
        own = (np.arange(len(steps)), steps)
        sims[own] = 0.0
        others = _running_sums(sims, running)  # works[j] . (S_m - works[j])
        running = others[-1]
        sims[own] = -np.inf  # a work is not its own neighbour
        neighbour_sums, top = _running_top_k_sums(sims, top)
        valid = np.arange(stop)[None, :] <= steps[:, None]  # j < m
        centroid_d = _leave_one_out_centroid(others, sum_sq_norms[steps + 1], own_sq_norms[:stop])
        moments[:2, steps + 1] = _row_moments(centroid_d, valid)
        neighbours = np.minimum(k, steps).clip(min=1)  # min(k, m - 1)
        neighbour_moments = _row_moments(neighbour_sums, valid)
        moments[2:, steps + 1] = _knn_moments(neighbour_moments, neighbours, steps + 1)
    return _spread_from_moments(moments), _mean_distance(knn_sums, sizes, k)


def _own_top_k_sums(
    sims: np.ndarray, earlier_top: np.ndarray, start: int, limits: np.ndarray, k: int
) -> np.ndarray:
    """Per row a, the sum of the k largest of ``sims[a, :limits[a]]`` (0 where the limit is 0).

    ``earlier_top`` holds each row's k largest before column ``start``; a limit at or
    past ``start`` only needs that merged with the block's own columns.
    """
    sums = np.zeros(len(sims))
    merged = limits >= max(start, 1)
    if merged.any():
        in_block = _mask_from(sims[merged, start:], limits[merged], start)
        candidates = np.hstack([earlier_top[merged], in_block])
        sums[merged] = _top_k_sums(candidates, k)
    short = (limits > 0) & ~merged
    if short.any():
        sums[short] = _top_k_sums(_mask_from(sims[short, :start], limits[short]), k)
    return sums


# numpy's ufunc.accumulate along an axis is several times slower than a loop of
# row-wise ufunc calls, hence the explicit loops in the two helpers below.


def _running_sums(values: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Row a: ``initial`` plus rows 0..a of ``values``, added in order (float64)."""
    out = np.empty(values.shape)
    np.add(initial, values[0], out=out[0])
    for a in range(1, len(values)):
        np.add(out[a - 1], values[a], out=out[a])
    return out


def _running_max(values: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Row a: the maximum of ``initial`` and rows 0..a of ``values``."""
    out = np.empty_like(values)
    np.maximum(initial, values[0], out=out[0])
    for a in range(1, len(values)):
        np.maximum(out[a - 1], values[a], out=out[a])
    return out


def _running_top_k_sums(candidates: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the sum of its k largest values after each row of ``candidates`` arrives.

    ``top`` (k, width) holds each column's k largest values so far, descending, -inf
    for none; empty slots add 0 to the sums. Returns the sums (rows, width) and the
    final ``top``. Columns no candidate gets into keep their sums, so only the others
    are stepped through (with the same arithmetic, hence the same bits).
    """
    totals = np.repeat(_sum_of_finite(top)[None, :], len(candidates), axis=0)
    active = np.flatnonzero(candidates.max(axis=0) > top[-1])
    if active.size:
        totals[:, active], final = _running_top_k_steps(candidates[:, active], top[:, active])
        top = top.copy()
        top[:, active] = final
    return totals, top


def _running_top_k_steps(candidates: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_running_top_k_sums`, stepping through every column.

    After a new value v the t-th largest is max(old t-th, min(v, old (t-1)-th)), so
    each order t is one running maximum over the rows.
    """
    totals = np.zeros(candidates.shape)
    final = np.empty_like(top)
    higher = None  # the (t-1)-th largest after each row
    for t in range(len(top)):
        if higher is None:
            entering = candidates
        else:
            higher_before = np.vstack([top[t - 1][None, :], higher[:-1]])
            entering = np.minimum(candidates, higher_before)
        current = _running_max(entering, top[t])
        totals += np.where(np.isneginf(current), 0.0, current)
        final[t] = current[-1]
        higher = current
    return totals, final


def _sum_of_finite(rows: np.ndarray) -> np.ndarray:
    """Column sums of the finite entries, added in row order (the order every top-k sum uses)."""
    totals = np.zeros(rows.shape[1])
    for row in rows:
        totals += np.where(np.isneginf(row), 0.0, row)
    return totals


def _leave_one_out_centroid(
    others: np.ndarray, sum_sq_norm: np.ndarray, own_sq_norm: np.ndarray
) -> np.ndarray:
    """1 - cos(work j, S_m - work j) from j . (S_m - j), |S_m|^2 and |j|^2."""
    rest_norm = others * -2.0
    rest_norm += sum_sq_norm[:, None]
    rest_norm -= own_sq_norm  # |S_m - j|^2
    with np.errstate(divide="ignore", invalid="ignore"):
        np.sqrt(rest_norm, out=rest_norm)
        distance = np.divide(others, rest_norm)
    np.subtract(1.0, distance, out=distance)
    distance[~(rest_norm > _MIN_SUM_NORM)] = np.nan
    return distance


def _row_moments(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per row, the sum and the sum of squares of the valid entries; shape (2, rows)."""
    kept = np.where(valid, values, 0.0)
    total = kept.sum(axis=1)
    kept *= kept
    return np.stack([total, kept.sum(axis=1)])


def _knn_moments(sum_moments: np.ndarray, neighbours: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Sums of d and d^2 over m works from those of their top-k sums s, d = 1 - s / neighbours."""
    total, total_sq = sum_moments
    mean_sims = total / neighbours
    return np.stack([m - mean_sims, m - 2.0 * mean_sims + total_sq / neighbours**2])


def _spread_from_moments(moments: np.ndarray) -> Spread:
    """Population mean and std per m from sums; NaN where m < 2 (no one to leave out)."""
    m = np.arange(moments.shape[1], dtype=np.float64)
    m[m < 2] = np.nan
    means = moments[[0, 2]] / m
    stds = np.sqrt(np.clip(moments[[1, 3]] / m - means**2, 0.0, None))
    return Spread(means[0], stds[0], means[1], stds[1])


def standardise(distance: np.ndarray, mean: np.ndarray, std: np.ndarray, floor: float) -> np.ndarray:
    """z = (d - mean) / max(std, floor); NaN wherever an input is NaN."""
    return (distance - mean) / np.maximum(std, floor)
