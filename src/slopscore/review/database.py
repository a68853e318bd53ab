"""Open the review queue database and bring its schema up to date with Alembic.

SQLite by default (a file beside the demo, or any path); PostgreSQL by URL
(``postgresql+psycopg://user:password@host/db``, with the ``postgres`` extra).
The schema only ever changes through the migrations in ``slopscore/review/migrations``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["QueueUnavailableError", "current_revision", "head_revision", "open_queue",
           "redacted", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_SQLITE_BUSY_TIMEOUT_S = 30


class QueueUnavailableError(RuntimeError):
    """The queue database cannot be reached, created or migrated."""


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown minus anything before '@'
        return url.split("@")[-1]


def _alembic_config(connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this slopscore ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent)."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # readers never block the writer
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_S * 1000}")
            cursor.close()

        return engine
    if parsed.get_backend_name() != "postgresql":
        raise QueueUnavailableError(
            f"queue databases are SQLite or PostgreSQL; got {parsed.get_backend_name()!r}"
        )
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def open_queue(url: str, *, migrate: bool = True) -> Engine:
    """Connect and migrate to the newest schema.

    Raises
    ------
    QueueUnavailableError
        The URL is not SQLite/PostgreSQL, the server cannot be reached, or the
        schema cannot be migrated; the message names the URL without its password.
    """
    try:
        engine = _create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        if migrate:
            upgrade(engine)
    except QueueUnavailableError:
        raise
    except (SQLAlchemyError, ValueError, ImportError, OSError) as exc:
        raise QueueUnavailableError(f"queue database {redacted(url)} is unavailable: {exc}") from exc
    return engine
