"""The queue page's query: validated filters and keyset pagination (no OFFSET).

Every sort is descending on one column, ties broken by ``id`` descending, rows whose
sort value is NULL last. A page is read in two phases so that both SQLite and
PostgreSQL walk the ``(status, <column>, id)`` indexes of
:class:`~slopscore.review.schema.QueueItem` in order: first rows with a value,
``(column, id) < (last value, last id)``; then rows without one, ``id < last id``.
The cursor names the phase, the last value and the last id, so page N costs the
same as page 1 however deep it is.

Items in the "needs a look" lane (files that could not be scored but may still display,
see :data:`slopscore.review.ingest.NEEDS_LOOK_REASONS`) are never part of that order: they
have no score, so they would sink to its end. They are listed on their own, most recently
queued first, through the unscored end of the ``(status, triage_score, id)`` index.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import Enum

from sqlalchemy import false, func, or_, select, tuple_
from sqlalchemy.engine import Engine

from slopscore.review.ingest import Lane
from slopscore.review.schema import QueueItem, Status
from slopscore.review.validation import InvalidInput, clean_text, utcnow

__all__ = ["COLUMNS", "Cursor", "Lane", "PAGE_SIZES", "QueueFilter", "QueuePage", "QueueRow", "SortKey",
           "count_needs_look", "fetch_page", "json_texts", "reason_clause", "where_clauses"]

PAGE_SIZES = (25, 50, 100)
MAX_REASON_CHARS = 100
MAX_ARTIST_CHARS = 200
_MAX_CURSOR_CHARS = 400


class SortKey(str, Enum):
    """Queue orders, each highest first."""

    SCORE = "score"  # triage score: estimated chance a reviewer confirms a concern
    NEWEST = "newest"  # upload time
    P_AI = "p_ai"  # detector's calibrated P(AI-generated)
    OUTLIER = "outlier"  # distance from the artist's own earlier works (z-score)

    @property
    def label(self) -> str:
        return {"score": "Triage score", "newest": "Newest", "p_ai": "P(AI)",
                "outlier": "Portfolio outlier"}[self.value]


COLUMNS = {SortKey.SCORE: QueueItem.triage_score, SortKey.NEWEST: QueueItem.uploaded_at,
            SortKey.P_AI: QueueItem.p_ai, SortKey.OUTLIER: QueueItem.portfolio_outlier}


def _number(params: Mapping[str, str], name: str) -> float | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number between 0 and 1") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{name} must be a number between 0 and 1")
    return value


@dataclass(frozen=True)
class QueueFilter:
    """What the queue page shows: one status, a sort, optional filters, a page size.

    ``min_score``/``max_score`` bound the triage score in [0, 1] (inclusive; ranked items
    without a score are then left out; they never apply to the "needs a look" lane, which
    has no scores). ``reason`` matches reason and provenance text (case-insensitive
    substring); ``artist`` is an exact artist id. ``lane`` None shows the "needs a look"
    lane above the ranked list; a lane shows that lane alone. ``mine`` keeps the items
    ``viewer`` holds an unexpired claim on; ``viewer`` (the signed-in moderator) is set by
    the page, never read from a URL.
    """

    status: Status = Status.PENDING
    sort: SortKey = SortKey.SCORE
    min_score: float | None = None
    max_score: float | None = None
    reason: str | None = None
    artist: str | None = None
    page_size: int = 50
    lane: Lane | None = None
    mine: bool = False
    viewer: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> "QueueFilter":
        """Parse query parameters; raises :class:`InvalidInput` with a plain message."""
        try:
            status = Status(params.get("status") or Status.PENDING.value)
        except ValueError:
            raise InvalidInput("unknown status") from None
        try:
            sort = SortKey(params.get("sort") or SortKey.SCORE.value)
        except ValueError:
            raise InvalidInput("unknown sort") from None
        min_score, max_score = _number(params, "min_score"), _number(params, "max_score")
        if min_score is not None and max_score is not None and min_score > max_score:
            raise InvalidInput("min_score is above max_score")
        try:
            size = int(params.get("size") or 50)
        except ValueError:
            raise InvalidInput(f"size is one of {PAGE_SIZES}") from None
        if size not in PAGE_SIZES:
            raise InvalidInput(f"size is one of {PAGE_SIZES}")
        reason = clean_text(params.get("reason"), "reason", MAX_REASON_CHARS, multiline=False)
        artist = clean_text(params.get("artist"), "artist", MAX_ARTIST_CHARS, multiline=False)
        try:
            lane = Lane(params["lane"]) if params.get("lane") else None
        except ValueError:
            raise InvalidInput("unknown lane") from None
        if (params.get("mine") or "") not in ("", "1"):
            raise InvalidInput("mine is 1 or absent")
        return cls(status, sort, min_score, max_score, reason, artist, size, lane, params.get("mine") == "1")

    def params(self, **changes) -> dict[str, str]:
        """Query parameters that reproduce this filter (defaults left out)."""
        current = replace(self, **changes) if changes else self
        default = QueueFilter()
        names = {"status": "status", "sort": "sort", "min_score": "min_score",
                 "max_score": "max_score", "reason": "reason", "artist": "artist", "page_size": "size",
                 "lane": "lane", "mine": "mine"}
        out = {}
        for field in fields(self):
            value = getattr(current, field.name)
            if field.name in names and value is not None and value != getattr(default, field.name):
                out[names[field.name]] = (value.value if isinstance(value, Enum)
                                          else "1" if value is True else str(value))
        return out


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after (``value``, ``id``) in the valued phase, or after
    ``id`` among NULL-valued rows (``valued`` False)."""

    sort: SortKey
    valued: bool
    value: float | datetime | None
    id: int

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.sort.value, int(self.valued), value, self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None, sort: SortKey) -> "Cursor | None":
        """Parse a cursor from a URL; raises :class:`InvalidInput` on anything malformed
        or made for another sort."""
        if not text:
            return None
        try:
            if len(text) > _MAX_CURSOR_CHARS:
                raise ValueError
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            sort_value, valued, value, last_id = json.loads(raw)
            if sort_value != sort.value or valued not in (0, 1) or type(last_id) is not int \
                    or not 0 <= last_id < 2**31:
                raise ValueError
            if not valued:
                value = None
            elif sort is SortKey.NEWEST:
                value = datetime.fromisoformat(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value):
                value = float(value)
            else:
                raise ValueError
        except (ValueError, TypeError, json.JSONDecodeError):
            raise InvalidInput("the page link is not valid; start from the first page") from None
        return cls(sort, bool(valued), value, last_id)


