"""Alembic environment for the review queue database.

Run through :func:`slopscore.review.database.upgrade`, which hands over an open
connection; the URL is never read from a file here.
"""

from alembic import context

from slopscore.review.schema import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through slopscore.review.database.upgrade (slopscore db upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
