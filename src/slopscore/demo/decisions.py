"""SIMULATED moderator decisions for the synthetic demo platform. Not real reviews.

The analyst report and notebooks need decisions to show anything. On demo data the
ground truth is known (the generator's intent), so a simulated reviewer works the
queue as a team with a daily budget would: each day, the highest-scoring pending items
uploaded that day, up to the budget. Every decision it records names the moderator
``simulated-reviewer`` and says "SIMULATED" in its note, so nobody mistakes it for a
person's judgement.

What the simulated reviewer decides (:class:`~slopscore.review.schema.Action`):

- ``ai_slop`` -> ``notify`` (confirmed); a share of those members later replace the
  work -> ``resolved_replaced`` (still confirmed).
- ``human`` -> ``no_concern`` (dismissed).
- ``ai_assisted`` (allowed by the policy) -> ``no_concern``, or for a share of them
  ``notify`` first and ``resolved_clarified`` later, when the member explains the
  process (dismissed: the latest decision counts).

Rows are written with plain SQLAlchemy inserts and updates consistent with
:mod:`slopscore.review.schema` (an appended Decision per action; the item's ``status`` and
``decided_at`` follow its latest action). Nothing is removed or hidden.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Engine

from slopscore.review.schema import SIMULATED_MODERATOR, Action, Decision, QueueItem, Status

__all__ = ["SIMULATED_MODERATOR", "SimulationOutcome", "labels_from_manifest",
           "simulate_decisions"]

_NOTE = "SIMULATED decision on synthetic demo data (ground-truth label: {label})"
_MESSAGE = ("[SIMULATED] Hello, a moderator looked at your upload \"{title}\". It looks like "
            "generated imagery posted without an artistic contribution. Please replace it, or "
            "tell us how you made it.")
_LABELS = ("human", "ai_assisted", "ai_slop")


@dataclass(frozen=True)
class SimulationOutcome:
    """What the simulated reviewer did.

    Attributes
    ----------
    reviewed : int
        Queue items that received decisions.
    confirmed, dismissed : int
        Of those, by the outcome of their latest decision (``confirmed + dismissed ==
        reviewed``).
    decisions : int
        Decision rows appended (an item can have two: notify, then a resolution).
    days : int
        Upload days whose items were considered.
    skipped_unlabelled : int
        Pending scored items without a known label, left pending.
    """

    reviewed: int
    confirmed: int
    dismissed: int
    decisions: int
    days: int
    skipped_unlabelled: int


def labels_from_manifest(path: str | os.PathLike[str]) -> dict[str, str]:
    """``item_id -> label`` from a demo manifest's ``label`` column (unknown labels skipped)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["item_id"]: row["label"] for row in csv.DictReader(handle)
                if row.get("label") in _LABELS}


def _actions(label: str, rng: np.random.Generator, replaced_share: float,
             clarified_share: float) -> list[tuple[Action, float]]:
    """The simulated actions for one item and their delays in hours after the first."""
    if label == "ai_slop":
        steps = [(Action.NOTIFY, 0.0)]
        if rng.random() < replaced_share:
            steps.append((Action.RESOLVED_REPLACED, float(rng.uniform(24, 120))))
        return steps
    if label == "ai_assisted" and rng.random() < clarified_share:
        return [(Action.NOTIFY, 0.0), (Action.RESOLVED_CLARIFIED, float(rng.uniform(12, 72)))]
    return [(Action.NO_CONCERN, 0.0)]


def simulate_decisions(engine: Engine, labels: Mapping[str, str], *, budget_per_day: int = 10,
                       model_version: str | None = None, replaced_share: float = 0.3,
                       clarified_share: float = 0.5, seed: int = 0) -> SimulationOutcome:
    """Record SIMULATED decisions for the top pending items of each upload day.

    Parameters
    ----------
    engine : Engine
        A review queue holding scored demo items.
    labels : mapping of str to str
        Ground truth per ``item_id``: ``human``, ``ai_assisted`` or ``ai_slop``
        (e.g. :func:`labels_from_manifest`). Items without one stay pending.
    budget_per_day : int
        Items reviewed per upload day (UTC; scoring day when the upload time is unknown),
        highest triage score first.
    model_version : str, optional
        Only this model version's items (default: every pending scored item).
    replaced_share, clarified_share : float
        In [0, 1]: share of notified slop later replaced; share of AI-assisted items
        notified and then cleared by the member's clarification.
    seed : int
        Seed of the only random generator (decision delays and shares).

    Returns
    -------
    SimulationOutcome
    """
    if budget_per_day < 1:
        raise ValueError(f"budget_per_day must be at least 1; got {budget_per_day}")
    rng = np.random.default_rng(seed)
    query = (select(QueueItem.id, QueueItem.item_id, QueueItem.artist_id, QueueItem.model_version,
                    QueueItem.triage_score, QueueItem.p_ai, QueueItem.uploaded_at,
                    QueueItem.scored_at, QueueItem.title)
             .where(QueueItem.status == Status.PENDING.value, QueueItem.triage_score.is_not(None))
             .order_by(QueueItem.triage_score.desc(), QueueItem.id))
    if model_version is not None:
        query = query.where(QueueItem.model_version == model_version)
    with engine.connect() as connection:
        pending = connection.execute(query).all()
    by_day: dict[object, list] = {}
    unlabelled = 0
    for row in pending:
        if labels.get(row.item_id) not in _LABELS:
            unlabelled += 1
            continue
        when = _utc(row.uploaded_at or row.scored_at)
        by_day.setdefault(when.date(), []).append(row)
    decisions, updates, confirmed = [], [], 0
    for day in sorted(by_day):
        for row in by_day[day][:budget_per_day]:  # already highest score first
            label = labels[row.item_id]
            first = _utc(row.uploaded_at or row.scored_at) + timedelta(hours=float(rng.uniform(1, 30)))
            steps = _actions(label, rng, replaced_share, clarified_share)
            for action, delay in steps:
                decisions.append({
                    "queue_item_id": row.id, "item_id": row.item_id, "artist_id": row.artist_id,
                    "action": action.value, "outcome": action.outcome.value,
                    "moderator": SIMULATED_MODERATOR, "decided_at": first + timedelta(hours=delay),
                    "model_version": row.model_version, "triage_score": row.triage_score,
                    "p_ai": row.p_ai, "note": _NOTE.format(label=label),
                    "message": (_MESSAGE.format(title=row.title or row.item_id)
                                if action is Action.NOTIFY else None),
                })
            last_action, last_delay = steps[-1]
            confirmed += last_action.outcome.value == "confirmed"
            updates.append({"b_id": row.id, "b_status": last_action.status.value,
                            "b_decided_at": first + timedelta(hours=last_delay)})
    if decisions:
        with engine.begin() as connection:
            connection.execute(insert(Decision), decisions)
            connection.execute(
                update(QueueItem).where(QueueItem.id == bindparam("b_id"))
                .values(status=bindparam("b_status"), decided_at=bindparam("b_decided_at")),
                updates)
    return SimulationOutcome(len(updates), confirmed, len(updates) - confirmed, len(decisions),
                             len(by_day), unlabelled)


def _utc(value: datetime) -> datetime:
    """Aware UTC datetime (SQLite returns naive UTC values)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
