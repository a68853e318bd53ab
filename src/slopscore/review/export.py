"""Training labels from the audit log: each upload's latest decision, as CSV or Parquet.

Moderators' decisions become labels for the next model: :func:`latest_decisions`
reads one row per upload (columns :data:`EXPORT_COLUMNS`) and
:func:`export_decisions` writes them to a file. Reading the audit log changes nothing
in it. CSV text cells that a spreadsheet would run as a formula are defused
(:mod:`slopscore.batch.csv_cells`) unless raw cells are asked for.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from slopscore.batch.csv_cells import defuse_frame
from slopscore.review.decisions import latest_per_item
from slopscore.review.schema import Outcome, QueueItem
from slopscore.review.validation import InvalidInput, as_utc

__all__ = ["EXPORT_COLUMNS", "export_decisions", "latest_decisions"]

#: Columns of the exported labels, in order.
EXPORT_COLUMNS = ("item_id", "artist_id", "path", "uploaded_at", "review_outcome", "action",
                  "decided_at", "model_version", "title", "tags", "declared_ai", "has_process_notes")


def latest_decisions(engine: Engine):
    """One row per upload with its latest decision (a ``pandas.DataFrame``, columns
    :data:`EXPORT_COLUMNS`, oldest decision first).

    ``review_outcome`` is ``confirmed`` (a reviewer confirmed a policy concern) or
    ``dismissed`` (no concern, or the member's clarification cleared it). An upload whose
    latest decision reopened it has no label until it is decided again.
    """
    import pandas as pd

    ranked = latest_per_item().subquery()
    query = (
        select(ranked.c.item_id, ranked.c.artist_id, QueueItem.source.label("path"),
               QueueItem.uploaded_at, ranked.c.outcome.label("review_outcome"), ranked.c.action,
               ranked.c.decided_at, ranked.c.model_version, QueueItem.title, QueueItem.tags,
               QueueItem.declared_ai, QueueItem.has_process_notes)
        .join(QueueItem, QueueItem.id == ranked.c.queue_item_id)
        .where(ranked.c.rank == 1, ranked.c.outcome != Outcome.REOPENED.value)
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


def export_decisions(engine: Engine, out_path: str | os.PathLike[str], *, raw_csv: bool = False) -> int:
    """Write the training labels (:func:`latest_decisions`) to CSV or Parquet by suffix.

    The file is written beside ``out_path`` and renamed into place, so a reader never
    sees half of it. Returns the number of rows.

    Parameters
    ----------
    raw_csv : bool
        Write CSV text cells as they are. By default a text cell starting with ``=``,
        ``+``, ``-``, ``@``, a tab or a carriage return gets a ``'`` in front, so that a
        spreadsheet shows it instead of running it (titles and ids come from uploaders).
        Parquet is always raw.

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
            (frame if raw_csv else defuse_frame(frame)).to_csv(partial, index=False)
        else:
            frame.to_parquet(partial, index=False)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return len(frame)
