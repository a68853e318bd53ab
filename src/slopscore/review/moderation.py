"""Moderation without HTTP: accounts, claims, decisions, message templates, label export.

The policy's enforcement is human and gentle. A moderator dismisses an item ("no
concern"), notifies the member privately (explaining the concern and asking for
replacement media or a clarification), records how that was resolved, or escalates
a repeat violation. Nothing here removes, hides, demotes or deletes anything: a
decision changes an item's review ``status`` and appends one row to the audit log
(:class:`~slopscore.review.schema.Decision`), which is never updated or deleted.

Two moderators can never both decide one item. Opening an item *claims* it for a
while (:func:`claim_item`); :func:`decide` is one transaction whose conditional
``UPDATE`` only matches an item that is in a state the action is allowed from and
claimed, unexpired, by the deciding moderator. Databases serialise concurrent updates
of one row, so at most one of two racing decisions matches; the other gets a
:class:`ClaimConflict` or :class:`InvalidTransition` and writes nothing.

Times are UTC. SQLite stores them without an offset; :func:`as_utc` reads them back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from slopscore.review.schema import (
    Action,
    Decision,
    MessageTemplate,
    Moderator,
    Outcome,
    QueueItem,
    Status,
)

__all__ = [
    "ALLOWED_FROM",
    "ArtistHistory",
    "Claim",
    "ClaimConflict",
    "DecisionRecord",
    "DEFAULT_CLAIM_SECONDS",
    "InvalidInput",
    "InvalidTransition",
    "ItemNotFound",
    "MAX_CLAIM_SECONDS",
    "MAX_MESSAGE_CHARS",
    "MAX_NOTE_CHARS",
    "MAX_TEMPLATE_CHARS",
    "MAX_TEMPLATE_NAME_CHARS",
    "MIN_PASSWORD_CHARS",
    "ModerationError",
    "OPEN_STATUSES",
    "TemplateRecord",
    "allowed_actions",
    "artist_history",
    "as_utc",
    "audit_log",
    "authenticate",
    "claim_item",
    "clean_text",
    "concern_text",
    "create_moderator",
    "decide",
    "export_decisions",
    "hash_password",
    "is_active",
    "item_history",
    "latest_decisions",
    "list_templates",
    "release_claim",
    "render_message",
    "save_template",
    "set_active",
    "set_password",
    "utcnow",
    "verify_password",
]

#: How long opening an item holds it for its moderator, unless configured otherwise.
DEFAULT_CLAIM_SECONDS = 15 * 60
MAX_CLAIM_SECONDS = 24 * 3600
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
MAX_NOTE_CHARS = 2000
MAX_MESSAGE_CHARS = 5000
MAX_TEMPLATE_CHARS = 4000
MAX_TEMPLATE_NAME_CHARS = 100
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")

#: The statuses each action may be taken from (the policy's state machine). Decided
#: items (dismissed, resolved, escalated) take no further action.
ALLOWED_FROM: dict[Action, frozenset[Status]] = {
    Action.NO_CONCERN: frozenset({Status.PENDING}),
    Action.NOTIFY: frozenset({Status.PENDING}),
    Action.ESCALATE: frozenset({Status.PENDING, Status.NOTIFIED}),
    Action.RESOLVED_REPLACED: frozenset({Status.NOTIFIED}),
    Action.RESOLVED_CLARIFIED: frozenset({Status.NOTIFIED}),
}
#: Statuses in which an item can still be claimed and decided.
OPEN_STATUSES = frozenset({Status.PENDING, Status.NOTIFIED})


class ModerationError(Exception):
    """Base class of the typed failures below; the message is safe to show a moderator."""


class InvalidInput(ModerationError, ValueError):
    """A value is missing, too long, malformed or contains control characters."""


class ItemNotFound(ModerationError, LookupError):
    """No queue item (or template) with this id."""


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
            message = "your claim on this item has expired; open it again to claim it"
        super().__init__(message)
        self.claimed_by = claimed_by
        self.claimed_until = as_utc(claimed_until)


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


@dataclass(frozen=True)
class TemplateRecord:
    """An editable private message; ``{title}`` and ``{concern}`` are filled in."""

    id: int
    name: str
    body: str
    updated_at: datetime
    updated_by: str | None


# ---------------------------------------------------------------- times and text


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite returns naive UTC; PostgreSQL aware)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def clean_text(value: object, field: str, limit: int, *, required: bool = False,
               multiline: bool = True) -> str | None:
    """Validate free text from a person: bounded, no control characters, trimmed.

    Returns None for empty optional text. Newlines (``\\r\\n`` normalised to ``\\n``)
    and tabs are allowed only when ``multiline``.

    Raises
    ------
    InvalidInput
        Not text, empty when required, longer than ``limit`` characters, or containing
        control characters.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    allowed = "\n\t" if multiline else ""
    if any((ord(ch) < 32 and ch not in allowed) or 0x7F <= ord(ch) < 0xA0 for ch in text):
        raise InvalidInput(f"{field} contains control characters")
    if len(text) > limit:
        raise InvalidInput(f"{field} has {len(text)} characters; the limit is {limit}")
    if not text:
        if required:
            raise InvalidInput(f"{field} is empty")
        return None
    return text


