"""What every provenance parser shares: the per-file accumulator and the read limits.

Every parser in this wing reads untrusted bytes. Reads are capped (text chunk
size, decompressed size, chunk count, XMP size and count, hidden-payload size,
pixels decoded: the ``MAX_*`` limits here) and problems are recorded as
:class:`Issue` tuples in a :class:`Collected` instead of raised; a file that
repeats one problem gets at most ``MAX_ISSUES_PER_KIND`` of them and one more
that counts the rest (:meth:`Collected.all_issues`). :class:`Collected` also
holds the file's decompression budget (:meth:`Collected.inflate`), so a
zlib/gzip bomb is never expanded by any parser. :func:`load_json` and
:data:`PARSE_ERRORS` are the shared ways to parse nested, attacker-controlled text.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "MAX_CHUNKS",
    "MAX_ISSUES_PER_KIND",
    "MAX_STEALTH_BYTES",
    "MAX_STEALTH_PIXELS",
    "MAX_TEXT_BYTES",
    "MAX_TOTAL_INFLATED_BYTES",
    "MAX_XMP_BYTES",
    "MAX_XMP_PACKETS",
    "PARSE_ERRORS",
    "Collected",
    "Issue",
    "PngLayout",
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
#: Largest payload read from the pixels' least-significant bits.
MAX_STEALTH_BYTES = 1 << 20
#: Most pixels decoded to look for a payload hidden in the pixels' low bits (4096 x 4096).
MAX_STEALTH_PIXELS = 4096 * 4096
#: Most issues of one kind listed per file; the rest are counted in one more.
MAX_ISSUES_PER_KIND = 8

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


class PngLayout(NamedTuple):
    """A PNG's image header and where its pixel data lies (for reading pixels without the rest).

    ``ihdr`` is the 13-byte IHDR body; ``idat`` the ``(start, end)`` byte spans
    of the whole IDAT chunks (length, type, data and CRC), in file order.
    """

    ihdr: bytes
    idat: tuple[tuple[int, int], ...]

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int.from_bytes(self.ihdr[0:4], "big")

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int.from_bytes(self.ihdr[4:8], "big")

    @property
    def bit_depth(self) -> int:
        """Bits per sample."""
        return self.ihdr[8]

    @property
    def color_type(self) -> int:
        """PNG colour type: 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA."""
        return self.ihdr[9]

    @property
    def interlaced(self) -> bool:
        """Adam7 interlacing (rows are then not stored top to bottom)."""
        return self.ihdr[12] != 0


class TextItem(NamedTuple):
    """One metadata text value: its key as the format names it, the text, where it was."""

    key: str
    value: str
    source: str


@dataclass
class Collected:
    """Everything read from one file's containers before interpretation."""

    container: str | None = None
    png: PngLayout | None = None
    c2pa_marker: bool | None = None
    #: Payloads hidden in pixel low bits: where (``alpha-lsb``, ``rgb-lsb``) -> magic.
    stealth: dict[str, str] = field(default_factory=dict)
    texts: list[TextItem] = field(default_factory=list)
    xmp: list[tuple[bytes, str]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    inflate_budget: int = MAX_TOTAL_INFLATED_BYTES
    xmp_skipped: int = 0
    _kind_counts: Counter[str] = field(default_factory=Counter)

    def issue(self, kind: str, detail: str, source: str) -> None:
        """Record a parsing problem (past ``MAX_ISSUES_PER_KIND`` of a kind, only counted)."""
        self._kind_counts[kind] += 1
        if self._kind_counts[kind] <= MAX_ISSUES_PER_KIND:
            self.issues.append(Issue(kind, detail, source))

    def all_issues(self) -> list[Issue]:
        """The issues kept, then one per kind that counts those not kept, and skipped XMP."""
        extra = [Issue(kind, f"{count - MAX_ISSUES_PER_KIND} more of this kind not listed", "file")
                 for kind, count in self._kind_counts.items() if count > MAX_ISSUES_PER_KIND]
        if self.xmp_skipped:
            extra.append(Issue("chunk_limit_reached", f"{self.xmp_skipped} XMP packets past the first "
                               f"{MAX_XMP_PACKETS} not parsed", "xmp"))
        return self.issues + extra

    def add_text(self, key: str, value: str, source: str) -> None:
        """Keep a text value (its size is bounded by the file or by :meth:`inflate`)."""
        self.texts.append(TextItem(key, value, source))

    def add_xmp(self, packet: bytes, source: str) -> None:
        """Keep an XMP packet for parsing: at most ``MAX_XMP_PACKETS``, exact copies once.

        Packets past the limit are only counted (one issue for all of them).
        """
        if any(packet == kept for kept, _ in self.xmp):
            return
        if len(self.xmp) < MAX_XMP_PACKETS:
            self.xmp.append((packet, source))
        else:
            self.xmp_skipped += 1

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
