"""The policy's decisions: its state machine, claims, deciding, the audit log and histories.

The policy's enforcement is human and gentle. A moderator dismisses an item ("no
concern"), notifies the member privately (explaining the concern and asking for
replacement media or a clarification), records how that was resolved, or escalates
a repeat violation; any decision can be reopened with a reason. Nothing here removes,
hides, demotes or deletes anything: a decision changes an item's review ``status`` and
appends one row to the audit log (:class:`~slopscore.review.schema.Decision`), which is
never updated or deleted. A ``notify`` decision also writes its message to the outbox
(:mod:`slopscore.review.outbox`) in the same transaction.

Two moderators can never both decide one item. A moderator *claims* an item for a
while by asking to (:func:`claim_item`, the item page's "Claim" button; opening the page
claims nothing), at most ``max_open`` items at a time; :func:`decide` is one transaction
whose conditional ``UPDATE`` only matches an item that is in a state the action is
allowed from and not claimed, unexpired, by someone else (deciding an unclaimed item
claims it with the decision). Databases serialise concurrent updates of one row, so at
most one of two racing decisions matches; the other gets a :class:`ClaimConflict` or
:class:`InvalidTransition` and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from slopscore.review.messages import MAX_MESSAGE_CHARS
from slopscore.review.outbox import queue_member_message, withdraw_queued
from slopscore.review.schema import Action, Decision, Outcome, QueueItem, Status
from slopscore.review.validation import (
    InvalidInput,
    ItemNotFound,
    ModerationError,
    as_utc,
    clean_text,
    utcnow,
)

__all__ = [
    "ALLOWED_FROM",
    "ArtistHistory",
    "Claim",
    "ClaimConflict",
    "ClaimLimitReached",
    "DecisionRecord",
    "DEFAULT_CLAIM_SECONDS",
    "DEFAULT_MAX_OPEN_CLAIMS",
    "InvalidTransition",
    "MAX_CLAIM_SECONDS",
    "MAX_NOTE_CHARS",
    "OPEN_STATUSES",
    "allowed_actions",
    "artist_history",
    "audit_log",
    "claim_item",
    "decide",
    "item_history",
    "latest_per_item",
    "release_claim",
]

#: How long a claim holds an item for its moderator, unless configured otherwise.
DEFAULT_CLAIM_SECONDS = 15 * 60
#: Unexpired claims one moderator may hold at once, unless configured otherwise.
DEFAULT_MAX_OPEN_CLAIMS = 5
MAX_CLAIM_SECONDS = 24 * 3600
MAX_NOTE_CHARS = 2000

#: The statuses each action may be taken from (the policy's state machine). Decided items
#: (dismissed, resolved, escalated) take no further action until a moderator reopens them.
ALLOWED_FROM: dict[Action, frozenset[Status]] = {
    Action.NO_CONCERN: frozenset({Status.PENDING}),
    Action.NOTIFY: frozenset({Status.PENDING, Status.REPLY_RECEIVED}),
    Action.ESCALATE: frozenset({Status.PENDING, Status.NOTIFIED, Status.REPLY_RECEIVED}),
    Action.RESOLVED_REPLACED: frozenset({Status.NOTIFIED, Status.REPLY_RECEIVED}),
    Action.RESOLVED_CLARIFIED: frozenset({Status.NOTIFIED, Status.REPLY_RECEIVED}),
    Action.REOPEN: frozenset({Status.NOTIFIED, Status.REPLY_RECEIVED, Status.DISMISSED,
                              Status.RESOLVED, Status.ESCALATED}),
}
#: Statuses in which an item can still be claimed and decided.
OPEN_STATUSES = frozenset({Status.PENDING, Status.NOTIFIED, Status.REPLY_RECEIVED})


class InvalidTransition(ModerationError):
    """The action is not allowed from the item's current status (e.g. already decided)."""

    def __init__(self, status: str, action: Action | None = None):
        what = f"{action.label!r} is not possible" if action else "it cannot be claimed"
        super().__init__(f"this item is {status}; {what}")
        self.status = status
        self.action = action


