"""What every provenance parser shares: the per-file accumulator and the read limits.

Every parser in this wing reads untrusted bytes. Reads are capped (text chunk
size, decompressed size, chunk count, XMP size, hidden-payload size: the
``MAX_*`` limits here) and problems are recorded as :class:`Issue` tuples in
a :class:`Collected` instead of raised. :class:`Collected` also holds the
file's decompression budget (:meth:`Collected.inflate`), so a zlib/gzip bomb
is never expanded by any parser. :func:`load_json` and :data:`PARSE_ERRORS`
are the shared ways to parse nested, attacker-controlled text.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "MAX_CHUNKS",
    "MAX_STEALTH_BYTES",
    "MAX_TEXT_BYTES",
    "MAX_TOTAL_INFLATED_BYTES",
    "MAX_XMP_BYTES",
    "MAX_XMP_PACKETS",
    "PARSE_ERRORS",
    "Collected",
    "Issue",
    "TextItem",
    "load_json",
]

#: Largest single text value read (raw or decompressed); real generator chunks are ~20 KB.
MAX_TEXT_BYTES = 1 << 20
#: Largest total of decompressed metadata (text chunks, hidden payloads) from one file.
MAX_TOTAL_INFLATED_BYTES = 8 << 20
#: Largest XMP packet (including reassembled JPEG extended XMP) parsed.
MAX_XMP_BYTES = 2 << 20
#: Most XMP packets parsed from one file.
MAX_XMP_PACKETS = 16
#: Most PNG chunks / JPEG segments / WebP chunks walked in one file.
MAX_CHUNKS = 20_000
#: Largest payload read from alpha-channel least-significant bits.
MAX_STEALTH_BYTES = 1 << 20

# Parsers for nested, attacker-controlled structures raise a wide set of exceptions.
PARSE_ERRORS = (
    ValueError, TypeError, KeyError, IndexError, struct.error, OSError, SyntaxError,
    EOFError, ZeroDivisionError, UnicodeError, RecursionError, MemoryError,
)


class Issue(NamedTuple):
    """A problem met while parsing: a stable ``kind``, a short ``detail`` and where."""

    kind: str
    detail: str
    source: str


class TextItem(NamedTuple):
    """One metadata text value: its key as the format names it, the text, where it was."""

    key: str
    value: str
    source: str


@dataclass
class Collected:
    """Everything read from one file's containers before interpretation."""

    container: str | None = None
    png_has_alpha: bool = False
    c2pa_marker: bool | None = None
    stealth_magic: str | None = None
    texts: list[TextItem] = field(default_factory=list)
    xmp: list[tuple[bytes, str]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    inflate_budget: int = MAX_TOTAL_INFLATED_BYTES

    def issue(self, kind: str, detail: str, source: str) -> None:
        """Record a parsing problem."""
        self.issues.append(Issue(kind, detail, source))

    def add_text(self, key: str, value: str, source: str) -> None:
        """Keep a text value (its size is bounded by the file or by :meth:`inflate`)."""
        self.texts.append(TextItem(key, value, source))

    def add_xmp(self, packet: bytes, source: str) -> None:
        """Keep an XMP packet for parsing, at most ``MAX_XMP_PACKETS`` per file."""
        if len(self.xmp) < MAX_XMP_PACKETS:
            self.xmp.append((packet, source))
        elif len(self.xmp) == MAX_XMP_PACKETS:
            self.issue("chunk_limit_reached", f"more than {MAX_XMP_PACKETS} XMP packets", source)

    def inflate(self, compressed: bytes, source: str, wbits: int = zlib.MAX_WBITS) -> bytes | None:
        """Decompress at most ``MAX_TEXT_BYTES`` (and within the file's budget).

        Returns ``None`` and records an issue when the data is broken or
        would decompress past the limit (a zlib/gzip bomb is never expanded).
        """
        limit = min(MAX_TEXT_BYTES, self.inflate_budget)
        if limit <= 0:  # zlib reads max_length=0 as "no limit"
            self.issue("text_chunk_too_large", "decompression budget for this file used up", source)
            return None
        inflater = zlib.decompressobj(wbits)
        try:
            raw = inflater.decompress(compressed, limit)
        except zlib.error as exc:
            self.issue("text_chunk_corrupt", f"cannot decompress: {exc}", source)
            return None
        if inflater.unconsumed_tail or (len(raw) >= limit and not inflater.eof):
            self.issue("text_chunk_too_large", f"decompresses past {limit} bytes", source)
            return None
        self.inflate_budget -= len(raw)
        return raw


def load_json(text: str) -> Any:
    """Parse JSON text (already size-capped); ``None`` when invalid or nested too deeply."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
