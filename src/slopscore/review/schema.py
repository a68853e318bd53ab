"""Tables of the review queue database (SQLAlchemy ORM), and the policy's vocabulary.

The schema is created and evolved only by the Alembic migrations in
``slopscore/review/migrations`` (see :func:`slopscore.review.database.open_queue`); nothing here
calls ``create_all``.

The policy's statuses, actions and outcomes (:mod:`slopscore.review.vocabulary`) are
re-exported here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from slopscore.review.vocabulary import Action, DeliveryState, Outcome, Role, Status

__all__ = [
    "Action",
    "ApiKey",
    "Artwork",
    "Base",
    "Decision",
    "DeliveryState",
    "MemberReply",
    "MessageTemplate",
    "ModelVersion",
    "Moderator",
    "Outcome",
    "OutboxMessage",
    "QueueItem",
    "Role",
    "SIMULATED_MODERATOR",
    "Status",
    "TemplateVersion",
]


class Base(DeclarativeBase):
    pass


class QueueItem(Base):
    """One scored (or skipped) upload for one model version.

    ``triage_score`` is in [0, 1] (estimated chance a reviewer confirms a concern;
    higher = review sooner), NULL when the file could not be scored (see
    ``skip_reason``). ``p_ai`` is the calibrated detector probability in [0, 1].
    ``portfolio_outlier`` is the centroid z-score against the artist's own spread
    (higher = less like their earlier works; NULL in cold start).
    """

    __tablename__ = "queue_items"
    __table_args__ = (
        UniqueConstraint("item_id", "model_version", name="uq_queue_item_model"),
        Index("ix_queue_status_score", "status", "triage_score", "id"),
        Index("ix_queue_status_uploaded", "status", "uploaded_at", "id"),
        Index("ix_queue_status_p_ai", "status", "p_ai", "id"),
        Index("ix_queue_status_outlier", "status", "portfolio_outlier", "id"),
        Index("ix_queue_artist_uploaded", "artist_id", "uploaded_at"),
        Index("ix_queue_item_id", "item_id"),
        Index("ix_queue_claimed_by", "claimed_by", "claimed_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(200))
    artist_id: Mapped[str | None] = mapped_column(String(200))
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Where the scorer read the file (from the trusted manifest); never taken from a request.
    source: Mapped[str | None] = mapped_column(Text)
    file_type: Mapped[str | None] = mapped_column(String(16))
    triage_score: Mapped[float | None] = mapped_column(Float)
    p_ai: Mapped[float | None] = mapped_column(Float)
    portfolio_outlier: Mapped[float | None] = mapped_column(Float)
    portfolio_size: Mapped[int | None] = mapped_column(Integer)
    cold_start: Mapped[bool | None] = mapped_column(Boolean)
    near_duplicates: Mapped[float | None] = mapped_column(Float)
    cross_account_posters: Mapped[int | None] = mapped_column(Integer)
    declared_ai: Mapped[bool | None] = mapped_column(Boolean)
    has_process_notes: Mapped[bool | None] = mapped_column(Boolean)
    #: JSON list of plain-language reasons that moved the score most.
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    #: JSON list of provenance findings (C2PA, IPTC, generator metadata).
    provenance_reasons: Mapped[str] = mapped_column(Text, default="[]")
    #: JSON object: the triage model's logit contribution per feature, plus ``intercept``.
    breakdown: Mapped[str] = mapped_column(Text, default="{}")
    #: JSON list of ``{"item_id", "similarity"}``: the artist's most similar earlier works
    #: (cosine similarity in [-1, 1], higher = more alike), see :class:`Artwork`.
    nearest_works: Mapped[str] = mapped_column(Text, default="[]")
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    #: JSON list of typed provenance findings (tampered, malformed, over limits, unsafe XML...).
    provenance_findings: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    #: JSON list of what was cut or doubted in the upload's manifest row (long title, future date...).
    warnings: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    #: ``ranked`` (ordered by triage score) or ``needs_look`` (could not be scored; a person looks).
    review_lane: Mapped[str] = mapped_column(String(16), default="ranked", server_default="ranked")
    backbone_id: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default=Status.PENDING.value)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Artwork(Base):
    """Every work the batch job has seen (history and new uploads), for portfolio thumbnails.

    ``source`` comes from the trusted manifest, never from a request.
    """

    __tablename__ = "artworks"
    __table_args__ = (Index("ix_artworks_artist_uploaded", "artist_id", "uploaded_at"),)

    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    artist_id: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)


#: The moderator name on every simulated decision (the demo's); reports flag data holding them.
SIMULATED_MODERATOR = "simulated-reviewer"


class Decision(Base):
    """The audit log: one appended row per moderator action, never updated or deleted."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_item", "queue_item_id", "decided_at"),
        Index("ix_decisions_artist", "artist_id", "decided_at"),
        Index("ix_decisions_decided_at", "decided_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id"))
    item_id: Mapped[str] = mapped_column(String(200))
    artist_id: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    moderator: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model_version: Mapped[str] = mapped_column(String(200))
    triage_score: Mapped[float | None] = mapped_column(Float)
    p_ai: Mapped[float | None] = mapped_column(Float)
    #: The private message to the member (``notify``), as the moderator wrote it; its delivery
    #: is tracked in :class:`OutboxMessage`.
    message: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class Moderator(Base):
    """A moderator account; ``password_hash`` is a salted scrypt hash, never the password.

    A session is valid only while it holds the account's current ``session_version``.
    """

    __tablename__ = "moderators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Raised by logout, a password change, disabling or enabling: older sessions end.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: A :class:`Role` value.
    role: Mapped[str] = mapped_column(String(16), default=Role.MODERATOR.value,
                                      server_default=Role.MODERATOR.value)


