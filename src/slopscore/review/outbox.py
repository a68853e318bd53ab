"""The outbox: private messages to members, waiting for the platform to take them.

A ``notify`` decision writes its message here in the same transaction
(:func:`queue_member_message`), so a message exists exactly when its decision does.
Delivering is the platform's job (:mod:`slopscore.delivery` signs and posts each one to its
webhook); until the platform acknowledges a message it is ``queued``, never "sent".
Reopening the decision before delivery withdraws it (:func:`withdraw_queued`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from slopscore.review.schema import DeliveryState, OutboxMessage
from slopscore.review.validation import InvalidInput, ItemNotFound, as_utc

__all__ = ["MAX_ERROR_CHARS", "MESSAGE_TYPE", "OutboxRecord", "delivered_values", "item_messages", "lease_due",
           "list_outbox", "outbox_counts", "queue_member_message", "record_delivered", "record_failure", "release_leases",
           "requeue_failed", "withdraw_queued"]

#: The ``type`` of every delivered payload (the receiver dispatches on it).
MESSAGE_TYPE = "slopscore.member_message"


@dataclass(frozen=True)
class OutboxRecord:
    """One message's delivery state, as moderators see it (``state``: a DeliveryState)."""

    id: int
    message_id: str
    decision_id: int
    queue_item_id: int
    item_id: str
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None


def outbox_record(row) -> OutboxRecord:
    """An :class:`OutboxRecord` from a row of ``outbox_messages``."""
    return OutboxRecord(
        id=row.id, message_id=row.message_id, decision_id=row.decision_id, queue_item_id=row.queue_item_id,
        item_id=row.item_id, state=DeliveryState(row.state), attempts=row.attempts,
        created_at=as_utc(row.created_at), next_attempt_at=as_utc(row.next_attempt_at),
        last_attempt_at=as_utc(row.last_attempt_at), delivered_at=as_utc(row.delivered_at),
        last_error=row.last_error)


def queue_member_message(connection: Connection, *, decision_id: int, queue_item_id: int, item_id: str,
                         artist_id: str | None, text: str, now: datetime) -> str:
    """Write a ``notify`` decision's message to the outbox, inside the decision's transaction.

    The payload is frozen here: every delivery attempt posts (and signs) the same bytes.
    Returns the public ``message_id`` (a random UUID), which is also the webhook's
    idempotency key and what the member's reply refers to.
    """
    message_id = str(uuid.uuid4())
    payload = json.dumps({"type": MESSAGE_TYPE, "message_id": message_id, "item_id": item_id,
                          "artist_id": artist_id, "text": text, "created_at": now.isoformat()},
                         ensure_ascii=False, sort_keys=True)
    connection.execute(insert(OutboxMessage).values(
        message_id=message_id, decision_id=decision_id, queue_item_id=queue_item_id, item_id=item_id,
        artist_id=artist_id, payload=payload, state=DeliveryState.QUEUED.value, attempts=0,
        created_at=now, next_attempt_at=now))
    return message_id


def withdraw_queued(connection: Connection, queue_item_id: int) -> int:
    """Withdraw the item's messages not yet delivered (its decision is being reopened).

    Delivered messages stay delivered: the member has them. Returns how many were withdrawn.
    """
    result = connection.execute(
        update(OutboxMessage)
        .where(OutboxMessage.queue_item_id == queue_item_id,
               OutboxMessage.state.in_([DeliveryState.QUEUED.value, DeliveryState.FAILED.value]))
        .values(state=DeliveryState.WITHDRAWN.value, next_attempt_at=None, locked_until=None))
    return result.rowcount


def item_messages(engine: Engine, queue_item_id: int, limit: int = 20) -> list[OutboxRecord]:
    """The item's messages to its member, newest first, with their delivery state."""
    query = (select(OutboxMessage).where(OutboxMessage.queue_item_id == queue_item_id)
             .order_by(OutboxMessage.id.desc()).limit(max(1, min(limit, 200))))
    with engine.connect() as connection:
        return [outbox_record(r) for r in connection.execute(query)]


# ---------------------------------------------------------------- delivery side (slopscore.delivery)

#: ``last_error`` is cut to this (the column's size).
MAX_ERROR_CHARS = 300


def _due(now: datetime):
    """Queued, due, and not leased by a worker (or its lease ran out)."""
    return (OutboxMessage.state == DeliveryState.QUEUED.value, OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now))


