"""Portfolio consistency: how unlike an artist's own earlier accepted work each upload is.

Every feature of an upload is computed from the same artist's uploads only, and the
portfolio features from that artist's *accepted* works uploaded *strictly before* it:
never later uploads, never other artists, never the upload itself. Uploads with the
same timestamp are therefore not each other's portfolio. Below ``min_portfolio``
earlier works an upload is in the explicit cold-start state: its distances and
z-scores are NaN, never an invented number.

How it scales: each artist's uploads are sorted by time, so every portfolio is a
prefix of the artist's accepted works. Centroids come from prefix sums; neighbours and
the leave-one-out spread come from one walk over the artist's Gram matrix, a block of
``_BLOCK`` works against all earlier works at a time, keeping a running sum and a
running top-k per work. For an artist with n uploads, time is O(n^2 * D) for the
products plus O(n^2 * k) for the running top-k (nothing is O(n^3)), and extra memory is
O(n * (D + _BLOCK)), never the n x n matrix.

Reproducibility: the blocks have a fixed size and later works only ever occupy later
rows and columns, so adding, changing or removing uploads made after an upload leaves
its features bitwise unchanged (given a deterministic BLAS). Uploads with identical
timestamps are ordered by ``item_ids`` when given, else by input position; only that
order can move results, and only by float rounding.

Similarities are float32 products (the embeddings' precision); sums and statistics
are float64. The products are many and thin: on a busy or shared machine a single BLAS
thread (``OPENBLAS_NUM_THREADS=1``) can be several times faster than the default; see
``scripts/bench_portfolio.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "FEATURE_NAMES",
    "PortfolioConfig",
    "PortfolioFeatures",
    "portfolio_features",
]

FEATURE_NAMES = (
    "portfolio_size",
    "cold_start",
    "centroid_distance",
    "knn_distance",
    "centroid_z",
    "knn_z",
    "recent_near_duplicates",
    "uploads_in_window",
    "burst_ratio",
)

# Works per matrix-product block. Fixed, because block shapes decide float rounding.
_BLOCK = 128
# How far an embedding's L2 norm may stray from 1 (float32 round trips stay far inside).
_NORM_TOLERANCE = 1e-3
# Below this, a sum of unit vectors has no direction (works cancelling each other out).
_MIN_SUM_NORM = 1e-9
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class PortfolioConfig:
    """Settings for :func:`portfolio_features`; checked when created.

    Parameters
    ----------
    min_portfolio : int, default 5
        Fewest earlier accepted works for which distances are reported; below it an
        upload is in cold start. At least 2, since the spread needs two works.
    k : int, default 5
        Nearest earlier works averaged by ``knn_distance`` (fewer when the portfolio
        is smaller).
    spread_floor : float, default 0.02
        Smallest spread (in cosine distance) used as a z-score denominator. Without it
        an artist whose works are near-identical would turn tiny, meaningless
        differences into huge z-scores. A configuration choice, not a learned value.
    near_duplicate_threshold : float, default 0.95
        Cosine similarity at or above which two uploads count as near-duplicates.
    near_duplicate_window_s : float, default 86400 (24 h)
        Length of the trailing window searched for near-duplicates.
    burst_window_s : float, default 3600 (1 h)
        Length of the trailing window in which uploads are counted for bursts.
    burst_prior_windows : float, default 1.0
        Weight, in windows, of the prior belief that a window ending at an upload
        holds just that upload. Gives new artists a usual count of 1 instead of 0/0.
    """

    min_portfolio: int = 5
    k: int = 5
    spread_floor: float = 0.02
    near_duplicate_threshold: float = 0.95
    near_duplicate_window_s: float = 86_400.0
    burst_window_s: float = 3_600.0
    burst_prior_windows: float = 1.0

    def __post_init__(self) -> None:
        _check_int("min_portfolio", self.min_portfolio, minimum=2)
        _check_int("k", self.k, minimum=1)
        _check_number("spread_floor", self.spread_floor, low=0.0, low_open=True)
        _check_number("near_duplicate_threshold", self.near_duplicate_threshold, low=-1.0, high=1.0)
        _check_number(
            "near_duplicate_window_s", self.near_duplicate_window_s, low=0.0, low_open=True
        )
        _check_number("burst_window_s", self.burst_window_s, low=0.0, low_open=True)
        _check_number("burst_prior_windows", self.burst_prior_windows, low=0.0, low_open=True)


@dataclass(frozen=True)
class PortfolioFeatures:
    """Portfolio-consistency features, one entry per upload, in input order.

    All arrays are read-only and have length N. Floats are NaN where undefined.

    Attributes
    ----------
    portfolio_size : ndarray of int64
        Same artist's accepted works uploaded strictly earlier; 0 and up.
    cold_start : ndarray of bool
        True when ``portfolio_size < min_portfolio``; the four distance features are
        then NaN.
    centroid_distance : ndarray of float64
        Cosine distance (1 - cosine) from the upload to the normalised mean of its
        portfolio; between 0 and 2, higher means further from the artist's usual work.
    knn_distance : ndarray of float64
        Mean cosine distance to the ``min(k, portfolio_size)`` nearest works of the
        portfolio; between 0 and 2, higher means less like any of the artist's works.
    centroid_z : ndarray of float64
        ``centroid_distance`` standardised against the portfolio's own leave-one-out
        spread (each earlier work's distance to the centroid of the others):
        ``(d - mean) / max(std, spread_floor)``, population std. Unbounded; around 0
        is typical for the artist, higher means more unlike their body of work.
    knn_z : ndarray of float64
        The same standardisation for ``knn_distance`` (each earlier work's mean
        distance to its ``k`` nearest other earlier works). Higher means more unlike.
    recent_near_duplicates : ndarray of int64
        Same artist's uploads (accepted or not, the upload itself excluded) in the
        trailing near-duplicate window ``(t - W, t]`` with cosine similarity at or
        above the threshold; 0 and up, higher suggests mass production.
    uploads_in_window : ndarray of int64
        Same artist's uploads (accepted or not) in the trailing burst window
        ``(t - W, t]``, the upload included; 1 and up.
    burst_ratio : ndarray of float64
        ``uploads_in_window`` divided by the artist's usual count: the mean
        ``uploads_in_window`` of their uploads made before this window (at or before
        ``t - W``), shrunk towards 1 by ``burst_prior_windows``. Positive; about 1 is
        the artist's usual pace, higher means a burst; a new artist's first burst of
        n uploads scores about n. The usual count is taken over windows that end at
        an upload, not over all of time: averaged over idle weeks too, any single
        upload of a weekly artist would look like a burst.
    item_ids : ndarray of str or None
        The ``item_ids`` passed in, if any.
    """

    portfolio_size: np.ndarray
    cold_start: np.ndarray
    centroid_distance: np.ndarray
    knn_distance: np.ndarray
    centroid_z: np.ndarray
    knn_z: np.ndarray
    recent_near_duplicates: np.ndarray
    uploads_in_window: np.ndarray
    burst_ratio: np.ndarray
    item_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                value.flags.writeable = False

    def __len__(self) -> int:
        return len(self.portfolio_size)

    def as_dict(self) -> dict[str, np.ndarray]:
        """The feature arrays by name, in :data:`FEATURE_NAMES` order."""
        return {name: getattr(self, name) for name in FEATURE_NAMES}

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict of Python scalars per upload (``item_id`` first when known); NaN becomes None."""
        columns = {name: array.tolist() for name, array in self.as_dict().items()}
        if self.item_ids is not None:
            columns = {"item_id": self.item_ids.tolist(), **columns}
        return [
            {name: _none_if_nan(values[i]) for name, values in columns.items()}
            for i in range(len(self))
        ]


def portfolio_features(
    embeddings: ArrayLike,
    artist_ids: Sequence[str] | np.ndarray,
    uploaded_at: ArrayLike,
    accepted: ArrayLike,
    item_ids: Sequence[str] | np.ndarray | None = None,
    config: PortfolioConfig | None = None,
) -> PortfolioFeatures:
    """Compute portfolio-consistency features for every upload.

    Parameters
    ----------
    embeddings : array of shape (N, D)
        L2-normalised image embeddings (computed in float32).
    artist_ids : N strings
        Uploader of each item.
    uploaded_at : N timestamps
        ``numpy.datetime64`` values (read as UTC) or integer epoch seconds.
    accepted : N bools
        Whether the work belongs to the artist's accepted body of work (e.g. not a
        confirmed violation). Use True for unlabelled history. Only accepted works
        form portfolios; every upload counts for near-duplicates and bursts.
    item_ids : N unique strings, optional
        Carried into the result; also order uploads with identical timestamps.
    config : PortfolioConfig, optional
        Defaults to ``PortfolioConfig()``.

    Returns
    -------
    PortfolioFeatures
        See its attributes for each feature's range and direction.

    Raises
    ------
    ValueError, TypeError
        When an input has the wrong shape, type or values; the message gives the
        numbers involved.
    """
    config = PortfolioConfig() if config is None else config
    if not isinstance(config, PortfolioConfig):
        raise TypeError(f"config must be a PortfolioConfig, got {type(config).__name__}")
    vectors = _as_embeddings(embeddings)
    n = len(vectors)
    artists = _as_strings(artist_ids, "artist_ids", n)
    times = _as_nanoseconds(uploaded_at, n)
    is_accepted = _as_bools(accepted, "accepted", n)
    ids = None if item_ids is None else _as_unique_strings(item_ids, "item_ids", n)

    columns = _empty_columns(n)
    for rows in _artist_groups(artists, times, ids):
        values = _artist_features(vectors[rows], times[rows], is_accepted[rows], config)
        for name in FEATURE_NAMES:
            columns[name][rows] = values[name]
    return PortfolioFeatures(**columns, item_ids=ids)


# --- input checks ---------------------------------------------------------------------


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_number(
    name: str,
    value: object,
    low: float,
    high: float = np.inf,
    low_open: bool = False,
) -> None:
    ok = (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and np.isfinite(value)
        and (value > low if low_open else value >= low)
        and value <= high
    )
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        upper = "" if high == np.inf else f" and <= {high}"
        raise ValueError(f"{name} must be a finite number {bound}{upper}, got {value!r}")


def _as_embeddings(embeddings: ArrayLike) -> np.ndarray:
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"embeddings must have shape (N, D) with D >= 1, got shape {array.shape}")
    if array.dtype.kind != "f":
        raise TypeError(f"embeddings must be floating point, got dtype {array.dtype}")
    vectors = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"embeddings must be finite; row {row} holds NaN or inf")
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
    off = np.abs(norms - 1.0)
    if len(off) and off.max() > _NORM_TOLERANCE:
        row = int(off.argmax())
        raise ValueError(
            f"embeddings must be L2-normalised: row {row} has norm {norms[row]:.6g} "
            f"(tolerance {_NORM_TOLERANCE})"
        )
    return vectors


