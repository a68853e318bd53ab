"""NovelAI-style "stealth" metadata: a payload hidden in the alpha channel's low bits.

:func:`read_alpha_stealth` decodes the alpha plane (within the media wing's pixel
limit), reads the magic and declared length from the least-significant bits and
keeps the payload (at most ``MAX_STEALTH_BYTES``, gzip inflated within the file's
budget) as text items for :mod:`slopscore.provenance.generators`.
"""

from __future__ import annotations

import io
import warnings
import zlib

import numpy as np
from PIL import Image

from slopscore.media.decode import DEFAULT_MAX_PIXELS
from slopscore.provenance.collected import MAX_STEALTH_BYTES, PARSE_ERRORS, Collected, load_json

__all__ = ["read_alpha_stealth"]

# NovelAI / SD-webui "stealth" metadata: magic, then a 32-bit big-endian bit count.
_STEALTH_MAGICS = {b"stealth_pnginfo": False, b"stealth_pngcomp": True}
_STEALTH_HEADER_BITS = 8 * (15 + 4)


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
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, *PARSE_ERRORS) as exc:
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
