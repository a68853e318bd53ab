"""Plain words for the stable codes the pages show: skip reasons, provenance findings, warnings.

The batch job stores short codes (``corrupt``, ``c2pa_hash_mismatch``...); moderators read
what they mean. Stored entries come from files and manifests written by strangers, so every
function here takes damaged JSON and unknown codes in its stride, bounds what it returns and
leaves escaping to the templates (Jinja autoescape).
"""

from __future__ import annotations

import json

__all__ = ["FINDING_TEXT", "SKIP_REASON_TEXT", "finding_lines", "skip_reason_text", "warning_lines"]

MAX_ENTRIES = 50
MAX_CHARS = 300

#: Why a file has no score, in words. The "needs a look" reasons say the file may still display.
SKIP_REASON_TEXT = {
    "corrupt": "the file is damaged; a browser may still display it",
    "truncated": "the file ends early; a browser may still display the part that is there",
    "too_large": "the file is over the scorer's size or pixel limits; a browser may still display it",
    "not_an_image": "the scorer does not read this format (AVIF, SVG, HEIC...); a browser may",
    "missing": "no file at the manifest's path",
    "empty": "the file has 0 bytes",
    "unreadable": "the scorer could not read the file (permissions, not a regular file, or it changed "
                  "while read)",
    "unsupported_source": "the manifest names a location the scorer does not read",
    "malformed_row": "the upload's manifest line could not be read",
    "duplicate_item_id": "a second manifest line for an item already listed",
    "cache_lost": "the embedding cache was cleared during the run; the next run scores it",
}

#: What each typed provenance finding means (``slopscore.provenance.record.FindingKind``).
FINDING_TEXT = {
    "unreadable": "the file could not be read for its metadata",
    "not_an_image": "not a recognised image container",
    "container_truncated": "the file's structure ends early (cut off, or altered)",
    "chunk_limit_reached": "more metadata blocks than the reader's limit; the rest were not read",
    "text_chunk_too_large": "a text metadata block over the size limit (not read)",
    "text_chunk_corrupt": "a damaged text metadata block",
    "metadata_json_invalid": "generator metadata that is not valid JSON",
    "exif_malformed": "malformed EXIF metadata",
    "xmp_malformed": "malformed XMP metadata",
    "xmp_unsafe_xml": "XMP with unsafe XML (entity or DTD declarations), not parsed",
    "xmp_too_large": "XMP metadata over the size limit (not read)",
    "pixels_unreadable": "the pixels could not be checked for embedded metadata",
    "stealth_payload_invalid": "a damaged metadata payload in the pixels' lowest bits",
    "c2pa_malformed": "malformed Content Credentials (C2PA)",
    "c2pa_remote_manifest": "Content Credentials kept at a remote address (not fetched)",
    "c2pa_invalid_signature": "Content Credentials whose signature does not verify (possibly tampered)",
    "c2pa_hash_mismatch": "Content Credentials that do not match the file (changed after signing)",
    "c2pa_validation_failed": "Content Credentials that failed validation",
    "c2pa_ingredient_validation_failed": "an ingredient's Content Credentials failed validation",
    "parser_error": "the metadata reader stopped on an error",
    "iptc_malformed": "malformed IPTC (IIM) metadata",
    "pixel_budget_exceeded": "the image is too large for its pixels' lowest bits to be checked in full",
}


def skip_reason_text(reason: str | None) -> str:
    """``reason`` and its meaning, e.g. ``corrupt (the file is damaged; ...)``; unknown codes as given."""
    if not reason:
        return ""
    reason = str(reason)[:100]
    meaning = SKIP_REASON_TEXT.get(reason)
    return f"{reason} ({meaning})" if meaning else reason


def _entries(raw: str | None) -> list:
    try:
        values = json.loads(raw or "[]")
    except (ValueError, TypeError):
        return []
    return values[:MAX_ENTRIES] if isinstance(values, list) else []


def _field(entry: dict, *names: str) -> str:
    for name in names:
        value = entry.get(name)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""


def _line(code: str, detail: str, where: str, meanings: dict[str, str]) -> str:
    meaning = meanings.get(code)
    text = f"{meaning} [{code}]" if meaning else code
    if detail and detail != code:
        text = f"{text}: {detail}" if text else detail
    if where:
        text = f"{text} (in {where})"
    return text[:MAX_CHARS]


def finding_lines(raw: str | None) -> list[str]:
    """The stored ``provenance_findings`` JSON as lines: a code (``"xmp_unsafe_xml"``), a
    ``"code: detail"`` string or a ``{"kind", "detail", "source"}`` object each give one line."""
    lines = []
    for entry in _entries(raw):
        if isinstance(entry, str) and entry.strip():
            code, _, detail = entry.strip().partition(":")
            lines.append(_line(code.strip(), detail.strip(), "", FINDING_TEXT))
        elif isinstance(entry, dict):
            code = _field(entry, "kind", "code", "type")
            detail, where = _field(entry, "detail", "message"), _field(entry, "source", "where")
            if code or detail:
                lines.append(_line(code, detail, where, FINDING_TEXT))
    return lines


def warning_lines(raw: str | None) -> list[str]:
    """The stored ``warnings`` JSON (what was cut or doubted in the manifest line) as lines:
    plain strings, or objects with a ``field``/``column`` and a ``message``/``detail``."""
    lines = []
    for entry in _entries(raw):
        if isinstance(entry, str) and entry.strip():
            lines.append(entry.strip()[:MAX_CHARS])
        elif isinstance(entry, dict):
            field = _field(entry, "field", "column")
            message = _field(entry, "message", "detail", "warning", "kind", "code")
            if field or message:
                lines.append((f"{field}: {message}" if field and message else field or message)[:MAX_CHARS])
    return lines