def _check_length(array: np.ndarray, name: str, n: int) -> None:
    if array.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match embeddings, got {array.shape}")


def _as_strings(values: Sequence[str] | np.ndarray, name: str, n: int) -> np.ndarray:
    array = np.array(values, dtype=object)  # a copy: results are made read-only
    _check_length(array, name, n)
    for i, value in enumerate(array):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be strings; entry {i} is {type(value).__name__}")
    return array


def _as_unique_strings(values: Sequence[str] | np.ndarray, name: str, n: int) -> np.ndarray:
    array = _as_strings(values, name, n)
    distinct, counts = np.unique(array, return_counts=True)
    if len(distinct) != n:
        repeated = distinct[counts > 1][0]
        raise ValueError(
            f"{name} must be unique: {n - len(distinct)} repeats, e.g. {repeated!r} "
            f"appears {counts.max()} times"
        )
    return array


def _as_bools(values: ArrayLike, name: str, n: int) -> np.ndarray:
    array = np.asarray(values)
    _check_length(array, name, n)
    if array.dtype != np.bool_:
        raise TypeError(f"{name} must be booleans, got dtype {array.dtype}")
    return array


def _as_nanoseconds(uploaded_at: ArrayLike, n: int) -> np.ndarray:
    """Timestamps as int64 nanoseconds since the epoch."""
    array = np.asarray(uploaded_at)
    _check_length(array, "uploaded_at", n)
    if array.dtype.kind == "M":
        missing = np.isnat(array)
        if missing.any():
            raise ValueError(f"uploaded_at must not be NaT; entry {int(np.argmax(missing))} is")
        nanoseconds = array.astype("datetime64[ns]")
        if not np.array_equal(nanoseconds.astype(array.dtype), array):
            raise ValueError("uploaded_at must lie between the years 1678 and 2262")
        return nanoseconds.view(np.int64)
    if array.dtype.kind in "iu":
        limit = np.iinfo(np.int64).max // _NS_PER_S
        if len(array) and np.abs(array).max() > limit:
            raise ValueError(
                f"uploaded_at epoch seconds must be within +/-{limit}, got {np.abs(array).max()}"
            )
        return array.astype(np.int64) * _NS_PER_S
    raise TypeError(
        "uploaded_at must be numpy datetime64 or integer epoch seconds, "
        f"got dtype {array.dtype} (convert with np.asarray(values, dtype='datetime64[ns]'))"
    )


