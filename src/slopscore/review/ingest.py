"""Fill the review queue with scores, and read its pending items.

Rows are inserted or updated by (``item_id``, ``model_version``). Re-scoring
refreshes scores and reasons but never touches a moderator's ``status``, claim or
decisions, and nothing here deletes or hides an item: the queue only orders work
for people. A skipped row never replaces a scored one, and a row skipped for its
manifest line (malformed, duplicate item id) never replaces anything. Files that could
not be scored but may still display go to the "needs a look" lane
(:data:`NEEDS_LOOK_REASONS`). The schema lives in :mod:`slopscore.review.schema`.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import Enum

import numpy as np
import pandas as pd
from sqlalchemy import case, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from slopscore.media.decode import SkipReason
from slopscore.review.database import QueueUnavailableError, open_queue, redacted
from slopscore.review.schema import Artwork, ModelVersion, QueueItem, Status

__all__ = ["NEEDS_LOOK_REASONS", "Lane", "QueueItem", "QueueUnavailableError", "QueueWriter", "open_queue",
           "pending_items", "register_model_version", "review_lane", "upsert_artworks", "upsert_scores"]


class Lane(str, Enum):
    """Where a queue item waits (``queue_items.review_lane``)."""

    RANKED = "ranked"  # ordered by triage score (unscored rows that are no image last)
    NEEDS_LOOK = "needs_look"  # could not be scored but may still display: shown first, apart

    @property
    def label(self) -> str:
        return {"ranked": "Ranked by score", "needs_look": "Needs a look"}[self.value]


#: Skip reasons that put an item in the "needs a look" lane. The uploader chose these bytes
#: and a browser may still show them although our decoder refused them: browsers render
#: ``truncated`` files as far as they go and tolerate much ``corrupt`` data (bad checksums,
#: damaged chunks); ``too_large`` files are over our limits, not a browser's; and
#: ``not_an_image`` covers formats the decoder does not read but browsers do (AVIF, SVG,
#: JPEG XL...). Every other reason stays ranked (last among unscored rows): ``missing`` and
#: ``empty`` files show nothing; ``unreadable`` (permissions, not a regular file, changed
#: while read, too slow) and ``unsupported_source`` are problems of our storage or manifest
#: that a rerun fixes, not of the upload; ``malformed_row`` and ``duplicate_item_id`` are
#: manifest lines, not images; ``cache_lost`` is a rerun.
NEEDS_LOOK_REASONS = frozenset(r.value for r in (SkipReason.CORRUPT, SkipReason.TRUNCATED,
                                                 SkipReason.TOO_LARGE, SkipReason.NOT_AN_IMAGE))
#: Skip reasons about a file (its row may update an earlier skipped row); any other reason is
#: about the manifest line (``malformed_row``, ``duplicate_item_id``) and never replaces a row.
_FILE_REASONS = frozenset(r.value for r in SkipReason) | {"cache_lost"}

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


def review_lane(skip_reason: str | None) -> Lane:
    """The lane of an item skipped for ``skip_reason`` (None: scored, ranked)."""
    return Lane.NEEDS_LOOK if skip_reason in NEEDS_LOOK_REASONS else Lane.RANKED


def _record(row: Mapping, now: datetime) -> dict | None:
    if _value(row.get("item_id")) is None or _value(row.get("model_version")) is None:
        return None  # a malformed manifest row has no identity to queue
    record = {"item_id": str(row["item_id"]), "model_version": str(row["model_version"]),
              "scored_at": now, "status": Status.PENDING.value}
    for column, source in _FROM_FRAME.items():
        record[column] = _value(row.get(source))
    if record["skip_reason"] is None and _value(row.get("status")) == "skipped":
        record["skip_reason"] = "unknown"
    if record["skip_reason"] is not None:
        record["triage_score"] = record["p_ai"] = None  # a skipped row has no score to rank by
    record["review_lane"] = review_lane(record["skip_reason"]).value
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


def _rank(record: dict) -> int:
    """2: scored; 1: skipped for its file; 0: skipped for its manifest line."""
    reason = record["skip_reason"]
    return 2 if reason is None else 1 if reason in _FILE_REASONS else 0


def upsert_scores(engine: Engine, scored: pd.DataFrame) -> int:
    """Insert or update rows by (item_id, model_version); returns the number really written.

    ``scored`` is the output of :func:`slopscore.batch.score_table.score_uploads` (or a chunk of
    it). A scored row inserts or updates. A row skipped for its file (``corrupt``,
    ``missing``...) inserts, or updates a row that is skipped too, never a scored one: a file
    that broke since it was scored keeps its score. A row skipped for its manifest line
    (``malformed_row``, ``duplicate_item_id``) only inserts. Rows left alone are not counted.
    """
    now = datetime.now(timezone.utc)
    best: dict[tuple[str, str], dict] = {}  # one row per key, the most informative (see _rank)
    for row in scored.to_dict("records"):
        record = _record(row, now)
        if record is not None:
            key, rank = (record["item_id"], record["model_version"]), _rank(record)
            kept = _rank(best[key]) if key in best else -1
            if rank > kept or rank == kept > 0:  # a later manifest-line skip never replaces the first
                best[key] = record
    groups: dict[int, list[dict]] = {2: [], 1: [], 0: []}
    for record in best.values():
        groups[_rank(record)].append(record)
    insert = _dialect_insert(engine)
    updated = (*_FROM_FRAME, "review_lane", "scored_at")
    written = 0
    with engine.begin() as connection:
        for rank, records in groups.items():
            for start in range(0, len(records), _CHUNK):
                statement = insert(QueueItem).values(records[start:start + _CHUNK])
                if rank == 0:
                    statement = statement.on_conflict_do_nothing(index_elements=["item_id", "model_version"])
                else:
                    statement = statement.on_conflict_do_update(
                        index_elements=["item_id", "model_version"],
                        set_={column: statement.excluded[column] for column in updated},
                        where=QueueItem.skip_reason.is_not(None) if rank == 1 else None,
                    )
                written += len(connection.execute(statement.returning(QueueItem.id)).all())
    return written


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
        """:func:`upsert_scores` into this queue; a database failure is a :class:`QueueUnavailableError`."""
        with self._unavailable():
            return upsert_scores(self.engine, rows)

    def write_artworks(self, works: pd.DataFrame) -> int:
        """:func:`upsert_artworks` into this queue; a database failure is a :class:`QueueUnavailableError`."""
        with self._unavailable():
            return upsert_artworks(self.engine, works)

    @contextlib.contextmanager
    def _unavailable(self):
        try:
            yield
        except SQLAlchemyError as exc:
            cause = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise QueueUnavailableError(f"review queue {redacted(str(self.engine.url))} failed mid-run: "
                                        f"{cause}") from exc


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
    """Pending items: the "needs a look" lane first, then highest triage score first (other
    unscored items last)."""
    lane_first = case((QueueItem.review_lane == Lane.NEEDS_LOOK.value, 0), else_=1)
    with Session(engine) as session:
        query = (select(QueueItem).where(QueueItem.status == Status.PENDING.value)
                 .order_by(lane_first, QueueItem.triage_score.desc().nulls_last(), QueueItem.id)
                 .limit(limit))
        return list(session.scalars(query))
