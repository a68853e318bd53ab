"""Walking a file's container: PNG chunks, JPEG segments, WebP chunks, other formats.

:func:`collect` finds the metadata a container carries (text chunks, comments,
EXIF blocks, XMP packets, including JPEG extended XMP, Photoshop resources in
APP13 and ImageMagick's raw profiles in PNG text) and gathers it into a
:class:`~slopscore.provenance.collected.Collected` without decoding pixels;
EXIF blocks are handed to :mod:`slopscore.provenance.exif_xmp`, embedded
profiles to :mod:`slopscore.provenance.profiles`. A PNG's header and pixel
chunk positions are kept for the low-bit check of
:mod:`slopscore.provenance.stealth`. Walks stop at ``MAX_CHUNKS`` and never
read past a declared length. :func:`may_hold_c2pa` is the cheap marker check
that decides whether the C2PA reader runs at all.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections import Counter
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from slopscore.provenance.collected import (
    MAX_CHUNKS,
    MAX_TEXT_BYTES,
    MAX_XMP_BYTES,
    PARSE_ERRORS,
    Collected,
    PngLayout,
)
from slopscore.provenance.exif_xmp import read_exif, read_exif_tags
from slopscore.provenance.profiles import (
    JPEG_XMP,
    PHOTOSHOP_SIGNATURE,
    RAW_PROFILE_PREFIX,
    read_photoshop_resources,
    read_raw_profile,
)

__all__ = ["collect", "may_hold_c2pa"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_XMP_KEYWORD = "XML:com.adobe.xmp"
_JPEG_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
_C2PA_MARKERS = (b"jumb", b"c2pa")


def collect(data: bytes) -> Collected:
    """Walk the file's container and gather its metadata texts and XMP packets."""
    out = Collected()
    if data.startswith(_PNG_SIGNATURE):
        out.container = "PNG"
        _walk_png(data, out)
    elif data.startswith(b"\xff\xd8\xff"):
        out.container = "JPEG"
        _walk_jpeg(data, out)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        out.container = "WEBP"
        _walk_webp(data, out)
    else:
        _read_other(data, out)
    return out


def _walk_png(data: bytes, out: Collected) -> None:
    """Read text, XMP and EXIF chunks of a PNG; pixel chunks are skipped unread.

    A complete walk also settles ``c2pa_marker`` from the non-pixel chunks
    alone (C2PA lives in a ``caBX`` chunk), sparing a scan of the pixel data.
    The IHDR body and the IDAT spans become ``out.png``.
    """
    pos = len(_PNG_SIGNATURE)
    marker = False
    ihdr: bytes | None = None
    idat: list[tuple[int, int]] = []
    try:
        for _ in range(MAX_CHUNKS):
            if pos + 8 > len(data):
                return
            length, ctype = struct.unpack_from(">I4s", data, pos)
            end = _png_chunk(data, pos, length, ctype, out)
            if end is None:
                return
            if ctype == b"IHDR" and length == 13:
                ihdr = data[pos + 8 : pos + 21]
            elif ctype == b"IDAT":
                idat.append((pos, end))
            if ctype not in (b"IDAT", b"fdAT"):
                marker = marker or any(data.find(m, pos + 8, pos + 8 + length) >= 0 for m in _C2PA_MARKERS)
            if ctype == b"IEND":
                out.c2pa_marker = marker
                return
            pos = end
        out.issue("chunk_limit_reached", f"stopped after {MAX_CHUNKS} chunks", "png")
    finally:
        out.png = PngLayout(ihdr, tuple(idat)) if ihdr is not None else None


def _png_chunk(data: bytes, pos: int, length: int, ctype: bytes, out: Collected) -> int | None:
    """Read one metadata chunk; the position after it, or ``None`` when the file ends first."""
    start, end = pos + 8, pos + 8 + length
    label = f"png:{ctype.decode('latin-1')}"
    if ctype in (b"tEXt", b"zTXt", b"iTXt") and length > MAX_TEXT_BYTES:
        out.issue("text_chunk_too_large", f"{length} bytes declared", label)
    elif end + 4 > len(data):
        out.issue("container_truncated", f"chunk declares {length} bytes past the end", label)
        return None
    elif ctype in (b"tEXt", b"zTXt", b"iTXt"):
        _read_png_text(ctype, data[start:end], out)
    elif ctype == b"eXIf":
        read_exif(data[start:end], "exif", out)
    return end + 4