def _username(username: object) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidInput("a username is 1-64 letters, digits or . _ @ -, starting with a "
                           "letter or digit")
    return username


# ---------------------------------------------------------------- passwords and accounts

# scrypt cost: about 16 MiB and tens of milliseconds per hash on one core.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_LEN = 2**14, 8, 1, 32
_SCRYPT_MAXMEM = 64 * 1024 * 1024


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=_SCRYPT_MAXMEM)


def hash_password(password: str) -> str:
    """A salted scrypt hash, ``scrypt$N$r$p$salt$hash`` (base64); never the password.

    Raises
    ------
    InvalidInput
        Shorter than :data:`MIN_PASSWORD_CHARS` or longer than 1024 characters.
    """
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_LEN)
    encode = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encode(salt)}${encode(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash from :func:`hash_password` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        n, r, p = int(n), int(r), int(p)
        if scheme != "scrypt" or n > 2**20 or r > 32 or p > 16:
            return False
        expected = base64.b64decode(digest, validate=True)
        candidate = _scrypt(password, base64.b64decode(salt, validate=True), n, r, p, len(expected))
    except (ValueError, TypeError, AttributeError, MemoryError):
        return False
    return hmac.compare_digest(candidate, expected)


# Checked against when the username is unknown, so both cases cost the same time.
_DUMMY_HASH = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(24))
    return _DUMMY_HASH


def create_moderator(engine: Engine, username: str, password: str) -> None:
    """Add an active moderator account with a hashed password.

    Raises
    ------
    InvalidInput
        Bad username or password, or the username is taken.
    """
    username = _username(username)
    record = {"username": username, "password_hash": hash_password(password),
              "created_at": utcnow(), "active": True}
    try:
        with engine.begin() as connection:
            connection.execute(insert(Moderator).values(record))
    except IntegrityError:
        raise InvalidInput(f"moderator {username!r} already exists") from None


def set_password(engine: Engine, username: str, password: str) -> None:
    """Replace a moderator's password. Raises :class:`ItemNotFound` for unknown users."""
    hashed = hash_password(password)
    with engine.begin() as connection:
        result = connection.execute(update(Moderator).where(Moderator.username == username)
                                    .values(password_hash=hashed))
    if result.rowcount != 1:
        raise ItemNotFound(f"no moderator {username!r}")


def set_active(engine: Engine, username: str, active: bool) -> None:
    """Enable or disable an account (disabled accounts cannot log in; their sessions end)."""
    with engine.begin() as connection:
        result = connection.execute(update(Moderator).where(Moderator.username == username)
                                    .values(active=bool(active)))
    if result.rowcount != 1:
        raise ItemNotFound(f"no moderator {username!r}")


def authenticate(engine: Engine, username: str, password: str) -> str | None:
    """The username when the credentials match an active account, else None.

    Unknown usernames cost the same scrypt work as wrong passwords.
    """
    if not isinstance(username, str) or not isinstance(password, str) \
            or len(username) > 64 or len(password) > MAX_PASSWORD_CHARS:
        return None
    with engine.connect() as connection:
        row = connection.execute(select(Moderator.password_hash, Moderator.active)
                                 .where(Moderator.username == username)).first()
    if row is None:
        verify_password(password, _dummy_hash())
        return None
    return username if verify_password(password, row.password_hash) and row.active else None


def is_active(engine: Engine, username: str) -> bool:
    """Whether ``username`` is an enabled account (checked on every signed-in request)."""
    with engine.connect() as connection:
        active = connection.execute(select(Moderator.active)
                                    .where(Moderator.username == username)).scalar()
    return bool(active)


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
               *, now: datetime | None = None) -> Claim:
    """Hold an open item for ``moderator`` for ``claim_seconds`` (renews their own claim).

    A conditional UPDATE: it matches only an item that is pending or notified and is
    unclaimed, whose claim has expired, or that ``moderator`` already holds.

    Raises
    ------
    ItemNotFound
        No such item.
    InvalidTransition
        The item is already decided (dismissed, resolved or escalated).
    ClaimConflict
        Another moderator holds an unexpired claim.
    """
    now = now or utcnow()
    until = now + timedelta(seconds=_claim_seconds(claim_seconds))
    with engine.begin() as connection:
        result = connection.execute(
            update(QueueItem)
            .where(QueueItem.id == queue_item_id,
                   QueueItem.status.in_([s.value for s in OPEN_STATUSES]),
                   or_(QueueItem.claimed_by.is_(None), QueueItem.claimed_until.is_(None),
                       QueueItem.claimed_until <= now, QueueItem.claimed_by == moderator))
            .values(claimed_by=moderator, claimed_until=until)
        )
        if result.rowcount == 1:
            return Claim(queue_item_id, moderator, until)
        row = connection.execute(select(QueueItem.status, QueueItem.claimed_by,
                                        QueueItem.claimed_until)
                                 .where(QueueItem.id == queue_item_id)).first()
    if row is None:
        raise ItemNotFound(f"no queue item {queue_item_id}")
    if row.status not in {s.value for s in OPEN_STATUSES}:
        raise InvalidTransition(row.status)
    raise ClaimConflict(row.claimed_by, row.claimed_until)


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

    One transaction: a conditional UPDATE of the item (allowed status, claimed by
    ``moderator``, claim unexpired) that must match exactly one row, then the INSERT
    of the :class:`~slopscore.review.schema.Decision` with the model version, triage
    score and P(AI) the item had at that moment. The claim is released.

    Parameters
    ----------
    action : Action or str
        One of the policy's steps. ``notify`` requires ``message``: the private text
        sent to the member (at most :data:`MAX_MESSAGE_CHARS`); other actions take none.
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
    note = clean_text(note, "note", MAX_NOTE_CHARS)
    now = now or utcnow()
    allowed = [s.value for s in ALLOWED_FROM[action]]
    with engine.begin() as connection:
        row = connection.execute(
            update(QueueItem)
            .where(QueueItem.id == queue_item_id, QueueItem.status.in_(allowed),
                   QueueItem.claimed_by == moderator, QueueItem.claimed_until > now)
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
    latest = _latest_per_item(and_(*where)).subquery()
    counts = select(latest.c.outcome, func.count()).where(latest.c.rank == 1).group_by(latest.c.outcome)
    with engine.connect() as connection:
        decisions = [_decision_record(r) for r in connection.execute(recent)]
        by_outcome = dict(connection.execute(counts).all())
    return ArtistHistory(decisions, int(by_outcome.get(Outcome.CONFIRMED.value, 0)),
                         int(by_outcome.get(Outcome.DISMISSED.value, 0)))


def _latest_per_item(where=None):
    """Decisions ranked newest-first within each upload (``rank`` 1 is the latest)."""
    rank = func.row_number().over(partition_by=Decision.item_id,
                                  order_by=(Decision.decided_at.desc(), Decision.id.desc()))
    query = select(Decision, rank.label("rank"))
    return query.where(where) if where is not None else query


# ---------------------------------------------------------------- message templates


def _template_record(row) -> TemplateRecord:
    return TemplateRecord(row.id, row.name, row.body, as_utc(row.updated_at), row.updated_by)


def list_templates(engine: Engine) -> list[TemplateRecord]:
    """All message templates, by name."""
    with engine.connect() as connection:
        rows = connection.execute(select(MessageTemplate).order_by(MessageTemplate.name)).all()
    return [_template_record(r) for r in rows]


def save_template(engine: Engine, name: str, body: str, moderator: str,
                  template_id: int | None = None) -> TemplateRecord:
    """Create a template (``template_id`` None) or edit one; there is no deletion.

    Raises
    ------
    InvalidInput
        Empty or overlong name (100) or body (:data:`MAX_TEMPLATE_CHARS`), or the name is taken.
    ItemNotFound
        ``template_id`` does not exist.
    """
    name = clean_text(name, "template name", MAX_TEMPLATE_NAME_CHARS, required=True, multiline=False)
    body = clean_text(body, "template text", MAX_TEMPLATE_CHARS, required=True)
    values = {"name": name, "body": body, "updated_at": utcnow(), "updated_by": moderator}
    try:
        with engine.begin() as connection:
            if template_id is None:
                template_id = connection.execute(insert(MessageTemplate).values(values)
                                                 .returning(MessageTemplate.id)).scalar_one()
            elif connection.execute(update(MessageTemplate).where(MessageTemplate.id == template_id)
                                    .values(values)).rowcount != 1:
                raise ItemNotFound(f"no message template {template_id}")
    except IntegrityError:
        raise InvalidInput(f"a template named {name!r} already exists") from None
    return TemplateRecord(template_id, name, body, values["updated_at"], moderator)


_MAX_TITLE_IN_MESSAGE = 200
_MAX_CONCERN_REASONS = 5


def concern_text(reasons: list[str], provenance: list[str]) -> str:
    """The concern in plain words for a member: the reasons that moved the score, as a list."""
    lines = [str(r)[:300] for r in [*reasons, *provenance] if str(r).strip()][:_MAX_CONCERN_REASONS]
    if not lines:
        return "- this upload looks like it may be generated with little artistic input"
    return "\n".join(f"- {line}" for line in lines)


def render_message(body: str, *, title: str | None, concern: str) -> str:
    """Fill ``{title}`` and ``{concern}`` into a template body (plain text, bounded).

    Only these two placeholders are replaced (no format-string evaluation); the result
    is cut to :data:`MAX_MESSAGE_CHARS` characters.
    """
    title = (title or "your upload").strip()[:_MAX_TITLE_IN_MESSAGE] or "your upload"
    text = body.replace("{title}", title).replace("{concern}", concern)
    return text[:MAX_MESSAGE_CHARS]


# ---------------------------------------------------------------- training labels

#: Columns of the exported labels, in order.
EXPORT_COLUMNS = ("item_id", "artist_id", "path", "uploaded_at", "review_outcome", "action",
                  "decided_at", "model_version", "title", "tags", "declared_ai", "has_process_notes")


def latest_decisions(engine: Engine):
    """One row per upload with its latest decision (a ``pandas.DataFrame``, columns
    :data:`EXPORT_COLUMNS`, oldest decision first).

    ``review_outcome`` is ``confirmed`` (a reviewer confirmed a policy concern) or
    ``dismissed`` (no concern, or the member's clarification cleared it).
    """
    import pandas as pd

    ranked = _latest_per_item().subquery()
    query = (
        select(ranked.c.item_id, ranked.c.artist_id, QueueItem.source.label("path"),
               QueueItem.uploaded_at, ranked.c.outcome.label("review_outcome"), ranked.c.action,
               ranked.c.decided_at, ranked.c.model_version, QueueItem.title, QueueItem.tags,
               QueueItem.declared_ai, QueueItem.has_process_notes)
        .join(QueueItem, QueueItem.id == ranked.c.queue_item_id)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.decided_at, ranked.c.id)
    )
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(query)]
    frame = pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
    for column in ("uploaded_at", "decided_at"):
        frame[column] = pd.to_datetime([as_utc(v) for v in frame[column]], utc=True)
    for column in ("declared_ai", "has_process_notes"):
        frame[column] = frame[column].astype("boolean")
    return frame


def export_decisions(engine: Engine, out_path: str | os.PathLike[str]) -> int:
    """Write the training labels (:func:`latest_decisions`) to CSV or Parquet by suffix.

    The file is written beside ``out_path`` and renamed into place, so a reader never
    sees half of it. Returns the number of rows.

    Raises
    ------
    InvalidInput
        The suffix is neither ``.csv`` nor ``.parquet``.
    """
    out = Path(out_path)
    suffix = out.suffix.lower()
    if suffix not in {".csv", ".parquet"}:
        raise InvalidInput(f"export to .csv or .parquet, not {suffix or 'no suffix'!r}")
    frame = latest_decisions(engine)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
    try:
        if suffix == ".csv":
            frame.to_csv(partial, index=False)
        else:
            frame.to_parquet(partial, index=False)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return len(frame)