def lease_due(engine: Engine, *, now: datetime, limit: int, lease_seconds: float) -> list[tuple[OutboxRecord, str]]:
    """Lease up to ``limit`` due messages for one worker: ``(record, payload)``, oldest due first.

    Each row is taken by a conditional UPDATE that re-checks it is still queued, due and
    unleased, so two workers (threads or machines) never both take one: PostgreSQL
    re-evaluates the condition on the row a concurrent transaction changed, SQLite
    serialises writers. The lease (``locked_until = now + lease_seconds``) should outlast
    the attempts on every leased row; a worker that dies leaves its rows to be taken again
    once the lease runs out.
    """
    limit = max(1, min(int(limit), 500))
    until = now + timedelta(seconds=float(lease_seconds))
    candidates = (select(OutboxMessage.id).where(*_due(now))
                  .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
    with engine.connect() as connection:
        ids = list(connection.execute(candidates).scalars())
    leased = []
    with engine.begin() as connection:  # the first statement writes: SQLite waits for the lock, never fails on it
        for row_id in ids:
            row = connection.execute(
                update(OutboxMessage).where(OutboxMessage.id == row_id, *_due(now))
                .values(locked_until=until).returning(*OutboxMessage.__table__.columns)).first()
            if row is not None:  # None: another worker took it first
                leased.append((outbox_record(row), row.payload))
    return leased


def delivered_values(now: datetime) -> dict:
    """The columns of a message the platform took at ``now`` (its lease released)."""
    return {"state": DeliveryState.DELIVERED.value, "delivered_at": now, "next_attempt_at": None,
            "locked_until": None, "last_error": None}


def record_delivered(engine: Engine, row_id: int, now: datetime) -> bool:
    """The platform acknowledged the message (2xx): mark it ``delivered`` and release its lease.

    A message withdrawn while its attempt was in flight is marked delivered too: the
    platform has it, so "withdrawn" would no longer be true. Delivered and failed rows are
    left alone. Returns whether the row was updated.
    """
    result = _update_attempted(engine, row_id, (DeliveryState.QUEUED, DeliveryState.WITHDRAWN), now,
                               delivered_values(now))
    return result == 1


def record_failure(engine: Engine, row_id: int, now: datetime, error: str,
                   next_attempt_at: datetime | None) -> bool:
    """An attempt failed: retry at ``next_attempt_at``, or give up (``failed``) when it is None.

    ``error`` is a short reason ("HTTP 503", "timed out"), cut to :data:`MAX_ERROR_CHARS`.
    Only a still ``queued`` row changes (a message withdrawn meanwhile stays withdrawn).
    Returns whether the row was updated.
    """
    values = {"last_error": " ".join(str(error).split())[:MAX_ERROR_CHARS] or "failed",
              "next_attempt_at": next_attempt_at}
    if next_attempt_at is None:
        values["state"] = DeliveryState.FAILED.value
    return _update_attempted(engine, row_id, (DeliveryState.QUEUED,), now, values) == 1


def release_leases(engine: Engine, row_ids: list[int]) -> int:
    """Give back leased rows that were not attempted (a worker stopping mid-batch): due again at once."""
    if not row_ids:
        return 0
    with engine.begin() as connection:
        return connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(list(row_ids)), OutboxMessage.state == DeliveryState.QUEUED.value)
            .values(locked_until=None)).rowcount


def _update_attempted(engine: Engine, row_id: int, states, now: datetime, values: dict) -> int:
    with engine.begin() as connection:
        return connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.state.in_([s.value for s in states]))
            .values({"attempts": OutboxMessage.attempts + 1, "last_attempt_at": now, "locked_until": None, **values})
        ).rowcount


def requeue_failed(engine: Engine, message_id: str | None, *, now: datetime) -> int:
    """Queue failed messages again (an admin's retry): one by ``message_id``, or all when None.

    The message gets a fresh series of attempts (``attempts`` back to 0, due at ``now``);
    its last error stays visible until the next attempt. Returns how many were queued.

    Raises
    ------
    ItemNotFound
        No message has ``message_id``.
    InvalidInput
        That message is not ``failed`` (queued, delivered or withdrawn ones are left alone).
    """
    query = update(OutboxMessage).where(OutboxMessage.state == DeliveryState.FAILED.value)
    if message_id is not None:
        query = query.where(OutboxMessage.message_id == message_id)
    with engine.begin() as connection:
        count = connection.execute(query.values(state=DeliveryState.QUEUED.value, attempts=0, next_attempt_at=now,
                                                locked_until=None)).rowcount
        if message_id is not None and count == 0:
            state = connection.execute(select(OutboxMessage.state)
                                       .where(OutboxMessage.message_id == message_id)).scalar()
            if state is None:
                raise ItemNotFound(f"no message {message_id!r}")
            raise InvalidInput(f"message {message_id} is {state}, not failed")
    return count


def list_outbox(engine: Engine, *, state: DeliveryState | str | None = None, limit: int = 50) -> list[OutboxRecord]:
    """Messages in the outbox, newest first, optionally in one state (at most 1000)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(max(1, min(int(limit), 1000)))
    if state is not None:
        try:
            state = DeliveryState(state)
        except ValueError:
            raise InvalidInput(f"unknown delivery state {state!r}; one of "
                               + ", ".join(s.value for s in DeliveryState)) from None
        query = query.where(OutboxMessage.state == state.value)
    with engine.connect() as connection:
        return [outbox_record(r) for r in connection.execute(query)]


def outbox_counts(engine: Engine) -> dict[DeliveryState, int]:
    """How many messages are in each delivery state (every state, zeros included)."""
    query = select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    with engine.connect() as connection:
        found = dict(connection.execute(query).all())
    return {state: int(found.get(state.value, 0)) for state in DeliveryState}
