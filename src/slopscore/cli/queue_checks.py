"""Refuse to create a review-queue database by accident (``serve``, ``moderator add``).

Opening a queue creates a missing SQLite file and the schema in an empty database; a typo
in ``--db`` would then serve an empty queue or add a moderator nobody's server reads.
Those commands create a database only with ``--create``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["missing_queue"]


def missing_queue(url: str) -> str | None:
    """Why ``url`` holds no review queue yet (a message naming ``--create``), or None when it does.

    A SQLite URL needs its file; any other URL a reachable database with the queue's schema
    (an older schema is fine: opening the queue migrates it). An unreachable database is
    left to :func:`slopscore.review.database.open_queue`, which says so.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from slopscore.review.database import QueueUnavailableError, current_revision, open_queue, redacted

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - open_queue reports a bad URL
        return None
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:" and not Path(path).is_file():
            return (f"no review queue database at {redacted(url)} (the file does not exist); pass --create "
                    "to create it, or check --db (`slopscore demo` writes sqlite:///demo/queue.db)")
        return None
    try:
        engine = open_queue(url, migrate=False)
    except QueueUnavailableError:
        return None
    try:
        revision = current_revision(engine)
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    if revision is None:
        return f"{redacted(url)} holds no review queue (no schema); pass --create to create it there"
    return None
