"""The private message to a member: editable templates and the text filled into them.

A moderator who notifies a member picks a template, which :func:`render_message`
fills with the upload's title and the concerns the moderator chose, in the policy's words
(:mod:`slopscore.review.policy_concerns`: never the model's internals);
they may edit the result before sending it with
:func:`~slopscore.review.decisions.decide`. Templates are added and edited (by admins),
never deleted, and every saved text is kept as a numbered version (:func:`template_history`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from slopscore.review.schema import MessageTemplate, TemplateVersion
from slopscore.review.validation import InvalidInput, ItemNotFound, as_utc, clean_text, utcnow

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_TEMPLATE_CHARS",
    "MAX_TEMPLATE_NAME_CHARS",
    "TemplateRecord",
    "TemplateVersionRecord",
    "list_templates",
    "render_message",
    "save_template",
    "template_history",
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
    version: int = 1


@dataclass(frozen=True)
class TemplateVersionRecord:
    """One saved text of a template (``version`` 1 is the first)."""

    template_id: int
    version: int
    name: str
    body: str
    saved_at: datetime
    saved_by: str | None


# ---------------------------------------------------------------- message templates


def _template_record(row) -> TemplateRecord:
    return TemplateRecord(row.id, row.name, row.body, as_utc(row.updated_at), row.updated_by, row.version)


def list_templates(engine: Engine) -> list[TemplateRecord]:
    """All message templates, by name."""
    with engine.connect() as connection:
        rows = connection.execute(select(MessageTemplate).order_by(MessageTemplate.name)).all()
    return [_template_record(r) for r in rows]


def save_template(engine: Engine, name: str, body: str, moderator: str,
                  template_id: int | None = None) -> TemplateRecord:
    """Create a template (``template_id`` None) or edit one; there is no deletion.

    Each save appends a :class:`~slopscore.review.schema.TemplateVersion` (the template's
    history) in the same transaction and raises the template's ``version``.

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
                template_id, version = connection.execute(
                    insert(MessageTemplate).values({**values, "version": 1})
                    .returning(MessageTemplate.id, MessageTemplate.version)).one()
            else:
                saved = connection.execute(
                    update(MessageTemplate).where(MessageTemplate.id == template_id)
                    .values({**values, "version": MessageTemplate.version + 1}).returning(MessageTemplate.version)).all()
                if len(saved) != 1:
                    raise ItemNotFound(f"no message template {template_id}")
                version = saved[0].version
            connection.execute(insert(TemplateVersion).values(
                template_id=template_id, version=version, name=name, body=body,
                saved_at=values["updated_at"], saved_by=moderator))
    except IntegrityError:
        raise InvalidInput(f"a template named {name!r} already exists") from None
    return TemplateRecord(template_id, name, body, values["updated_at"], moderator, version)


def template_history(engine: Engine, template_id: int, limit: int = 50) -> list[TemplateVersionRecord]:
    """A template's saved texts, newest version first."""
    query = (select(TemplateVersion).where(TemplateVersion.template_id == template_id)
             .order_by(TemplateVersion.version.desc()).limit(max(1, min(limit, 500))))
    with engine.connect() as connection:
        return [TemplateVersionRecord(r.template_id, r.version, r.name, r.body, as_utc(r.saved_at), r.saved_by)
                for r in connection.execute(query)]


# ---------------------------------------------------------------- the member's message

_MAX_TITLE_IN_MESSAGE = 200
_PLACEHOLDER = re.compile(r"\{(title|concern)\}")


def render_message(body: str, *, title: str | None, concern: str) -> str:
    """Fill ``{title}`` and ``{concern}`` into a template body (plain text, bounded).

    ``concern`` is :func:`slopscore.review.policy_concerns.concern_text` of the concerns the
    moderator chose. Both placeholders are replaced in one pass over the template only:
    braces in the uploader's title (``{concern}``, ``{0}``...) stay as written, and nothing
    is evaluated as a format string. The result is cut to :data:`MAX_MESSAGE_CHARS` characters.
    """
    title = (title or "your upload").strip()[:_MAX_TITLE_IN_MESSAGE] or "your upload"
    values = {"title": title, "concern": concern}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], body)[:MAX_MESSAGE_CHARS]
