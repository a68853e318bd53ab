"""Uploads from an API request: the file and its metadata, checked like a manifest row.

Uploader text is hostile. Every metadata value goes through
:func:`slopscore.media.manifest_values.validate_record` (the manifest's own checks: ids
bounded and free of control characters, dates valid, titles and tags tidied with warnings),
only the fields below are accepted, and the file's location is chosen here (content
addressed under the upload store), never by the request. A problem costs its upload only:
it becomes an :class:`UploadError` with a type, a detail and the HTTP status a single
upload would get.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from slopscore.media.manifest import ManifestRow
from slopscore.media.manifest_values import MAX_ID_CHARS, InvalidValue, validate_record

__all__ = ["FIELDS", "MAX_BATCH", "Upload", "UploadError", "batch_metadata", "parse_upload", "stored_path"]

#: Metadata an upload may carry (``item_id`` and ``artist_id`` required); nothing else.
FIELDS = ("item_id", "artist_id", "uploaded_at", "title", "tags", "declared_ai", "has_process_notes")
#: Most uploads in one batch request.
MAX_BATCH = 64


@dataclass(frozen=True)
class Upload:
    """A valid upload: its manifest row (``path`` is where the API stores it) and bytes."""

    row: ManifestRow
    data: bytes
    sha256: str


@dataclass(frozen=True)
class UploadError:
    """Why an upload was not scored. ``type`` is a skip reason of the decoder (``corrupt``,
    ``truncated``, ``not_an_image``, ``too_large``, ``empty``...) or ``invalid_field``,
    ``missing_file``, ``duplicate_item_id``; ``status`` is the HTTP status of a single upload."""

    item_id: str | None
    type: str
    detail: str
    status: int = 422

    def as_dict(self) -> dict:
        return {"type": self.type, "detail": self.detail}


def stored_path(upload_dir: Path, sha256: str) -> Path:
    """Where an upload with this content hash is kept (``ab/abcdef...``)."""
    return upload_dir / sha256[:2] / sha256


def _item_id(fields: Mapping[str, Any]) -> str | None:
    value = fields.get("item_id")
    text = value if isinstance(value, str) else None
    return text[:MAX_ID_CHARS] if text and text.isprintable() else None


def _plain_value(name: str, value: Any) -> bool:
    """Form text, or from JSON: a string, boolean or null (tags also a list of strings)."""
    if value is None or isinstance(value, (str, bool)):
        return True
    return name == "tags" and isinstance(value, list) and len(value) <= 1000 \
        and all(isinstance(tag, str) for tag in value)


def parse_upload(fields: Mapping[str, Any], data: bytes | None, *, number: int, upload_dir: Path,
                 max_file_bytes: int, now: datetime | None = None) -> Upload | UploadError:
    """One upload from its metadata ``fields`` and file bytes (``number``: its position, from 1).

    ``uploaded_at`` defaults to ``now`` (UTC). Returns an :class:`UploadError` for a missing,
    empty or too large file and for metadata the manifest would reject (unknown fields,
    values of the wrong kind, invalid ids or dates).
    """
    item_id = _item_id(fields)
    unknown = sorted(str(name)[:40] for name in fields if name not in FIELDS)
    if unknown:
        return UploadError(item_id, "invalid_field", f"unknown field(s) {', '.join(unknown[:5])}; "
                                                     f"allowed: {', '.join(FIELDS)}")
    wrong = [name for name, value in fields.items() if not _plain_value(name, value)]
    if wrong:
        return UploadError(item_id, "invalid_field", f"{', '.join(wrong)}: not text, true/false or empty")
    if data is None:
        return UploadError(item_id, "missing_file", "no file was uploaded for this item")
    if len(data) > max_file_bytes:
        return UploadError(item_id, "too_large", f"the file has {len(data):,} bytes; the limit is "
                                                 f"{max_file_bytes:,} per file", 413)
    if not data:
        return UploadError(item_id, "empty", "the file is empty")
    sha256 = hashlib.sha256(data).hexdigest()
    record = dict(fields)
    if not record.get("uploaded_at"):
        record["uploaded_at"] = (now or datetime.now(timezone.utc)).isoformat()
    record["path"] = str(stored_path(upload_dir, sha256))
    try:
        row = validate_record(record, number, upload_dir)
    except InvalidValue as exc:
        return UploadError(item_id, "invalid_field", str(exc))
    return Upload(row, data, sha256)


def batch_metadata(text: Any, n_files: int) -> list[dict] | UploadError:
    """The ``metadata`` field of a batch request: a JSON array of objects, one per file, in order."""
    if not isinstance(text, str):
        return UploadError(None, "invalid_field", "metadata must be a JSON array of objects (a text field)")
    try:
        entries = json.loads(text)
    except (ValueError, RecursionError):
        return UploadError(None, "invalid_field", "metadata is not valid JSON")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return UploadError(None, "invalid_field", "metadata must be a JSON array of objects")
    if len(entries) != n_files:
        return UploadError(None, "invalid_field", f"metadata has {len(entries)} entries for {n_files} files; "
                                                  "give one per file, in the same order")
    return entries
