"""Decode untrusted image files into RGB pixels, with a typed reason for every failure.

Every upload is untrusted. :func:`load_image` never lets a broken file stop a
batch: it either returns a :class:`DecodedImage` or raises :class:`ImageLoadError`
whose ``reason`` is one :class:`SkipReason`, which the batch layer records as an
error row before moving on.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import stat
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "DEFAULT_READ_SECONDS", "DRAFT_MIN", "DecodedImage",
           "ImageLoadError", "SkipReason", "decode_image", "load_image", "png_pixel_chunks", "read_source",
           "resolve_source", "retry_pixels_only"]

#: Pillow's own decompression-bomb limit (about 89.5 megapixels).
DEFAULT_MAX_PIXELS = 89_478_485
#: Files larger than this are refused before being read.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Longest reading one file may take, in seconds, before it is refused as ``unreadable``.
DEFAULT_READ_SECONDS = 30.0
#: JPEGs are decoded at a reduced scale no smaller than this on either side: enough for
#: model inputs up to this size and for PDQ hashing (which squeezes to 64x64), so one
#: decode serves both.
DRAFT_MIN = 256
_T = TypeVar("_T")

# Never decode half a file as if it were whole.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Leading bytes of formats Pillow decodes; a file that starts like an image but
# cannot be identified is damaged rather than "not an image".
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIGNATURES = {_PNG_SIGNATURE: "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF",
               b"GIF89a": "GIF", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}
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
        self.reason, self.detail, self.sha256 = reason, detail, sha256


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
            raise ImageLoadError(SkipReason.UNSUPPORTED_SOURCE, f"scheme {parsed.scheme!r} is not "
                                 "supported; use a local path or file:// URI")
        return Path(unquote(parsed.path))
    return Path(text)


def read_source(source: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES, *,
                time_limit_s: float = DEFAULT_READ_SECONDS) -> bytes:
    """Read a file's bytes with typed failures; never blocks on what is not a regular file.

    Only regular files are read (links followed): a pipe, device, socket or directory is
    refused from ``os.stat`` unopened, and again from ``fstat`` after a non-blocking open
    (a path swapped in between). Reading gives up after ``time_limit_s`` (checked between
    1 MiB blocks), and a file whose size or mtime changes while read is refused.

    Raises
    ------
    ImageLoadError
        ``missing``, ``unreadable`` (permissions, not a regular file, link loop, too slow,
        changed while read), ``empty``, ``too_large`` or ``unsupported_source``.
    """
    path = resolve_source(source)
    with _typed_os_errors():
        _require_regular(os.stat(path), max_bytes)
        descriptor = os.open(path, _OPEN_FLAGS)
    try:
        with _typed_os_errors():
            opened = os.fstat(descriptor)
            _require_regular(opened, max_bytes)  # the path was swapped after the first check
            if _NONBLOCK:
                os.set_blocking(descriptor, True)
            data = _read_all(descriptor, min(opened.st_size, max_bytes) + 1, time_limit_s)
            after = os.fstat(descriptor)
    finally:
        os.close(descriptor)
    if len(data) != opened.st_size or (after.st_size, after.st_mtime_ns) != (opened.st_size, opened.st_mtime_ns):
        raise ImageLoadError(SkipReason.UNREADABLE, "the file changed while it was read ("
                             f"{opened.st_size} bytes when opened, {len(data)} read, {after.st_size} after)")
    if not data:
        raise ImageLoadError(SkipReason.EMPTY, "file has 0 bytes")
    return data


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS = (os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_BINARY", 0))
_READ_BLOCK = 1 << 20
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def _require_regular(info: os.stat_result, max_bytes: int) -> None:
    """Refuse anything but a regular file, and regular files over ``max_bytes``."""
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "of an unknown kind")
        raise ImageLoadError(SkipReason.UNREADABLE, f"not a regular file: the path is {kind}")
    if info.st_size > max_bytes:
        raise ImageLoadError(SkipReason.TOO_LARGE, f"file has {info.st_size} bytes, the limit is {max_bytes}")


def _read_all(descriptor: int, limit: int, time_limit_s: float) -> bytes:
    """Up to ``limit`` bytes from ``descriptor``, giving up after ``time_limit_s`` seconds."""
    deadline = time.monotonic() + time_limit_s
    blocks, total = [], 0
    while total < limit:
        block = os.read(descriptor, min(_READ_BLOCK, limit - total))
        if not block:
            break
        blocks.append(block)
        total += len(block)
        if time.monotonic() > deadline:
            raise ImageLoadError(SkipReason.UNREADABLE, f"reading took longer than {time_limit_s:g} s")
    return b"".join(blocks)


@contextlib.contextmanager
def _typed_os_errors():
    """Turn the operating system's refusals into typed :class:`ImageLoadError` reasons."""
    try:
        yield
    except FileNotFoundError:
        raise ImageLoadError(SkipReason.MISSING, "no file at this path") from None
    except PermissionError:
        raise ImageLoadError(SkipReason.UNREADABLE, "permission denied") from None
    except OSError as exc:
        detail = "symbolic links form a loop" if exc.errno == errno.ELOOP else exc.strerror
        raise ImageLoadError(SkipReason.UNREADABLE, detail or type(exc).__name__) from None
    except ValueError:  # e.g. a NUL byte in the path
        raise ImageLoadError(SkipReason.UNREADABLE, "the path is not a valid file name") from None


