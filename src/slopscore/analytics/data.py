"""Read the review queue for the analyst report: scored items, reviewed items, references.

Read-only: the report never migrates, claims, decides or writes anything. Queries
select named columns only and stream their rows in chunks (``yield_per``), with the
latest decision per item chosen in SQL by a window function, so they work alike on
SQLite (3.25+) and PostgreSQL.

Timestamps come back as UTC ``pandas.Timestamp`` (SQLite stores them without a zone;
they are written in UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from slopscore.review.database import QueueUnavailableError, current_revision, head_revision, open_queue, redacted
from slopscore.review.schema import SIMULATED_MODERATOR, Action, Decision, ModelVersion, Outcome, QueueItem

__all__ = ["QueueData", "load_queue_data", "open_for_report", "to_utc"]

_CHUNK_ROWS = 5000
_ITEM_COLUMNS = (
    QueueItem.id, QueueItem.item_id, QueueItem.model_version, QueueItem.artist_id,
    QueueItem.uploaded_at, QueueItem.scored_at, QueueItem.file_type, QueueItem.triage_score, QueueItem.p_ai,
    QueueItem.portfolio_size, QueueItem.cold_start, QueueItem.has_process_notes,
    QueueItem.declared_ai, QueueItem.title, QueueItem.tags, QueueItem.status,
)
_OUTCOME_OF_ACTION = {action.value: action.outcome.value for action in Action}
_OUTCOMES = {outcome.value for outcome in Outcome}


@dataclass(frozen=True)
class QueueData:
    """What the report is computed from.

    Attributes
    ----------
    items : pandas.DataFrame
        Scored queue items (``triage_score`` not NULL), one row per (upload, model
        version), with ``day`` (UTC midnight of ``uploaded_at``, else of ``scored_at``);
        restricted to ``day >= since`` and to ``model_version`` when given.
    reviewed : pandas.DataFrame
        One row per reviewed item (a queue item with at least one decision), restricted to
        latest decisions at or after ``since`` and to ``model_version`` when given. Item
        columns plus ``action``, ``outcome`` (``confirmed`` / ``dismissed``) and
        ``decided_at`` of the latest decision, ``moderator`` who made it,
        ``n_decisions``, ``confirmed`` (bool), ``week`` ("2026-W27", ISO week of
        ``decided_at`` in UTC) and ``week_start`` (its Monday). ``triage_score`` is the
        queue item's score (the decision's snapshot when the item has none); NaN when
        the file could not be scored.
    references : dict of str to str
        ``ModelVersion.reference_histogram`` per model version present.
    version_order : list of str
        The model versions present, oldest registration first (unregistered ones last,
        by name).
    unrecognised_decisions : int
        Latest decisions whose action and outcome are both outside the policy vocabulary;
        they are left out of every number.
    since : pandas.Timestamp or None
    model_version : str or None
    base_rates : dict of str to float or None
        ``ModelVersion.base_rate`` per model version present (None where not recorded).
    """

    items: pd.DataFrame
    reviewed: pd.DataFrame
    references: dict[str, str]
    version_order: list[str]
    unrecognised_decisions: int
    since: pd.Timestamp | None
    model_version: str | None
    base_rates: dict = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        """True when any latest decision was made by the demo's simulated reviewer."""
        return bool((self.reviewed["moderator"] == SIMULATED_MODERATOR).any())


