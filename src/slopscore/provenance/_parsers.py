"""Bounded byte-level parsers behind :mod:`slopscore.provenance.reader` (private).

Every function here reads untrusted bytes. Reads are capped (text chunk
size, decompressed size, chunk count, XMP size, hidden-payload size) and
problems are recorded as :class:`Issue` tuples instead of raised. The public
record types and the summary rules live in :mod:`slopscore.provenance.reader`.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from xml.etree.ElementTree import Element, ParseError

import c2pa
import numpy as np
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from PIL import Image, UnidentifiedImageError

from slopscore.media.decode import DEFAULT_MAX_PIXELS

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

IPTC_SOURCE_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

# Parsers for nested, attacker-controlled structures raise a wide set of exceptions.
_PARSE_ERRORS = (
    ValueError, TypeError, KeyError, IndexError, struct.error, OSError, SyntaxError,
    EOFError, ZeroDivisionError, UnicodeError, RecursionError, MemoryError,
)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_XMP_KEYWORD = "XML:com.adobe.xmp"
_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
_C2PA_MARKERS = (b"jumb", b"c2pa")

_NS_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XMP_SOURCE_TYPE = f"{{{_NS_IPTC_EXT}}}DigitalSourceType"
_RDF_RESOURCE = f"{{{_NS_RDF}}}resource"
# XMP properties copied as text items under the key generator detection expects.
_XMP_TEXT_FIELDS = {
    "{http://ns.adobe.com/xap/1.0/}CreatorTool": "CreatorTool",
    "{http://purl.org/dc/elements/1.1/}description": "Description",
}

# EXIF tags read as text: IFD0 and the Exif sub-IFD (0x8769).
_EXIF_IFD0_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model",
                   0x0131: "Software", 0x013B: "Artist"}
_EXIF_SUB_TAGS = {0x9286: "UserComment", 0x927C: "MakerNote"}
_EXIF_SUB_IFD = 0x8769

# NovelAI / SD-webui "stealth" metadata: magic, then a 32-bit big-endian bit count.
_STEALTH_MAGICS = {b"stealth_pnginfo": False, b"stealth_pngcomp": True}
_STEALTH_HEADER_BITS = 8 * (15 + 4)

# Tool names a file may carry in its software/device fields.
_NAMED_TOOLS = (
    (re.compile(r"adobe[\s_]*firefly", re.I), "Adobe Firefly"),
    (re.compile(r"\bopenai\b|\bdall[\s\-_\u00b7]?e\b", re.I), "OpenAI"),
    (re.compile(r"midjourney", re.I), "Midjourney"),
    (re.compile(r"novelai", re.I), "NovelAI"),
    (re.compile(r"invokeai", re.I), "InvokeAI"),
    (re.compile(r"comfyui", re.I), "ComfyUI"),
    (re.compile(r"stable[\s_\-]*diffusion", re.I), "Stable Diffusion"),
)
# Keys whose value names the software or device that made the file, most specific first.
_TOOL_KEYS = ("Software", "CreatorTool", "Make", "Model", "MakerNote", "Source")
_SD_PARAMETERS = re.compile(r"^Steps: \d+, .*\bSampler: ", re.M)
_SD_DETAIL = re.compile(r"\b(Model|Version): ([^,\n]{1,80})")
_MIDJOURNEY_JOB = re.compile(
    r"Job ID:\s*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I
)
_COMFY_MODEL_INPUTS = ("ckpt_name", "unet_name")


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


class Clue(NamedTuple):
    """Generator metadata: who made the file (``None`` if unnamed), where it says so, detail."""

    generator: str | None
    source: str
    detail: str


class C2paFacts(NamedTuple):
    """What the manifest store says, as plain values (see ``provenance.ContentCredentials``)."""

    active_manifest: str | None
    claim_generator: str | None
    signer: str | None
    camera: str | None
    actions: tuple[tuple[str, str | None, str | None, str, bool], ...]
    validation_state: str | None
    failure_codes: tuple[str, ...]
    ingredient_failure_codes: tuple[str, ...]


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


# --------------------------------------------------------------------------- containers


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
    """
    pos = len(_PNG_SIGNATURE)
    marker = False
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(data):
            return
        length, ctype = struct.unpack_from(">I4s", data, pos)
        start, end = pos + 8, pos + 8 + length
        label = f"png:{ctype.decode('latin-1')}"
        if ctype in (b"tEXt", b"zTXt", b"iTXt") and length > MAX_TEXT_BYTES:
            out.issue("text_chunk_too_large", f"{length} bytes declared", label)
        elif end + 4 > len(data):
            out.issue("container_truncated", f"chunk declares {length} bytes past the end", label)
            return
        elif ctype == b"IHDR" and length >= 13:
            out.png_has_alpha = data[start + 9] in (4, 6)
        elif ctype in (b"tEXt", b"zTXt", b"iTXt"):
            _read_png_text(ctype, data[start:end], out)
        elif ctype == b"eXIf":
            _read_exif(data[start:end], "exif", out)
        elif ctype == b"IEND":
            out.c2pa_marker = marker
            return
        if ctype not in (b"IDAT", b"fdAT"):
            marker = marker or any(data.find(m, start, end) >= 0 for m in _C2PA_MARKERS)
        pos = end + 4
    out.issue("chunk_limit_reached", f"stopped after {MAX_CHUNKS} chunks", "png")


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


