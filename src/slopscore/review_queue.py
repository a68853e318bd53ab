"""The review queue database (SQLAlchemy): scores in, ordered work for moderators out.

Rows are inserted or updated by (``item_id``, ``model_version``). Re-scoring
refreshes the scores and reasons but never touches a moderator's ``status``, and
nothing here deletes or hides an item: the queue only orders work for people.
SQLite by default; any SQLAlchemy URL (e.g. ``postgresql+psycopg://...``) works.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import (
    DateTime,
    Float,
    Index,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["QueueItem", "QueueUnavailableError", "open_queue", "pending_items", "upsert_scores"]

PENDING = "pending"


class QueueUnavailableError(RuntimeError):
    """The queue database cannot be reached or created."""


class Base(DeclarativeBase):
    pass


class QueueItem(Base):
    """One scored upload for one model version."""

    __tablename__ = "queue_items"
    __table_args__ = (
        UniqueConstraint("item_id", "model_version", name="uq_queue_item_model"),
        Index("ix_queue_status_score", "status", "triage_score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(200))
    artist_id: Mapped[str | None] = mapped_column(String(200))
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    triage_score: Mapped[float | None] = mapped_column(Float)
    p_ai: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    provenance_reasons: Mapped[str] = mapped_column(Text, default="[]")
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    backbone_id: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default=PENDING)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


#: Columns a re-score may change; ``status`` and ``id`` are never among them.
_SCORE_COLUMNS = ("artist_id", "uploaded_at", "triage_score", "p_ai", "reasons",
                  "provenance_reasons", "skip_reason", "backbone_id", "title", "tags", "scored_at")


def open_queue(url: str) -> Engine:
    """Connect (creating the tables if needed); raises :class:`QueueUnavailableError` with the cause."""
    try:
        engine = create_engine(url, pool_pre_ping=True)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        Base.metadata.create_all(engine)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise QueueUnavailableError(f"queue database {_redacted(url)} is unavailable: {exc}") from exc
    return engine


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown as given, minus anything after '@'
        return url.split("@")[-1]


def _value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def upsert_scores(engine: Engine, scored: pd.DataFrame) -> int:
    """Insert or update rows by (item_id, model_version); returns the number written.

    ``scored`` is the output of :func:`slopscore.scoring.score_uploads`.
    """
    now = datetime.now(timezone.utc)
    records = []
    for row in scored.to_dict("records"):
        if _value(row.get("item_id")) is None or _value(row.get("model_version")) is None:
            continue  # a malformed manifest row has no identity to queue
        record = {"item_id": str(row["item_id"]), "model_version": str(row["model_version"]),
                  "scored_at": now, "status": PENDING}
        for column in _SCORE_COLUMNS[:-1]:
            record[column] = _value(row.get(column))
        if isinstance(record["uploaded_at"], str):
            record["uploaded_at"] = datetime.fromisoformat(record["uploaded_at"])
        for column in ("reasons", "provenance_reasons"):
            record[column] = record[column] if isinstance(record[column], str) else json.dumps([])
        records.append(record)
    if not records:
        return 0
    insert = _dialect_insert(engine)
    statement = insert(QueueItem).values(records)
    statement = statement.on_conflict_do_update(
        index_elements=["item_id", "model_version"],
        set_={column: statement.excluded[column] for column in _SCORE_COLUMNS},
    )
    with engine.begin() as connection:
        connection.execute(statement)
    return len(records)


def _dialect_insert(engine: Engine):
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise QueueUnavailableError(
            f"queue databases are SQLite or PostgreSQL; got {engine.dialect.name}"
        )
    return insert


def pending_items(engine: Engine, limit: int = 50) -> list[QueueItem]:
    """Pending items, highest triage score first (unscored items last)."""
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        query = (select(QueueItem).where(QueueItem.status == PENDING)
                 .order_by(QueueItem.triage_score.desc().nulls_last(), QueueItem.id).limit(limit))
        return list(session.scalars(query))
