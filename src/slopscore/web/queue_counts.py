"""The queue page's numbers: how many items match the active filter, how many carry each
kind of reason, and where the current page starts ("26–39 of 39").

Costs are kept bounded at 100,000 items and more:

- without a reason filter, the match count is an index count (status, score range) minus
  the "needs a look" lane's count (its items have no score, so they sit at the unscored end
  of the ``(status, triage_score, id)`` index); artist and claim filters use their own
  indexes. The index count is kept ``index_ttl_s`` seconds (10 s: at 100,000 items it
  costs milliseconds), the lane's is always fresh;
- a reason filter and the per-reason counts need the rows' reason text; one aggregate scan
  answers all of them, and its result is kept per filter (until this app records a decision
  or claim); after ``ttl_s`` seconds one background thread reads it again while pages show
  the previous value (they may lag that long behind other writers, such as the batch job);
- a page's position counts the index entries before its keyset cursor (less the "needs a
  look" items among them, counted through the unscored end of the score index), but at
  most :data:`POSITION_EXACT` of them, so that a deep page costs no more than a shallow one
  (keyset pages have no OFFSET). Deeper, the position the page links carry (``at``) is
  shown; it does not subtract items decided since the first page was read.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import case, func, or_, select, tuple_
from sqlalchemy.engine import Engine

from slopscore.review.schema import QueueItem
from slopscore.web.queue_query import COLUMNS, Cursor, Lane, QueueFilter, SortKey, reason_clause, where_clauses

__all__ = ["POSITION_EXACT", "REASON_KINDS", "FilterCounts", "QueueCounts"]

#: Kinds of reason counted on the queue page: (label, the reason filter's text). Each text is a
#: phrase of the batch job's reason wording (:mod:`slopscore.model.triage_reasons`).
REASON_KINDS = (
    ("detector", "detector:"),
    ("near-identical uploads", "near-identical"),
    ("upload burst", "uploads in the last hour"),
    ("unlike earlier works", "unlike"),
    ("file metadata", "file says"),
    ("Content Credentials", "Content Credentials"),
    ("declared AI use", "declared"),
    ("posted by other accounts", "posted by"),
    ("new artist", "new artist"),
)
_MAX_KEYS = 256
#: Rows before a page counted exactly for its position; deeper pages use the link's ``at``.
POSITION_EXACT = 10_000


@dataclass(frozen=True)
class FilterCounts:
    """How many items match a filter: ranked, in the "needs a look" lane, and per reason kind
    (label, filter text, count) among the ranked ones, most frequent first, zeros left out."""

    ranked: int
    needs_look: int
    reasons: tuple[tuple[str, str, int], ...]

    @property
    def total(self) -> int:
        return self.ranked + self.needs_look


def _count(engine: Engine, where: list, cap: int | None = None) -> int:
    """How many rows match ``where``; with ``cap``, counting stops there (an index range of at
    most ``cap`` entries)."""
    query = select(func.count()).select_from(QueueItem).where(*where)
    if cap is not None:
        query = select(func.count()).select_from(select(QueueItem.id).where(*where).limit(cap).subquery())
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _cache_key(flt: QueueFilter) -> tuple:
    return (tuple(sorted(flt.params(page_size=50, sort=QueueFilter().sort).items())),
            flt.viewer if flt.mine else None)


class QueueCounts:
    """Counts for the queue page (see the module's description).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The queue database.
    ttl_s : float
        How long a scanned result (reason filter, per-reason counts) is reused.
    index_ttl_s : float
        How long an index count (no reason filter) is reused.
    """

    def __init__(self, engine: Engine, ttl_s: float = 30.0, index_ttl_s: float = 10.0):
        self._engine, self._ttl_s, self._index_ttl_s = engine, ttl_s, index_ttl_s
        self._scanned: OrderedDict[tuple, tuple[float, int, int, tuple]] = OrderedDict()
        self._indexed: OrderedDict[tuple, tuple[float, int, int]] = OrderedDict()
        self._busy: set[tuple] = set()
        self._lock = threading.Lock()
        self._generation = 0

    def invalidate(self) -> None:
        """Forget scanned results (after a decision or claim recorded by this app)."""
        with self._lock:
            self._generation += 1
            self._scanned.clear()
            self._indexed.clear()

    def __call__(self, flt: QueueFilter) -> FilterCounts:
        """The counts for ``flt`` (its sort, page size and cursor do not matter)."""
        dialect = self._engine.dialect.name
        needs_look = _count(self._engine, where_clauses(flt, dialect, Lane.NEEDS_LOOK))
        scanned_ranked, reasons = self._scan(flt)
        if scanned_ranked is not None:
            ranked = scanned_ranked
        else:  # every item of the status (score range, artist, claims) less the lane's: index counts
            unscored_ok = flt.min_score is None and flt.max_score is None
            ranked = self._index_count(flt) - (needs_look if unscored_ok else 0)
        return FilterCounts(max(0, ranked), needs_look, reasons)

    def _index_count(self, flt: QueueFilter) -> int:
        """Items of both lanes matching ``flt`` (no reason filter): an index count, kept briefly."""
        key, now = _cache_key(flt), time.monotonic()
        with self._lock:
            cached = self._indexed.get(key)
            if cached is not None and now - cached[0] < self._index_ttl_s and cached[1] == self._generation:
                return cached[2]
            generation = self._generation
        count = _count(self._engine, where_clauses(flt, self._engine.dialect.name, None))
        with self._lock:
            if generation == self._generation:
                self._indexed[key] = (now, generation, count)
                while len(self._indexed) > _MAX_KEYS:
                    self._indexed.popitem(last=False)
        return count

    def _scan(self, flt: QueueFilter) -> tuple[int | None, tuple]:
        """(ranked count when a reason filter needs the text, else None; per-reason counts).

        A fresh result comes from the cache; a stale one too, while one background thread
        reads the new one; only a filter seen for the first time (or since a decision) waits.
        """
        key, now = _cache_key(flt), time.monotonic()
        with self._lock:
            cached = self._scanned.get(key)
            if cached is not None:
                self._scanned.move_to_end(key)
                if now - cached[0] >= self._ttl_s and key not in self._busy:
                    self._busy.add(key)
                    threading.Thread(target=self._refresh, args=(flt, key, self._generation), daemon=True).start()
                return (cached[2] if cached[2] >= 0 else None), cached[3]
            self._busy.add(key)
            generation = self._generation
        return self._refresh(flt, key, generation)

    def _refresh(self, flt: QueueFilter, key: tuple, generation: int) -> tuple[int | None, tuple]:
        """Scan for ``flt`` and keep the result (unless a decision came in meanwhile)."""
        began = time.monotonic()
        try:
            ranked, reasons = self._aggregate(flt)
        finally:
            with self._lock:
                self._busy.discard(key)
        with self._lock:
            if generation == self._generation:
                self._scanned[key] = (began, generation, -1 if ranked is None else ranked, reasons)
                while len(self._scanned) > _MAX_KEYS:
                    self._scanned.popitem(last=False)
        return ranked, reasons

    def _aggregate(self, flt: QueueFilter) -> tuple[int | None, tuple]:
        """One scan of the ranked rows matching ``flt``: their count and each kind's count."""
        dialect = self._engine.dialect.name
        where = where_clauses(flt, dialect, Lane.RANKED)
        sums = [func.sum(case((reason_clause(text, dialect), 1), else_=0)) for _, text in REASON_KINDS]
        with self._engine.connect() as connection:
            row = connection.execute(select(func.count(), *sums).select_from(QueueItem).where(*where)).one()
        kinds = sorted(((label, text, int(n or 0)) for (label, text), n in zip(REASON_KINDS, row[1:]) if n),
                       key=lambda k: -k[2])
        return (int(row[0]) if flt.reason else None), tuple(kinds)

    def position(self, flt: QueueFilter, after: Cursor | None, needs_look: int | None = None,
                 carried: int | None = None) -> int | None:
        """How many items of ``flt``'s list come before the page that starts after ``after``
        (the lane alone when ``flt.lane`` is the "needs a look" lane, else the ranked list).

        Counted exactly up to :data:`POSITION_EXACT`; deeper, ``carried`` (the ``at`` of the
        page link) when it is at least that, else None (unknown). ``needs_look`` is the lane's
        count for ``flt`` when known (0 saves its subtraction).
        """
        if after is None:
            return 0
        dialect, cap = self._engine.dialect.name, POSITION_EXACT
        look = where_clauses(flt, dialect, Lane.NEEDS_LOOK)
        if flt.lane is Lane.NEEDS_LOOK:
            counted, in_lane = _count(self._engine, look + [QueueItem.id >= after.id], cap), 0
        else:
            column = COLUMNS[flt.sort]
            both = where_clauses(flt, dialect, None)  # no lane test: the count stays in the sort's index
            # The lane's items have no triage score: none under a score bound or valued in the score order.
            no_lane = flt.min_score is not None or flt.max_score is not None or needs_look == 0
            if after.valued:
                before = [column.is_not(None), tuple_(column, QueueItem.id) >= tuple_(after.value, after.id)]
                counted = _count(self._engine, both + before, cap)
                in_lane = 0 if no_lane or flt.sort is SortKey.SCORE else _count(self._engine, look + before)
            else:
                valued = _count(self._engine, both + [column.is_not(None)], cap)
                nulls = _count(self._engine, both + [column.is_(None), QueueItem.id >= after.id], cap)
                counted = min(cap, valued + nulls)
                in_lane = 0 if no_lane else _count(self._engine, look + [  # one pass over the unscored rows
                    QueueItem.id >= after.id if flt.sort is SortKey.SCORE
                    else or_(column.is_not(None), QueueItem.id >= after.id)])
        if counted < cap:
            return max(0, counted - in_lane)
        return carried if carried is not None and carried >= cap - in_lane else None
