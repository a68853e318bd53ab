"""Decoding: every Pillow mode to RGB, orientation, animation, and typed failures."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from slopscore.media.decode import ImageLoadError, SkipReason, decode_image, load_image


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _pattern(size=(64, 48)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    y = np.linspace(0, 255, size[1], dtype=np.uint8)
    array = np.stack(np.broadcast_arrays(x[None, :], y[:, None], 128 * np.ones((1, 1), np.uint8)), -1)
    return Image.fromarray(np.ascontiguousarray(array), "RGB")


def test_rgb_jpeg_decodes_with_hash_and_size():
    data = _encode(_pattern(), "JPEG", quality=95)
    decoded = decode_image(data)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (64, 48)
    assert decoded.original_size == (64, 48)
    assert decoded.format == "JPEG"
    assert decoded.n_bytes == len(data)
    import hashlib

    assert decoded.sha256 == hashlib.sha256(data).hexdigest()


def test_palette_with_transparency_composites_on_white():
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 1)
    data = _encode(image, "PNG", transparency=0)  # index 0 (red) is transparent
    rgb = decode_image(data).image
    assert rgb.mode == "RGB"
    assert rgb.getpixel((5, 5)) == (255, 255, 255)  # transparent red shows the white background
    assert rgb.getpixel((0, 0)) == (0, 0, 255)


@pytest.mark.parametrize("mode, fill", [("LA", (0, 0)), ("RGBA", (255, 0, 0, 0))])
def test_alpha_modes_composite_on_white(mode, fill):
    image = Image.new(mode, (8, 8), fill)
    rgb = decode_image(_encode(image, "PNG")).image
    assert rgb.mode == "RGB" and rgb.getpixel((3, 3)) == (255, 255, 255)


def test_half_transparent_rgba_blends():
    rgb = decode_image(_encode(Image.new("RGBA", (4, 4), (0, 0, 0, 128)), "PNG")).image
    assert all(120 <= c <= 135 for c in rgb.getpixel((1, 1)))


def test_cmyk_jpeg_becomes_rgb():
    image = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    rgb = decode_image(_encode(image, "JPEG", quality=95)).image
    red, green, blue = rgb.getpixel((8, 8))
    assert rgb.mode == "RGB" and red > 200 and green < 60 and blue < 60


def test_16bit_greyscale_is_rescaled_not_clipped():
    array = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
    source = Image.fromarray(array)
    assert source.mode.startswith("I")
    data = _encode(source, "PNG")
    rgb = np.asarray(decode_image(data).image)
    assert rgb.shape == (1, 4, 3)
    assert list(rgb[0, :, 0]) == [0, 64, 128, 255]  # clipping would give 0, 255, 255, 255


def test_bilevel_image_becomes_black_and_white():
    image = Image.new("1", (8, 8), 0)
    image.putpixel((2, 2), 1)
    rgb = decode_image(_encode(image, "PNG")).image
    assert rgb.getpixel((2, 2)) == (255, 255, 255) and rgb.getpixel((0, 0)) == (0, 0, 0)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90° clockwise turn
    decoded = decode_image(_encode(image, "PNG", exif=exif))
    assert decoded.image.size == (20, 40)
    assert decoded.original_size == (20, 40)
    assert decoded.image.getpixel((10, 5)) == (255, 255, 255)  # white half now on top
    assert decoded.image.getpixel((10, 35)) == (0, 0, 0)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_files_use_first_frame(fmt):
    frames = [Image.new("RGB", (16, 16), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    data = _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(data)
    assert decoded.n_frames == 2
    red, green, blue = decoded.image.getpixel((8, 8))
    assert red > 200 and blue < 60


def test_jpeg_draft_decodes_large_files_smaller_but_not_below_target():
    data = _encode(_pattern((2000, 1500)), "JPEG", quality=90)
    decoded = decode_image(data, draft_size=224)
    assert decoded.original_size == (2000, 1500)
    assert 224 <= min(decoded.image.size) < 1500


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", SkipReason.EMPTY),
        (b"hello, this is plain text and not an image at all", SkipReason.NOT_AN_IMAGE),
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", SkipReason.NOT_AN_IMAGE),
    ],
)
def test_non_images_get_typed_reasons(data, reason):
    with pytest.raises(ImageLoadError) as info:
        decode_image(data)
    assert info.value.reason is reason


@pytest.mark.parametrize("fmt, keep", [("JPEG", 0.5), ("PNG", 0.5), ("PNG", 0.02)])
def test_truncated_files_are_truncated(fmt, keep):
    data = _encode(_pattern((300, 300)), fmt)
    with pytest.raises(ImageLoadError) as info:
        decode_image(data[: max(int(len(data) * keep), 40)])
    assert info.value.reason is SkipReason.TRUNCATED


def test_corrupted_png_chunk_is_corrupt():
    data = bytearray(_encode(_pattern((100, 100)), "PNG"))
    start = data.find(b"IDAT") + 8
    data[start : start + 20] = bytes(20)
    with pytest.raises(ImageLoadError) as info:
        decode_image(bytes(data))
    assert info.value.reason in {SkipReason.CORRUPT, SkipReason.TRUNCATED}
    assert info.value.sha256 is not None


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size; its pixels are never stored."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_decompression_bomb_is_too_large():
    with pytest.raises(ImageLoadError) as info:
        decode_image(_png_header_only(20000, 20000))
    assert info.value.reason is SkipReason.TOO_LARGE


def test_bomb_limit_is_configurable():
    data = _encode(_pattern((100, 100)), "PNG")
    assert decode_image(data, max_pixels=10_000).image.size == (100, 100)
    with pytest.raises(ImageLoadError) as info:
        decode_image(data, max_pixels=9_999)
    assert info.value.reason is SkipReason.TOO_LARGE


def test_path_failures_are_typed(tmp_path):
    with pytest.raises(ImageLoadError) as missing:
        load_image(tmp_path / "nope.png")
    assert missing.value.reason is SkipReason.MISSING

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError) as info:
        load_image(empty)
    assert info.value.reason is SkipReason.EMPTY

    big = tmp_path / "big.png"
    big.write_bytes(_encode(_pattern(), "PNG"))
    with pytest.raises(ImageLoadError) as info:
        load_image(big, max_bytes=10)
    assert info.value.reason is SkipReason.TOO_LARGE

    with pytest.raises(ImageLoadError) as info:
        load_image(tmp_path)  # a directory cannot be read as a file, even by root
    assert info.value.reason is SkipReason.UNREADABLE

    with pytest.raises(ImageLoadError) as info:
        load_image("https://example.com/a.png")
    assert info.value.reason is SkipReason.UNSUPPORTED_SOURCE


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file_is_unreadable(tmp_path):
    path = tmp_path / "secret.png"
    path.write_bytes(_encode(_pattern(), "PNG"))
    path.chmod(0)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert info.value.reason is SkipReason.UNREADABLE


def test_file_uri_and_bytes_give_the_same_image(tmp_path):
    data = _encode(_pattern(), "PNG")
    path = tmp_path / "a b.png"
    path.write_bytes(data)
    from_uri = load_image(path.as_uri())
    from_bytes = load_image(data)
    assert from_uri.sha256 == from_bytes.sha256
    assert np.array_equal(np.asarray(from_uri.image), np.asarray(from_bytes.image))
