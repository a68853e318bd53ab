"""The outbox as a feed the platform pulls, for platforms that cannot take a webhook.

The platform's integration lists the queued messages (:func:`queued_messages`, oldest
first, a keyset page at a time) and acknowledges each one it has taken
(:func:`acknowledge`), which marks it ``delivered`` exactly as a webhook's 2xx would. The
feed and the webhook may run side by side: each message carries its ``message_id`` as the
idempotency key, and acknowledging a delivered message changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from slopscore.review.outbox import delivered_values
from slopscore.review.schema import DeliveryState, OutboxMessage
from slopscore.review.validation import ItemNotFound, ModerationError

__all__ = ["FeedMessage", "NotDeliverable", "acknowledge", "queued_messages"]

#: Messages the feed offers: waiting for delivery, or given up on by the webhook.
_OFFERED = (DeliveryState.QUEUED.value, DeliveryState.FAILED.value)


class NotDeliverable(ModerationError):
    """The message was withdrawn (its decision reopened before delivery)."""


@dataclass(frozen=True)
class FeedMessage:
    """One message as the feed gives it: the delivered JSON, and its cursor (the row id)."""

    cursor: int
    payload: dict


def queued_messages(engine: Engine, *, after: int = 0, limit: int = 50) -> list[FeedMessage]:
    """Messages not yet delivered (queued, or failed on the webhook), oldest first, those
    with a cursor above ``after``, at most ``limit`` (1 to 500)."""
    query = (select(OutboxMessage.id, OutboxMessage.payload)
             .where(OutboxMessage.state.in_(_OFFERED), OutboxMessage.id > max(0, int(after)))
             .order_by(OutboxMessage.id).limit(max(1, min(int(limit), 500))))
    with engine.connect() as connection:
        return [FeedMessage(row.id, json.loads(row.payload)) for row in connection.execute(query)]


def acknowledge(engine: Engine, message_id: str, now: datetime) -> bool:
    """The platform has taken message ``message_id``: mark it ``delivered``.

    Returns True when this call delivered it, False when it was delivered already.

    Raises
    ------
    ItemNotFound
        No message has this id.
    NotDeliverable
        The message was withdrawn.
    """
    if not isinstance(message_id, str) or len(message_id) > 36:
        raise ItemNotFound("no such message")
    with engine.begin() as connection:
        changed = connection.execute(
            update(OutboxMessage).where(OutboxMessage.message_id == message_id, OutboxMessage.state.in_(_OFFERED))
            .values(delivered_values(now))).rowcount
        if changed == 1:
            return True
        state = connection.execute(select(OutboxMessage.state).where(OutboxMessage.message_id == message_id)).scalar()
    if state is None:
        raise ItemNotFound("no such message")
    if state == DeliveryState.WITHDRAWN.value:
        raise NotDeliverable("the message was withdrawn: its decision was reopened before delivery")
    return False
