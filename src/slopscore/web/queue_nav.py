"""Moving through the queue one item at a time, in the moderator's own filter and order.

The queue page lists the "needs a look" lane first (most recently queued first), then the
ranked list (highest first, ties by id descending, NULLs last); a lane filter shows one of
them. :func:`neighbour` finds the item after (or before) a given one in that combined order
with one or two indexed keyset queries of ``LIMIT 1``, the same range scans as
:func:`~slopscore.web.queue_query.fetch_page`, so it costs the same at any depth. The given
item need not match the filter any more (it has just been decided): only its place counts.

Items another moderator holds an unexpired claim on are passed over: the viewer could not
decide them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import or_, select, tuple_
from sqlalchemy.engine import Connection, Engine

from slopscore.review.schema import QueueItem
from slopscore.review.validation import InvalidInput, utcnow
from slopscore.web.queue_query import COLUMNS, Lane, QueueFilter, where_clauses

__all__ = ["Place", "filter_of", "neighbour", "place_of"]


@dataclass(frozen=True)
class Place:
    """Where an item sits in the queue's orders: its id, lane and sort values."""

    id: int
    lane: Lane
    values: dict


def place_of(item: QueueItem) -> Place:
    """The :class:`Place` of a loaded queue item."""
    lane = Lane.NEEDS_LOOK if item.review_lane == Lane.NEEDS_LOOK.value else Lane.RANKED
    return Place(item.id, lane, {sort: getattr(item, column.key) for sort, column in COLUMNS.items()})


def filter_of(back: str, viewer: str) -> QueueFilter:
    """The filter of a queue page URL (``back``, already checked to be one), for ``viewer``;
    the default filter when the URL's parameters are not valid."""
    try:
        flt = QueueFilter.from_params(dict(parse_qsl(urlsplit(back).query)))
    except InvalidInput:
        flt = QueueFilter()
    return replace(flt, viewer=viewer)


def _decidable(viewer: str | None, now: datetime) -> list:
    """Not held by someone else (unclaimed, the viewer's own, or expired)."""
    if not viewer:
        return [or_(QueueItem.claimed_by.is_(None), QueueItem.claimed_until <= now)]
    return [or_(QueueItem.claimed_by.is_(None), QueueItem.claimed_by == viewer, QueueItem.claimed_until <= now)]


def _first(connection: Connection, where: list, order: list) -> int | None:
    return connection.execute(select(QueueItem.id).where(*where).order_by(*order).limit(1)).scalar_one_or_none()


def _ranked(connection: Connection, flt: QueueFilter, where: list, place: Place | None,
            forward: bool) -> int | None:
    """The ranked item after (``forward``) or before ``place``; None ``place``: the first
    (forward) or last (backward) ranked item."""
    column = COLUMNS[flt.sort]
    value = None if place is None else place.values[flt.sort]
    valued, nulls = where + [column.is_not(None)], where + [column.is_(None)]
    if forward:
        if place is None:
            return _first(connection, valued, [column.desc(), QueueItem.id.desc()]) \
                or _first(connection, nulls, [QueueItem.id.desc()])
        if value is not None:
            found = _first(connection, valued + [tuple_(column, QueueItem.id) < tuple_(value, place.id)],
                           [column.desc(), QueueItem.id.desc()])
            if found is not None:
                return found
            return _first(connection, nulls, [QueueItem.id.desc()])
        return _first(connection, nulls + [QueueItem.id < place.id], [QueueItem.id.desc()])
    if place is None:
        return _first(connection, nulls, [QueueItem.id.asc()]) \
            or _first(connection, valued, [column.asc(), QueueItem.id.asc()])
    if value is not None:
        return _first(connection, valued + [tuple_(column, QueueItem.id) > tuple_(value, place.id)],
                      [column.asc(), QueueItem.id.asc()])
    found = _first(connection, nulls + [QueueItem.id > place.id], [QueueItem.id.asc()])
    return found if found is not None else _first(connection, valued, [column.asc(), QueueItem.id.asc()])


def neighbour(engine: Engine, flt: QueueFilter, place: Place, *, forward: bool = True) -> int | None:
    """The id of the item after (or before) ``place`` in ``flt``'s list, or None at its end.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The queue database.
    flt : QueueFilter
        The moderator's filter and order (``viewer`` set: their claims do not block them).
    place : Place
        The current item's place (see :func:`place_of`).
    forward : bool
        True for the next item, False for the previous one.
    """
    now, dialect = utcnow(), engine.dialect.name
    ranked = where_clauses(flt, dialect, Lane.RANKED) + _decidable(flt.viewer, now)
    look = where_clauses(flt, dialect, Lane.NEEDS_LOOK) + _decidable(flt.viewer, now)
    with engine.connect() as connection:
        if flt.lane is Lane.NEEDS_LOOK or (flt.lane is None and place.lane is Lane.NEEDS_LOOK):
            if place.lane is not Lane.NEEDS_LOOK:  # not in this lane: start it from the top
                return _first(connection, look, [QueueItem.id.desc()]) if forward else None
            step = QueueItem.id < place.id if forward else QueueItem.id > place.id
            found = _first(connection, look + [step], [QueueItem.id.desc() if forward else QueueItem.id.asc()])
            if found is not None or flt.lane is Lane.NEEDS_LOOK or not forward:
                return found
            return _ranked(connection, flt, ranked, None, True)  # the lane is done: the ranked list
        if place.lane is Lane.NEEDS_LOOK:  # the ranked lane alone, from an item that is not in it
            return _ranked(connection, flt, ranked, None, True) if forward else None
        found = _ranked(connection, flt, ranked, place, forward)
        if found is None and not forward and flt.lane is None:  # before the ranked list: the lane's last
            return _first(connection, look, [QueueItem.id.asc()])
        return found
