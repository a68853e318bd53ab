"""What every part of moderation shares: its typed errors, UTC times, and checking text from people.

The errors' messages are safe to show a moderator. The failures of claims and decisions
(:class:`~slopscore.review.decisions.InvalidTransition`,
:class:`~slopscore.review.decisions.ClaimConflict`) live with them and derive from
:class:`ModerationError` too.

Times are UTC. SQLite stores them without an offset; :func:`as_utc` reads them back.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = [
    "InvalidInput",
    "ItemNotFound",
    "ModerationError",
    "as_utc",
    "clean_text",
    "utcnow",
]


class ModerationError(Exception):
    """Base class of moderation's typed failures; the message is safe to show a moderator."""


class InvalidInput(ModerationError, ValueError):
    """A value is missing, too long, malformed or contains control characters."""


class ItemNotFound(ModerationError, LookupError):
    """No queue item (or template) with this id."""


# ---------------------------------------------------------------- times and text


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite returns naive UTC; PostgreSQL aware)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def clean_text(value: object, field: str, limit: int, *, required: bool = False,
               multiline: bool = True) -> str | None:
    """Validate free text from a person: bounded, no control characters, trimmed.

    Returns None for empty optional text. Newlines (``\\r\\n`` normalised to ``\\n``)
    and tabs are allowed only when ``multiline``.

    Raises
    ------
    InvalidInput
        Not text, empty when required, longer than ``limit`` characters, or containing
        control characters.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    allowed = "\n\t" if multiline else ""
    if any((ord(ch) < 32 and ch not in allowed) or 0x7F <= ord(ch) < 0xA0 for ch in text):
        raise InvalidInput(f"{field} contains control characters")
    if len(text) > limit:
        raise InvalidInput(f"{field} has {len(text)} characters; the limit is {limit}")
    if not text:
        if required:
            raise InvalidInput(f"{field} is empty")
        return None
    return text
