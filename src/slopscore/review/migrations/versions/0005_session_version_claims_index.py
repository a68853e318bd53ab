"""Moderators get a session version (raising it ends every session), claims an index.

Sessions store the version they were signed in at; a request whose session holds an
older one is signed out. Logout, a password change, disabling and enabling raise it.
The index on ``(claimed_by, claimed_until)`` counts a moderator's open claims (the
per-moderator limit) without reading the whole queue.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("moderators") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_queue_claimed_by", "queue_items", ["claimed_by", "claimed_until"])


def downgrade() -> None:
    op.drop_index("ix_queue_claimed_by", table_name="queue_items")
    with op.batch_alter_table("moderators") as batch:
        batch.drop_column("session_version")