class MessageTemplate(Base):
    """An editable private message to a member; ``{title}`` and ``{concern}`` are filled in."""

    __tablename__ = "message_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str | None] = mapped_column(String(100))
    #: The latest :class:`TemplateVersion` number (1 for a new template).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class TemplateVersion(Base):
    """Every saved text of a template (append-only): its version history."""

    __tablename__ = "message_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_template_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("message_templates.id"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    saved_by: Mapped[str | None] = mapped_column(String(100))


class OutboxMessage(Base):
    """A private message to a member, written with its ``notify`` decision, for the platform.

    Delivery is the platform's job (a signed webhook, see :mod:`slopscore.delivery`).
    ``message_id`` is public: the webhook's idempotency key and what a member's reply
    refers to. ``payload`` is the exact JSON body delivered (frozen when queued, so every
    retry signs the same bytes). ``state`` is a :class:`DeliveryState` value.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_state_due", "state", "next_attempt_at"),
        Index("ix_outbox_queue_item", "queue_item_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), unique=True)
    queue_item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id"))
    item_id: Mapped[str] = mapped_column(String(200))
    artist_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: A delivery worker's lease on the row (two workers never send one message at once).
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Why the last attempt failed (bounded, never the receiver's response body).
    last_error: Mapped[str | None] = mapped_column(String(300))


class MemberReply(Base):
    """A member's answer to a private message, posted by the platform's integration.

    ``kind`` is ``clarification`` or ``replacement``; ``file_refs`` a JSON list of
    references (URLs or the platform's ids) to process files such as work-in-progress
    images or the replacement media. ``client`` is the API key's client name;
    ``client_reply_id`` (the platform's id for the reply) makes a repeated post harmless.
    Append-only.
    """

    __tablename__ = "member_replies"
    __table_args__ = (
        UniqueConstraint("client", "client_reply_id", name="uq_member_reply_client_id"),
        Index("ix_member_replies_item", "queue_item_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id"))
    message_id: Mapped[str] = mapped_column(String(36))
    item_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    file_refs: Mapped[str] = mapped_column(Text, default="[]")
    client: Mapped[str] = mapped_column(String(100))
    client_reply_id: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelVersion(Base):
    """A scorer that wrote into the queue, with its reference score distribution.

    ``reference_histogram`` is JSON ``{"edges": [...], "counts": [...]}`` of triage
    scores on the scorer's held-out evaluation items, the baseline for drift.
    ``base_rate`` is the share of AI uploads its P(AI) and triage scores are stated for
    (NULL for scorers that did not record one).
    """

    __tablename__ = "model_versions"

    model_version: Mapped[str] = mapped_column(String(200), primary_key=True)
    backbone_id: Mapped[str | None] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reference_histogram: Mapped[str] = mapped_column(Text, default="{}")
    base_rate: Mapped[float | None] = mapped_column(Float)


class ApiKey(Base):
    """An API client's key for ``slopscore api``; only a sha256 hash of the key is stored.

    A key is ``ssk_<key_id>_<secret>``: ``key_id`` (public, unique) finds the row and the
    hash of the whole key is compared in constant time. The key itself is shown once, at
    creation. Revoking sets ``revoked_at``; rows are never deleted (the audit trail).
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
