"""The PDQ index: exact Hamming search over many PDQ hashes, with upload metadata.

:class:`PdqIndex` holds one row per upload (hash, quality, item id, artist id, upload
time) and answers which rows lie within a Hamming distance of a query hash;
:class:`Matches` and :class:`BatchMatches` are its answers. Distances are integers in
0..256, **lower = more similar**; qualities are 0..100, **higher = more reliable**, and
a hash below the quality floor never matches (see :mod:`slopscore.signals.pdq`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from slopscore.signals._checks import as_epoch_seconds, check_ids, check_int_range
from slopscore.signals.pdq import (
    HASH_BITS,
    MATCH_DISTANCE,
    MAX_QUALITY,
    MIN_QUALITY,
    PdqHash,
)

__all__ = ["BatchMatches", "Matches", "PdqIndex"]

_WORDS = 4
# Rows scanned per step: bounds the temporaries of one query to a few MB at any N.
_CHUNK_ROWS = 1 << 18


@dataclass(frozen=True)
class Matches:
    """Index rows near one query hash, nearest first (ties by row).

    Attributes
    ----------
    rows : numpy.ndarray
        ``(K,)`` int64 index rows.
    distances : numpy.ndarray
        ``(K,)`` int64 Hamming distances, 0..max_distance, lower = more similar.
    low_quality : bool
        True when the query's quality is below the floor; ``rows`` is then empty
        because an unreliable hash is never matched, not because nothing is similar.
    """

    rows: np.ndarray
    distances: np.ndarray
    low_quality: bool


@dataclass(frozen=True)
class BatchMatches:
    """Matches of many query hashes, as parallel arrays of pairs.

    Attributes
    ----------
    query : numpy.ndarray
        ``(P,)`` int64 position of the query in the batch, ascending.
    rows : numpy.ndarray
        ``(P,)`` int64 index row of the match.
    distances : numpy.ndarray
        ``(P,)`` int64 Hamming distances, 0..max_distance, lower = more similar;
        nearest first within each query (ties by row).
    low_quality : numpy.ndarray
        ``(M,)`` bool per query: quality below the floor, so no pairs for it.
    """

    query: np.ndarray
    rows: np.ndarray
    distances: np.ndarray
    low_quality: np.ndarray


class PdqIndex:
    """Brute-force Hamming search over PDQ hashes, with upload metadata.

    Rows are numbered 0..N-1 in insertion order. The hashes are exposed as an
    ``(N, 4)`` ``uint64`` array (:attr:`hashes`) but stored word-major, so that one
    query streams four contiguous arrays: XOR, popcount and add, with a cheap bound
    (the first two words alone already exceed ``max_distance`` for almost every
    unrelated row) that skips the last two words for nearly all rows.

    Timestamps are integer seconds since the Unix epoch (UTC).
    """

    def __init__(self) -> None:
        self._n = 0
        self._words = np.zeros((_WORDS, 0), dtype=np.uint64)
        self._quality = np.zeros(0, dtype=np.uint8)
        self._time = np.zeros(0, dtype=np.int64)
        self._item = np.zeros(0, dtype=object)
        self._artist = np.zeros(0, dtype=object)

    # ---- building

    @classmethod
    def from_arrays(
        cls,
        hashes: np.ndarray,
        qualities: Any,
        item_ids: Sequence[str] | np.ndarray,
        artist_ids: Sequence[str] | np.ndarray,
        uploaded_at: Any,
    ) -> PdqIndex:
        """Build an index from parallel arrays; see :meth:`extend` for the arguments."""
        index = cls()
        index.extend(hashes, qualities, item_ids, artist_ids, uploaded_at)
        return index

    def add(
        self,
        pdq: PdqHash,
        item_id: str,
        artist_id: str,
        uploaded_at: datetime | np.datetime64 | int,
    ) -> int:
        """Append one upload and return its row."""
        if not isinstance(pdq, PdqHash):
            raise TypeError(f"pdq is a {type(pdq).__name__}; expected PdqHash")
        rows = self.extend(pdq.words[None, :], [pdq.quality], [item_id], [artist_id], [uploaded_at])
        return int(rows[0])

    def extend(
        self,
        hashes: np.ndarray,
        qualities: Any,
        item_ids: Sequence[str] | np.ndarray,
        artist_ids: Sequence[str] | np.ndarray,
        uploaded_at: Any,
    ) -> np.ndarray:
        """Append N uploads and return their rows.

        Parameters
        ----------
        hashes : numpy.ndarray
            ``(N, 4)`` uint64 words, as :attr:`PdqHash.words`.
        qualities : array-like of int
            ``(N,)`` PDQ qualities, 0..100, higher = more reliable.
        item_ids, artist_ids : sequence of str
            ``(N,)`` identifiers. Rows sharing an item id are treated as one upload
            and never match each other.
        uploaded_at : array-like
            ``(N,)`` ``datetime64`` values, integer seconds since the Unix epoch, or
            timezone-aware :class:`datetime.datetime` objects. Sub-second parts are
            dropped.

        Returns
        -------
        numpy.ndarray
            ``(N,)`` int64 rows assigned to the new uploads.
        """
        words = _check_hashes(hashes, "hashes")
        count = words.shape[0]
        quality = _check_qualities(qualities, count)
        items = check_ids(item_ids, count, "item_ids")
        artists = check_ids(artist_ids, count, "artist_ids")
        times = as_epoch_seconds(uploaded_at, count)
        start = self._n
        self._reserve(start + count)
        end = start + count
        self._words[:, start:end] = words.T
        self._quality[start:end] = quality
        self._time[start:end] = times
        self._item[start:end] = items
        self._artist[start:end] = artists
        self._n = end
        return np.arange(start, end, dtype=np.int64)

    def _reserve(self, size: int) -> None:
        """Grow the buffers (doubling) so that ``size`` rows fit."""
        capacity = self._quality.shape[0]
        if size <= capacity:
            return
        new = max(size, 2 * capacity)
        words = np.zeros((_WORDS, new), dtype=np.uint64)
        words[:, : self._n] = self._words[:, : self._n]
        self._words = words
        self._quality = _grown(self._quality, new, self._n)
        self._time = _grown(self._time, new, self._n)
        self._item = _grown(self._item, new, self._n)
        self._artist = _grown(self._artist, new, self._n)

    # ---- read-only views

    def __len__(self) -> int:
        return self._n

    @property
    def hashes(self) -> np.ndarray:
        """``(N, 4)`` uint64 hash words (read-only view)."""
        return _readonly(self._words[:, : self._n].T)

    @property
    def qualities(self) -> np.ndarray:
        """``(N,)`` uint8 PDQ qualities, 0..100, higher = more reliable (read-only view)."""
        return _readonly(self._quality[: self._n])

    @property
    def uploaded_at(self) -> np.ndarray:
        """``(N,)`` int64 upload times, seconds since the Unix epoch (read-only view)."""
        return _readonly(self._time[: self._n])

    @property
    def item_ids(self) -> np.ndarray:
        """``(N,)`` object array of item ids (read-only view)."""
        return _readonly(self._item[: self._n])

    @property
    def artist_ids(self) -> np.ndarray:
        """``(N,)`` object array of artist ids (read-only view)."""
        return _readonly(self._artist[: self._n])

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (allocated capacity; the Python id strings
        referenced by the two object arrays are not included)."""
        buffers = (self._words, self._quality, self._time, self._item, self._artist)
        return sum(buffer.nbytes for buffer in buffers)

    # ---- search

    def query(
        self, pdq: PdqHash, max_distance: int = MATCH_DISTANCE, min_quality: int = MIN_QUALITY
    ) -> Matches:
        """Rows whose hash is within ``max_distance`` of ``pdq``.

        Parameters
        ----------
        pdq : PdqHash
            The query.
        max_distance : int
            0..256; rows at Hamming distance ``<=`` this match (lower = stricter).
        min_quality : int
            0..100; the query and every matched row need at least this quality.

        Returns
        -------
        Matches
            Nearest first; empty with ``low_quality=True`` for an unreliable query.
        """
        if not isinstance(pdq, PdqHash):
            raise TypeError(f"pdq is a {type(pdq).__name__}; expected PdqHash")
        _check_threshold(max_distance, min_quality)
        empty = np.zeros(0, dtype=np.int64)
        if pdq.quality < min_quality:
            return Matches(empty, empty, low_quality=True)
        rows, distances = self._scan(pdq.words, max_distance, min_quality)
        return Matches(rows, distances, low_quality=False)

    def query_many(
        self,
        hashes: np.ndarray,
        qualities: Any,
        max_distance: int = MATCH_DISTANCE,
        min_quality: int = MIN_QUALITY,
    ) -> BatchMatches:
        """Match M query hashes at once; see :meth:`query`.

        Parameters
        ----------
        hashes : numpy.ndarray
            ``(M, 4)`` uint64 words.
        qualities : array-like of int
            ``(M,)`` query qualities, 0..100.
        max_distance, min_quality : int
            As in :meth:`query`.

        Returns
        -------
        BatchMatches
            All pairs, grouped by query in input order, nearest first.

        Notes
        -----
        Cost is M full scans (about 2 ms each per million rows on one core); the
        memory held at once is one chunk's temporaries plus the pairs found.
        """
        words = _check_hashes(hashes, "hashes")
        quality = _check_qualities(qualities, words.shape[0])
        _check_threshold(max_distance, min_quality)
        low_quality = quality < min_quality
        found = [
            (position, *self._scan(words[position], max_distance, min_quality))
            for position in np.flatnonzero(~low_quality)
        ]
        query = [np.full(rows.shape[0], position, dtype=np.int64) for position, rows, _ in found]
        return BatchMatches(
            query=_concat(query),
            rows=_concat([rows for _, rows, _ in found]),
            distances=_concat([distances for _, _, distances in found]),
            low_quality=low_quality,
        )

    def _scan(
        self, query: np.ndarray, max_distance: int, min_quality: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """All rows within ``max_distance`` of one ``(4,)`` query with enough quality, sorted."""
        found_rows, found_distances = [], []
        for start in range(0, self._n, _CHUNK_ROWS):
            end = min(start + _CHUNK_ROWS, self._n)
            words = self._words[:, start:end]
            # Two words hold at most 128 differing bits, so uint8 cannot overflow; their
            # distance is a lower bound of the full one.
            partial = np.bitwise_count(words[0] ^ query[0])
            partial += np.bitwise_count(words[1] ^ query[1])
            candidates = np.flatnonzero(partial <= max_distance)
            distances = partial[candidates].astype(np.int64)
            distances += np.bitwise_count(words[2, candidates] ^ query[2])
            distances += np.bitwise_count(words[3, candidates] ^ query[3])
            rows = candidates + start
            keep = (distances <= max_distance) & (self._quality[rows] >= min_quality)
            found_rows.append(rows[keep])
            found_distances.append(distances[keep])
        rows, distances = _concat(found_rows), _concat(found_distances)
        order = np.lexsort((rows, distances))
        return rows[order], distances[order]


# ------------------------------------------------------------------ validation


def _check_hashes(hashes: Any, name: str) -> np.ndarray:
    array = np.asarray(hashes)
    if array.ndim != 2 or array.shape[1] != _WORDS or array.dtype != np.uint64:
        raise ValueError(
            f"{name} has shape {array.shape} and dtype {array.dtype}; expected (N, 4) uint64"
        )
    return array


def _check_qualities(qualities: Any, count: int) -> np.ndarray:
    array = np.asarray(qualities)
    if array.shape != (count,) or (array.size and array.dtype.kind not in "iu"):
        raise ValueError(
            f"qualities has shape {array.shape} and dtype {array.dtype}; "
            f"expected ({count},) integers"
        )
    if array.size and (array.min() < 0 or array.max() > MAX_QUALITY):
        raise ValueError(
            f"qualities span {array.min()}..{array.max()}; expected values in 0..{MAX_QUALITY}"
        )
    return array.astype(np.uint8)


def _check_threshold(max_distance: Any, min_quality: Any) -> None:
    check_int_range(max_distance, "max_distance", HASH_BITS)
    check_int_range(min_quality, "min_quality", MAX_QUALITY)


# ---------------------------------------------------------------------- helpers


def _grown(array: np.ndarray, size: int, used: int) -> np.ndarray:
    grown = np.zeros(size, dtype=array.dtype)
    grown[:used] = array[:used]
    return grown


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(parts).astype(np.int64, copy=False)