def _walk_jpeg(data: bytes, out: Collected) -> None:
    """Read EXIF, XMP and comment segments up to the first scan."""
    pos = 2
    extended: dict[bytes, dict[int, bytes]] = {}
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
        _read_jpeg_segment(marker, data[pos + 4 : end], out, extended)
        pos = end
    else:
        out.issue("chunk_limit_reached", f"stopped after {MAX_CHUNKS} segments", "jpeg")
    for parts in extended.values():
        out.add_xmp(b"".join(parts[offset] for offset in sorted(parts)), "jpeg:ExtendedXMP")


def _read_jpeg_segment(
    marker: int, body: bytes, out: Collected, extended: dict[bytes, dict[int, bytes]]
) -> None:
    """Dispatch one APP1/COM segment."""
    if marker == 0xFE:
        out.add_text("Comment", body.decode("utf-8", "replace"), "jpeg:COM")
    elif marker != 0xE1:
        return
    elif body.startswith(b"Exif\x00\x00"):
        _read_exif(body[6:], "exif", out)
    elif body.startswith(_JPEG_XMP):
        out.add_xmp(body[len(_JPEG_XMP) :], "jpeg:XMP")
    elif body.startswith(_JPEG_EXTENDED_XMP) and len(body) >= len(_JPEG_EXTENDED_XMP) + 40:
        _add_extended_xmp(body[len(_JPEG_EXTENDED_XMP) :], out, extended)


def _add_extended_xmp(body: bytes, out: Collected, extended: dict[bytes, dict[int, bytes]]) -> None:
    """Keep one piece of JPEG extended XMP (GUID, full length, offset, data)."""
    guid = body[:32]
    total, offset = struct.unpack_from(">II", body, 32)
    if total > MAX_XMP_BYTES:
        out.issue("xmp_too_large", f"extended XMP declares {total} bytes", "jpeg:ExtendedXMP")
        return
    parts = extended.setdefault(guid, {})
    if sum(map(len, parts.values())) < MAX_XMP_BYTES:
        parts[offset] = body[40:]


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
            _read_exif(body[6:] if body.startswith(b"Exif\x00\x00") else body, "exif", out)
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
    except _PARSE_ERRORS as exc:
        out.issue("exif_malformed", type(exc).__name__, "exif")
    else:
        _read_exif_tags(exif, "exif", out)
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


# --------------------------------------------------------------------------- EXIF / XMP


def _read_exif(tiff: bytes, source: str, out: Collected) -> None:
    """Parse a TIFF-structured EXIF block with Pillow and keep the tags of interest."""
    if len(tiff) > MAX_XMP_BYTES:
        out.issue("exif_malformed", f"EXIF block of {len(tiff)} bytes skipped", source)
        return
    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif.load(tiff)
    except _PARSE_ERRORS as exc:
        out.issue("exif_malformed", type(exc).__name__, source)
        return
    _read_exif_tags(exif, source, out)


