"""Near-duplicate findings from PDQ hashes: who else posted (nearly) the same image.

Two different signals come out of this module, and they must stay apart:

* **within-artist duplicates** -- one artist uploading many near-identical images
  (mass production, a policy concern);
* **cross-account duplicates** -- the same image posted by several members, as in a
  protest or a repost. This is reported as its own reason and is never, by itself,
  evidence that an image was generated.

Numbers and their directions
----------------------------
* Hamming distance between two hashes: integer in 0..256, **lower = more similar**; a
  pair matches at ``<= MATCH_DISTANCE`` (31) when both PDQ qualities (0..100, higher =
  more reliable) are ``>= MIN_QUALITY`` (50). See :mod:`slopscore.signals.pdq`.
* Duplicate counts: integers >= 0, **higher = more duplication** (see
  :class:`DuplicateEvidence`).

Typical use by the scorer::

    index = PdqIndex.from_arrays(hashes, qualities, item_ids, artist_ids, uploaded_at)
    near = find_near_duplicates(index, rows=todays_rows)
    burst = within_artist_duplicates(index, near, window=timedelta(hours=1))
    reposts = cross_account_duplicates(index, near)

with :class:`~slopscore.signals.pdq_index.PdqIndex` built from
:func:`~slopscore.signals.pdq.pdq_hash` results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

import numpy as np

from slopscore.signals._checks import as_window_seconds, check_rows, is_int
from slopscore.signals.pdq import MATCH_DISTANCE, MIN_QUALITY
from slopscore.signals.pdq_index import PdqIndex

__all__ = [
    "DuplicateEvidence",
    "DuplicateKind",
    "NearDuplicates",
    "cross_account_duplicates",
    "find_near_duplicates",
    "within_artist_duplicates",
]

_DEFAULT_MAX_IDS = 10


class DuplicateKind(str, Enum):
    """Which duplicate signal a :class:`DuplicateEvidence` holds. Stable strings."""

    #: Near-duplicates among the same artist's uploads (mass production).
    WITHIN_ARTIST = "within_artist"
    #: Near-duplicates posted by other artists (reposts; not evidence of AI by itself).
    CROSS_ACCOUNT = "cross_account"


@dataclass(frozen=True)
class NearDuplicates:
    """Near-duplicate pairs for some index rows, other uploads only.

    Built by :func:`find_near_duplicates`; the input of both duplicate helpers, so
    that the expensive search runs once.

    Attributes
    ----------
    rows : numpy.ndarray
        ``(M,)`` int64 index rows that were searched.
    low_quality : numpy.ndarray
        ``(M,)`` bool: quality below ``min_quality``, so the row has no pairs.
    query : numpy.ndarray
        ``(P,)`` int64 position into ``rows``.
    match : numpy.ndarray
        ``(P,)`` int64 index row of a near-duplicate (never the same item).
    distance : numpy.ndarray
        ``(P,)`` int64 Hamming distance, 0..max_distance, lower = more similar.
    max_distance, min_quality : int
        The thresholds used.
    """

    rows: np.ndarray
    low_quality: np.ndarray
    query: np.ndarray
    match: np.ndarray
    distance: np.ndarray
    max_distance: int
    min_quality: int


@dataclass(frozen=True)
class DuplicateEvidence:
    """Per-upload duplicate counts of one kind, parallel to ``rows``.

    Attributes
    ----------
    kind : DuplicateKind
        Within-artist (mass production) or cross-account (reposts).
    rows : numpy.ndarray
        ``(M,)`` int64 index rows described.
    item_ids : numpy.ndarray
        ``(M,)`` object array, the item id of each row.
    counts : numpy.ndarray
        ``(M,)`` int64, >= 0, higher = more duplication. Within-artist: the number of
        the same artist's other uploads that are near-duplicates. Cross-account: the
        number of distinct other artists who posted a near-duplicate.
    matched_item_ids : tuple of tuple of str
        Per row, at most ``max_ids`` item ids behind the count, nearest first.
        Cross-account lists the nearest upload of each other artist.
    low_quality : numpy.ndarray
        ``(M,)`` bool: the row's hash is unreliable, so its count is 0 by rule, not
        because no duplicate exists.
    window_seconds : int or None
        Only uploads within this many seconds of the row were counted (None: any time).
    earlier_only : bool
        Only uploads made at or before the row's time were counted.
    """

    kind: DuplicateKind
    rows: np.ndarray
    item_ids: np.ndarray
    counts: np.ndarray
    matched_item_ids: tuple[tuple[str, ...], ...]
    low_quality: np.ndarray
    window_seconds: int | None
    earlier_only: bool


def find_near_duplicates(
    index: PdqIndex,
    rows: Sequence[int] | np.ndarray | None = None,
    *,
    max_distance: int = MATCH_DISTANCE,
    min_quality: int = MIN_QUALITY,
) -> NearDuplicates:
    """Search the index for near-duplicates of some of its own rows.

    Parameters
    ----------
    index : PdqIndex
        All uploads that may be matched (history and the new batch).
    rows : sequence of int, optional
        Rows to report on (e.g. today's uploads); all rows when omitted.
    max_distance : int
        0..256, Hamming distance at or below which two hashes match (lower = stricter).
    min_quality : int
        0..100, both hashes need at least this quality.

    Returns
    -------
    NearDuplicates
        Pairs with other uploads; a row never matches itself or a row with its item id.

    Notes
    -----
    Cost is one full index scan per row (see :meth:`PdqIndex.query_many`).
    """
    selected = check_rows(rows, len(index))
    found = index.query_many(
        index.hashes[selected], index.qualities[selected], max_distance, min_quality
    )
    query_rows = selected[found.query]
    other = (found.rows != query_rows) & (index.item_ids[found.rows] != index.item_ids[query_rows])
    return NearDuplicates(
        rows=selected,
        low_quality=found.low_quality,
        query=found.query[other],
        match=found.rows[other],
        distance=found.distances[other],
        max_distance=max_distance,
        min_quality=min_quality,
    )


def within_artist_duplicates(
    index: PdqIndex,
    near: NearDuplicates,
    *,
    window: timedelta | np.timedelta64 | int | None = None,
    earlier_only: bool = False,
    max_ids: int = _DEFAULT_MAX_IDS,
) -> DuplicateEvidence:
    """For each row, how many of the SAME artist's other uploads are near-duplicates.

    A high count suggests mass production ("9 near-identical uploads in an hour").
    Uploads by other artists are never counted here.

    Parameters
    ----------
    index : PdqIndex
        The index ``near`` was computed on.
    near : NearDuplicates
        From :func:`find_near_duplicates`.
    window : timedelta, numpy.timedelta64 or int seconds, optional
        Count only uploads within this time of the row (either side, or the trailing
        window with ``earlier_only``).
    earlier_only : bool
        Count only uploads made at or before the row's time (no look-ahead, as when
        scoring uploads as they arrive).
    max_ids : int
        At most this many matched item ids are kept per row.

    Returns
    -------
    DuplicateEvidence
        ``counts`` in 0..N-1, higher = more near-identical uploads by this artist.
    """
    return _evidence(index, near, DuplicateKind.WITHIN_ARTIST, window, earlier_only, max_ids)


def cross_account_duplicates(
    index: PdqIndex,
    near: NearDuplicates,
    *,
    window: timedelta | np.timedelta64 | int | None = None,
    earlier_only: bool = False,
    max_ids: int = _DEFAULT_MAX_IDS,
) -> DuplicateEvidence:
    """For each row, how many DISTINCT OTHER artists posted a near-duplicate.

    This describes reposts ("same image posted by 7 other accounts"), e.g. a protest
    image shared by many members. It is a separate reason for a reviewer and is never
    evidence of AI generation by itself. The artist's own duplicates are never counted.

    Parameters
    ----------
    index, near, window, earlier_only, max_ids
        As in :func:`within_artist_duplicates`.

    Returns
    -------
    DuplicateEvidence
        ``counts`` in 0..(number of artists - 1), higher = posted by more other
        accounts; ``matched_item_ids`` holds each such artist's nearest upload.
    """
    return _evidence(index, near, DuplicateKind.CROSS_ACCOUNT, window, earlier_only, max_ids)


def _evidence(
    index: PdqIndex,
    near: NearDuplicates,
    kind: DuplicateKind,
    window: timedelta | np.timedelta64 | int | None,
    earlier_only: bool,
    max_ids: int,
) -> DuplicateEvidence:
    """Filter the pairs for one kind and count them per row."""
    if not isinstance(near, NearDuplicates):
        raise TypeError(f"near is a {type(near).__name__}; expected NearDuplicates")
    highest = int(max(near.rows.max(initial=-1), near.match.max(initial=-1)))
    if highest >= len(index):
        raise ValueError(
            f"near refers to row {highest} but the index has {len(index)} rows; "
            "pass the index it was computed on"
        )
    if not is_int(max_ids) or max_ids < 0:
        raise ValueError(f"max_ids is {max_ids!r}; expected an integer >= 0")
    window_seconds = as_window_seconds(window)

    query_rows = near.rows[near.query]
    artists = index.artist_ids
    same_artist = artists[near.match] == artists[query_rows]
    keep = same_artist if kind is DuplicateKind.WITHIN_ARTIST else ~same_artist
    keep &= _time_mask(index.uploaded_at, query_rows, near.match, window_seconds, earlier_only)
    query, match, distance = near.query[keep], near.match[keep], near.distance[keep]
    if kind is DuplicateKind.CROSS_ACCOUNT:
        query, match, distance = _nearest_per_artist(query, match, distance, artists)

    counts, matched = _count_and_cap(
        query, match, distance, index.item_ids, near.rows.size, max_ids
    )
    return DuplicateEvidence(
        kind=kind,
        rows=near.rows,
        item_ids=index.item_ids[near.rows],
        counts=counts,
        matched_item_ids=matched,
        low_quality=near.low_quality,
        window_seconds=window_seconds,
        earlier_only=earlier_only,
    )


def _time_mask(
    times: np.ndarray,
    query_rows: np.ndarray,
    match: np.ndarray,
    window_seconds: int | None,
    earlier_only: bool,
) -> np.ndarray:
    """Pairs whose match falls in the allowed time range around the query row."""
    offset = times[match] - times[query_rows]  # seconds; negative = uploaded earlier
    keep = np.ones(offset.shape, dtype=bool)
    if earlier_only:
        keep &= offset <= 0
    if window_seconds is not None:
        keep &= np.abs(offset) <= window_seconds
    return keep


def _nearest_per_artist(
    query: np.ndarray, match: np.ndarray, distance: np.ndarray, artists: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep one pair per (query, matched artist): the nearest (ties by row)."""
    if query.size == 0:
        return query, match, distance
    _, artist_code = np.unique(artists[match], return_inverse=True)
    order = np.lexsort((match, distance, artist_code, query))
    query, match, distance, artist_code = (a[order] for a in (query, match, distance, artist_code))
    first = np.ones(query.size, dtype=bool)
    first[1:] = (query[1:] != query[:-1]) | (artist_code[1:] != artist_code[:-1])
    return query[first], match[first], distance[first]


def _count_and_cap(
    query: np.ndarray,
    match: np.ndarray,
    distance: np.ndarray,
    item_ids: np.ndarray,
    n_rows: int,
    max_ids: int,
) -> tuple[np.ndarray, tuple[tuple[str, ...], ...]]:
    """Pairs per query position, and up to ``max_ids`` matched item ids, nearest first."""
    order = np.lexsort((match, distance, query))
    query, match = query[order], match[order]
    counts = np.bincount(query, minlength=n_rows).astype(np.int64)
    starts = np.cumsum(counts) - counts
    rank = np.arange(query.size) - starts[query]
    kept = match[rank < max_ids]
    sizes = np.minimum(counts, max_ids)
    ids = item_ids[kept]
    matched = tuple(tuple(ids[end - size : end]) for end, size in zip(np.cumsum(sizes), sizes))
    return counts, matched