@dataclass(frozen=True)
class QueueRow:
    """One row of the queue page (only the columns the page shows)."""

    id: int
    item_id: str
    artist_id: str | None
    title: str | None
    uploaded_at: datetime | None
    triage_score: float | None
    p_ai: float | None
    portfolio_outlier: float | None
    cold_start: bool | None
    skip_reason: str | None
    reasons: list[str]
    provenance_reasons: list[str]
    status: str
    claimed_by: str | None
    claimed_until: datetime | None
    model_version: str
    breakdown: str | None = None


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None


_ROW_COLUMNS = (QueueItem.id, QueueItem.item_id, QueueItem.artist_id, QueueItem.title,
                QueueItem.uploaded_at, QueueItem.triage_score, QueueItem.p_ai,
                QueueItem.portfolio_outlier, QueueItem.cold_start, QueueItem.skip_reason,
                QueueItem.reasons, QueueItem.provenance_reasons, QueueItem.status,
                QueueItem.claimed_by, QueueItem.claimed_until, QueueItem.model_version, QueueItem.breakdown)


def json_texts(raw: str | None, limit: int = 20) -> list[str]:
    """A stored JSON list of strings, tolerant of damage: non-strings and junk dropped."""
    try:
        values = json.loads(raw or "[]")
    except (ValueError, TypeError):
        return []
    if not isinstance(values, list):
        return []
    return [v[:500] for v in values if isinstance(v, str)][:limit]


