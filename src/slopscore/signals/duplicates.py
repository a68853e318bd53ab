"""Near-duplicate detection with PDQ perceptual hashes.

Two different signals come out of this module, and they must stay apart:

* **within-artist duplicates** -- one artist uploading many near-identical images
  (mass production, a policy concern);
* **cross-account duplicates** -- the same image posted by several members, as in a
  protest or a repost. This is reported as its own reason and is never, by itself,
  evidence that an image was generated.

Numbers and their directions
----------------------------
* PDQ hash: 256 bits, stored as 32 bytes or four ``uint64`` words.
* Hamming distance: integer in 0..256, **lower = more similar** (0 = identical bits;
  unrelated images sit near 128).
* PDQ quality: integer in 0..100, **higher = more reliable**. Flat, blank or tiny
  images score low; their hashes say little and never produce a match here.
* A pair matches when its distance is ``<= MATCH_DISTANCE`` (31) and both qualities are
  ``>= MIN_QUALITY`` (50), the convention of Meta's Hasher-Matcher-Actioner; both are
  arguments of every call.

Typical use by the scorer::

    index = PdqIndex.from_arrays(hashes, qualities, item_ids, artist_ids, uploaded_at)
    near = find_near_duplicates(index, rows=todays_rows)
    burst = within_artist_duplicates(index, near, window=timedelta(hours=1))
    reposts = cross_account_duplicates(index, near)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import numpy as np
import pdqhash
from PIL import Image

__all__ = [
    "HASH_BITS",
    "HASH_SIDE",
    "MATCH_DISTANCE",
    "MAX_QUALITY",
    "MIN_QUALITY",
    "BatchMatches",
    "DuplicateEvidence",
    "DuplicateKind",
    "Matches",
    "NearDuplicates",
    "PdqHash",
    "PdqIndex",
    "cross_account_duplicates",
    "find_near_duplicates",
    "pdq_hash",
    "within_artist_duplicates",
]

#: Bits in a PDQ hash; the largest possible Hamming distance.
HASH_BITS = 256
#: Largest PDQ quality.
MAX_QUALITY = 100
#: Default match threshold: Hamming distance at or below this is a near-duplicate.
MATCH_DISTANCE = 31
#: Default reliability floor: hashes with a lower quality never match.
MIN_QUALITY = 50
#: Images are box-downscaled so that neither side exceeds this before hashing. PDQ
#: reduces every image to 64x64 anyway; the reference hasher downsamples to 512 first
#: for the same reason (its Jarosz filter costs time proportional to the pixel count).
HASH_SIDE = 512

_WORDS = 4
_MIN_SIDE = 5
# Rows scanned per step: bounds the temporaries of one query to a few MB at any N.
_CHUNK_ROWS = 1 << 18
_DEFAULT_MAX_IDS = 10


# --------------------------------------------------------------------------- hashing


@dataclass(frozen=True)
class PdqHash:
    """One PDQ hash and its quality.

    Attributes
    ----------
    digest : bytes
        The 256 hash bits packed into 32 bytes, most significant bit first (the first
        element of ``pdqhash``'s bit vector is the top bit of ``digest[0]``).
    quality : int
        0..100, higher = the hash is more reliable; below ``MIN_QUALITY`` (50) the
        hash never matches.
    """

    digest: bytes
    quality: int

    def __post_init__(self) -> None:
        if not isinstance(self.digest, bytes):
            kind = type(self.digest).__name__
            raise TypeError(f"digest is a {kind}; expected {HASH_BITS // 8} bytes")
        if len(self.digest) != HASH_BITS // 8:
            raise ValueError(f"digest has {len(self.digest)} bytes; expected {HASH_BITS // 8}")
        _check_quality_value(self.quality, "quality")

    @classmethod
    def from_hex(cls, text: str, quality: int) -> PdqHash:
        """Parse the 64-hex-digit form written by :attr:`hex`."""
        if len(text) != HASH_BITS // 4:
            raise ValueError(f"hex hash has {len(text)} characters; expected {HASH_BITS // 4}")
        return cls(bytes.fromhex(text), quality)

    @property
    def hex(self) -> str:
        """The hash as 64 lowercase hex digits."""
        return self.digest.hex()

    @property
    def words(self) -> np.ndarray:
        """The hash as four native ``uint64`` words, ``digest[0:8]`` first (a new array)."""
        return np.frombuffer(self.digest, dtype=">u8").astype(np.uint64)

    def distance(self, other: PdqHash) -> int:
        """Hamming distance to ``other``: 0..256, lower = more similar."""
        return int(np.bitwise_count(self.words ^ other.words).sum())


def pdq_hash(image: Image.Image) -> PdqHash:
    """PDQ-hash an RGB image.

    Images with a side above :data:`HASH_SIDE` (512) are first box-downscaled so that
    neither side exceeds it (aspect ratio is irrelevant: PDQ squeezes every image to
    64x64). This makes hashing several times faster at large sizes and keeps hashes of
    resized copies close.

    Parameters
    ----------
    image : PIL.Image.Image
        RGB pixels, e.g. ``load_image(path).image``.

    Returns
    -------
    PdqHash
        Hash bits plus quality 0..100 (higher = more reliable). Flat images get
        quality 0; images under 5 pixels on a side get the all-zero hash and quality 0.

    Raises
    ------
    ValueError
        If the image is not in mode ``"RGB"`` (decode with
        :func:`slopscore.media.decode.load_image`, which composites transparency onto white).
    """
    if image.mode != "RGB":
        raise ValueError(f"image has mode {image.mode!r}; expected 'RGB' (use images.load_image)")
    width, height = image.size
    if min(width, height) < _MIN_SIDE:
        # Nothing to measure (pdqhash also answers quality 0 here, and fails at 0 px).
        return PdqHash(bytes(HASH_BITS // 8), 0)
    if width > HASH_SIDE or height > HASH_SIDE:
        # reducing_gap=1.0 lets Pillow shrink by an integer factor first (fast), then box-filter.
        target = (min(width, HASH_SIDE), min(height, HASH_SIDE))
        image = image.resize(target, Image.Resampling.BOX, reducing_gap=1.0)
    bits, quality = pdqhash.compute(np.asarray(image, dtype=np.uint8))
    return PdqHash(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes(), int(quality))


# ---------------------------------------------------------------------------- index


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
        items = _check_ids(item_ids, count, "item_ids")
        artists = _check_ids(artist_ids, count, "artist_ids")
        times = _epoch_seconds(uploaded_at, count)
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


# ------------------------------------------------------------- duplicate evidence


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
    selected = _check_rows(rows, len(index))
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
    if not _is_int(max_ids) or max_ids < 0:
        raise ValueError(f"max_ids is {max_ids!r}; expected an integer >= 0")
    window_seconds = _window_seconds(window)

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


def _check_quality_value(value: Any, name: str) -> None:
    if not _is_int(value) or not 0 <= value <= MAX_QUALITY:
        raise ValueError(f"{name} is {value!r}; expected an integer in 0..{MAX_QUALITY}")


def _check_threshold(max_distance: Any, min_quality: Any) -> None:
    if not _is_int(max_distance) or not 0 <= max_distance <= HASH_BITS:
        raise ValueError(f"max_distance is {max_distance!r}; expected an integer in 0..{HASH_BITS}")
    _check_quality_value(min_quality, "min_quality")


def _check_ids(ids: Any, count: int, name: str) -> np.ndarray:
    array = np.empty(len(ids), dtype=object)
    array[:] = list(ids)
    if array.shape != (count,):
        raise ValueError(f"{name} has {array.shape[0]} entries; expected {count}")
    return array


def _check_rows(rows: Any, size: int) -> np.ndarray:
    if rows is None:
        return np.arange(size, dtype=np.int64)
    array = np.asarray(rows)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValueError(
            f"rows has shape {array.shape} and dtype {array.dtype}; expected 1-D integers"
        )
    if array.size and (array.min() < 0 or array.max() >= size):
        raise ValueError(
            f"rows span {array.min()}..{array.max()}; the index has rows 0..{size - 1}"
        )
    return array.astype(np.int64)


def _epoch_seconds(values: Any, count: int) -> np.ndarray:
    """Upload times as int64 seconds since the Unix epoch."""
    array = np.asarray(values)
    if array.shape != (count,):
        raise ValueError(f"uploaded_at has shape {array.shape}; expected ({count},)")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind == "M":
        missing = np.flatnonzero(np.isnat(array))
        if missing.size:
            raise ValueError(f"uploaded_at has NaT at position {int(missing[0])}")
        return array.astype("datetime64[s]").astype(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype == object:
        for position, value in enumerate(array):
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(
                    f"uploaded_at[{position}] is {value!r}; expected a timezone-aware datetime"
                )
        return np.array([int(value.timestamp() // 1) for value in array], dtype=np.int64)
    raise ValueError(
        f"uploaded_at has dtype {array.dtype}; expected datetime64, integer seconds or datetimes"
    )


def _window_seconds(window: timedelta | np.timedelta64 | int | None) -> int | None:
    if window is None:
        return None
    if isinstance(window, timedelta):
        seconds = window.total_seconds()
    elif isinstance(window, np.timedelta64):
        seconds = window / np.timedelta64(1, "s")
    elif _is_int(window):
        seconds = int(window)
    else:
        raise ValueError(f"window is {window!r}; expected a timedelta or integer seconds")
    if not seconds >= 0:
        raise ValueError(f"window is {seconds} seconds; expected >= 0")
    return int(seconds)


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
