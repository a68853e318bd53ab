"""Platform processing: what an art platform typically does to an upload before others see it.

Metadata stripped (:func:`slopscore.media.strip.strip_metadata`: no EXIF, XMP, IPTC, ICC,
text chunks, C2PA or alpha-channel payloads), then re-encoded as JPEG quality 85 with the
longest side at most 2048 px. Transparent pixels are composited on white, as a page would
show them. Each processed copy is written once, named by the source file's sha256 and
:data:`PROCESSING_ID`, and reused by later runs.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from slopscore.media.decode import DEFAULT_MAX_PIXELS, ImageLoadError
from slopscore.media.strip import strip_metadata

__all__ = ["AS_IS", "JPEG_QUALITY", "MAX_SIDE", "PROCESSED", "PROCESSING_ID", "ProcessingFailure",
           "platform_process", "processed_copies"]

AS_IS = "as-is"
PROCESSED = "processed"
JPEG_QUALITY = 85
MAX_SIDE = 2048
#: Names the recipe; change it whenever the recipe changes, so old copies are not reused.
PROCESSING_ID = f"strip-jpeg{JPEG_QUALITY}-max{MAX_SIDE}-v1"


class ProcessingFailure(ValueError):
    """A source file that cannot be processed (it does not decode)."""


def platform_process(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of the platform-processed copy of an image file.

    Returns
    -------
    bytes
        A baseline JPEG (quality 85, 4:2:0 chroma) with no metadata of any kind; its
        longest side is at most :data:`MAX_SIDE` pixels (never enlarged).

    Raises
    ------
    ProcessingFailure
        When ``data`` does not decode as an image.
    """
    try:
        stripped = strip_metadata(data, max_pixels=max_pixels)
    except ImageLoadError as exc:
        raise ProcessingFailure(f"{exc.reason.value}: {exc}") from None
    with Image.open(io.BytesIO(stripped)) as image:
        image.load()
        pixels = _rgb(image)
    if max(pixels.size) > MAX_SIDE:
        scale = MAX_SIDE / max(pixels.size)
        size = (max(1, round(pixels.width * scale)), max(1, round(pixels.height * scale)))
        pixels = pixels.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    pixels.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=2, optimize=False, progressive=False)
    return out.getvalue()


def _rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB (or L) pixels; transparency composited on white, 16-bit values scaled down."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "L":
        return image.copy()
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def processed_copies(
    sources: Iterable[tuple[str, str | os.PathLike[str]]],
    folder: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[dict[str, Path], dict[str, str]]:
    """Write (or reuse) the processed copy of each ``(sha256, path)`` source.

    Parameters
    ----------
    sources : iterable of (str, path-like)
        Content hash of the original file and where it is.
    folder : path-like
        Copies go to ``folder / PROCESSING_ID / sha[:2] / sha.jpg``; an existing copy is reused.

    Returns
    -------
    (copies, failures) : tuple of dict
        ``sha256 -> processed path`` for the files that could be processed, and
        ``sha256 -> reason`` for those that could not.
    """
    root = Path(folder).expanduser() / PROCESSING_ID
    copies: dict[str, Path] = {}
    failures: dict[str, str] = {}
    for sha, source in sources:
        target = root / sha[:2] / f"{sha}.jpg"
        if not target.is_file():
            try:
                data = platform_process(Path(source).read_bytes(), max_pixels=max_pixels)
            except ProcessingFailure as exc:
                failures[sha] = str(exc)
                continue
            _write_atomically(target, data)
        copies[sha] = target
    return copies, failures


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