class ClaimConflict(ModerationError):
    """Another moderator holds the item, or the deciding moderator's claim has lapsed."""

    def __init__(self, claimed_by: str | None, claimed_until: datetime | None):
        if claimed_by:
            until = as_utc(claimed_until)
            when = until.strftime("%H:%M UTC") if until else "later"
            message = f"claimed by {claimed_by} until {when}"
        else:
            message = "the item's claim changed meanwhile; reload it and try again"
        super().__init__(message)
        self.claimed_by = claimed_by
        self.claimed_until = as_utc(claimed_until)


class ClaimLimitReached(ModerationError):
    """The moderator already holds the most unexpired claims allowed."""

    def __init__(self, limit: int):
        super().__init__(f"you already hold {limit} open claim{'s' * (limit != 1)}, the most allowed; "
                         "decide or release one of them first")
        self.limit = limit


@dataclass(frozen=True)
class Claim:
    """A moderator's hold on one item until ``until`` (UTC)."""

    queue_item_id: int
    moderator: str
    until: datetime


@dataclass(frozen=True)
class DecisionRecord:
    """One audit-log row as written; ``triage_score`` is the score at decision time."""

    id: int
    queue_item_id: int
    item_id: str
    artist_id: str | None
    action: Action
    outcome: Outcome
    moderator: str
    decided_at: datetime
    model_version: str
    triage_score: float | None
    p_ai: float | None
    message: str | None
    note: str | None


# ---------------------------------------------------------------- claims


_STATUS_VALUES = frozenset(s.value for s in Status)


def allowed_actions(status: str) -> list[Action]:
    """The actions the policy allows from ``status``, in button order (none once decided)."""
    if status not in _STATUS_VALUES:
        return []
    return [a for a in Action if Status(status) in ALLOWED_FROM[a]]


def _claim_seconds(claim_seconds: int) -> int:
    if not isinstance(claim_seconds, int) or not 1 <= claim_seconds <= MAX_CLAIM_SECONDS:
        raise InvalidInput(f"a claim lasts 1 to {MAX_CLAIM_SECONDS} seconds")
    return claim_seconds


def claim_item(engine: Engine, queue_item_id: int, moderator: str, claim_seconds: int = DEFAULT_CLAIM_SECONDS,
               *, now: datetime | None = None, max_open: int | None = None) -> Claim:
    """Hold an open item for ``moderator`` for ``claim_seconds`` (renews their own claim).

    A conditional UPDATE: it matches only an item that is pending or notified and is
    unclaimed, whose claim has expired, or that ``moderator`` already holds, and (with
    ``max_open``) only while ``moderator`` holds fewer than ``max_open`` other unexpired
    claims.

    Raises
    ------
    ItemNotFound
        No such item.
    InvalidTransition
        The item is already decided (dismissed, resolved or escalated).
    ClaimConflict
        Another moderator holds an unexpired claim.
    ClaimLimitReached
        ``moderator`` already holds ``max_open`` other unexpired claims.
    """
    now = now or utcnow()
    until = now + timedelta(seconds=_claim_seconds(claim_seconds))
    if max_open is not None and (not isinstance(max_open, int) or max_open < 1):
        raise InvalidInput("the open-claims limit is at least 1")
    where = [QueueItem.id == queue_item_id, QueueItem.status.in_([s.value for s in OPEN_STATUSES]),
             or_(QueueItem.claimed_by.is_(None), QueueItem.claimed_until.is_(None),
                 QueueItem.claimed_until <= now, QueueItem.claimed_by == moderator)]
    if max_open is not None:
        held = aliased(QueueItem)
        where.append(select(func.count()).select_from(held)
                     .where(held.claimed_by == moderator, held.claimed_until > now, held.id != queue_item_id)
                     .scalar_subquery() < max_open)
    with engine.begin() as connection:
        result = connection.execute(update(QueueItem).where(*where)
                                    .values(claimed_by=moderator, claimed_until=until))
        if result.rowcount == 1:
            return Claim(queue_item_id, moderator, until)
        row = connection.execute(select(QueueItem.status, QueueItem.claimed_by,
                                        QueueItem.claimed_until)
                                 .where(QueueItem.id == queue_item_id)).first()
    if row is None:
        raise ItemNotFound(f"no queue item {queue_item_id}")
    if row.status not in {s.value for s in OPEN_STATUSES}:
        raise InvalidTransition(row.status)
    held_until = as_utc(row.claimed_until)
    if max_open is None or (row.claimed_by and row.claimed_by != moderator
                            and held_until is not None and held_until > now):
        raise ClaimConflict(row.claimed_by, row.claimed_until)
    raise ClaimLimitReached(max_open)


