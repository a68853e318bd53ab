"""Fill the review queue with scores, and read its pending items.

Rows are inserted or updated by (``item_id``, ``model_version``). Re-scoring
refreshes scores and reasons but never touches a moderator's ``status``, claim or
decisions, and nothing here deletes or hides an item: the queue only orders work
for people. The schema lives in :mod:`slopscore.review.schema`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from slopscore.review.database import QueueUnavailableError, open_queue
from slopscore.review.schema import Artwork, ModelVersion, QueueItem, Status

__all__ = ["QueueItem", "QueueUnavailableError", "QueueWriter", "open_queue", "pending_items",
           "register_model_version", "upsert_artworks", "upsert_scores"]

#: Queue column <- scored-frame column. A re-score may change these; never ``status``,
#: the claim, ``decided_at`` or ``id``.
_FROM_FRAME = {
    "artist_id": "artist_id", "uploaded_at": "uploaded_at", "source": "path",
    "file_type": "file_type", "triage_score": "triage_score", "p_ai": "p_ai",
    "portfolio_outlier": "centroid_z", "portfolio_size": "portfolio_size",
    "cold_start": "cold_start", "near_duplicates": "near_duplicates",
    "cross_account_posters": "cross_account_posters", "declared_ai": "declared_ai",
    "has_process_notes": "has_process_notes", "reasons": "reasons",
    "provenance_reasons": "provenance_reasons", "breakdown": "breakdown",
    "provenance_findings": "provenance_findings", "warnings": "warnings",
    "skip_reason": "skip_reason", "backbone_id": "backbone_id", "title": "title", "tags": "tags",
    "nearest_works": "nearest_works",
}
_JSON_DEFAULTS = {"reasons": "[]", "provenance_reasons": "[]", "breakdown": "{}",
                  "nearest_works": "[]", "provenance_findings": "[]", "warnings": "[]"}
_INTEGERS = ("portfolio_size", "cross_account_posters")
_BOOLEANS = ("cold_start", "declared_ai", "has_process_notes")
_CHUNK = 500  # rows per INSERT statement (SQLite allows 32k bound parameters)


def _value(value):
    """A plain Python value for the database (NaN, NA and NaT become NULL)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _record(row: Mapping, now: datetime) -> dict | None:
    if _value(row.get("item_id")) is None or _value(row.get("model_version")) is None:
        return None  # a malformed manifest row has no identity to queue
    record = {"item_id": str(row["item_id"]), "model_version": str(row["model_version"]),
              "scored_at": now, "status": Status.PENDING.value}
    for column, source in _FROM_FRAME.items():
        record[column] = _value(row.get(source))
    if isinstance(record["uploaded_at"], str):
        record["uploaded_at"] = datetime.fromisoformat(record["uploaded_at"])
    for column, default in _JSON_DEFAULTS.items():
        if not isinstance(record[column], str):
            record[column] = default
    for column in _INTEGERS:
        record[column] = None if record[column] is None else int(record[column])
    for column in _BOOLEANS:
        record[column] = None if record[column] is None else bool(record[column])
    return record


def upsert_scores(engine: Engine, scored: pd.DataFrame) -> int:
    """Insert or update rows by (item_id, model_version); returns the number written.

    ``scored`` is the output of :func:`slopscore.batch.score_table.score_uploads` (or a chunk of it).
    """
    now = datetime.now(timezone.utc)
    records = [r for r in (_record(row, now) for row in scored.to_dict("records")) if r is not None]
    insert = _dialect_insert(engine)
    with engine.begin() as connection:
        for start in range(0, len(records), _CHUNK):
            statement = insert(QueueItem).values(records[start:start + _CHUNK])
            statement = statement.on_conflict_do_update(
                index_elements=["item_id", "model_version"],
                set_={column: statement.excluded[column] for column in (*_FROM_FRAME, "scored_at")},
            )
            connection.execute(statement)
    return len(records)


def upsert_artworks(engine: Engine, works: pd.DataFrame) -> int:
    """Insert or update works (``item_id``, ``artist_id``, ``uploaded_at``, ``path``, ``title``)
    so moderators see an artist's portfolio; returns the number written."""
    records = []
    for row in works.to_dict("records"):
        if _value(row.get("item_id")) is None or _value(row.get("artist_id")) is None:
            continue
        uploaded = _value(row.get("uploaded_at"))
        records.append({"item_id": str(row["item_id"]), "artist_id": str(row["artist_id"]),
                        "uploaded_at": datetime.fromisoformat(uploaded) if isinstance(uploaded, str)
                        else uploaded,
                        "source": _value(row.get("path")), "title": _value(row.get("title"))})
    insert = _dialect_insert(engine)
    with engine.begin() as connection:
        for start in range(0, len(records), _CHUNK):
            statement = insert(Artwork).values(records[start:start + _CHUNK])
            statement = statement.on_conflict_do_update(
                index_elements=["item_id"],
                set_={c: statement.excluded[c] for c in ("artist_id", "uploaded_at", "source", "title")},
            )
            connection.execute(statement)
    return len(records)


class QueueWriter:
    """The batch job's queue sink (:class:`slopscore.batch.score_job.QueueSink`) over ``engine``."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def write_scores(self, rows: pd.DataFrame) -> int:
        """:func:`upsert_scores` into this queue."""
        return upsert_scores(self.engine, rows)

    def write_artworks(self, works: pd.DataFrame) -> int:
        """:func:`upsert_artworks` into this queue."""
        return upsert_artworks(self.engine, works)


def register_model_version(engine: Engine, model_version: str, backbone_id: str | None,
                           reference_histogram: Mapping | None, base_rate: float | None = None) -> None:
    """Record a scorer that writes into the queue, with its reference score histogram and the
    base rate its probabilities are stated for.

    The first registration wins: a version's reference distribution never changes.
    """
    insert = _dialect_insert(engine)
    statement = insert(ModelVersion).values(
        model_version=model_version, backbone_id=backbone_id,
        registered_at=datetime.now(timezone.utc),
        reference_histogram=json.dumps(dict(reference_histogram or {})), base_rate=base_rate,
    ).on_conflict_do_nothing(index_elements=["model_version"])
    with engine.begin() as connection:
        connection.execute(statement)


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
    with Session(engine) as session:
        query = (select(QueueItem).where(QueueItem.status == Status.PENDING.value)
                 .order_by(QueueItem.triage_score.desc().nulls_last(), QueueItem.id).limit(limit))
        return list(session.scalars(query))