def _read_png_text(ctype: bytes, body: bytes, out: Collected) -> None:
    """Decode one ``tEXt``/``zTXt``/``iTXt`` chunk (PNG spec layouts)."""
    keyword, sep, rest = body.partition(b"\x00")
    if not sep or not keyword:
        out.issue("text_chunk_corrupt", "no keyword", f"png:{ctype.decode()}")
        return
    key = keyword.decode("latin-1")
    source = f"png:{key}"
    if ctype == b"tEXt":
        value: bytes | None = rest
    elif ctype == b"zTXt":
        value = out.inflate(rest[1:], source) if rest else None
    else:
        value = _itxt_value(rest, source, out)
    if value is None:
        return
    if key == _PNG_XMP_KEYWORD:
        out.add_xmp(value, source)
        return
    if key.lower().startswith(RAW_PROFILE_PREFIX):
        read_raw_profile(key[len(RAW_PROFILE_PREFIX) :].lower(), value, source, out)
        return
    encoding = "utf-8" if ctype == b"iTXt" else "latin-1"
    out.add_text(key, value.decode(encoding, "replace"), source)


def _itxt_value(rest: bytes, source: str, out: Collected) -> bytes | None:
    """The text field of an iTXt body (after the keyword), inflated when flagged."""
    if len(rest) < 2:
        out.issue("text_chunk_corrupt", "iTXt header cut short", source)
        return None
    compressed = rest[0] == 1
    _language, _, rest = rest[2:].partition(b"\x00")
    _translated, _, value = rest.partition(b"\x00")
    return out.inflate(value, source) if compressed else value


@dataclass
class _JpegPieces:
    """Metadata spread over several JPEG segments: extended XMP by GUID, Photoshop resources."""

    extended: dict[bytes, dict[int, bytes]] = field(default_factory=dict)
    extended_sizes: Counter[bytes] = field(default_factory=Counter)
    photoshop: list[bytes] = field(default_factory=list)
    photoshop_size: int = 0


def _walk_jpeg(data: bytes, out: Collected) -> None:
    """Read EXIF, XMP, Photoshop (APP13) and comment segments up to the first scan."""
    pos = 2
    pieces = _JpegPieces()
    for _ in range(MAX_CHUNKS):
        if pos + 4 > len(data) or data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length field
            pos += 2
            continue
        if marker in (0xDA, 0xD9):
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            out.issue("container_truncated", f"segment FF{marker:02X} runs past the end", "jpeg")
            break
        _read_jpeg_segment(marker, data[pos + 4 : end], out, pieces)
        pos = end
    else:
        out.issue("chunk_limit_reached", f"stopped after {MAX_CHUNKS} segments", "jpeg")
    for parts in pieces.extended.values():
        out.add_xmp(b"".join(parts[offset] for offset in sorted(parts)), "jpeg:ExtendedXMP")
    if pieces.photoshop:
        read_photoshop_resources(b"".join(pieces.photoshop), "jpeg:APP13", out)


def _read_jpeg_segment(marker: int, body: bytes, out: Collected, pieces: _JpegPieces) -> None:
    """Dispatch one APP1/APP13/COM segment."""
    if marker == 0xFE:
        out.add_text("Comment", body.decode("utf-8", "replace"), "jpeg:COM")
    elif marker == 0xED and body.startswith(PHOTOSHOP_SIGNATURE):
        _add_photoshop(body[len(PHOTOSHOP_SIGNATURE) :], out, pieces)
    elif marker != 0xE1:
        return
    elif body.startswith(b"Exif\x00\x00"):
        read_exif(body[6:], "exif", out)
    elif body.startswith(JPEG_XMP):
        out.add_xmp(body[len(JPEG_XMP) :], "jpeg:XMP")
    elif body.startswith(_JPEG_EXTENDED_XMP) and len(body) >= len(_JPEG_EXTENDED_XMP) + 40:
        _add_extended_xmp(body[len(_JPEG_EXTENDED_XMP) :], out, pieces)