def _read_exif_tags(exif: Image.Exif, source: str, out: Collected) -> None:
    """Copy the IFD0 and Exif sub-IFD tags that can name a generator."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ifd0 = {tag: exif.get(tag) for tag in _EXIF_IFD0_TAGS}
            sub = exif.get_ifd(_EXIF_SUB_IFD)
            sub_values = {tag: sub.get(tag) for tag in _EXIF_SUB_TAGS}
    except _PARSE_ERRORS as exc:
        out.issue("exif_malformed", type(exc).__name__, source)
        return
    for tags, values in ((_EXIF_IFD0_TAGS, ifd0), (_EXIF_SUB_TAGS, sub_values)):
        for tag, name in tags.items():
            text = _exif_text(name, values[tag])
            if text:
                out.add_text(name, text[:MAX_TEXT_BYTES], f"{source}:{name}")


def _exif_text(name: str, value: Any) -> str | None:
    """An EXIF value as text; UserComment honours its 8-byte character-code prefix."""
    if isinstance(value, str):
        return value.strip("\x00 ")
    if not isinstance(value, bytes):
        return None
    if name == "UserComment":
        return decode_user_comment(value)
    return value.decode("utf-8", "replace").strip("\x00 ")


def decode_user_comment(raw: bytes) -> str:
    """Decode EXIF UserComment: ``UNICODE\\0`` (UTF-16), ``ASCII\\0\\0\\0``, ``JIS`` or none."""
    head, body = raw[:8], raw[8:]
    if head == b"UNICODE\x00":
        text = _decode_utf16(body)
    elif head == b"JIS\x00\x00\x00\x00\x00":
        text = body.decode("shift_jis", "replace")
    elif head in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        text = body.decode("utf-8", "replace")
    else:
        text = raw.decode("utf-8", "replace")
    return text.strip("\x00 ")


def _decode_utf16(body: bytes) -> str:
    """UTF-16 with or without BOM; without one, byte order is inferred from zero bytes."""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return body.decode("utf-16", "replace")
    big_endian = body[0::2].count(0) >= body[1::2].count(0)
    return body.decode("utf-16-be" if big_endian else "utf-16-le", "replace")


def read_xmp(packet: bytes, source: str, out: Collected) -> list[str]:
    """Parse one XMP packet safely; return its IPTC DigitalSourceType values.

    DTDs and entities are refused (``xmp_unsafe_xml``); parse failures give
    ``xmp_malformed``. CreatorTool and dc:description become text items.
    """
    if len(packet) > MAX_XMP_BYTES:
        out.issue("xmp_too_large", f"{len(packet)} bytes", source)
        return []
    try:
        root = SafeElementTree.fromstring(packet.strip(b"\x00 \t\r\n"), forbid_dtd=True)
    except DefusedXmlException as exc:
        out.issue("xmp_unsafe_xml", type(exc).__name__, source)
        return []
    except (ParseError, *_PARSE_ERRORS) as exc:
        out.issue("xmp_malformed", type(exc).__name__, source)
        return []
    found: list[str] = []
    for element in root.iter():
        _read_xmp_element(element, found, out)
    return found


def _read_xmp_element(element: Element, found: list[str], out: Collected) -> None:
    """Collect source types and text fields in attribute or element form."""
    for name, value in element.attrib.items():
        if name == _XMP_SOURCE_TYPE:
            found.append(value)
        elif name in _XMP_TEXT_FIELDS:
            _add_xmp_text(name, value, out)
    if element.tag == _XMP_SOURCE_TYPE:
        found.append((element.text or element.get(_RDF_RESOURCE) or "").strip())
    elif element.tag in _XMP_TEXT_FIELDS:
        _add_xmp_text(element.tag, "".join(element.itertext()), out)


def _add_xmp_text(name: str, value: str, out: Collected) -> None:
    key = _XMP_TEXT_FIELDS[name]
    if value.strip():
        out.add_text(key, value.strip()[:MAX_TEXT_BYTES], f"xmp:{key}")


def normalise_source_type(value: str) -> str | None:
    """A digital source type as a full IPTC URI (bare terms are expanded)."""
    value = value.strip()
    if value.startswith(IPTC_SOURCE_PREFIX):
        return value
    if value.isalpha():
        return IPTC_SOURCE_PREFIX + value
    return value or None


# --------------------------------------------------------------------------- alpha LSB


def read_alpha_stealth(data: bytes, out: Collected) -> None:
    """Read NovelAI-style metadata hidden in the alpha channel's least-significant bits.

    The writer stores, column by column (top to bottom, then left to right),
    one bit per pixel: a 15-byte magic, a 32-bit big-endian payload length in
    bits, then the payload (gzip-compressed for ``stealth_pngcomp``).
    """
    alpha = _alpha_plane(data, out)
    if alpha is None or alpha.size < _STEALTH_HEADER_BITS:
        return
    header = _lsb_bytes(alpha, 0, _STEALTH_HEADER_BITS)
    compressed = _STEALTH_MAGICS.get(header[:15])
    if compressed is None:
        return
    n_bytes = int.from_bytes(header[15:19], "big") // 8
    if n_bytes > MAX_STEALTH_BYTES or _STEALTH_HEADER_BITS + 8 * n_bytes > alpha.size:
        out.issue("stealth_payload_invalid", f"declares {n_bytes} bytes", "alpha-lsb")
        return
    out.stealth_magic = header[:15].decode()
    payload: bytes | None = _lsb_bytes(alpha, _STEALTH_HEADER_BITS, 8 * n_bytes)
    if compressed:
        payload = out.inflate(payload, "alpha-lsb", wbits=16 + zlib.MAX_WBITS)
    if payload is not None:
        _add_stealth_texts(payload.decode("utf-8", "replace"), out)


def _alpha_plane(data: bytes, out: Collected) -> np.ndarray | None:
    """The 8-bit alpha plane, or ``None`` when the pixels cannot be decoded safely."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > DEFAULT_MAX_PIXELS or "A" not in image.getbands():
                return None
            return np.asarray(image.getchannel("A"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, *_PARSE_ERRORS) as exc:
        out.issue("pixels_unreadable", type(exc).__name__, "alpha-lsb")
        return None


def _lsb_bytes(alpha: np.ndarray, first_bit: int, n_bits: int) -> bytes:
    """Bits ``first_bit..first_bit+n_bits`` of the column-major LSB stream, packed MSB first."""
    height = alpha.shape[0]
    first_col = first_bit // height
    last_col = (first_bit + n_bits - 1) // height + 1
    columns = alpha[:, first_col:last_col].T.ravel()
    offset = first_bit - first_col * height
    return np.packbits(columns[offset : offset + n_bits] & 1).tobytes()


def _add_stealth_texts(text: str, out: Collected) -> None:
    """A JSON object's string fields become text items; plain text is WebUI ``parameters``."""
    document = load_json(text)
    if isinstance(document, dict):
        for key, value in document.items():
            if isinstance(value, str):
                out.add_text(str(key), value, "alpha-lsb")
    else:
        out.add_text("parameters", text, "alpha-lsb")


# --------------------------------------------------------------------------- generators


def load_json(text: str) -> Any:
    """Parse JSON text (already size-capped); ``None`` when invalid or nested too deeply."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def find_clues(out: Collected) -> list[Clue]:
    """Generator evidence: format-specific records first, then tool names.

    A hidden alpha-channel payload is generator metadata even when its
    content names no tool.
    """
    texts = out.texts
    clues = [clue for item in texts if (clue := _structured_clue(item, out))]
    for key in _TOOL_KEYS:
        clues.extend(_named_clue(item) for item in texts if item.key == key and tool_name(item.value))
    if out.stealth_magic and not any(clue.source == "alpha-lsb" for clue in clues):
        clues.append(Clue(None, "alpha-lsb", f"{out.stealth_magic} payload"))
    return clues


def _structured_clue(item: TextItem, out: Collected) -> Clue | None:
    """A clue from a record whose layout identifies the generator, if ``item`` is one."""
    key, value, source = item
    if key in ("parameters", "UserComment", "Comment") and _SD_PARAMETERS.search(value):
        details = dict(_SD_DETAIL.findall(value))
        detail = ", ".join(f"{k.lower()}={v}" for k, v in details.items())
        return Clue("Stable Diffusion WebUI", source, detail)
    if key in ("Description", "ImageDescription") and _MIDJOURNEY_JOB.search(value):
        return Clue("Midjourney", source, "Midjourney job id")
    if key == "Comment" and _is_novelai_comment(value):
        return Clue("NovelAI", source, "NovelAI generation settings")
    return _json_clue(item, out)


def _json_clue(item: TextItem, out: Collected) -> Clue | None:
    """ComfyUI prompt/workflow graphs (text chunks or ComfyUI's EXIF form) and InvokeAI records."""
    key, value, source = item
    if key in ("Make", "ImageDescription"):
        prefix, _, value = value.partition(":")
        key = prefix.lower() if prefix in ("Prompt", "Workflow") else ""
    if key not in ("prompt", "workflow", "invokeai_metadata", "invokeai_graph"):
        return None
    document = load_json(value)
    if not isinstance(document, dict):
        if key != "prompt":
            out.issue("metadata_json_invalid", f"{key} is not a JSON object", source)
        return None
    if key == "prompt":
        return _comfy_prompt_clue(document, source)
    if key == "workflow":
        nodes = document.get("nodes")
        if not isinstance(nodes, list):
            return None
        return Clue("ComfyUI", source, f"workflow with {len(nodes)} nodes")
    model = document.get("model")
    name = model.get("name") if isinstance(model, dict) else None
    return Clue("InvokeAI", source, f"model={name}" if isinstance(name, str) else "InvokeAI record")


def _comfy_prompt_clue(document: dict[str, Any], source: str) -> Clue | None:
    """ComfyUI's API prompt: node id -> ``{"class_type": ..., "inputs": {...}}``."""
    nodes = [node for node in document.values() if isinstance(node, dict) and "class_type" in node]
    if not nodes:
        return None
    models = sorted({
        str(node["inputs"][name])[:120]
        for node in nodes if isinstance(node.get("inputs"), dict)
        for name in _COMFY_MODEL_INPUTS if isinstance(node["inputs"].get(name), str)
    })
    detail = f"prompt graph with {len(nodes)} nodes" + (f", model={'+'.join(models)}" if models else "")
    return Clue("ComfyUI", source, detail)


def _is_novelai_comment(value: str) -> bool:
    """NovelAI's ``Comment`` is a JSON object of settings including ``sampler`` and ``uc``."""
    if not value.lstrip().startswith("{"):
        return False
    document = load_json(value)
    return isinstance(document, dict) and {"sampler", "uc"} <= document.keys()


def _named_clue(item: TextItem) -> Clue:
    name = tool_name(item.value)
    return Clue(name, item.source, item.value.strip()[:120])


def tool_name(text: str) -> str | None:
    """The generator named in ``text`` (first match of the known-tool table)."""
    return next((name for pattern, name in _NAMED_TOOLS if pattern.search(text)), None)


# --------------------------------------------------------------------------- C2PA

#: c2pa-rs settings that keep the reader offline and bounded: no remote manifest or
#: OCSP fetch, an empty host allow-list (any request is refused), no CAWG identity
#: decoding (which can resolve identities online), no trust-list checks (nothing is
#: downloaded), and a cap on decompressed manifest size.
C2PA_OFFLINE_SETTINGS: dict[str, Any] = {
    "version": 1,
    "core": {
        "allowed_network_hosts": [],
        "decode_identity_assertions": False,
        "max_decompressed_manifest_size_in_mb": 16,
    },
    "verify": {
        "remote_manifest_fetch": False,
        "ocsp_fetch": False,
        "verify_trust": False,
        "verify_timestamp_trust": False,
    },
}

_context_lock = threading.Lock()
_context: tuple[int, c2pa.Context] | None = None


def may_hold_c2pa(data: bytes, out: Collected) -> bool:
    """Cheap pre-check before the Rust reader: a ``jumb``/``c2pa`` marker in the bytes.

    Embedded manifest stores are JUMBF ``jumb`` boxes labelled ``c2pa``. For a
    fully walked PNG only the non-pixel chunks are searched (see ``_walk_png``).
    """
    if out.c2pa_marker is not None:
        return out.c2pa_marker
    return any(marker in data for marker in _C2PA_MARKERS)


def c2pa_context() -> c2pa.Context:
    """The offline reader context, built once per process (native handles do not survive fork)."""
    global _context
    with _context_lock:
        if _context is None or _context[0] != os.getpid():
            _context = (os.getpid(), c2pa.Context.from_dict(C2PA_OFFLINE_SETTINGS))
        return _context[1]


def read_c2pa(data: bytes, out: Collected) -> C2paFacts | None:
    """Read and validate an embedded manifest store; ``None`` when there is none."""
    try:
        with c2pa.Reader(None, io.BytesIO(data), None, c2pa_context()) as reader:
            store = load_json(reader.json())
    except (c2pa.C2paError.ManifestNotFound, c2pa.C2paError.NotSupported):
        return None
    except c2pa.C2paError as exc:
        message = str(exc)[:200]
        if isinstance(exc, c2pa.C2paError.RemoteManifest) or message.startswith("Remote"):
            out.issue("c2pa_remote_manifest", message, "c2pa")
        else:
            out.issue("c2pa_malformed", message, "c2pa")
        return None
    if not isinstance(store, dict):
        out.issue("c2pa_malformed", "manifest store is not a JSON object", "c2pa")
        return None
    return _c2pa_facts(store)


def _c2pa_facts(store: dict[str, Any]) -> C2paFacts:
    """Pick claim, signer, actions (all manifests) and validation codes out of the reader JSON."""
    manifests = _as_dict(store.get("manifests"))
    active_label = store.get("active_manifest") if isinstance(store.get("active_manifest"), str) else None
    active = _as_dict(manifests.get(active_label))
    actions = tuple(
        action for label, manifest in manifests.items()
        for action in _manifest_actions(str(label), _as_dict(manifest), label == active_label)
    )
    signature = _as_dict(active.get("signature_info"))
    signer = signature.get("issuer") or signature.get("common_name")
    results = _as_dict(store.get("validation_results"))
    failures = _codes(_as_dict(results.get("activeManifest")).get("failure"))
    if not results:
        failures = _codes(store.get("validation_status"))
    ingredient_failures = tuple(
        code for delta in _as_list(results.get("ingredientDeltas"))
        for code in _codes(_as_dict(_as_dict(delta).get("validationDeltas")).get("failure"))
    )
    state = store.get("validation_state")
    return C2paFacts(
        active_manifest=active_label,
        claim_generator=_claim_generator(active),
        signer=signer if isinstance(signer, str) else None,
        camera=_camera(active),
        actions=actions,
        validation_state=state if isinstance(state, str) else None,
        failure_codes=tuple(dict.fromkeys(failures)),
        ingredient_failure_codes=tuple(dict.fromkeys(ingredient_failures)),
    )


def _manifest_actions(label: str, manifest: dict[str, Any], active: bool):
    """``(action, digitalSourceType, softwareAgent, manifest label, in active manifest)``."""
    for assertion in _as_list(manifest.get("assertions")):
        assertion = _as_dict(assertion)
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in _as_list(_as_dict(assertion.get("data")).get("actions")):
            action = _as_dict(action)
            yield (str(action.get("action", "")), _action_source_type(action),
                   _agent_name(action.get("softwareAgent")), label, active)


def _action_source_type(action: dict[str, Any]) -> str | None:
    """``digitalSourceType`` of an action, or a vendor-namespaced one in its parameters."""
    value = action.get("digitalSourceType")
    if not isinstance(value, str):
        parameters = _as_dict(action.get("parameters"))
        value = next((v for k, v in parameters.items()
                      if str(k).endswith(".digitalSourceType") and isinstance(v, str)), None)
    return normalise_source_type(value) if isinstance(value, str) else None


def _agent_name(agent: Any) -> str | None:
    """A software agent given as text or as a ``{"name": ...}`` object."""
    name = agent.get("name") if isinstance(agent, dict) else agent
    return name.strip()[:120] if isinstance(name, str) and name.strip() else None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    """The v1 ``claim_generator`` string, else the first ``claim_generator_info`` name."""
    value = manifest.get("claim_generator")
    if isinstance(value, str) and value.strip():
        return value.strip()[:200]
    info = _as_list(manifest.get("claim_generator_info"))
    return _agent_name(info[0]) if info else None


def _camera(manifest: dict[str, Any]) -> str | None:
    """Camera make and model signed in the manifest's own ``stds.exif`` assertions."""
    found: dict[str, str] = {}
    for assertion in _as_list(manifest.get("assertions")):
        assertion = _as_dict(assertion)
        if assertion.get("label") != "stds.exif":
            continue
        for key, value in _as_dict(assertion.get("data")).items():
            field_name = str(key).rpartition(":")[2].lower()
            if field_name in ("make", "model") and isinstance(value, str) and value.strip():
                found.setdefault(field_name, value.strip()[:80])
    return " ".join(found[k] for k in ("make", "model") if k in found) if "make" in found else None


def _codes(entries: Any) -> list[str]:
    return [code for e in _as_list(entries) if isinstance(code := _as_dict(e).get("code"), str)]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
