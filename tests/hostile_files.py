"""Hostile and unusual uploads, generated in a temporary folder (nothing is stored in the repo).

Each :class:`Case` names a file (or something that is no file) at a manifest path and what
the batch job must make of it: scored, or skipped with a typed reason, a detail in words
and the review-queue lane it lands in. :func:`build_corpus` writes them;
:func:`growing_file` keeps one file changing while the job reads it.
"""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.bad_inputs import _bytes as encoded
from tests.bad_inputs import _photo, _png_claiming

#: Bytes a zTXt/iTXt/iCCP chunk inflates to: twice Pillow's per-chunk text limit (1 MiB).
INFLATED = 2 * 1024 * 1024
#: Size the growing file keeps (a read spans several clock ticks, so its changes are seen).
GROWING_BYTES = 40 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One hostile input. ``outcome`` is ``"scored"`` or the skip reason; ``detail`` words the
    output's ``skip_detail`` must contain; ``lane`` the queue lane of its row."""

    name: str
    outcome: str
    lane: str = "ranked"
    detail: str = ""


CASES = (
    Case("photo.jpg", "scored"),
    Case("oversized_ztxt.png", "scored"),  # metadata past Pillow's limit must not hide the pixels
    Case("oversized_itxt_after_idat.png", "scored"),
    Case("oversized_iccp.png", "scored"),
    Case("truncated_progressive.jpg", "truncated", "needs_look"),  # browsers show what arrived
    Case("truncated.png", "truncated", "needs_look"),
    Case("bad_ancillary_crc.png", "scored"),  # browsers drop a damaged metadata chunk, so do we
    Case("damaged_idat.png", "corrupt", "needs_look"),  # browsers draw the rows before the damage
    Case("drawing.svg", "not_an_image", "needs_look"),  # a format browsers show, the decoder not
    Case("huge_header.png", "too_large", "needs_look"),
    Case("fifo.png", "unreadable", detail="not a regular file"),
    Case("folder.png", "unreadable", detail="not a regular file"),
    Case("loop.png", "unreadable", detail="loop"),
    Case("zero_device.png", "unreadable", detail="not a regular file"),
    Case("proc_status.png", "unreadable", detail="changed while it was read"),  # size 0, has bytes
    Case("growing.png", "unreadable", detail="changed while it was read"),
    Case("missing.png", "missing"),
    Case("empty.png", "empty"),
)
BY_NAME = {case.name: case for case in CASES}


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def insert_chunk(png: bytes, chunk: bytes, before: bytes) -> bytes:
    """``png`` with ``chunk`` placed before its first chunk of kind ``before``."""
    at = png.find(before) - 4
    return png[:at] + chunk + png[at:]


def oversized_text_png(seed: int = 1, *, after_idat: bool = False) -> bytes:
    """A valid PNG carrying a compressed text chunk that inflates to :data:`INFLATED` bytes."""
    png = encoded(_photo(seed=seed), "PNG")
    if after_idat:
        chunk = png_chunk(b"iTXt", b"Comment\x00\x01\x00\x00\x00" + zlib.compress(b"A" * INFLATED))
        return insert_chunk(png, chunk, b"IEND")
    return insert_chunk(png, png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * INFLATED)), b"IDAT")


def _bad_ancillary_crc_png() -> bytes:
    chunk = bytearray(png_chunk(b"gAMA", struct.pack(">I", 45455)))
    chunk[-1] ^= 0xFF  # the gamma chunk's checksum no longer matches
    return insert_chunk(encoded(_photo(seed=4), "PNG"), bytes(chunk), b"IDAT")


def _damaged_idat_png() -> bytes:
    png = bytearray(encoded(_photo((120, 90), seed=8), "PNG"))
    start = png.find(b"IDAT") + 8
    png[start:start + 40] = bytes(40)  # the compressed pixels break part-way
    return bytes(png)


def build_corpus(folder: Path) -> dict[str, Path]:
    """Write every :data:`CASES` entry under ``folder`` (``missing.png`` left absent and
    ``growing.png`` written still; see :func:`growing_file`); returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "photo.jpg": encoded(_photo(), "JPEG", quality=90),
        "oversized_ztxt.png": oversized_text_png(1),
        "oversized_itxt_after_idat.png": oversized_text_png(2, after_idat=True),
        "oversized_iccp.png": insert_chunk(
            encoded(_photo(seed=3), "PNG"),
            png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * INFLATED)), b"IDAT"),
        "truncated_progressive.jpg": encoded(_photo((640, 480), seed=5), "JPEG", quality=90,
                                             progressive=True)[:6000],
        "truncated.png": encoded(_photo((300, 200), seed=6), "PNG")[:4000],
        "bad_ancillary_crc.png": _bad_ancillary_crc_png(),
        "damaged_idat.png": _damaged_idat_png(),
        "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
                       b'<rect width="64" height="64" fill="#c33"/></svg>\n',
        "huge_header.png": _png_claiming(20000, 20000),
        "empty.png": b"",
    }
    paths = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    os.mkfifo(folder / "fifo.png")
    (folder / "folder.png").mkdir()
    (folder / "loop.png").symlink_to(folder / "loop2.png")
    (folder / "loop2.png").symlink_to(folder / "loop.png")
    (folder / "zero_device.png").symlink_to("/dev/zero")
    (folder / "proc_status.png").symlink_to("/proc/self/status")
    growing = folder / "growing.png"
    with open(growing, "wb") as handle:
        handle.write(encoded(_photo(seed=7), "PNG"))
        handle.truncate(GROWING_BYTES)
    for name in ("fifo.png", "folder.png", "loop.png", "zero_device.png", "proc_status.png",
                 "growing.png", "missing.png"):
        paths[name] = folder / name
    assert set(paths) == set(BY_NAME)
    return paths


@contextlib.contextmanager
def growing_file(path: Path) -> Iterator[None]:
    """Keep ``path`` changing (64 KiB appended, then cut back, over and over) in another
    process until the block ends; its size stays at about :data:`GROWING_BYTES`."""
    size = path.stat().st_size
    code = ("import os, sys\n"
            "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
            "size, block = int(sys.argv[2]), b'x' * 65536\n"
            "while True:\n"
            "    os.pwrite(fd, block, size)\n"
            "    os.ftruncate(fd, size)\n")
    writer = subprocess.Popen([sys.executable, "-c", code, str(path), str(size)])
    try:
        start, deadline = path.stat().st_mtime_ns, time.monotonic() + 10
        while path.stat().st_mtime_ns == start and time.monotonic() < deadline:
            time.sleep(0.01)  # the writer runs once the file is seen changing
        yield
    finally:
        writer.kill()
        writer.wait(10)


def manifest(folder: Path, paths: dict[str, Path]) -> tuple[Path, dict[str, Case]]:
    """A CSV manifest with one row per case (item id ``h-<name>``), plus a duplicate item id
    and a malformed row; returns it and the case of each file row's item id."""
    lines, expected = ["item_id,artist_id,path,uploaded_at"], {}
    for k, (name, path) in enumerate(sorted(paths.items())):
        item_id = "h-" + name.replace(".", "-")
        lines.append(f"{item_id},artist-{k % 3},{path},2026-07-04T1{k % 10}:00:00+00:00")
        expected[item_id] = BY_NAME[name]
    lines.append(f"h-photo-jpg,artist-0,{paths['photo.jpg']},2026-07-04T10:00:00+00:00")  # duplicate
    lines.append(f"h-malformed,artist-0,{paths['photo.jpg']},not a date")
    out = folder / "manifest.csv"
    out.write_text("\n".join(lines) + "\n")
    return out, expected