def release_claim(engine: Engine, queue_item_id: int, moderator: str) -> bool:
    """Give up ``moderator``'s claim on an item; False when they held none."""
    with engine.begin() as connection:
        result = connection.execute(
            update(QueueItem)
            .where(QueueItem.id == queue_item_id, QueueItem.claimed_by == moderator)
            .values(claimed_by=None, claimed_until=None)
        )
    return result.rowcount == 1


# ---------------------------------------------------------------- decisions


def decide(engine: Engine, queue_item_id: int, action: Action | str, moderator: str, *,
           message: str | None = None, note: str | None = None,
           now: datetime | None = None) -> DecisionRecord:
    """Record one moderator decision: change the item's status and append to the audit log.

    One transaction: a conditional UPDATE of the item (allowed status, and not held by
    another moderator's unexpired claim: an unclaimed item is claimed by the decision
    itself) that must match exactly one row, then the INSERT
    of the :class:`~slopscore.review.schema.Decision` with the model version, triage
    score and P(AI) the item had at that moment. The claim is released.

    Parameters
    ----------
    action : Action or str
        One of the policy's steps. ``notify`` requires ``message``: the private text
        for the member (at most :data:`~slopscore.review.messages.MAX_MESSAGE_CHARS`),
        written to the outbox in the same transaction; other actions take none.
        ``reopen`` requires ``note`` (the reason), returns the item to ``pending`` and
        withdraws its undelivered messages; the earlier decisions stay in the log.
    note : str, optional
        The moderator's internal note (at most :data:`MAX_NOTE_CHARS`).

    Raises
    ------
    InvalidInput
        Unknown action, missing/overlong message or note.
    ItemNotFound, InvalidTransition, ClaimConflict
        Nothing was written.
    """
    try:
        action = Action(action)
    except ValueError:
        raise InvalidInput("unknown action") from None
    if action is Action.NOTIFY:
        message = clean_text(message, "message", MAX_MESSAGE_CHARS, required=True)
    elif message not in (None, ""):
        raise InvalidInput(f"{action.label!r} sends no message")
    else:
        message = None
    note = clean_text(note, "note" if action is not Action.REOPEN else "reason for reopening",
                      MAX_NOTE_CHARS, required=action is Action.REOPEN)
    now = now or utcnow()
    allowed = [s.value for s in ALLOWED_FROM[action]]
    with engine.begin() as connection:
        row = connection.execute(
            update(QueueItem)
            .where(QueueItem.id == queue_item_id, QueueItem.status.in_(allowed),
                   or_(QueueItem.claimed_by.is_(None), QueueItem.claimed_until.is_(None),
                       QueueItem.claimed_until <= now, QueueItem.claimed_by == moderator))
            .values(status=action.status.value, decided_at=now, claimed_by=None, claimed_until=None)
            .returning(QueueItem.item_id, QueueItem.artist_id, QueueItem.model_version,
                       QueueItem.triage_score, QueueItem.p_ai)
        ).all()
        if len(row) != 1:
            raise _why_not(connection, queue_item_id, action, moderator, now)
        item = row[0]
        values = {"queue_item_id": queue_item_id, "item_id": item.item_id,
                  "artist_id": item.artist_id, "action": action.value,
                  "outcome": action.outcome.value, "moderator": moderator, "decided_at": now,
                  "model_version": item.model_version, "triage_score": item.triage_score,
                  "p_ai": item.p_ai, "message": message, "note": note}
        decision_id = connection.execute(insert(Decision).values(values)
                                         .returning(Decision.id)).scalar_one()
        if action is Action.NOTIFY:
            queue_member_message(connection, decision_id=decision_id, queue_item_id=queue_item_id,
                                 item_id=item.item_id, artist_id=item.artist_id, text=message, now=now)
        elif action is Action.REOPEN:
            withdraw_queued(connection, queue_item_id)
    return DecisionRecord(id=decision_id, **{**values, "action": action, "outcome": action.outcome})


