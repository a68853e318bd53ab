"""Decode untrusted image files into RGB pixels, with a typed reason for every failure.

Every upload is untrusted. :func:`load_image` never lets a broken file stop a
batch: it either returns a :class:`DecodedImage` or raises :class:`ImageLoadError`
whose ``reason`` is one :class:`SkipReason`, which the batch layer records as an
error row before moving on.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DRAFT_MIN",
    "DEFAULT_MAX_PIXELS",
    "DecodedImage",
    "ImageLoadError",
    "SkipReason",
    "decode_image",
    "load_image",
    "read_source",
    "resolve_source",
]

#: Pillow's own decompression-bomb limit (about 89.5 megapixels).
DEFAULT_MAX_PIXELS = 89_478_485
#: Files larger than this are refused before being read.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: JPEGs are decoded at a reduced scale no smaller than this on either side: enough for
#: model inputs up to this size and for PDQ hashing (which squeezes to 64x64), so one
#: decode serves both.
DRAFT_MIN = 256

# Never decode half a file as if it were whole.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Leading bytes of formats Pillow decodes; a file that starts like an image but
# cannot be identified is damaged rather than "not an image".
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
_END_MARKERS = {"PNG": b"IEND", "JPEG": b"\xff\xd9", "GIF": b";"}


class SkipReason(str, Enum):
    """Why an item produced no pixels. Values are stable strings written to outputs."""

    MISSING = "missing"
    UNREADABLE = "unreadable"
    EMPTY = "empty"
    NOT_AN_IMAGE = "not_an_image"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    TOO_LARGE = "too_large"
    UNSUPPORTED_SOURCE = "unsupported_source"


class ImageLoadError(Exception):
    """One item could not be decoded; ``reason`` says why in a stable word.

    Parameters
    ----------
    reason : SkipReason
        The typed reason recorded in skip reports.
    detail : str
        A short human-readable explanation (never contains file contents).
    sha256 : str or None
        The content hash when the bytes could be read.
    """

    def __init__(self, reason: SkipReason, detail: str, sha256: str | None = None):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.sha256 = sha256


@dataclass(frozen=True)
class DecodedImage:
    """An upload decoded to RGB.

    Attributes
    ----------
    image : PIL.Image.Image
        RGB pixels, EXIF orientation applied, first frame of animations,
        transparency composited onto white.
    sha256 : str
        Hex digest of the file's bytes, computed once.
    n_bytes : int
        Size of the file in bytes.
    format : str or None
        Pillow's format name (``"JPEG"``, ``"PNG"``...).
    original_size : tuple of int
        ``(width, height)`` of the stored image before any draft downscaling,
        after orientation.
    n_frames : int
        Frames in the file (1 for still images).
    """

    image: Image.Image
    sha256: str
    n_bytes: int
    format: str | None
    original_size: tuple[int, int]
    n_frames: int


def resolve_source(source: str | os.PathLike[str]) -> Path:
    """Turn a manifest ``path`` value (plain path or ``file://`` URI) into a local path.

    Raises
    ------
    ImageLoadError
        ``unsupported_source`` for schemes other than ``file``.
    """
    text = os.fspath(source)
    if "://" in text:
        parsed = urlparse(text)
        if parsed.scheme != "file":
            raise ImageLoadError(
                SkipReason.UNSUPPORTED_SOURCE,
                f"scheme {parsed.scheme!r} is not supported; use a local path or file:// URI",
            )
        return Path(unquote(parsed.path))
    return Path(text)


def read_source(source: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a file's bytes with typed failures.

    Raises
    ------
    ImageLoadError
        ``missing``, ``unreadable``, ``empty`` or ``too_large``.
    """
    path = resolve_source(source)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise ImageLoadError(
                    SkipReason.TOO_LARGE, f"file has {size} bytes, the limit is {max_bytes}"
                )
            data = handle.read(min(size, max_bytes) + 1)  # +1 notices files that grew
    except FileNotFoundError:
        raise ImageLoadError(SkipReason.MISSING, "no file at this path") from None
    except IsADirectoryError:
        raise ImageLoadError(SkipReason.UNREADABLE, "path is a directory") from None
    except PermissionError:
        raise ImageLoadError(SkipReason.UNREADABLE, "permission denied") from None
    except OSError as exc:
        raise ImageLoadError(SkipReason.UNREADABLE, exc.strerror or type(exc).__name__) from None
    if not data:
        raise ImageLoadError(SkipReason.EMPTY, "file has 0 bytes")
    if len(data) > max_bytes:
        raise ImageLoadError(SkipReason.TOO_LARGE, f"file exceeds {max_bytes} bytes")
    return data


def load_image(
    source: str | os.PathLike[str] | bytes,
    *,
    draft_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DecodedImage:
    """Read and decode one upload from a path, ``file://`` URI or bytes.

    Parameters
    ----------
    source : path-like, str or bytes
        Where the image is, or its bytes.
    draft_size : int, optional
        Smallest side the caller needs. JPEGs much larger than this are
        decoded at a reduced scale (Pillow ``draft``), which is several times
        faster; the result is never smaller than ``draft_size`` on either side
        unless the file itself is.
    max_pixels : int
        Decompression-bomb guard: images with more pixels are refused.
    max_bytes : int
        Files larger than this are refused unread.

    Returns
    -------
    DecodedImage

    Raises
    ------
    ImageLoadError
        With a :class:`SkipReason`; no other exception escapes for bad input.
    """
    data = source if isinstance(source, bytes) else read_source(source, max_bytes)
    return decode_image(data, draft_size=draft_size, max_pixels=max_pixels)


def decode_image(
    data: bytes, *, draft_size: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
    sha256: str | None = None,
) -> DecodedImage:
    """Decode bytes to an RGB :class:`DecodedImage`; see :func:`load_image`.

    ``sha256``, when the caller has already hashed ``data``, is used as given.
    """
    if not data:
        raise ImageLoadError(SkipReason.EMPTY, "file has 0 bytes")
    digest = sha256 or hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x its limit and raises above; treat both as bombs.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageLoadError(
                    SkipReason.TOO_LARGE,
                    f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}",
                    digest,
                )
            n_frames = int(getattr(image, "n_frames", 1) or 1)
            if n_frames > 1:
                image.seek(0)
            if draft_size and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            swaps = _exif_swaps_axes(image)
            rgb = _to_rgb(_apply_orientation(image))
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(SkipReason.TOO_LARGE, str(exc), digest) from None
    except UnidentifiedImageError:
        raise _unidentified(data, digest) from None
    except MemoryError:
        raise ImageLoadError(SkipReason.TOO_LARGE, "ran out of memory decoding", digest) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError) as exc:
        reason = SkipReason.TRUNCATED if "truncated" in str(exc).lower() else SkipReason.CORRUPT
        raise ImageLoadError(reason, f"{type(exc).__name__}: {exc}", digest) from None
    original = (height, width) if swaps else (width, height)
    return DecodedImage(rgb, digest, len(data), image.format, original, n_frames)