def open_for_report(url: str) -> Engine:
    """Connect to an existing, up-to-date review queue without changing it.

    Raises
    ------
    QueueUnavailableError
        The SQLite file does not exist, the server cannot be reached, the database holds
        no review queue, or its schema is not this slopscore's (the message says which,
        naming the URL without its password).
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad URL
        raise QueueUnavailableError(f"not a database URL: {redacted(url)} ({exc})") from None
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or not Path(path).is_file():
            raise QueueUnavailableError(
                f"no review queue database at {redacted(url)} (the file does not exist; "
                "`slopscore demo` or `slopscore score --queue URL` fills one)")
    engine = open_queue(url, migrate=False)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        raise QueueUnavailableError(f"queue database {redacted(url)} is unavailable: {exc}") from exc
    if revision is None:
        raise QueueUnavailableError(f"{redacted(url)} holds no review queue (no schema version)")
    if revision != head_revision():
        raise QueueUnavailableError(
            f"queue database {redacted(url)} is at schema {revision}; this slopscore reads "
            f"{head_revision()}. Upgrade it first (opening it with `slopscore score --queue` "
            "migrates it)")
    return engine


def to_utc(values: pd.Series) -> pd.Series:
    """Datetimes as UTC; naive values (SQLite) are taken to be UTC already."""
    return pd.to_datetime(values.astype(object), utc=True)


def _since(value: date | datetime | str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _read(engine: Engine, statement) -> pd.DataFrame:
    """Run ``statement`` and collect its rows chunk by chunk."""
    parts = []
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=_CHUNK_ROWS).execute(statement)
        columns = list(result.keys())
        for chunk in result.partitions():
            parts.append(pd.DataFrame.from_records([tuple(r) for r in chunk], columns=columns))
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Consistent dtypes whatever the backend returned (and for empty results)."""
    frame = frame.copy()
    for column in ("uploaded_at", "scored_at", "decided_at"):
        if column in frame:
            frame[column] = to_utc(frame[column])
    for column in ("triage_score", "decision_score", "p_ai"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in ("cold_start", "has_process_notes", "declared_ai"):
        frame[column] = frame[column].astype(object).map(
            lambda v: pd.NA if v is None or (isinstance(v, float) and np.isnan(v)) else bool(v)
        ).astype("boolean")
    frame["portfolio_size"] = pd.to_numeric(frame["portfolio_size"], errors="coerce").astype("Int64")
    for column in ("item_id", "model_version", "artist_id", "file_type", "title", "tags",
                   "status", "action", "outcome", "moderator"):
        if column in frame:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def _day(frame: pd.DataFrame) -> pd.Series:
    stamp = frame["uploaded_at"].where(frame["uploaded_at"].notna(), frame["scored_at"])
    return stamp.dt.floor("D")


def load_queue_data(engine: Engine, *, since: date | datetime | str | None = None,
                    model_version: str | None = None) -> QueueData:
    """Load scored items, reviewed items and reference histograms.

    Parameters
    ----------
    engine : Engine
        A review queue (SQLite or PostgreSQL) at the current schema.
    since : date, datetime or ISO string, optional
        Keep reviewed items whose latest decision is at or after it, and scored items
        whose day (upload time, else scoring time) is at or after it. A date means
        midnight UTC; a naive datetime is taken as UTC.
    model_version : str, optional
        Keep only this model version's rows.
    """
    since_ts = _since(since)
    items_query = select(*_ITEM_COLUMNS).where(QueueItem.triage_score.is_not(None))
    if model_version is not None:
        items_query = items_query.where(QueueItem.model_version == model_version)
    if since_ts is not None:  # coarse filter in SQL; the exact day rule is applied below
        items_query = items_query.where(func.coalesce(QueueItem.uploaded_at, QueueItem.scored_at)
                                        >= since_ts.normalize().to_pydatetime())
    items = _typed(_read(engine, items_query.order_by(QueueItem.id)))
    items["day"] = _day(items) if len(items) else pd.Series(dtype="datetime64[ns, UTC]")
    if since_ts is not None:
        items = items[items["day"] >= since_ts.normalize()].reset_index(drop=True)

    order = (Decision.decided_at.desc(), Decision.id.desc())
    ranked = select(
        Decision.queue_item_id, Decision.action, Decision.outcome, Decision.decided_at,
        Decision.moderator, Decision.triage_score.label("decision_score"),
        func.row_number().over(partition_by=Decision.queue_item_id, order_by=order).label("rank"),
        func.count(Decision.id).over(partition_by=Decision.queue_item_id).label("n_decisions"),
    ).subquery()
    reviewed_query = (
        select(*_ITEM_COLUMNS, ranked.c.action, ranked.c.outcome, ranked.c.decided_at,
               ranked.c.moderator, ranked.c.decision_score, ranked.c.n_decisions)
        .join(ranked, ranked.c.queue_item_id == QueueItem.id)
        .where(ranked.c.rank == 1)
    )
    if model_version is not None:
        reviewed_query = reviewed_query.where(QueueItem.model_version == model_version)
    if since_ts is not None:
        reviewed_query = reviewed_query.where(ranked.c.decided_at >= since_ts.to_pydatetime())
    reviewed = _typed(_read(engine, reviewed_query.order_by(QueueItem.id)))
    reviewed, unrecognised = _with_outcomes(reviewed)

    versions = sorted(set(items["model_version"]) | set(reviewed["model_version"]))
    references: dict[str, str] = {}
    registered: dict[str, pd.Timestamp] = {}
    base_rates: dict[str, float | None] = {}
    if versions:
        query = select(ModelVersion.model_version, ModelVersion.reference_histogram,
                       ModelVersion.registered_at, ModelVersion.base_rate).where(
                           ModelVersion.model_version.in_(versions))
        with engine.connect() as connection:
            for version, histogram, registered_at, base_rate in connection.execute(query):
                references[version] = histogram
                registered[version] = to_utc(pd.Series([registered_at])).iloc[0]
                base_rates[version] = base_rate
    never = pd.Timestamp.max.tz_localize("UTC")
    order = sorted(versions, key=lambda v: (registered.get(v, never), v))
    return QueueData(items, reviewed, references, order, unrecognised, since_ts, model_version, base_rates)


def _with_outcomes(reviewed: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Outcome from the latest action (the stored outcome when the action is unknown).

    Items whose latest decision reopened them are not reviewed (they wait for a new
    decision) and are left out without counting as unrecognised.
    """
    outcome = reviewed["action"].map(_OUTCOME_OF_ACTION).astype(object)
    stored = reviewed["outcome"].where(reviewed["outcome"].isin(_OUTCOMES), None)
    outcome = outcome.where(outcome.notna(), stored)
    reopened = outcome == Outcome.REOPENED.value
    known = outcome.notna() & ~reopened
    reviewed = reviewed[known].copy()
    reviewed["outcome"] = outcome[known].astype(object)
    reviewed["confirmed"] = (reviewed["outcome"] == Outcome.CONFIRMED.value).astype(bool)
    reviewed["triage_score"] = reviewed["triage_score"].where(
        reviewed["triage_score"].notna(), reviewed["decision_score"])
    reviewed["n_decisions"] = pd.to_numeric(reviewed["n_decisions"]).astype(np.int64)
    if len(reviewed):
        iso = reviewed["decided_at"].dt.isocalendar()
        reviewed["week"] = [f"{y:04d}-W{w:02d}" for y, w in zip(iso["year"], iso["week"])]
        reviewed["week_start"] = (reviewed["decided_at"].dt.floor("D")
                                  - pd.to_timedelta(reviewed["decided_at"].dt.day_of_week, unit="D")
                                  ).dt.date
    else:
        reviewed["week"] = pd.Series(dtype=object)
        reviewed["week_start"] = pd.Series(dtype=object)
    return reviewed.drop(columns=["decision_score"]).reset_index(drop=True), int((~known & ~reopened).sum())
