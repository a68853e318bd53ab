"""The policy's loop: an outbox of member messages, members' replies, template history, roles.

- ``outbox_messages``: one row per ``notify`` decision, the exact JSON delivered to the
  platform, its delivery state (queued, delivered, failed, withdrawn) and attempts.
- ``member_replies``: a member's clarification or replacement, posted by the platform.
- ``message_template_versions``: every saved text of a template; existing templates
  become version 1 of themselves.
- ``moderators.role``: ``moderator`` or ``admin``. Accounts that existed before this
  revision could already manage templates, so they become admins; new accounts are
  moderators unless made admins.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("moderators") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="moderator"))
    op.execute("UPDATE moderators SET role = 'admin'")
    with op.batch_alter_table("message_templates") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))

    op.create_table(
        "message_template_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("template_id", sa.Integer(), sa.ForeignKey("message_templates.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_by", sa.String(100), nullable=True),
        sa.UniqueConstraint("template_id", "version", name="uq_template_version"),
    )
    op.execute("INSERT INTO message_template_versions (template_id, version, name, body, saved_at, saved_by) "
               "SELECT id, 1, name, body, updated_at, updated_by FROM message_templates")

    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("decision_id", sa.Integer(), sa.ForeignKey("decisions.id"), nullable=False, unique=True),
        sa.Column("queue_item_id", sa.Integer(), sa.ForeignKey("queue_items.id"), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("artist_id", sa.String(200), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
    )
    op.create_index("ix_outbox_state_due", "outbox_messages", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_queue_item", "outbox_messages", ["queue_item_id"])

    op.create_table(
        "member_replies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("queue_item_id", sa.Integer(), sa.ForeignKey("queue_items.id"), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("file_refs", sa.Text(), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("client_reply_id", sa.String(100), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client", "client_reply_id", name="uq_member_reply_client_id"),
    )
    op.create_index("ix_member_replies_item", "member_replies", ["queue_item_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_member_replies_item", table_name="member_replies")
    op.drop_table("member_replies")
    op.drop_index("ix_outbox_queue_item", table_name="outbox_messages")
    op.drop_index("ix_outbox_state_due", table_name="outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_table("message_template_versions")
    with op.batch_alter_table("message_templates") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("moderators") as batch:
        batch.drop_column("role")