def _none_if_nan(value: Any) -> Any:
    return None if isinstance(value, float) and value != value else value


# --- grouping -------------------------------------------------------------------------


def _empty_columns(n: int) -> dict[str, np.ndarray]:
    columns = {name: np.full(n, np.nan) for name in FEATURE_NAMES}
    for name in ("portfolio_size", "recent_near_duplicates", "uploads_in_window"):
        columns[name] = np.zeros(n, np.int64)
    columns["cold_start"] = np.zeros(n, bool)
    return columns


def _artist_groups(
    artists: np.ndarray, times: np.ndarray, ids: np.ndarray | None
) -> list[np.ndarray]:
    """Row indices of each artist's uploads, in time order (ties by item id, else input order)."""
    _, artist_codes = np.unique(artists, return_inverse=True)
    tie_break = np.arange(len(times)) if ids is None else np.unique(ids, return_inverse=True)[1]
    order = np.lexsort((tie_break, times, artist_codes))
    starts = np.flatnonzero(np.diff(artist_codes[order])) + 1
    return np.split(order, starts)


# --- per artist -----------------------------------------------------------------------


def _artist_features(
    vectors: np.ndarray, times: np.ndarray, accepted: np.ndarray, config: PortfolioConfig
) -> dict[str, np.ndarray]:
    """All features for one artist's uploads, given in time order."""
    padded_rows = -(-len(vectors) // _BLOCK) * _BLOCK
    works = _padded(vectors[accepted], padded_rows)
    work_count = int(accepted.sum())

    sizes = _portfolio_sizes(times, accepted)
    cold = sizes < config.min_portfolio
    known_sizes = np.where(cold, 0, sizes)  # 0: not computed
    prefix = _prefix_sums(works[:work_count])
    centroid = np.where(cold, np.nan, _centroid_distances(vectors, prefix, sizes))
    spread, work_knn = _walk_works(works, work_count, prefix, known_sizes[accepted], config.k)
    knn = np.empty(len(vectors))
    knn[accepted] = work_knn
    knn[~accepted] = _query_knn_distances(
        vectors[~accepted], works, known_sizes[~accepted], config.k
    )
    near_duplicates = _recent_near_duplicates(
        _padded(vectors, padded_rows),
        times,
        _seconds_to_ns(config.near_duplicate_window_s),
        config.near_duplicate_threshold,
    )
    in_window, burst_ratio = _bursts(
        times, _seconds_to_ns(config.burst_window_s), config.burst_prior_windows
    )
    floor = config.spread_floor
    centroid_z = _standardise(
        centroid, spread.centroid_mean[sizes], spread.centroid_std[sizes], floor
    )
    return {
        "portfolio_size": sizes,
        "cold_start": cold,
        "centroid_distance": centroid,
        "knn_distance": knn,
        "centroid_z": centroid_z,
        "knn_z": _standardise(knn, spread.knn_mean[sizes], spread.knn_std[sizes], floor),
        "recent_near_duplicates": near_duplicates,
        "uploads_in_window": in_window,
        "burst_ratio": burst_ratio,
    }


def _padded(vectors: np.ndarray, rows: int) -> np.ndarray:
    """``vectors`` followed by zero rows, ``rows`` in all (zero rows are masked out later)."""
    out = np.zeros((rows, vectors.shape[1]), np.float32)
    out[: len(vectors)] = vectors
    return out


def _seconds_to_ns(seconds: float) -> int:
    return int(round(seconds * _NS_PER_S))


def _portfolio_sizes(times: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """Accepted works uploaded strictly before each upload (ties are not earlier)."""
    earlier = np.searchsorted(times, times, side="left")
    accepted_before = np.concatenate([[0], np.cumsum(accepted)])
    return accepted_before[earlier].astype(np.int64)


def _prefix_sums(works: np.ndarray) -> np.ndarray:
    """Row m is the sum of the first m works (float64); shape (M + 1, D)."""
    sums = np.zeros((len(works) + 1, works.shape[1]))
    if len(works):
        sums[1:] = _running_sums(works, sums[0])
    return sums


def _centroid_distances(vectors: np.ndarray, prefix: np.ndarray, sizes: np.ndarray) -> np.ndarray:
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


def _query_knn_distances(
    queries: np.ndarray, works: np.ndarray, sizes: np.ndarray, k: int
) -> np.ndarray:
    """kNN distance of each query to its first ``size`` works (NaN where size is 0).

    Products use fixed (_BLOCK x _BLOCK) tiles, so each similarity is computed the
    same way however many queries and works there are.
    """
    padded = _padded(queries, -(-len(queries) // _BLOCK) * _BLOCK)
    sums = np.zeros(len(queries))
    for start in range(0, len(queries), _BLOCK):
        limits = sizes[start : start + _BLOCK]
        width = limits.max()
        if width == 0:
            continue
        block = padded[start : start + _BLOCK]
        tiles = [block @ works[c : c + _BLOCK].T for c in range(0, width, _BLOCK)]
        sims = np.hstack(tiles)[: len(limits), :width]
        sums[start : start + _BLOCK] = _top_k_sums(_mask_from(sims, limits), k)
    return _mean_distance(sums, sizes, k)


def _mask_from(sims: np.ndarray, limits: np.ndarray, first_column: int = 0) -> np.ndarray:
    """``sims`` with -inf where the work index (``first_column`` + column) >= ``limits[row]``."""
    columns = np.arange(first_column, first_column + sims.shape[1])
    return np.where(columns[None, :] < limits[:, None], sims, -np.inf)


@dataclass(frozen=True)
class _Spread:
    """Leave-one-out mean and std per portfolio size m (index m; NaN for m < 2)."""

    centroid_mean: np.ndarray
    centroid_std: np.ndarray
    knn_mean: np.ndarray
    knn_std: np.ndarray


def _walk_works(
    works: np.ndarray, count: int, prefix: np.ndarray, sizes: np.ndarray, k: int
) -> tuple[_Spread, np.ndarray]:
    """One pass over the works' similarities, in upload order, for two results.

    1. The leave-one-out spread of every portfolio of the first m works: mean and std
       over its works j of j's cosine distance to the sum of the other m - 1 works, and
       of j's mean cosine distance to its min(k, m - 1) nearest other works.
    2. Each work's own kNN distance to its first ``sizes[j]`` works (NaN where 0).

    Step l adds work l (so m = l + 1). A block of steps takes one product of its works
    with all works so far; every earlier work keeps a running similarity sum and a
    running top-k. Memory per block: O(_BLOCK * M).
    """
    sum_sq_norms = (prefix * prefix).sum(axis=1)  # |S_m|^2
    own_sq_norms = np.square(works, dtype=np.float64).sum(axis=1)
    moments = np.zeros((4, count + 1))  # per m: sums of dc, dc^2, dk, dk^2 over works
    knn_sums = np.zeros(count)
    top = np.full((k, 0), -np.inf, np.float32)  # per work j: k largest sims, descending
    running = np.zeros(0)  # per work j: sum of its sims to the other works so far
    for start in range(0, count, _BLOCK):
        stop = start + _BLOCK  # all widths depend on ``start`` only, never on ``count``
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


def _spread_from_moments(moments: np.ndarray) -> _Spread:
    """Population mean and std per m from sums; NaN where m < 2 (no one to leave out)."""
    m = np.arange(moments.shape[1], dtype=np.float64)
    m[m < 2] = np.nan
    means = moments[[0, 2]] / m
    stds = np.sqrt(np.clip(moments[[1, 3]] / m - means**2, 0.0, None))
    return _Spread(means[0], stds[0], means[1], stds[1])


def _standardise(distance: np.ndarray, mean: np.ndarray, std: np.ndarray, floor: float) -> np.ndarray:
    """z = (d - mean) / max(std, floor); NaN wherever an input is NaN."""
    return (distance - mean) / np.maximum(std, floor)


def _trailing_window(times: np.ndarray, window_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Index bounds [lo, hi) of the uploads in ``(t - window, t]`` for each upload."""
    return (
        np.searchsorted(times, times - window_ns, side="right"),
        np.searchsorted(times, times, side="right"),
    )


def _recent_near_duplicates(
    items: np.ndarray, times: np.ndarray, window_ns: int, threshold: float
) -> np.ndarray:
    """Uploads in each upload's trailing window (itself excluded) at or above ``threshold``."""
    n = len(times)
    lo, hi = _trailing_window(times, window_ns)
    counts = np.zeros(n, np.int64)
    for start in range(0, n, _BLOCK):
        rows = np.arange(start, min(start + _BLOCK, n))
        first = lo[rows[0]] // _BLOCK * _BLOCK
        last = hi[rows[-1]]
        block = items[start : start + _BLOCK]
        tiles = [block @ items[c : c + _BLOCK].T for c in range(first, last, _BLOCK)]
        sims = np.hstack(tiles)[: len(rows)]
        columns = np.arange(first, first + sims.shape[1])[None, :]
        in_window = (columns >= lo[rows, None]) & (columns < hi[rows, None])
        inside = in_window & (columns != rows[:, None])
        counts[rows] = (inside & (sims >= threshold)).sum(axis=1)
    return counts


def _bursts(times: np.ndarray, window_ns: int, prior_windows: float) -> tuple[np.ndarray, np.ndarray]:
    """Uploads in each trailing window, and that count over the artist's usual count.

    The usual count is the mean window count of the uploads at or before ``t - window``
    (windows wholly before this one), plus ``prior_windows`` pseudo-windows of 1.
    """
    lo, hi = _trailing_window(times, window_ns)
    in_window = hi - lo
    history_total = np.concatenate([[0], np.cumsum(in_window)])[lo]
    usual = (history_total + prior_windows) / (lo + prior_windows)
    return in_window.astype(np.int64), in_window / usual
