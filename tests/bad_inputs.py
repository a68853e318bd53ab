"""A corpus of hostile and unusual uploads, generated on demand (nothing is stored in the repo)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

#: file name -> what the pipeline must do with it: a skip reason, or "scored".
EXPECTED = {
    "truncated.jpg": "truncated",
    "zero.png": "empty",
    "text.png": "not_an_image",
    "bomb.png": "too_large",
    "huge_header.png": "too_large",
    "cmyk.jpg": "scored",
    "sixteen_bit.png": "scored",
    "palette_alpha.png": "scored",
    "animated.gif": "scored",
    "animated.webp": "scored",
    "rotated.jpg": "scored",
    "corrupt_chunk.png": "corrupt",
    "unreadable.png": "scored" if os.geteuid() == 0 else "unreadable",  # root reads anything
    "missing.png": "missing",
    "photo.jpg": "scored",
}


def tiny_scorer(folder: Path) -> Path:
    """Save a small scorer fitted on random 32-d vectors (the tiny test backbone's size)."""
    from tests.test_tracking import _scorer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 32))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    groups = np.array([f"a{i % 12}" for i in range(120)])
    return _scorer(X, (X[:, 0] > 0).astype(int), groups).save(folder)


def _photo(size=(96, 72), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def _bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_claiming(width: int, height: int, pixels: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels))
            + chunk(b"IEND", b""))


def write_bad_inputs(folder: Path) -> dict[str, Path]:
    """Write every file of :data:`EXPECTED` (except ``missing.png``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "photo.jpg": _bytes(_photo(), "JPEG", quality=90),
        "truncated.jpg": _bytes(_photo((400, 300)), "JPEG", quality=90)[:1500],
        "zero.png": b"",
        "text.png": b"this is a text file pretending to be an image\n" * 20,
        # 100 MB of zeros compress to ~100 KB: a real decompression bomb.
        "bomb.png": _png_claiming(12000, 12000),
        "huge_header.png": _png_claiming(20000, 20000),
        "cmyk.jpg": _bytes(_photo().convert("CMYK"), "JPEG", quality=90),
        "sixteen_bit.png": _bytes(Image.fromarray(
            (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)), "PNG"),
        "palette_alpha.png": _bytes(_photo().convert("P"), "PNG", transparency=0),
        "animated.gif": _bytes(_photo(), "GIF", save_all=True, append_images=[_photo(seed=1)]),
        "animated.webp": _bytes(_photo(), "WEBP", save_all=True, append_images=[_photo(seed=1)]),
        "unreadable.png": _bytes(_photo(seed=2), "PNG"),
    }
    exif = Image.Exif()
    exif[0x0112] = 6
    files["rotated.jpg"] = _bytes(_photo(seed=3), "JPEG", exif=exif)
    corrupt = bytearray(_bytes(_photo((120, 90), seed=4), "PNG"))
    start = corrupt.find(b"IDAT") + 8
    corrupt[start:start + 40] = bytes(40)
    files["corrupt_chunk.png"] = bytes(corrupt)
    paths = {}
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths[name] = path
    paths["unreadable.png"].chmod(0)
    paths["missing.png"] = folder / "missing.png"
    return paths


def bad_manifest(folder: Path) -> tuple[Path, dict[str, str]]:
    """A manifest over the corpus plus a duplicate item id and malformed rows.

    Returns the manifest and the expected outcome per item id (reason or "scored").
    """
    paths = write_bad_inputs(folder / "files")
    lines = ["item_id,artist_id,path,uploaded_at"]
    expected = {}
    for i, (name, path) in enumerate(sorted(paths.items())):
        lines.append(f"bad-{i},artist-{i % 3},{path},2026-07-04T1{i % 10}:00:00+00:00")
        expected[f"bad-{i}"] = EXPECTED[name]
    lines.append(f"bad-0,artist-0,{paths['photo.jpg']},2026-07-04T10:00:00+00:00")  # duplicate id
    lines.append("malformed-1,artist-0,,2026-07-04T10:00:00+00:00")  # empty path
    lines.append("malformed-2,artist-0,x.png,not a date")
    lines.append('"unterminated,artist-0,x.png,2026-07-04T10:00:00+00:00')
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest, expected
