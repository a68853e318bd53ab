"""Portfolio consistency: how unlike an artist's own earlier accepted work each upload is.

Every feature of an upload is computed from the same artist's uploads only, and the
portfolio features from that artist's *accepted* works uploaded *before its sitting*
(the burst window ``(t - W, t]`` that ends at it): never later uploads, never other
artists, never the upload itself. Works posted in the same sitting, such as a backlog
posted in one hour or uploads with the same timestamp, are not each other's portfolio:
they are not yet an established body of work, and are judged by their count and their
near-duplicates instead. Below ``min_portfolio``
earlier works an upload is in the explicit cold-start state: its distances and
z-scores are NaN, never an invented number. :class:`PortfolioFeatures` gives each
feature's range and direction.

This module checks the inputs, groups the uploads by artist in time order and joins
the per-artist results; the numbers come from
:mod:`~slopscore.signals.portfolio_distances` (centroid and kNN distances, the
leave-one-out spread, z-scores; how it scales is told there) and
:mod:`~slopscore.signals.upload_rate` (recent near-duplicates, bursts).

Reproducibility: the blocks have a fixed size and later works only ever occupy later
rows and columns, so adding, changing or removing uploads made after an upload leaves
its features bitwise unchanged (given a deterministic BLAS). Uploads with identical
timestamps are ordered by ``item_ids`` when given, else by input position; only that
order can move results, and only by float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from slopscore.signals._portfolio_checks import (
    as_bools,
    as_embeddings,
    as_nanoseconds,
    as_strings,
    as_unique_strings,
    check_int,
    check_number,
    seconds_to_ns,
)
from slopscore.signals.portfolio_distances import (
    BLOCK,
    centroid_distances,
    prefix_sums,
    query_knn_distances,
    standardise,
    walk_works,
    zero_padded,
)
from slopscore.signals.upload_rate import bursts, recent_near_duplicates

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
        Length of the trailing window in which uploads are counted for bursts; also
        the sitting whose works are left out of each other's portfolio.
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
        check_int("min_portfolio", self.min_portfolio, minimum=2)
        check_int("k", self.k, minimum=1)
        check_number("spread_floor", self.spread_floor, low=0.0, low_open=True)
        check_number("near_duplicate_threshold", self.near_duplicate_threshold, low=-1.0, high=1.0)
        check_number(
            "near_duplicate_window_s", self.near_duplicate_window_s, low=0.0, low_open=True
        )
        check_number("burst_window_s", self.burst_window_s, low=0.0, low_open=True)
        check_number("burst_prior_windows", self.burst_prior_windows, low=0.0, low_open=True)


@dataclass(frozen=True)
class PortfolioFeatures:
    """Portfolio-consistency features, one entry per upload, in input order.

    All arrays are read-only and have length N. Floats are NaN where undefined.

    Attributes
    ----------
    portfolio_size : ndarray of int64
        Same artist's accepted works uploaded before the upload's sitting (at or
        before ``t - burst_window_s``); 0 and up.
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
        the artist's usual pace, higher means a burst. NaN when the artist uploaded
        nothing before the window: a new account has no usual rate. The usual count is taken over windows that end at
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
    vectors = as_embeddings(embeddings)
    n = len(vectors)
    artists = as_strings(artist_ids, "artist_ids", n)
    times = as_nanoseconds(uploaded_at, n)
    is_accepted = as_bools(accepted, "accepted", n)
    ids = None if item_ids is None else as_unique_strings(item_ids, "item_ids", n)

    columns = _empty_columns(n)
    for rows in _artist_groups(artists, times, ids):
        values = _artist_features(vectors[rows], times[rows], is_accepted[rows], config)
        for name in FEATURE_NAMES:
            columns[name][rows] = values[name]
    return PortfolioFeatures(**columns, item_ids=ids)


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
    padded_rows = -(-len(vectors) // BLOCK) * BLOCK
    works = zero_padded(vectors[accepted], padded_rows)
    work_count = int(accepted.sum())

    sizes = _portfolio_sizes(times, accepted, seconds_to_ns(config.burst_window_s))
    cold = sizes < config.min_portfolio
    known_sizes = np.where(cold, 0, sizes)  # 0: not computed
    prefix = prefix_sums(works[:work_count])
    centroid = np.where(cold, np.nan, centroid_distances(vectors, prefix, sizes))
    spread, work_knn = walk_works(works, work_count, prefix, known_sizes[accepted], config.k)
    knn = np.empty(len(vectors))
    knn[accepted] = work_knn
    knn[~accepted] = query_knn_distances(
        vectors[~accepted], works, known_sizes[~accepted], config.k
    )
    near_duplicates = recent_near_duplicates(
        zero_padded(vectors, padded_rows),
        times,
        seconds_to_ns(config.near_duplicate_window_s),
        config.near_duplicate_threshold,
    )
    in_window, burst_ratio = bursts(
        times, seconds_to_ns(config.burst_window_s), config.burst_prior_windows
    )
    floor = config.spread_floor
    centroid_z = standardise(
        centroid, spread.centroid_mean[sizes], spread.centroid_std[sizes], floor
    )
    return {
        "portfolio_size": sizes,
        "cold_start": cold,
        "centroid_distance": centroid,
        "knn_distance": knn,
        "centroid_z": centroid_z,
        "knn_z": standardise(knn, spread.knn_mean[sizes], spread.knn_std[sizes], floor),
        "recent_near_duplicates": near_duplicates,
        "uploads_in_window": in_window,
        "burst_ratio": burst_ratio,
    }


def _portfolio_sizes(times: np.ndarray, accepted: np.ndarray, sitting_ns: int) -> np.ndarray:
    """Accepted works uploaded before each upload's sitting ``(t - sitting, t]``.

    Times are sorted, so each portfolio is a prefix of the artist's accepted works.
    """
    earlier = np.searchsorted(times, times - sitting_ns, side="right")
    accepted_before = np.concatenate([[0], np.cumsum(accepted)])
    return accepted_before[earlier].astype(np.int64)
