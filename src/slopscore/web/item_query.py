"""What the item page reads: the item, its score breakdown, and the artist's portfolio."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from slopscore.review.schema import Artwork, ModelVersion, QueueItem

__all__ = ["MAX_ROW_ID", "WorkThumb", "breakdown", "load_item", "model_base_rate", "nearest_works",
           "recent_works", "row_id"]

MAX_NEAREST = 8
MAX_RECENT = 12
#: Largest integer key the databases store (PostgreSQL ``integer``); larger ids name nothing.
MAX_ROW_ID = 2**31 - 1


def row_id(value: int) -> int:
    """A database row id from a URL, or a 404 when it cannot name a row."""
    if not 1 <= value <= MAX_ROW_ID:
        raise HTTPException(404)
    return value


@dataclass(frozen=True)
class WorkThumb:
    """One of the artist's works shown beside the item (``similarity`` in [-1, 1], higher =
    more alike; None for "recent works")."""

    key: str
    title: str | None
    uploaded_at: datetime | None
    similarity: float | None


def model_base_rate(engine: Engine, model_version: str | None) -> float | None:
    """The base rate the item's scorer stated its probabilities for (None if not recorded)."""
    if not model_version:
        return None
    with engine.connect() as connection:
        return connection.execute(select(ModelVersion.base_rate).where(
            ModelVersion.model_version == model_version)).scalar_one_or_none()


def load_item(engine: Engine, queue_item_id: int) -> QueueItem | None:
    """The queue item, detached from its session (read-only use)."""
    with Session(engine, expire_on_commit=False) as session:
        item = session.get(QueueItem, queue_item_id)
        if item is not None:
            session.expunge(item)
        return item


def breakdown(raw: str | None) -> tuple[list[tuple[str, float]], float | None]:
    """The triage model's logit contributions, largest effect first (baseline last), and
    their sum (the score's logit), from the stored JSON object; damaged JSON gives nothing."""
    try:
        values = json.loads(raw or "{}")
    except (ValueError, TypeError):
        return [], None
    if not isinstance(values, dict):
        return [], None
    parts = [(str(k)[:100], float(v)) for k, v in values.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)][:50]
    if not parts:
        return [], None
    features = sorted((p for p in parts if p[0] != "intercept"), key=lambda p: -abs(p[1]))
    features += [p for p in parts if p[0] == "intercept"]
    return features, sum(v for _, v in parts)


def nearest_works(engine: Engine, raw: str | None, artist_id: str | None) -> list[WorkThumb]:
    """The artist's most similar earlier works named by the batch job, most similar first.

    Only works of the same artist that exist in ``artworks`` are returned.
    """
    try:
        entries = json.loads(raw or "[]")
    except (ValueError, TypeError):
        return []
    if not isinstance(entries, list) or not artist_id:
        return []
    similarity: dict[str, float | None] = {}
    for entry in entries[:50]:
        if isinstance(entry, dict) and isinstance(entry.get("item_id"), str):
            value = entry.get("similarity")
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            similarity.setdefault(entry["item_id"][:200], float(value) if ok else None)
    if not similarity:
        return []
    with engine.connect() as connection:
        rows = connection.execute(
            select(Artwork.item_id, Artwork.title, Artwork.uploaded_at)
            .where(Artwork.item_id.in_(list(similarity)), Artwork.artist_id == artist_id)
        ).all()
    works = [WorkThumb(r.item_id, r.title, r.uploaded_at, similarity[r.item_id]) for r in rows]
    works.sort(key=lambda w: -(w.similarity if w.similarity is not None else -2.0))
    return works[:MAX_NEAREST]


def recent_works(engine: Engine, artist_id: str | None, exclude_item_id: str) -> list[WorkThumb]:
    """The artist's most recent works (other than this one), newest first."""
    if not artist_id:
        return []
    with engine.connect() as connection:
        rows = connection.execute(
            select(Artwork.item_id, Artwork.title, Artwork.uploaded_at)
            .where(Artwork.artist_id == artist_id, Artwork.item_id != exclude_item_id)
            .order_by(Artwork.uploaded_at.desc().nulls_last(), Artwork.item_id)
            .limit(MAX_RECENT)
        ).all()
    return [WorkThumb(r.item_id, r.title, r.uploaded_at, None) for r in rows]