def _add_photoshop(body: bytes, out: Collected, pieces: _JpegPieces) -> None:
    """Keep one APP13 piece; Photoshop splits large resource blocks over several segments."""
    if pieces.photoshop_size + len(body) > MAX_XMP_BYTES:
        out.issue("text_chunk_too_large", f"Photoshop resources past {MAX_XMP_BYTES} bytes", "jpeg:APP13")
        return
    pieces.photoshop.append(body)
    pieces.photoshop_size += len(body)


def _add_extended_xmp(body: bytes, out: Collected, pieces: _JpegPieces) -> None:
    """Keep one piece of JPEG extended XMP (GUID, full length, offset, data)."""
    guid = body[:32]
    total, offset = struct.unpack_from(">II", body, 32)
    if total > MAX_XMP_BYTES:
        out.issue("xmp_too_large", f"extended XMP declares {total} bytes", "jpeg:ExtendedXMP")
        return
    if pieces.extended_sizes[guid] < MAX_XMP_BYTES:
        pieces.extended.setdefault(guid, {})[offset] = body[40:]
        pieces.extended_sizes[guid] += len(body) - 40


def _walk_webp(data: bytes, out: Collected) -> None:
    """Read the ``EXIF`` and ``XMP `` chunks of a RIFF/WebP file."""
    pos = 12
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(data):
            return
        fourcc = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        start, end = pos + 8, pos + 8 + size
        label = f"webp:{fourcc.decode('latin-1').strip()}"
        if fourcc in (b"EXIF", b"XMP ") and size > MAX_XMP_BYTES:
            out.issue("text_chunk_too_large", f"{size} bytes declared", label)
        elif end > len(data):
            out.issue("container_truncated", f"chunk declares {size} bytes past the end", label)
            return
        elif fourcc == b"EXIF":
            body = data[start:end]
            read_exif(body[6:] if body.startswith(b"Exif\x00\x00") else body, "exif", out)
        elif fourcc == b"XMP ":
            out.add_xmp(data[start:end], label)
        pos = end + (size & 1)
    out.issue("chunk_limit_reached", f"stopped after {MAX_CHUNKS} chunks", "webp")


def _read_other(data: bytes, out: Collected) -> None:
    """Other formats: EXIF through Pillow's lazy header parse, XMP by packet scan."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            out.container = image.format
            exif = image.getexif()
    except UnidentifiedImageError:
        out.issue("not_an_image", "not a recognised image format", "file")
        return
    except PARSE_ERRORS as exc:
        out.issue("exif_malformed", type(exc).__name__, "exif")
    else:
        read_exif_tags(exif, "exif", out)
    packet = _scan_xmp_packet(data)
    if packet is not None:
        out.add_xmp(packet, "xmp-packet")


def _scan_xmp_packet(data: bytes) -> bytes | None:
    """The first ``<x:xmpmeta>`` element found in raw bytes, if small enough."""
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return None
    end = data.find(b"</x:xmpmeta>", start, start + MAX_XMP_BYTES)
    return data[start : end + len(b"</x:xmpmeta>")] if end >= 0 else None


def may_hold_c2pa(data: bytes, out: Collected) -> bool:
    """Cheap pre-check before the Rust reader: a ``jumb``/``c2pa`` marker in the bytes.

    Embedded manifest stores are JUMBF ``jumb`` boxes labelled ``c2pa``. For a
    fully walked PNG only the non-pixel chunks are searched (see ``_walk_png``).
    """
    if out.c2pa_marker is not None:
        return out.c2pa_marker
    return any(marker in data for marker in _C2PA_MARKERS)
