"""Stealth metadata: a payload hidden in a PNG's pixel least-significant bits.

NovelAI and sd-webui's stealth-pnginfo extension write, pixel by pixel in
column order (top to bottom, then left to right), a 15-byte magic, a 32-bit
big-endian payload length in bits, then the payload (gzip-compressed for the
``...comp`` magics):

- **alpha** mode (``stealth_pnginfo`` / ``stealth_pngcomp``): one bit per
  pixel, the alpha channel's low bit (source ``alpha-lsb``);
- **RGB** mode (``stealth_rgbinfo`` / ``stealth_rgbcomp``): three bits per
  pixel, the low bits of R, G and B in turn (source ``rgb-lsb``).

:func:`read_stealth` looks at 8-bit RGB, RGBA and grey + alpha PNGs and decodes
only the rows that hold what it reads. The stream runs down the columns, so
the rows for the magic's first two bytes are read first, the magic and length
only when those match, then the rows the payload needs. Reading fewer rows than
the image has means reading column 0 alone: those rows are inflated one at a
time and only their first pixel is unfiltered, here. A payload that needs
every row is decoded by Pillow, from a copy of the file reduced to its IHDR and
IDAT chunks (no other chunk reaches the decoder), and never past
``MAX_STEALTH_PIXELS`` pixels: beyond that the payload is not read and the file
gets a ``pixel_budget_exceeded`` finding (the magic alone still marks it).
Payloads are kept (at most ``MAX_STEALTH_BYTES``, gzip inflated within the
file's budget) as text items for :mod:`slopscore.provenance.generators`.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from PIL import Image

from slopscore.provenance.collected import (
    MAX_STEALTH_BYTES,
    MAX_STEALTH_PIXELS,
    PARSE_ERRORS,
    Collected,
    PngLayout,
    load_json,
)

__all__ = ["read_stealth"]

_HEADER_BITS = 8 * (15 + 4)
# Every magic starts so: the rows for these 16 bits are decoded first, the header's only if they match.
_PROBE = b"st"
_CHANNELS = {2: 3, 4: 2, 6: 4}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


class _Mode(NamedTuple):
    """Where a writer hides its stream: evidence source, channels read, bits per pixel, magics."""

    source: str
    channels: slice
    bits_per_pixel: int
    magics: dict[bytes, bool]  # magic -> payload is gzip-compressed


_ALPHA = _Mode("alpha-lsb", slice(-1, None), 1, {b"stealth_pnginfo": False, b"stealth_pngcomp": True})
_RGB = _Mode("rgb-lsb", slice(0, 3), 3, {b"stealth_rgbinfo": False, b"stealth_rgbcomp": True})
# PNG colour type -> modes that can hide a payload: RGB, RGBA, grey + alpha.
_MODES = {2: (_RGB,), 6: (_RGB, _ALPHA), 4: (_ALPHA,)}


def read_stealth(data: bytes, out: Collected) -> None:
    """Look for a stealth payload in the low bits of an 8-bit RGB, RGBA or grey + alpha PNG (``out.png``)."""
    png = out.png
    usable = png is not None and png.bit_depth == 8 and png.width > 0 and png.height > 0 and png.idat
    modes = _MODES.get(png.color_type, ()) if usable else ()
    pixels = _decode_bits(data, png, modes, 8 * len(_PROBE), out) if modes else None
    if pixels is None:
        return
    modes = tuple(mode for mode in modes if _capacity(pixels, png, mode) >= 8 * len(_PROBE)
                  and _lsb_bytes(pixels, mode, 0, 8 * len(_PROBE)) == _PROBE)
    pixels = _decode_bits(data, png, modes, _HEADER_BITS, out) if modes else None
    for mode in modes if pixels is not None else ():
        _read_mode(data, png, mode, pixels, out)


def _decode_bits(data: bytes, png: PngLayout, modes: tuple[_Mode, ...], n_bits: int,
                 out: Collected) -> np.ndarray | None:
    """Pixels holding the first ``n_bits`` of every mode's stream."""
    return _decode_rows(data, png, max(_rows_for(png, mode, n_bits) for mode in modes), n_bits, out)