def _why_not(connection, queue_item_id: int, action: Action, moderator: str,
             now: datetime) -> ModerationError:
    """The typed reason a decision's conditional UPDATE matched no row."""
    row = connection.execute(select(QueueItem.status, QueueItem.claimed_by, QueueItem.claimed_until)
                             .where(QueueItem.id == queue_item_id)).first()
    if row is None:
        return ItemNotFound(f"no queue item {queue_item_id}")
    if row.status not in {s.value for s in ALLOWED_FROM[action]}:
        return InvalidTransition(row.status, action)
    until = as_utc(row.claimed_until)
    if row.claimed_by and row.claimed_by != moderator and until is not None and until > now:
        return ClaimConflict(row.claimed_by, until)
    return ClaimConflict(None, None)


# ---------------------------------------------------------------- the audit log and histories


def _decision_record(row) -> DecisionRecord:
    return DecisionRecord(
        id=row.id, queue_item_id=row.queue_item_id, item_id=row.item_id, artist_id=row.artist_id,
        action=Action(row.action), outcome=Outcome(row.outcome), moderator=row.moderator,
        decided_at=as_utc(row.decided_at), model_version=row.model_version,
        triage_score=row.triage_score, p_ai=row.p_ai, message=row.message, note=row.note,
    )


def audit_log(engine: Engine, *, before: int | None = None, limit: int = 100) -> list[DecisionRecord]:
    """Decisions newest first, those with ``id < before`` (keyset paging), at most ``limit``."""
    query = select(Decision).order_by(Decision.id.desc()).limit(max(1, min(limit, 1000)))
    if before is not None:
        query = query.where(Decision.id < before)
    with engine.connect() as connection:
        return [_decision_record(r) for r in connection.execute(query)]


def item_history(engine: Engine, queue_item_id: int, limit: int = 50) -> list[DecisionRecord]:
    """Decisions on one queue item, newest first."""
    query = (select(Decision).where(Decision.queue_item_id == queue_item_id)
             .order_by(Decision.decided_at.desc(), Decision.id.desc()).limit(max(1, min(limit, 500))))
    with engine.connect() as connection:
        return [_decision_record(r) for r in connection.execute(query)]


@dataclass(frozen=True)
class ArtistHistory:
    """An artist's earlier decisions, for spotting repeat violations.

    ``confirmed_items`` counts distinct uploads whose latest decision confirmed a
    concern (notified, escalated, or replaced); ``dismissed_items`` those cleared.
    """

    decisions: list[DecisionRecord]
    confirmed_items: int
    dismissed_items: int


def artist_history(engine: Engine, artist_id: str | None, *, exclude_queue_item: int | None = None,
                   limit: int = 20) -> ArtistHistory:
    """The artist's past decisions (newest first, at most ``limit``) and outcome counts."""
    if not artist_id:
        return ArtistHistory([], 0, 0)
    where = [Decision.artist_id == artist_id]
    if exclude_queue_item is not None:
        where.append(Decision.queue_item_id != exclude_queue_item)
    recent = (select(Decision).where(*where)
              .order_by(Decision.decided_at.desc(), Decision.id.desc()).limit(max(1, min(limit, 200))))
    latest = latest_per_item(and_(*where)).subquery()
    counts = select(latest.c.outcome, func.count()).where(latest.c.rank == 1).group_by(latest.c.outcome)
    with engine.connect() as connection:
        decisions = [_decision_record(r) for r in connection.execute(recent)]
        by_outcome = dict(connection.execute(counts).all())
    return ArtistHistory(decisions, int(by_outcome.get(Outcome.CONFIRMED.value, 0)),
                         int(by_outcome.get(Outcome.DISMISSED.value, 0)))


def latest_per_item(where=None):
    """Decisions ranked newest-first within each upload (``rank`` 1 is the latest).

    A ``SELECT`` of every :class:`~slopscore.review.schema.Decision` column plus
    ``rank``, optionally filtered by ``where``; used for the artist's outcome counts
    and the label export (:func:`~slopscore.review.export.latest_decisions`).
    """
    rank = func.row_number().over(partition_by=Decision.item_id,
                                  order_by=(Decision.decided_at.desc(), Decision.id.desc()))
    query = select(Decision, rank.label("rank"))
    return query.where(where) if where is not None else query
