"""One manifest row from a raw record: every value from strangers checked and bounded.

Identifiers, paths, dates, labels and booleans must be valid, or the record is
rejected with :class:`InvalidValue` (the reader turns it into a ``malformed_row``).
Free text (titles, tags) is kept instead: put on one line, control characters
dropped, cut to its limit, and the row's ``warnings`` say so, so a stray character
in a title never keeps an upload from review.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = ["FUTURE_SLACK", "InvalidValue", "Label", "MAX_ID_CHARS", "MAX_TAGS", "MAX_TITLE_CHARS",
           "ManifestRow", "validate_record"]

MAX_ID_CHARS = 200
MAX_PATH_CHARS = 4096
MAX_TITLE_CHARS = 300
MAX_TAGS = 50
MAX_TAG_CHARS = 64
#: An upload time later than now by more than this is kept, with a warning.
FUTURE_SLACK = timedelta(days=1)

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_UNKNOWN = {"", "unknown", "none", "null", "nan", "na"}
_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class Label(str, Enum):
    """Reviewer-facing ground truth for an upload."""

    HUMAN = "human"
    AI_ASSISTED = "ai_assisted"
    AI_SLOP = "ai_slop"

    @property
    def is_ai(self) -> bool:
        """Detector target: any AI involvement."""
        return self is not Label.HUMAN

    @property
    def is_violation(self) -> bool:
        """Triage target: the policy's "AI slop"."""
        return self is Label.AI_SLOP


@dataclass(frozen=True)
class ManifestRow:
    """One validated upload; ``warnings`` say what was cut or doubted (short phrases)."""

    item_id: str
    artist_id: str
    path: str
    uploaded_at: datetime
    label: Label | None = None
    declared_ai: bool | None = None
    has_process_notes: bool | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    row_number: int = 0
    #: A moderator's verdict (``confirmed`` / ``dismissed``), as exported by
    #: ``slopscore decisions export``; the triage model learns from it.
    review_outcome: str | None = None
    warnings: tuple[str, ...] = ()


class InvalidValue(ValueError):
    """A value that makes its row unusable; the message says which and why."""


def validate_record(record: Mapping[str, Any], number: int, base: Path) -> ManifestRow:
    """The validated row of one raw record (``number``: its row number in the manifest).

    Relative paths are resolved against ``base``.

    Raises
    ------
    InvalidValue
        A required value is missing, too long or not of its kind.
    """
    warnings: list[str] = []
    item_id = _text(record.get("item_id"), "item_id", MAX_ID_CHARS, required=True)
    artist_id = _text(record.get("artist_id"), "artist_id", MAX_ID_CHARS, required=True)
    path = _text(record.get("path"), "path", MAX_PATH_CHARS, required=True)
    if "://" not in path and not os.path.isabs(path):
        path = str(base / path)
    return ManifestRow(
        item_id=item_id,
        artist_id=artist_id,
        path=path,
        uploaded_at=_timestamp(record.get("uploaded_at"), warnings),
        label=_label(record.get("label")),
        declared_ai=_boolean(record.get("declared_ai"), "declared_ai"),
        has_process_notes=_boolean(record.get("has_process_notes"), "has_process_notes"),
        title=_free_text(record.get("title"), "title", MAX_TITLE_CHARS, warnings) or None,
        tags=_tags(record.get("tags"), warnings),
        row_number=number,
        review_outcome=_review_outcome(record.get("review_outcome")),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _review_outcome(value: Any) -> str | None:
    text = _text(value, "review_outcome", 16).lower()
    if text in _UNKNOWN:
        return None
    if text not in {"confirmed", "dismissed"}:
        raise InvalidValue(f"review_outcome {text!r} is not one of confirmed, dismissed")
    return text


def _plain(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str:
    """A strict value: control characters or more than ``limit`` characters reject the row."""
    text = _plain(value)
    if required and not text:
        raise InvalidValue(f"{name} is empty")
    if any(ord(ch) < 32 and ch not in "\t" for ch in text) or "\x7f" in text:
        raise InvalidValue(f"{name} contains control characters")
    if len(text) > limit:
        raise InvalidValue(f"{name} has {len(text)} characters, the limit is {limit}")
    return text


def _free_text(value: Any, name: str, limit: int, warnings: list[str]) -> str:
    """Free text, kept: put on one line, control characters dropped, cut to ``limit``."""
    text = _plain(value)
    one_line = _LINE_BREAKS.sub(" ", text)
    if one_line != text:
        warnings.append(f"{name} put on one line")
    clean = _CONTROLS.sub("", one_line)
    if clean != one_line:
        warnings.append(f"control characters removed from {name}")
    if len(clean) > limit:
        warnings.append(f"{name} cut to {limit} characters")
        clean = clean[:limit].rstrip()
    return clean


def _timestamp(value: Any, warnings: list[str]) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value, "uploaded_at", 64, required=True)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue(f"uploaded_at {text!r} is not an ISO 8601 date-time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    try:
        in_utc = moment.astimezone(timezone.utc)
    except OverflowError:
        raise InvalidValue(f"uploaded_at {moment.isoformat()!r} falls outside the years "
                           f"1-9999 once converted to UTC") from None
    if in_utc > datetime.now(timezone.utc) + FUTURE_SLACK:
        warnings.append("uploaded_at is more than a day in the future")
    return moment


def _label(value: Any) -> Label | None:
    text = "" if value is None else str(value).strip().lower()
    if text in _UNKNOWN:
        return None
    try:
        return Label(text)
    except ValueError:
        allowed = [label.value for label in Label] + ["unknown"]
        raise InvalidValue(f"label {text[:40]!r} is not one of {allowed}") from None


def _boolean(value: Any, name: str) -> bool | None:
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in _UNKNOWN:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValue(f"{name} {text[:20]!r} is not true/false")


def _tags(value: Any, warnings: list[str]) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and value != value):
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).replace(",", ";").split(";")
    tags: dict[str, None] = {}  # first spelling wins, order kept
    for item in items:
        tag = _free_text(item, "tag", MAX_TAG_CHARS, warnings).lower()
        if tag:
            tags[tag] = None
            if len(tags) > MAX_TAGS:  # enough to know the list is cut; the rest is never read
                break
    if len(tags) > MAX_TAGS:
        warnings.append(f"tags cut to {MAX_TAGS}")
    return tuple(tags)[:MAX_TAGS]
