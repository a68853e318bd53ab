"""Queue items keep their typed provenance findings and input warnings, and a review lane.

``provenance_findings`` and ``warnings`` are JSON lists (the output file's columns);
``review_lane`` is ``ranked`` (ordered by triage score) or ``needs_look`` (a file that could
not be scored but may still display: a person looks at it, it never sinks to the end).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_items") as batch:
        batch.add_column(sa.Column("provenance_findings", sa.Text(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("warnings", sa.Text(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("review_lane", sa.String(16), nullable=False, server_default="ranked"))


def downgrade() -> None:
    with op.batch_alter_table("queue_items") as batch:
        batch.drop_column("review_lane")
        batch.drop_column("warnings")
        batch.drop_column("provenance_findings")
