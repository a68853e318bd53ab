"""What each file says about itself: provenance metadata and a PDQ hash, read in one pass.

Reading a file once for both keeps the batch cheap: the bytes are read, the
metadata parsed (bounded), and the pixels decoded at a reduced size for PDQ.
A broken file yields empty signals (its embedding row carries the skip reason).
``provenance_findings`` is a JSON list of the distinct typed finding kinds the
reader recorded (tampered or invalid Content Credentials, malformed, oversized
or unsafe metadata, limits reached...), in the order found, at most
``MAX_FINDING_KINDS`` of them.
"""

from __future__ import annotations

import hashlib
import json

from PIL import Image

from slopscore.embedding.cache import SignalCache
from slopscore.media.decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DRAFT_MIN,
    DecodedImage,
    ImageLoadError,
    decode_image,
    read_source,
)
from slopscore.provenance.reader import read_provenance
from slopscore.signals.pdq import pdq_hash

__all__ = ["FILE_SIGNAL_COLUMNS", "MAX_FINDING_KINDS", "SIGNALS_VERSION", "FileSignalReader",
           "empty_signals", "file_signals"]

#: Bump when provenance parsing or PDQ hashing changes, so cached signals are recomputed.
SIGNALS_VERSION = "5"
#: Most finding kinds listed in ``provenance_findings`` (each a short, stable identifier).
MAX_FINDING_KINDS = 16

FILE_SIGNAL_COLUMNS = (
    "pdq_hex", "pdq_quality", "file_says_ai", "file_generator", "provenance_source",
    "c2pa_present", "c2pa_verified", "capture", "provenance_reasons", "provenance_findings",
    "file_type",
)


def empty_signals() -> dict:
    """The signals of a file that could not be read: no evidence of anything."""
    return {"pdq_hex": None, "pdq_quality": None, "file_says_ai": False, "file_generator": None,
            "provenance_source": None, "c2pa_present": False, "c2pa_verified": None,
            "capture": False, "provenance_reasons": "[]", "provenance_findings": "[]",
            "file_type": None}


def file_signals(path: str, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_bytes: int = DEFAULT_MAX_BYTES, cache: SignalCache | None = None) -> dict:
    """Provenance summary and PDQ hash of one file, as flat JSON-friendly columns.

    ``file_says_ai`` is True only when the file itself declares AI generation;
    False means "no evidence", never "human". With a ``cache``, a file whose
    content was seen before is not parsed again.
    """
    try:
        data = read_source(path, max_bytes)
    except ImageLoadError:
        return empty_signals()
    return FileSignalReader(max_pixels, cache)(data, hashlib.sha256(data).hexdigest())


class FileSignalReader:
    """``reader(data, sha256, decoded=None) -> dict``: the signals of bytes already read,
    cached by hash. ``decoded`` (the same bytes decoded at :data:`DRAFT_MIN`) spares
    a second decode for the PDQ hash.

    Picklable, so DataLoader workers and Ray actors can run it next to decoding.
    """

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS, cache: SignalCache | None = None):
        self.max_pixels = max_pixels
        self.cache = cache

    def __call__(self, data: bytes, sha256: str, decoded: DecodedImage | None = None) -> dict:
        cached = self.cache.get(sha256) if self.cache is not None else None
        if cached is not None:
            return cached
        row = _signals(data, sha256, self.max_pixels, decoded)
        if self.cache is not None:
            self.cache.put(sha256, row)
        return row


def _signals(data: bytes, sha256: str, max_pixels: int,
             decoded: DecodedImage | None = None) -> dict:
    """Parse the metadata, then hash the pixels (decoded at the JPEG draft size if not given)."""
    row = empty_signals()
    record = read_provenance(data)
    row.update(
        file_says_ai=bool(record.declared_ai_by_file),
        file_generator=record.generator,
        provenance_source=record.declared_ai_source,
        c2pa_present=bool(record.c2pa_present),
        c2pa_verified=record.c2pa_verified,
        capture=bool(record.capture),
        provenance_reasons=json.dumps(record.reasons()),
        provenance_findings=json.dumps(record.finding_kinds(MAX_FINDING_KINDS)),
    )
    try:
        decoded = decoded or decode_image(data, draft_size=DRAFT_MIN, max_pixels=max_pixels,
                                          sha256=sha256)
    except ImageLoadError:
        return row
    pdq = pdq_hash(_reduced(decoded.image))
    row.update(pdq_hex=pdq.hex, pdq_quality=pdq.quality,
               file_type=decoded.format.lower() if decoded.format else None)
    return row


def _reduced(image: Image.Image) -> Image.Image:
    """Shrink by an integer factor (box filter) while both sides stay >= ``DRAFT_MIN``.

    PDQ squeezes every image to 64x64 anyway; this keeps its cost flat for large
    PNGs, which have no JPEG draft mode.
    """
    factor = min(image.size) // DRAFT_MIN
    return image.reduce(factor) if factor >= 2 else image