def _unidentified(data: bytes, digest: str) -> ImageLoadError:
    """Classify bytes Pillow cannot identify: damaged image or something else entirely."""
    fmt = next((name for magic, name in _SIGNATURES.items() if data.startswith(magic)), None)
    if fmt is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        fmt = "WEBP"
    if fmt is None:
        return ImageLoadError(SkipReason.NOT_AN_IMAGE, "not a recognised image format", digest)
    end = _END_MARKERS.get(fmt)
    if end is not None and end not in data[-64:]:
        return ImageLoadError(SkipReason.TRUNCATED, f"{fmt} data ends early", digest)
    return ImageLoadError(SkipReason.CORRUPT, f"{fmt} header is damaged", digest)


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a broken tag leaves the pixels as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return image


def _exif_swaps_axes(image: Image.Image) -> bool:
    """Whether the EXIF orientation rotates by 90 or 270 degrees (tags 5 to 8)."""
    try:
        return image.getexif().get(0x0112) in {5, 6, 7, 8}
    except (OSError, SyntaxError, ValueError, KeyError, TypeError):
        return False


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    Transparency is composited onto white (how a viewer would see it),
    16-bit and 32-bit greyscale are rescaled rather than clipped, and
    bilevel images become black and white.
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I;16") or mode in {"I", "F"}:
        return Image.fromarray(_high_depth_to_uint8(np.asarray(image)), "L").convert("RGB")
    return image.convert("RGB")


def _high_depth_to_uint8(values: np.ndarray) -> np.ndarray:
    """Rescale 16/32-bit or float greyscale to 0..255."""
    values = values.astype(np.float64)
    peak = float(values.max()) if values.size else 0.0
    if peak <= 1.0:
        scaled = values * 255.0
    elif peak <= 255.0:
        scaled = values
    else:
        scaled = values / 257.0 if peak <= 65535.0 else values * (255.0 / peak)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