def _like_patterns(text: str) -> set[str]:
    """LIKE patterns (escape character ``!``) matching ``text`` inside stored JSON strings,
    whether non-ASCII characters were written as ``\\u`` escapes or as they are."""
    forms = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    return {"%" + f.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%" for f in forms}


def reason_clause(text: str, dialect: str):
    """Reason or provenance text contains ``text`` (case-insensitive), as the reason filter."""
    # SQLite's LIKE ignores ASCII case by itself (and the stored JSON is ASCII); ILIKE
    # there would lower() every row's text.
    match = "like" if dialect == "sqlite" else "ilike"
    return or_(*(getattr(column, match)(pattern, escape="!")
                 for pattern in sorted(_like_patterns(text))
                 for column in (QueueItem.reasons, QueueItem.provenance_reasons)))


def where_clauses(flt: QueueFilter, dialect: str, lane: Lane | None) -> list:
    """The WHERE conditions of ``flt`` for one lane (``dialect`` picks LIKE or ILIKE); lane
    None tests no lane (both lanes; a score bound then leaves the unscored lane out)."""
    where = [QueueItem.status == flt.status.value]
    if flt.mine:  # few rows: at most max_open_claims per moderator
        where += ([QueueItem.claimed_by == flt.viewer, QueueItem.claimed_until > utcnow()]
                  if flt.viewer else [false()])
    if lane is Lane.NEEDS_LOOK:  # unscored by construction: the unscored end of the score index
        where += [QueueItem.triage_score.is_(None), QueueItem.review_lane == Lane.NEEDS_LOOK.value]
    else:
        if lane is Lane.RANKED:
            where.append(QueueItem.review_lane != Lane.NEEDS_LOOK.value)
        if flt.min_score is not None:
            where.append(QueueItem.triage_score >= flt.min_score)
        if flt.max_score is not None:
            where.append(QueueItem.triage_score <= flt.max_score)
    if flt.artist:
        where.append(QueueItem.artist_id == flt.artist)
    if flt.reason:
        where.append(reason_clause(flt.reason, dialect))
    return where


def _row(record) -> QueueRow:
    values = dict(record._mapping)
    values["reasons"] = json_texts(values["reasons"])
    values["provenance_reasons"] = json_texts(values["provenance_reasons"])
    return QueueRow(**values)


def fetch_page(engine: Engine, flt: QueueFilter, after: Cursor | None = None) -> QueuePage:
    """One page of the queue in ``flt``'s order, starting after ``after``.

    Two indexed range scans at most (valued rows, then NULL-valued rows); no OFFSET. Without
    a lane, or with ``ranked``, this is the ranked list; with ``needs_look``, that lane alone
    (most recently queued first, whatever the sort).
    """
    if flt.lane is Lane.NEEDS_LOOK:
        return _needs_look_page(engine, flt, after)
    column = COLUMNS[flt.sort]
    where = where_clauses(flt, engine.dialect.name, Lane.RANKED)
    limit = flt.page_size + 1  # one extra row says whether a next page exists
    records: list = []
    with engine.connect() as connection:
        if after is None or after.valued:
            query = select(*_ROW_COLUMNS).where(*where, column.is_not(None))
            if after is not None:
                query = query.where(tuple_(column, QueueItem.id) < tuple_(after.value, after.id))
            query = query.order_by(column.desc(), QueueItem.id.desc()).limit(limit)
            records = connection.execute(query).all()
        scores_required = flt.min_score is not None or flt.max_score is not None
        if len(records) < limit and not (scores_required and flt.sort is SortKey.SCORE):
            query = select(*_ROW_COLUMNS).where(*where, column.is_(None))
            if after is not None and not after.valued:
                query = query.where(QueueItem.id < after.id)
            query = query.order_by(QueueItem.id.desc()).limit(limit - len(records))
            records += connection.execute(query).all()
    rows = [_row(r) for r in records[:flt.page_size]]
    next_cursor = None
    if len(records) > flt.page_size:
        last = rows[-1]
        value = getattr(last, {SortKey.SCORE: "triage_score", SortKey.NEWEST: "uploaded_at",
                               SortKey.P_AI: "p_ai", SortKey.OUTLIER: "portfolio_outlier"}[flt.sort])
        next_cursor = Cursor(flt.sort, value is not None, value, last.id).encode()
    return QueuePage(rows, next_cursor)


def _needs_look_page(engine: Engine, flt: QueueFilter, after: Cursor | None) -> QueuePage:
    """A page of the "needs a look" lane, most recently queued first (one index range scan)."""
    query = select(*_ROW_COLUMNS).where(*where_clauses(flt, engine.dialect.name, Lane.NEEDS_LOOK))
    if after is not None:
        query = query.where(QueueItem.id < after.id)
    with engine.connect() as connection:
        records = connection.execute(query.order_by(QueueItem.id.desc()).limit(flt.page_size + 1)).all()
    rows = [_row(r) for r in records[:flt.page_size]]
    more = len(records) > flt.page_size
    return QueuePage(rows, Cursor(flt.sort, False, None, rows[-1].id).encode() if more else None)


def count_needs_look(engine: Engine, flt: QueueFilter) -> int:
    """How many items of ``flt``'s status (and artist and reason filters) need a look; counts
    through the unscored end of the score index, so it costs what that lane holds."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(QueueItem).where(
            *where_clauses(flt, engine.dialect.name, Lane.NEEDS_LOOK))).scalar_one())
