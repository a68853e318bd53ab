"""PDQ perceptual hashes: the 256-bit hash of an image and how reliable it is.

Numbers and their directions
----------------------------
* PDQ hash: 256 bits, stored as 32 bytes or four ``uint64`` words.
* Hamming distance: integer in 0..256, **lower = more similar** (0 = identical bits;
  unrelated images sit near 128).
* PDQ quality: integer in 0..100, **higher = more reliable**. Flat, blank or tiny
  images score low; their hashes say little and never produce a match.
* A pair matches when its distance is ``<= MATCH_DISTANCE`` (31) and both qualities are
  ``>= MIN_QUALITY`` (50), the convention of Meta's Hasher-Matcher-Actioner; the
  searches of :mod:`slopscore.signals.pdq_index` and :mod:`slopscore.signals.duplicates`
  take both as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image

from slopscore.signals._checks import check_int_range

__all__ = [
    "HASH_BITS",
    "HASH_SIDE",
    "MATCH_DISTANCE",
    "MAX_QUALITY",
    "MIN_QUALITY",
    "PdqHash",
    "pdq_hash",
]

#: Bits in a PDQ hash; the largest possible Hamming distance.
HASH_BITS = 256
#: Largest PDQ quality.
MAX_QUALITY = 100
#: Default match threshold: Hamming distance at or below this is a near-duplicate.
MATCH_DISTANCE = 31
#: Default reliability floor: hashes with a lower quality never match.
MIN_QUALITY = 50
#: Images are box-downscaled so that neither side exceeds this before hashing. PDQ
#: reduces every image to 64x64 anyway; the reference hasher downsamples to 512 first
#: for the same reason (its Jarosz filter costs time proportional to the pixel count).
HASH_SIDE = 512

_MIN_SIDE = 5


@dataclass(frozen=True)
class PdqHash:
    """One PDQ hash and its quality.

    Attributes
    ----------
    digest : bytes
        The 256 hash bits packed into 32 bytes, most significant bit first (the first
        element of ``pdqhash``'s bit vector is the top bit of ``digest[0]``).
    quality : int
        0..100, higher = the hash is more reliable; below ``MIN_QUALITY`` (50) the
        hash never matches.
    """

    digest: bytes
    quality: int

    def __post_init__(self) -> None:
        if not isinstance(self.digest, bytes):
            kind = type(self.digest).__name__
            raise TypeError(f"digest is a {kind}; expected {HASH_BITS // 8} bytes")
        if len(self.digest) != HASH_BITS // 8:
            raise ValueError(f"digest has {len(self.digest)} bytes; expected {HASH_BITS // 8}")
        check_int_range(self.quality, "quality", MAX_QUALITY)

    @classmethod
    def from_hex(cls, text: str, quality: int) -> PdqHash:
        """Parse the 64-hex-digit form written by :attr:`hex`."""
        if len(text) != HASH_BITS // 4:
            raise ValueError(f"hex hash has {len(text)} characters; expected {HASH_BITS // 4}")
        return cls(bytes.fromhex(text), quality)

    @property
    def hex(self) -> str:
        """The hash as 64 lowercase hex digits."""
        return self.digest.hex()

    @property
    def words(self) -> np.ndarray:
        """The hash as four native ``uint64`` words, ``digest[0:8]`` first (a new array)."""
        return np.frombuffer(self.digest, dtype=">u8").astype(np.uint64)

    def distance(self, other: PdqHash) -> int:
        """Hamming distance to ``other``: 0..256, lower = more similar."""
        return int(np.bitwise_count(self.words ^ other.words).sum())


def pdq_hash(image: Image.Image) -> PdqHash:
    """PDQ-hash an RGB image.

    Images with a side above :data:`HASH_SIDE` (512) are first box-downscaled so that
    neither side exceeds it (aspect ratio is irrelevant: PDQ squeezes every image to
    64x64). This makes hashing several times faster at large sizes and keeps hashes of
    resized copies close.

    Parameters
    ----------
    image : PIL.Image.Image
        RGB pixels, e.g. ``load_image(path).image``.

    Returns
    -------
    PdqHash
        Hash bits plus quality 0..100 (higher = more reliable). Flat images get
        quality 0; images under 5 pixels on a side get the all-zero hash and quality 0.

    Raises
    ------
    ValueError
        If the image is not in mode ``"RGB"`` (decode with
        :func:`slopscore.media.decode.load_image`, which composites transparency onto white).
    """
    if image.mode != "RGB":
        raise ValueError(f"image has mode {image.mode!r}; expected 'RGB' (use images.load_image)")
    width, height = image.size
    if min(width, height) < _MIN_SIDE:
        # Nothing to measure (pdqhash also answers quality 0 here, and fails at 0 px).
        return PdqHash(bytes(HASH_BITS // 8), 0)
    if width > HASH_SIDE or height > HASH_SIDE:
        # reducing_gap=1.0 lets Pillow shrink by an integer factor first (fast), then box-filter.
        target = (min(width, HASH_SIDE), min(height, HASH_SIDE))
        image = image.resize(target, Image.Resampling.BOX, reducing_gap=1.0)
    bits, quality = pdqhash.compute(np.asarray(image, dtype=np.uint8))
    return PdqHash(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes(), int(quality))
