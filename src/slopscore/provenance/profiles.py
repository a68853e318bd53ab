"""Metadata profiles carried inside other containers: ImageMagick raw profiles, Photoshop resources, IPTC-IIM.

- **ImageMagick raw profiles**: PNG has no chunk for XMP-in-a-profile, EXIF
  (before ``eXIf``) or IPTC, so ImageMagick (and exiftool, for compatibility)
  writes them as text chunks keyed ``Raw profile type xmp`` / ``exif`` /
  ``iptc`` / ``8bim`` / ``APP1``: a newline, a name line (``xmp``, ``IPTC
  profile``...), the byte length in decimal, then the bytes as hex digits in
  lines of 72. :func:`read_raw_profile`
  decodes one and hands the bytes to the XMP, EXIF or Photoshop reader.
- **Photoshop image resources** (JPEG APP13 ``Photoshop 3.0``, and the ``8bim``
  profile): ``8BIM`` blocks, of which :func:`read_photoshop_resources` reads
  0x0404 (IPTC-IIM) and 0x0424 (XMP).
- **IPTC-IIM** datasets: the Credit line (2:110) and the originating program
  (2:65) become text items ``Credit`` / ``OriginatingProgram`` (source
  ``iptc:<name>``), decoded as UTF-8 when 1:90 says so, else UTF-8 or Latin-1.

Every length is checked against the bytes present and against the limits in
:mod:`slopscore.provenance.collected`; problems are issues, never exceptions.
"""

from __future__ import annotations

import binascii

from slopscore.provenance.collected import MAX_CHUNKS, MAX_TEXT_BYTES, MAX_XMP_BYTES, Collected
from slopscore.provenance.exif_xmp import read_exif

__all__ = ["JPEG_XMP", "PHOTOSHOP_SIGNATURE", "RAW_PROFILE_PREFIX", "read_iim",
           "read_photoshop_resources", "read_raw_profile"]

#: Start of an XMP APP1 segment (also the start of an ImageMagick ``APP1`` profile holding XMP).
JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
#: Start of a JPEG APP13 segment holding Photoshop image resources.
PHOTOSHOP_SIGNATURE = b"Photoshop 3.0\x00"
#: Lower-cased start of the PNG text keywords ImageMagick uses for raw profiles.
RAW_PROFILE_PREFIX = "raw profile type "

_RESOURCE_SIGNATURES = (b"8BIM", b"MeSa", b"PHUT", b"AgHg", b"DCSR")
_RESOURCE_IPTC = 0x0404
_RESOURCE_XMP = 0x0424
_IIM_FIELDS = {(2, 110): "Credit", (2, 65): "OriginatingProgram"}
_IIM_CHARSET = (1, 90)
_IIM_UTF8 = b"\x1b%G"


def read_raw_profile(kind: str, text: bytes, source: str, out: Collected) -> None:
    """Decode an ImageMagick raw profile (``kind`` is the lower-cased keyword suffix) and read it."""
    body = _raw_profile_bytes(text, source, out)
    if body is None:
        return
    if kind == "xmp" or (kind == "app1" and body.startswith(JPEG_XMP)):
        out.add_xmp(body.removeprefix(JPEG_XMP), source)
    elif kind in ("exif", "app1"):
        read_exif(body[6:] if body.startswith(b"Exif\x00\x00") else body, "exif", out)
    elif kind in ("iptc", "8bim"):
        read_photoshop_resources(body, source, out)


def _raw_profile_bytes(text: bytes, source: str, out: Collected) -> bytes | None:
    """``\\n<name line>\\n<length>\\n<hex lines>`` as bytes, or ``None`` with an issue.

    The name line is free text (``xmp``, ``IPTC profile``...); the keyword says what the profile is.
    """
    _name, newline, rest = text.lstrip(b"\r\n").partition(b"\n")
    fields = rest.split(None, 1)
    if not newline or not fields or not fields[0].isdigit() or len(fields[0]) > 10:
        out.issue("text_chunk_corrupt", "raw profile without a name and length", source)
        return None
    declared = int(fields[0])
    if declared > MAX_XMP_BYTES:
        out.issue("text_chunk_too_large", f"raw profile declares {declared} bytes", source)
        return None
    digits = b"".join(fields[1].split()) if len(fields) > 1 else b""
    if len(digits) < 2 * declared:
        out.issue("text_chunk_corrupt", f"raw profile declares {declared} bytes, holds {len(digits) // 2}", source)
        return None
    try:
        return binascii.unhexlify(digits[: 2 * declared])
    except binascii.Error:
        out.issue("text_chunk_corrupt", "raw profile is not hexadecimal", source)
        return None


def read_photoshop_resources(body: bytes, source: str, out: Collected) -> None:
    """Walk Photoshop image resources (``8BIM`` blocks); bare IPTC-IIM is read as such."""
    body = body.removeprefix(PHOTOSHOP_SIGNATURE)
    if body[:1] == b"\x1c":
        read_iim(body, source, out)
        return
    pos = 0
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(body) or body[pos : pos + 4] not in _RESOURCE_SIGNATURES:
            return
        resource = int.from_bytes(body[pos + 4 : pos + 6], "big")
        size_at = pos + 6 + ((body[pos + 6] + 2) & ~1)  # Pascal name padded to even length
        start = size_at + 4
        end = start + int.from_bytes(body[size_at:start], "big")
        if start > len(body) or end > len(body):
            out.issue("container_truncated", f"resource 0x{resource:04X} runs past the end", source)
            return
        if resource == _RESOURCE_IPTC:
            read_iim(body[start:end], source, out)
        elif resource == _RESOURCE_XMP:
            out.add_xmp(body[start:end], f"{source}:XMP")
        pos = end + ((end - start) & 1)
    out.issue("chunk_limit_reached", f"stopped after {MAX_CHUNKS} resources", source)


def read_iim(body: bytes, source: str, out: Collected) -> None:
    """Read the IPTC-IIM datasets of interest (tag 0x1C, record, dataset, length, value)."""
    pos = 0
    utf8 = False
    found: list[tuple[str, bytes]] = []
    for _ in range(MAX_CHUNKS):
        if pos + 5 > len(body) or body[pos] != 0x1C:
            break
        field_id = (body[pos + 1], body[pos + 2])
        length = int.from_bytes(body[pos + 3 : pos + 5], "big")
        start = pos + 5
        if length & 0x8000:  # extended dataset: the low bits count the length's own bytes
            width = length & 0x7FFF
            if width > 4:
                out.issue("iptc_malformed", f"IPTC dataset length of {width} bytes", source)
                return
            length = int.from_bytes(body[start : start + width], "big")
            start += width
        end = start + length
        if end > len(body):
            out.issue("container_truncated", f"IPTC dataset {field_id[0]}:{field_id[1]} runs past the end", source)
            break
        if field_id == _IIM_CHARSET:
            utf8 = body[start:end] == _IIM_UTF8
        elif field_id in _IIM_FIELDS:
            found.append((_IIM_FIELDS[field_id], body[start : min(end, start + MAX_TEXT_BYTES)]))
        pos = end
    for name, raw in found:
        text = _iim_text(raw, utf8).strip("\x00 \t\r\n")
        if text:
            out.add_text(name, text, f"iptc:{name}")


def _iim_text(raw: bytes, utf8: bool) -> str:
    """IIM text: UTF-8 when declared (or when it decodes as such), else Latin-1."""
    if utf8:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
