"""EXIF tags, XMP packets and IPTC DigitalSourceType: the metadata standards inside containers.

:func:`read_exif` / :func:`read_exif_tags` copy the EXIF tags that can name a
generator (IFD0 and the Exif sub-IFD, UserComment decoded by its character-code
prefix) into text items. :func:`read_xmp` parses one XMP packet with DTDs and
entities refused and returns its ``Iptc4xmpExt:DigitalSourceType`` values
(CreatorTool, dc:description and photoshop:Credit become text items);
:func:`normalise_source_type` turns every spelling of a source type (the
``http``/``https`` URI, the QCode ``digsrctype:term``, the bare term) into the
one full IPTC URI. Reads are capped by the limits in
:mod:`slopscore.provenance.collected`.
"""

from __future__ import annotations

import re
import warnings
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from PIL import Image

from slopscore.provenance.collected import MAX_TEXT_BYTES, MAX_XMP_BYTES, PARSE_ERRORS, Collected

__all__ = [
    "IPTC_SOURCE_PREFIX",
    "decode_user_comment",
    "normalise_source_type",
    "read_exif",
    "read_exif_tags",
    "read_xmp",
]

IPTC_SOURCE_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

# The IPTC Digital Source Type vocabulary, to restore a term's spelling.
_IPTC_TERMS = {term.lower(): term for term in (
    "algorithmicMedia", "algorithmicallyEnhanced", "composite", "compositeCapture", "compositeSynthetic",
    "compositeWithTrainedAlgorithmicMedia", "computationalCapture", "dataDrivenMedia", "digitalArt",
    "digitalCapture", "digitalCreation", "humanEdits", "minorHumanEdits", "negativeFilm", "positiveFilm",
    "print", "screenCapture", "softwareImage", "trainedAlgorithmicMedia", "virtualRecording",
)}
# The URI (http or https, any case), the QCode (``digsrctype:term``) or the bare term.
_IPTC_SPELLINGS = re.compile(
    r"(?:(?:https?://)?cv\.iptc\.org/newscodes/digitalsourcetype/|digsrctype:)?([A-Za-z]{1,64})/?", re.I
)

_NS_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XMP_SOURCE_TYPE = f"{{{_NS_IPTC_EXT}}}DigitalSourceType"
_RDF_RESOURCE = f"{{{_NS_RDF}}}resource"
# XMP properties copied as text items under the key generator detection expects.
_XMP_TEXT_FIELDS = {
    "{http://ns.adobe.com/xap/1.0/}CreatorTool": "CreatorTool",
    "{http://purl.org/dc/elements/1.1/}description": "Description",
    "{http://ns.adobe.com/photoshop/1.0/}Credit": "Credit",
}

# EXIF tags read as text: IFD0 and the Exif sub-IFD (0x8769).
_EXIF_IFD0_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model",
                   0x0131: "Software", 0x013B: "Artist"}
_EXIF_SUB_TAGS = {0x9286: "UserComment", 0x927C: "MakerNote"}
_EXIF_SUB_IFD = 0x8769


def read_exif(tiff: bytes, source: str, out: Collected) -> None:
    """Parse a TIFF-structured EXIF block with Pillow and keep the tags of interest."""
    if len(tiff) > MAX_XMP_BYTES:
        out.issue("exif_malformed", f"EXIF block of {len(tiff)} bytes skipped", source)
        return
    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif.load(tiff)
    except PARSE_ERRORS as exc:
        out.issue("exif_malformed", type(exc).__name__, source)
        return
    read_exif_tags(exif, source, out)


def read_exif_tags(exif: Image.Exif, source: str, out: Collected) -> None:
    """Copy the IFD0 and Exif sub-IFD tags that can name a generator."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ifd0 = {tag: exif.get(tag) for tag in _EXIF_IFD0_TAGS}
            sub = exif.get_ifd(_EXIF_SUB_IFD)
            sub_values = {tag: sub.get(tag) for tag in _EXIF_SUB_TAGS}
    except PARSE_ERRORS as exc:
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
    except (ParseError, *PARSE_ERRORS) as exc:
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
    """A digital source type as the full ``http`` IPTC URI; other values unchanged.

    ``https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia``,
    ``digsrctype:trainedAlgorithmicMedia`` and ``trainedAlgorithmicMedia`` all
    become ``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia``
    (a known term keeps the vocabulary's spelling whatever its case).
    """
    value = value.strip()[:300]
    match = _IPTC_SPELLINGS.fullmatch(value)
    if match is None:
        return value or None
    term = match.group(1)
    return IPTC_SOURCE_PREFIX + _IPTC_TERMS.get(term.lower(), term)
