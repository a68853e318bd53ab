"""Default private-message templates for the "Notify member privately" step (data only).

Moderators edit these in the web app; ``{title}`` and ``{concern}`` are filled in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_FOOTER = (
    "Nothing has been removed or hidden: this message is private, between you and the "
    "moderation team, and a person will read your reply.\n\n"
    "Thank you,\nThe moderation team"
)

TEMPLATES = {
    "Ask about the process": (
        "Hello,\n\n"
        "Thank you for sharing \"{title}\". A moderator looked at it and would like to "
        "understand more about how it was made, because:\n\n"
        "{concern}\n\n"
        "Our guidelines welcome original work, and AI-assisted work where your own "
        "direction, editing or transformation is clear. They do not allow low-effort, "
        "mass-generated images presented as authored work.\n\n"
        "Could you reply with a short note about your process (sketches, layers or "
        "work-in-progress images help), or replace the upload with media that shows your "
        "contribution?\n\n" + _FOOTER
    ),
    "Many similar uploads": (
        "Hello,\n\n"
        "We noticed several very similar uploads on your profile, including \"{title}\":\n\n"
        "{concern}\n\n"
        "Our guidelines ask members not to fill a profile with mass-produced images. Could "
        "you choose the pieces that best show your work and replace the others, or tell us "
        "how this series was made?\n\n" + _FOOTER
    ),
    "Label AI assistance": (
        "Hello,\n\n"
        "\"{title}\" may have been made with AI tools:\n\n"
        "{concern}\n\n"
        "AI-assisted work is welcome when your own contribution is clear. Could you add a "
        "note describing how you used the tools and what you changed yourself, or replace "
        "the upload if it was generated without your direction?\n\n" + _FOOTER
    ),
}

_templates = sa.table(
    "message_templates",
    sa.column("name", sa.String),
    sa.column("body", sa.Text),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("updated_by", sa.String),
)


def upgrade() -> None:
    now = datetime.now(timezone.utc)
    op.bulk_insert(_templates, [
        {"name": name, "body": body, "updated_at": now, "updated_by": "slopscore"}
        for name, body in TEMPLATES.items()
    ])


def downgrade() -> None:
    # Only the untouched defaults go; templates moderators edited or added are kept.
    for name in TEMPLATES:
        op.execute(_templates.delete().where(_templates.c.name == name,
                                             _templates.c.updated_by == "slopscore"))
