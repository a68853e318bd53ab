"""Re-encode an image's pixels without any of its metadata.

Evaluation uses :func:`strip_metadata` to measure what the pixel model does
on its own: many AI files still carry generator metadata, and a metric on
the files as they are would credit the image model with the metadata
shortcut. The output carries no EXIF, XMP, IPTC, ICC profile, text chunks,
C2PA/JUMBF boxes, and no data hidden in the alpha channel's low bits.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from slopscore.media.decode import DEFAULT_MAX_PIXELS, ImageLoadError, SkipReason, retry_pixels_only

__all__ = ["JPEG_QUALITY", "strip_metadata"]

#: Quality used when a JPEG (or lossy WebP) has to be re-encoded; chroma is kept at 4:4:4.
JPEG_QUALITY = 95
# Fast zlib level: stripped files are read once by evaluation, size hardly matters.
_PNG_COMPRESS_LEVEL = 1
_JPEG_MODES = {"L", "RGB"}
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16", "I;16B"}


def strip_metadata(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """Return the image re-encoded from its pixels alone.

    PNG stays PNG and WebP stays WebP (lossless when the source was lossless;
    pixels identical), JPEG is re-encoded at quality 95 with 4:4:4 chroma,
    any other format becomes PNG. The EXIF orientation is applied to the
    pixels before the tag is dropped, so the image displays as before.
    Alpha is rewritten so that no bit pattern survives in it: an alpha
    channel that is opaque apart from its lowest bit is dropped, otherwise
    values 254/255 become 255, 0/1 become 0 and the rest lose their lowest
    bit (a change of at most 1/255 in opacity). Only the first frame of an
    animation is kept.

    Parameters
    ----------
    data : bytes
        The original file.
    max_pixels : int
        Decompression-bomb guard, as in :func:`slopscore.media.decode.load_image`.

    Returns
    -------
    bytes
        The re-encoded file.

    Raises
    ------
    ImageLoadError
        When the input cannot be decoded (``empty``, ``not_an_image``,
        ``corrupt``, ``too_large``).
    """
    image = _decode(data, max_pixels)
    target = {"JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WEBP"}.get(image.format or "", "PNG")
    pixels = _flatten_alpha(_target_mode(_pixels_only(_upright(image)), target))
    out = io.BytesIO()
    if target == "JPEG":
        pixels.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    elif target == "WEBP":
        lossless = _webp_is_lossless(data)
        pixels.save(out, "WEBP", lossless=lossless, quality=100 if lossless else JPEG_QUALITY, exact=True)
    else:
        transparency = pixels.info.get("transparency")
        options = {} if transparency is None else {"transparency": transparency}
        pixels.save(out, "PNG", compress_level=_PNG_COMPRESS_LEVEL, **options)
    return out.getvalue()


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    """Open and fully decode the first frame; typed errors for bad input. A PNG whose
    metadata Pillow refuses is decoded from its pixel chunks (as the loader does)."""
    if not data:
        raise ImageLoadError(SkipReason.EMPTY, "file has 0 bytes")
    return retry_pixels_only(lambda candidate: _open(candidate, max_pixels), data)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """One attempt at opening and decoding ``data``; typed errors for every failure."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                raise ImageLoadError(SkipReason.TOO_LARGE, f"{image.width}x{image.height} pixels")
            image.seek(0)
            image.load()
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(SkipReason.NOT_AN_IMAGE, "not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(SkipReason.TOO_LARGE, str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError) as exc:
        raise ImageLoadError(SkipReason.CORRUPT, f"{type(exc).__name__}: {exc}") from None
    return image


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken tag leaves the pixels as stored (as the loader does)."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return image


def _webp_is_lossless(data: bytes) -> bool:
    """Whether the first image chunk of a RIFF/WebP file is ``VP8L`` (lossless)."""
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos : pos + 4]
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc == b"VP8L"
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        pos += 8 + size + (size & 1)
    return False


def _target_mode(image: Image.Image, target: str) -> Image.Image:
    """Convert only when the output format cannot store the mode."""
    if target == "JPEG" and image.mode not in _JPEG_MODES:
        return image.convert("RGB")
    keeps_alpha = "A" in image.getbands() or "transparency" in image.info
    if target == "WEBP" and image.mode not in ("RGB", "RGBA"):
        return image.convert("RGBA" if keeps_alpha else "RGB")
    if target == "PNG" and image.mode not in _PNG_MODES:
        return image.convert("RGBA" if keeps_alpha else "RGB")
    return image


def _pixels_only(image: Image.Image) -> Image.Image:
    """A new image with the same mode and pixels (and palette) but empty ``info``."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    if image.mode in ("P", "PA"):
        clean.putpalette(image.getpalette(rawmode="RGB"))
        if "transparency" in image.info:
            clean.info["transparency"] = image.info["transparency"]
    return clean


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Remove any payload from the alpha channel's low bits (see :func:`strip_metadata`)."""
    if image.mode not in ("RGBA", "LA"):
        return image
    alpha = np.asarray(image.getchannel("A"))
    colour = image.convert(image.mode[:-1])
    if alpha.min() >= 254:
        return colour
    cleaned = np.where(alpha >= 254, 255, np.where(alpha <= 1, 0, alpha & 0xFE)).astype(np.uint8)
    colour.putalpha(Image.fromarray(cleaned, "L"))
    return colour