def _rows_for(png: PngLayout, mode: _Mode, n_bits: int) -> int:
    """Rows holding the first ``n_bits`` of the mode's stream: part of column 0, or every row."""
    n_pixels = -(-n_bits // mode.bits_per_pixel)
    return n_pixels if n_pixels <= png.height else png.height


def _capacity(pixels: np.ndarray, png: PngLayout, mode: _Mode) -> int:
    """Stream bits the decoded pixels hold: column 0's top when rows are missing, else every column read."""
    rows, columns = pixels.shape[:2]
    return rows * mode.bits_per_pixel * (columns if rows == png.height else 1)


def _read_mode(data: bytes, png: PngLayout, mode: _Mode, pixels: np.ndarray, out: Collected) -> None:
    """Check one mode's magic; read its payload, decoding more rows if the payload needs them."""
    if _capacity(pixels, png, mode) < _HEADER_BITS:
        return
    header = _lsb_bytes(pixels, mode, 0, _HEADER_BITS)
    compressed = mode.magics.get(header[:15])
    if compressed is None:
        return
    n_bytes = int.from_bytes(header[15:19], "big") // 8
    needed = _HEADER_BITS + 8 * n_bytes
    if n_bytes > MAX_STEALTH_BYTES or needed > png.width * png.height * mode.bits_per_pixel:
        out.issue("stealth_payload_invalid", f"declares {n_bytes} bytes", mode.source)
        return
    out.stealth[mode.source] = header[:15].decode()
    if _capacity(pixels, png, mode) < needed:
        pixels = _decode_rows(data, png, _rows_for(png, mode, needed), needed, out)
        if pixels is None:
            return
    payload: bytes | None = _lsb_bytes(pixels, mode, _HEADER_BITS, 8 * n_bytes)
    if compressed:
        payload = out.inflate(payload, mode.source, wbits=16 + zlib.MAX_WBITS)
    if payload is not None:
        _add_stealth_texts(payload.decode("utf-8", "replace"), mode.source, out)


def _decode_rows(data: bytes, png: PngLayout, rows: int, n_bits: int, out: Collected) -> np.ndarray | None:
    """The first ``rows`` rows, cut to the columns that can hold ``n_bits`` (``(rows, columns, channels)``).

    Fewer rows than the image has are only ever read for column 0 (the stream
    runs down the columns), so those rows are inflated one by one and just
    their first pixel is unfiltered here. Every row is decoded by Pillow, from
    a PNG of only the IHDR and the file's IDAT chunks (within
    ``MAX_STEALTH_PIXELS``; an interlaced file, whose rows are not stored in
    order, is always decoded whole).
    """
    rows = png.height if png.interlaced else rows
    if rows * png.width > MAX_STEALTH_PIXELS:
        out.issue("pixel_budget_exceeded", f"{png.width}x{rows} pixels needed, limit {MAX_STEALTH_PIXELS}",
                  "stealth")
        return None
    if rows < png.height:
        return _first_column(data, png, rows, out)
    stream = b"".join([_PNG_SIGNATURE, _chunk(b"IHDR", png.ihdr),
                       *(memoryview(data)[start:end] for start, end in png.idat), _IEND])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(stream), formats=["PNG"]) as image:
                image.load()
                return np.asarray(image.crop((0, 0, min(png.width, -(-n_bits // rows)), rows)))
    except (Image.DecompressionBombError, *PARSE_ERRORS) as exc:
        out.issue("pixels_unreadable", type(exc).__name__, "stealth")
        return None


def _first_column(data: bytes, png: PngLayout, rows: int, out: Collected) -> np.ndarray | None:
    """Column 0 of the first ``rows`` rows as ``(rows, 1, channels)``, unfiltered.

    A row's first pixel has no left neighbour, so each PNG filter reduces to
    the filtered byte plus nothing (None, Sub), the byte above (Up, Paeth) or
    half of it (Average).
    """
    channels = _CHANNELS[png.color_type]
    column = np.empty((rows, 1, channels), np.uint8)
    above = [0] * channels
    try:
        for y, row in enumerate(_filtered_rows(data, png, 1 + png.width * channels, rows)):
            kind, first = row[0], row[1 : 1 + channels]
            if kind > 4:
                out.issue("pixels_unreadable", f"row {y} has filter type {kind}", "stealth")
                return None
            if kind <= 1:
                above = list(first)
            else:
                above = [(value + (prior // 2 if kind == 3 else prior)) & 0xFF for value, prior in zip(first, above)]
            column[y, 0] = above
    except zlib.error as exc:
        out.issue("pixels_unreadable", f"pixel data: {exc}", "stealth")
        return None
    except EOFError:
        out.issue("pixels_unreadable", "pixel data ends early", "stealth")
        return None
    return column


def _filtered_rows(data: bytes, png: PngLayout, stride: int, rows: int) -> Iterator[bytes]:
    """The first ``rows`` filtered rows, inflated from the IDAT chunks one row at a time."""
    inflater = zlib.decompressobj()
    spans = iter(png.idat)
    pending: bytes | memoryview = b""
    for _ in range(rows):
        row = b""
        while len(row) < stride:
            if inflater.eof:
                raise EOFError
            if not pending:
                start, end = next(spans, (0, 0))
                if end == 0:
                    raise EOFError
                pending = memoryview(data)[start + 8 : end - 4]
            row += inflater.decompress(pending, stride - len(row))
            pending = inflater.unconsumed_tail
        yield row


def _chunk(ctype: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC."""
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _lsb_bytes(pixels: np.ndarray, mode: _Mode, first_bit: int, n_bits: int) -> bytes:
    """Bits ``first_bit..first_bit+n_bits`` of the mode's column-order LSB stream, packed MSB first."""
    per_column = pixels.shape[0] * mode.bits_per_pixel
    first_col = first_bit // per_column
    last_col = (first_bit + n_bits - 1) // per_column + 1
    stream = pixels[:, first_col:last_col, mode.channels].transpose(1, 0, 2).ravel()
    offset = first_bit - first_col * per_column
    return np.packbits(stream[offset : offset + n_bits] & 1).tobytes()


def _add_stealth_texts(text: str, source: str, out: Collected) -> None:
    """A JSON object's string fields become text items; plain text is WebUI ``parameters``."""
    document = load_json(text)
    if isinstance(document, dict):
        for key, value in document.items():
            if isinstance(value, str):
                out.add_text(str(key), value, source)
    else:
        out.add_text("parameters", text, source)
