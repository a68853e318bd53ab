"""The private message to a member: editable templates and the text filled into them.

A moderator who notifies a member picks a template, which :func:`render_message`
fills with the upload's title and the concern in plain words (:func:`concern_text`);
they may edit the result before sending it with
:func:`~slopscore.review.decisions.decide`. Templates are added and edited, never
deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from slopscore.review.schema import MessageTemplate
from slopscore.review.validation import InvalidInput, ItemNotFound, as_utc, clean_text, utcnow

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_TEMPLATE_CHARS",
    "MAX_TEMPLATE_NAME_CHARS",
    "TemplateRecord",
    "concern_text",
    "list_templates",
    "render_message",
    "save_template",
]

#: The longest message a member is sent (:func:`render_message` cuts to it; ``decide`` checks it).
MAX_MESSAGE_CHARS = 5000
MAX_TEMPLATE_CHARS = 4000
MAX_TEMPLATE_NAME_CHARS = 100


@dataclass(frozen=True)
class TemplateRecord:
    """An editable private message; ``{title}`` and ``{concern}`` are filled in."""

    id: int
    name: str
    body: str
    updated_at: datetime
    updated_by: str | None


# ---------------------------------------------------------------- message templates


def _template_record(row) -> TemplateRecord:
    return TemplateRecord(row.id, row.name, row.body, as_utc(row.updated_at), row.updated_by)


def list_templates(engine: Engine) -> list[TemplateRecord]:
    """All message templates, by name."""
    with engine.connect() as connection:
        rows = connection.execute(select(MessageTemplate).order_by(MessageTemplate.name)).all()
    return [_template_record(r) for r in rows]


def save_template(engine: Engine, name: str, body: str, moderator: str,
                  template_id: int | None = None) -> TemplateRecord:
    """Create a template (``template_id`` None) or edit one; there is no deletion.

    Raises
    ------
    InvalidInput
        Empty or overlong name (100) or body (:data:`MAX_TEMPLATE_CHARS`), or the name is taken.
    ItemNotFound
        ``template_id`` does not exist.
    """
    name = clean_text(name, "template name", MAX_TEMPLATE_NAME_CHARS, required=True, multiline=False)
    body = clean_text(body, "template text", MAX_TEMPLATE_CHARS, required=True)
    values = {"name": name, "body": body, "updated_at": utcnow(), "updated_by": moderator}
    try:
        with engine.begin() as connection:
            if template_id is None:
                template_id = connection.execute(insert(MessageTemplate).values(values)
                                                 .returning(MessageTemplate.id)).scalar_one()
            elif connection.execute(update(MessageTemplate).where(MessageTemplate.id == template_id)
                                    .values(values)).rowcount != 1:
                raise ItemNotFound(f"no message template {template_id}")
    except IntegrityError:
        raise InvalidInput(f"a template named {name!r} already exists") from None
    return TemplateRecord(template_id, name, body, values["updated_at"], moderator)


# ---------------------------------------------------------------- the member's message

_MAX_TITLE_IN_MESSAGE = 200
_MAX_CONCERN_REASONS = 5


def concern_text(reasons: list[str], provenance: list[str]) -> str:
    """The concern in plain words for a member: the reasons that moved the score, as a list."""
    lines = [str(r)[:300] for r in [*reasons, *provenance] if str(r).strip()][:_MAX_CONCERN_REASONS]
    if not lines:
        return "- this upload looks like it may be generated with little artistic input"
    return "\n".join(f"- {line}" for line in lines)


def render_message(body: str, *, title: str | None, concern: str) -> str:
    """Fill ``{title}`` and ``{concern}`` into a template body (plain text, bounded).

    Only these two placeholders are replaced (no format-string evaluation); the result
    is cut to :data:`MAX_MESSAGE_CHARS` characters.
    """
    title = (title or "your upload").strip()[:_MAX_TITLE_IN_MESSAGE] or "your upload"
    text = body.replace("{title}", title).replace("{concern}", concern)
    return text[:MAX_MESSAGE_CHARS]
