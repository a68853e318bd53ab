"""Decoding: every Pillow mode to RGB, orientation, animation, and typed failures."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from slopscore.media.decode import ImageLoadError, SkipReason, decode_image, load_image
from tests.hostile_files import insert_chunk, png_chunk


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


_HUGE_TEXT = zlib.compress(b"A" * (2 * 1024 * 1024))  # inflates past Pillow's 1 MiB text limit
_GAMMA = png_chunk(b"gAMA", struct.pack(">I", 45455))


@pytest.mark.parametrize("chunk, before", [
    (png_chunk(b"zTXt", b"Comment\x00\x00" + _HUGE_TEXT), b"IDAT"),
    (png_chunk(b"iTXt", b"Comment\x00\x01\x00\x00\x00" + _HUGE_TEXT), b"IEND"),
    (png_chunk(b"iCCP", b"icc\x00\x00" + _HUGE_TEXT), b"IDAT"),
    (_GAMMA[:-1] + bytes([_GAMMA[-1] ^ 1]), b"IDAT"),  # a checksum that does not match
])
def test_pixels_decode_past_oversized_or_damaged_metadata(chunk, before):
    from PIL import PngImagePlugin

    clean = _encode(_pattern(), "PNG")
    data = insert_chunk(clean, chunk, before)
    decoded = decode_image(data)
    assert np.array_equal(np.asarray(decoded.image), np.asarray(decode_image(clean).image))
    assert decoded.n_bytes == len(data) and decoded.format == "PNG"
    assert decoded.sha256 == hashlib.sha256(data).hexdigest()  # of the file as uploaded
    assert PngImagePlugin.MAX_TEXT_CHUNK == 1024 * 1024  # Pillow's own limit, unchanged


def test_pixel_chunks_keep_transparency_and_orientation_and_leave_broken_files_broken():
    from slopscore.media.decode import png_pixel_chunks

    huge = png_chunk(b"zTXt", b"Comment\x00\x00" + _HUGE_TEXT)
    palette = _encode(_pattern().convert("P"), "PNG", transparency=0)
    assert np.array_equal(np.asarray(decode_image(insert_chunk(palette, huge, b"IDAT")).image),
                          np.asarray(decode_image(palette).image))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: stored in the eXIf chunk, which the pixels need
    rotated = _encode(_pattern(), "PNG", exif=exif.tobytes())
    assert decode_image(insert_chunk(rotated, huge, b"IDAT")).image.size == (48, 64)
    assert png_pixel_chunks(palette) is None  # nothing to drop
    assert png_pixel_chunks(b"GIF89a" + bytes(20)) is None
    truncated = insert_chunk(palette, huge, b"IDAT")[:-2000]
    assert png_pixel_chunks(truncated) is None
    with pytest.raises(ImageLoadError) as info:
        decode_image(insert_chunk(_encode(_pattern((300, 200)), "PNG"), huge, b"IDAT")[:-1500])
    assert info.value.reason is SkipReason.TRUNCATED


def test_strip_metadata_reencodes_past_oversized_metadata():
    from slopscore.media.strip import strip_metadata

    clean = _encode(_pattern(), "PNG")
    stripped = strip_metadata(insert_chunk(clean, png_chunk(b"zTXt", b"Comment\x00\x00" + _HUGE_TEXT), b"IDAT"))
    assert Image.open(io.BytesIO(stripped)).text == {}
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(stripped)).convert("RGB")), np.asarray(_pattern()))


@pytest.mark.timeout(30)
def test_only_regular_files_are_read_and_nothing_blocks(tmp_path):
    from slopscore.media.decode import read_source

    os.mkfifo(tmp_path / "pipe.png")  # opening it for reading would wait for a writer forever
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "zero.png").symlink_to("/dev/zero")  # would never end
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    cases = {"pipe.png": "not a regular file: the path is a named pipe",
             "dir.png": "not a regular file: the path is a directory",
             "zero.png": "not a regular file: the path is a character device",
             "a.png": "symbolic links form a loop"}
    for name, detail in cases.items():
        with pytest.raises(ImageLoadError) as info:
            read_source(tmp_path / name)
        assert info.value.reason is SkipReason.UNREADABLE and info.value.detail == detail, name
    with pytest.raises(ImageLoadError) as info:
        load_image("/dev/zero")
    assert info.value.reason is SkipReason.UNREADABLE
    with pytest.raises(ImageLoadError) as info:
        read_source(str(tmp_path / "nul\x00.png"))
    assert info.value.reason is SkipReason.UNREADABLE


def test_a_file_that_changes_while_read_or_reads_too_slowly_is_refused(tmp_path):
    from slopscore.media.decode import read_source

    with pytest.raises(ImageLoadError) as info:
        read_source("/proc/self/status")  # a regular file that says 0 bytes and has more
    assert info.value.reason is SkipReason.UNREADABLE and "changed while it was read" in info.value.detail
    big = tmp_path / "big.png"
    big.write_bytes(_encode(_pattern(), "PNG") + bytes(4 * 1024 * 1024))
    assert len(read_source(big)) == big.stat().st_size
    with pytest.raises(ImageLoadError) as info:
        read_source(big, time_limit_s=0)
    assert info.value.reason is SkipReason.UNREADABLE and "longer than 0 s" in info.value.detail
    with pytest.raises(ImageLoadError) as info:
        read_source(big, max_bytes=1024)
    assert info.value.reason is SkipReason.TOO_LARGE