def load_image(source: str | os.PathLike[str] | bytes, *, draft_size: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES) -> DecodedImage:
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


def decode_image(data: bytes, *, draft_size: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 sha256: str | None = None) -> DecodedImage:
    """Decode bytes to an RGB :class:`DecodedImage`; see :func:`load_image`.

    ``sha256``, when the caller has already hashed ``data``, is used as given. A PNG whose
    metadata chunks Pillow refuses (a text chunk inflating past its limit, an oversized
    ICC profile, a damaged ancillary chunk) is decoded again from its pixel chunks alone
    (:func:`png_pixel_chunks`), with Pillow's limits unchanged: metadata is read by the
    bounded provenance reader, and too much of it must not hide an upload from review.
    """
    if not data:
        raise ImageLoadError(SkipReason.EMPTY, "file has 0 bytes")
    digest = sha256 or hashlib.sha256(data).hexdigest()
    return retry_pixels_only(lambda b: _decode(b, draft_size, max_pixels, digest, len(data)), data)


def retry_pixels_only(attempt: Callable[[bytes], _T], data: bytes) -> _T:
    """``attempt(data)``; if that fails (``corrupt``, ``truncated``, ``not_an_image``) and
    ``data`` is a PNG with metadata chunks, ``attempt`` on :func:`png_pixel_chunks` instead.
    The first error is raised when the second attempt fails too (or is not possible)."""
    try:
        return attempt(data)
    except ImageLoadError as exc:
        pixels_only = png_pixel_chunks(data) if exc.reason in _RETRY_REASONS else None
        if pixels_only is None:
            raise
        first = exc
    try:
        return attempt(pixels_only)
    except ImageLoadError:
        raise first from None


_RETRY_REASONS = (SkipReason.CORRUPT, SkipReason.TRUNCATED, SkipReason.NOT_AN_IMAGE)
#: Ancillary PNG chunks the pixels need (transparency, EXIF orientation, APNG frames).
_PNG_PIXEL_CHUNKS = frozenset({b"tRNS", b"eXIf", b"acTL", b"fcTL", b"fdAT"})


def png_pixel_chunks(data: bytes) -> bytes | None:
    """The PNG without its metadata: every ancillary chunk but :data:`_PNG_PIXEL_CHUNKS`
    dropped (text, ICC profile, ...). None when ``data`` is not a PNG, has nothing to
    drop, or its chunk structure is broken (a truncated file stays truncated)."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    view, kept, pos, dropped = memoryview(data), [_PNG_SIGNATURE], len(_PNG_SIGNATURE), False
    while pos + 12 <= len(data):
        kind, end = data[pos + 4:pos + 8], pos + 12 + int.from_bytes(data[pos:pos + 4], "big")
        if end > len(data):
            return None
        if kind[0] & 0x20 and kind not in _PNG_PIXEL_CHUNKS:  # lower-case first letter: ancillary
            dropped = True
        else:
            kept.append(view[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(kept) if dropped else None


def _decode(data: bytes, draft_size: int | None, max_pixels: int, digest: str, n_bytes: int) -> DecodedImage:
    """One attempt at decoding ``data`` (of a file of ``n_bytes``) with Pillow; typed errors."""
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x its limit and raises above; treat both as bombs.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageLoadError(SkipReason.TOO_LARGE, f"{width}x{height} = {width * height} "
                                     f"pixels exceeds the limit of {max_pixels}", digest)
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
    return DecodedImage(rgb, digest, n_bytes, image.format, original, n_frames)


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
    """Convert any Pillow mode to 8-bit RGB: transparency composited onto white (how a viewer
    sees it), 16/32-bit greyscale rescaled rather than clipped, bilevel to black and white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
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
