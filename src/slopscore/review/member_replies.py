"""A member's answer to a private message: a clarification or replacement media, with references.

The platform's integration posts the member's reply (``POST /api/v1/replies`` of
``slopscore serve``, with its API key); :func:`record_reply` stores it and returns the item
to the moderators as ``reply_received``, where the reply is shown beside the original
upload and message. A reply is taken only while the item waits for the member (notified,
or an earlier reply received); after a decision, the platform's appeal goes to a moderator,
who reopens the item with a reason. Replies are never edited or deleted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from slopscore.review.schema import DeliveryState, MemberReply, OutboxMessage, QueueItem, Status
from slopscore.review.validation import InvalidInput, ItemNotFound, ModerationError, as_utc, clean_text, utcnow

__all__ = ["MAX_FILE_REFS", "MAX_REF_CHARS", "MAX_REPLY_CHARS", "NotAwaitingReply", "REPLY_KINDS",
           "ReplyRecord", "item_replies", "record_reply"]

MAX_REPLY_CHARS = 5000
MAX_FILE_REFS = 20
MAX_REF_CHARS = 500
REPLY_KINDS = ("clarification", "replacement")
_AWAITING = (Status.NOTIFIED.value, Status.REPLY_RECEIVED.value)
_CLIENT_REPLY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


class NotAwaitingReply(ModerationError):
    """The item is not waiting for the member's answer (decided, reopened, or withdrawn)."""

    def __init__(self, status: str):
        super().__init__(f"the item is {status}, not waiting for the member's answer; "
                         "an appeal goes to a moderator, who can reopen the decision")
        self.status = status


@dataclass(frozen=True)
class ReplyRecord:
    """One stored reply. ``created`` is False when the same ``client_reply_id`` came before."""

    id: int
    queue_item_id: int
    message_id: str
    item_id: str
    kind: str
    text: str
    file_refs: list[str]
    client: str
    client_reply_id: str | None
    received_at: datetime
    created: bool = True


def _reply_record(row, created: bool = True) -> ReplyRecord:
    return ReplyRecord(row.id, row.queue_item_id, row.message_id, row.item_id, row.kind, row.text,
                       json.loads(row.file_refs or "[]"), row.client, row.client_reply_id,
                       as_utc(row.received_at), created)


def _file_refs(refs: object) -> list[str]:
    if refs is None:
        return []
    if not isinstance(refs, (list, tuple)) or len(refs) > MAX_FILE_REFS:
        raise InvalidInput(f"files is a list of at most {MAX_FILE_REFS} references")
    return [clean_text(ref, "file reference", MAX_REF_CHARS, required=True, multiline=False) for ref in refs]


def record_reply(engine: Engine, *, client: str, message_id: str, kind: str, text: str | None = None,
                 file_refs: list[str] | None = None, client_reply_id: str | None = None,
                 now: datetime | None = None) -> ReplyRecord:
    """Store a member's reply to message ``message_id`` and return its item as ``reply_received``.

    One transaction: the item's status changes only from ``notified`` or
    ``reply_received`` (a conditional UPDATE), and the reply row is appended. Posting
    the same ``client_reply_id`` again returns the stored reply (``created`` False) and
    changes nothing.

    Parameters
    ----------
    client : str
        The API key's client name (who posted it).
    kind : {"clarification", "replacement"}
    text : str, optional
        The member's words (at most :data:`MAX_REPLY_CHARS`); required without ``file_refs``.
    file_refs : list of str, optional
        References to process files or the replacement (URLs or the platform's ids), at
        most :data:`MAX_FILE_REFS` of :data:`MAX_REF_CHARS` characters.

    Raises
    ------
    InvalidInput
        Bad kind, text, references or reply id.
    ItemNotFound
        No message has this id.
    NotAwaitingReply
        The item is decided or reopened, or the message was withdrawn; nothing is stored.
    """
    if kind not in REPLY_KINDS:
        raise InvalidInput(f"kind is one of {', '.join(REPLY_KINDS)}")
    text = clean_text(text, "reply text", MAX_REPLY_CHARS) or ""
    refs = _file_refs(file_refs)
    if not text and not refs:
        raise InvalidInput("a reply has text, file references, or both")
    if client_reply_id is not None and (not isinstance(client_reply_id, str)
                                        or not _CLIENT_REPLY_ID.fullmatch(client_reply_id)):
        raise InvalidInput("reply_id is 1-100 letters, digits or . _ : -")
    if not isinstance(message_id, str) or len(message_id) > 36:
        raise ItemNotFound("no such message")
    now = now or utcnow()
    try:
        with engine.begin() as connection:
            if client_reply_id is not None:
                earlier = _earlier(connection, client, client_reply_id)
                if earlier is not None:
                    return earlier
            message = connection.execute(select(OutboxMessage.queue_item_id, OutboxMessage.item_id,
                                                OutboxMessage.state)
                                         .where(OutboxMessage.message_id == message_id)).first()
            if message is None:
                raise ItemNotFound("no such message")
            if message.state == DeliveryState.WITHDRAWN.value:
                raise NotAwaitingReply("withdrawn (the message was never delivered)")
            changed = connection.execute(
                update(QueueItem).where(QueueItem.id == message.queue_item_id, QueueItem.status.in_(_AWAITING))
                .values(status=Status.REPLY_RECEIVED.value)).rowcount
            if changed != 1:
                status = connection.execute(select(QueueItem.status)
                                            .where(QueueItem.id == message.queue_item_id)).scalar()
                raise NotAwaitingReply(status or "gone")
            values = {"queue_item_id": message.queue_item_id, "message_id": message_id,
                      "item_id": message.item_id, "kind": kind, "text": text, "file_refs": json.dumps(refs),
                      "client": client, "client_reply_id": client_reply_id, "received_at": now}
            reply_id = connection.execute(insert(MemberReply).values(values).returning(MemberReply.id)).scalar_one()
    except IntegrityError:  # the same reply id raced in from a parallel post
        with engine.connect() as connection:
            earlier = _earlier(connection, client, client_reply_id)
        if earlier is None:
            raise
        return earlier
    return ReplyRecord(reply_id, message.queue_item_id, message_id, message.item_id, kind, text, refs,
                       client, client_reply_id, now)


def _earlier(connection, client: str, client_reply_id: str | None) -> ReplyRecord | None:
    if client_reply_id is None:
        return None
    row = connection.execute(select(MemberReply).where(MemberReply.client == client,
                                                       MemberReply.client_reply_id == client_reply_id)).first()
    return _reply_record(row, created=False) if row is not None else None


def item_replies(engine: Engine, queue_item_id: int, limit: int = 20) -> list[ReplyRecord]:
    """The member's replies on one item, newest first."""
    query = (select(MemberReply).where(MemberReply.queue_item_id == queue_item_id)
             .order_by(MemberReply.received_at.desc(), MemberReply.id.desc()).limit(max(1, min(limit, 200))))
    with engine.connect() as connection:
        return [_reply_record(r) for r in connection.execute(query)]
