"""Metadata stripping: nothing provenance can read survives, and the pixels do."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from slopscore.media.decode import ImageLoadError, SkipReason
from slopscore.media.strip import strip_metadata
from slopscore.provenance.reader import read_provenance

from .test_provenance import EVIDENCE_FIXTURES, assert_nothing, encode, photo, stealth_png


def pixels(data: bytes, mode: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert(mode)).astype(np.int64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def assert_same_picture(original: bytes, stripped: bytes) -> None:
    """Lossless sources keep RGB exactly (alpha within 1); JPEG stays above 40 dB PSNR."""
    source_format = Image.open(io.BytesIO(original)).format
    assert Image.open(io.BytesIO(stripped)).format == source_format
    if source_format == "JPEG":
        assert psnr(pixels(original, "RGB"), pixels(stripped, "RGB")) > 40
        return
    before, after = pixels(original, "RGBA"), pixels(stripped, "RGBA")
    assert np.array_equal(before[..., :3], after[..., :3])
    assert np.abs(before[..., 3] - after[..., 3]).max() <= 1


@pytest.mark.parametrize(("name", "build"), EVIDENCE_FIXTURES, ids=[f[0] for f in EVIDENCE_FIXTURES])
def test_stripped_fixture_carries_no_evidence(name, build):
    original = build()
    assert read_provenance(original).declared_ai_by_file, "fixture must carry evidence before stripping"
    stripped = strip_metadata(original)
    assert_nothing(read_provenance(stripped))
    assert_same_picture(original, stripped)


def test_stripped_png_has_only_pixel_chunks():
    data = strip_metadata(EVIDENCE_FIXTURES[0][1]())
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    assert set(chunks) <= {b"IHDR", b"IDAT", b"IEND"}


def test_icc_profile_is_dropped():
    icc = b"\x00" * 128 + b"acsp" + b"\x00" * 100
    for fmt in ("PNG", "JPEG"):
        stripped = strip_metadata(encode(photo(), fmt, icc_profile=icc))
        assert "icc_profile" not in Image.open(io.BytesIO(stripped)).info


def test_transparent_image_keeps_its_transparency_but_not_hidden_bits():
    rgba = np.array(photo((96, 96)).convert("RGBA"))
    rgba[:, 48:, 3] = 0
    rgba[::2, 60:, 3] = 128
    original = stealth_png(b'{"Software": "NovelAI"}', b"stealth_pnginfo", Image.fromarray(rgba, "RGBA"))
    assert read_provenance(original).generator == "NovelAI"
    stripped = strip_metadata(original)
    assert Image.open(io.BytesIO(stripped)).mode == "RGBA"
    assert_nothing(read_provenance(stripped))
    assert_same_picture(original, stripped)


def test_opaque_alpha_with_lsb_noise_is_dropped():
    rgba = np.array(photo().convert("RGBA"))
    rgba[..., 3] = 254 + np.random.default_rng(2).integers(0, 2, rgba.shape[:2])
    stripped = strip_metadata(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert Image.open(io.BytesIO(stripped)).mode == "RGB"


def test_orientation_is_applied_before_exif_is_dropped():
    tags = Image.Exif()
    tags[0x0112] = 6
    original = encode(photo((96, 72)), "PNG", exif=tags)
    stripped = Image.open(io.BytesIO(strip_metadata(original)))
    assert stripped.size == (72, 96)
    assert not stripped.getexif()


@pytest.mark.parametrize(("fmt", "expected"), [("GIF", "PNG"), ("BMP", "PNG"), ("TIFF", "PNG"), ("WEBP", "WEBP")])
def test_output_formats(fmt, expected):
    stripped = strip_metadata(encode(photo(), fmt))
    assert Image.open(io.BytesIO(stripped)).format == expected


def test_lossy_webp_stays_close():
    original = encode(photo(), "WEBP", quality=90)
    stripped = strip_metadata(original)
    assert psnr(pixels(original, "RGB"), pixels(stripped, "RGB")) > 35


@pytest.mark.parametrize(("data", "reason"), [
    (b"", SkipReason.EMPTY),
    (b"definitely not an image", SkipReason.NOT_AN_IMAGE),
])
def test_undecodable_input_raises_typed_error(data, reason):
    with pytest.raises(ImageLoadError) as caught:
        strip_metadata(data)
    assert caught.value.reason is reason


def test_truncated_png_raises_typed_error():
    data = encode(photo(), "PNG")
    with pytest.raises(ImageLoadError):
        strip_metadata(data[: len(data) // 2])


def _real_files(realdata: Path) -> list[Path]:
    provenance = realdata / "provenance"
    names = ["c2pars__tests__fixtures__cai.jpg", "c2pars__tests__fixtures__firefly.png",
             "c2pars__tests__fixtures__ocsp.jpg", "c2pars__tests__fixtures__repro-sundae-ice-cream.png"]
    return [provenance / name for name in names] + sorted((realdata / "ai").glob("comfy__*"))[:6]


def test_stripped_real_files_carry_nothing(realdata):
    for path in _real_files(realdata):
        original = path.read_bytes()
        assert read_provenance(original).declared_ai_by_file, path.name
        stripped = strip_metadata(original)
        assert_nothing(read_provenance(stripped))
        assert_same_picture(original, stripped)
