"""Images for the pages, addressed only by database id: never by a path from a request.

The file behind an item comes from the trusted manifest (``queue_items.source`` or
``artworks.source``). It is decoded with :func:`slopscore.media.decode.load_image` (size,
pixel and decompression-bomb limits), shrunk, and re-encoded as a fresh JPEG, so the
uploaded bytes and their metadata (EXIF, XMP, generator parameters) are never served.
A missing or broken file gives a neutral placeholder image, never an error page or
the file's path; an unknown id is a 404.
"""

from __future__ import annotations

import io
import os
import stat
import threading
from collections import OrderedDict
from enum import Enum

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from PIL import Image, ImageDraw
from sqlalchemy import select

from slopscore.media.decode import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, resolve_source
from slopscore.review.schema import Artwork, QueueItem
from slopscore.web.auth import CurrentModerator
from slopscore.web.item_query import row_id

__all__ = ["ImageSize", "Thumbnailer", "router"]

router = APIRouter()

#: Bytes of one source file the server will read for a preview.
MAX_SOURCE_BYTES = 64 * 1024 * 1024
_JPEG_QUALITY = 85
_CACHE_CONTROL = "private, max-age=600"


class ImageSize(str, Enum):
    """Preview sizes (longest side in pixels). ``full`` is the full-size view: still decoded
    and re-encoded, at most 2048 pixels on a side, and never cached (it is large)."""

    THUMB = "thumb"
    MEDIUM = "medium"
    FULL = "full"

    @property
    def pixels(self) -> int:
        return {"thumb": 200, "medium": 1024, "full": 2048}[self.value]

    @property
    def cached(self) -> bool:
        return self is not ImageSize.FULL


class Thumbnailer:
    """Decode, shrink and re-encode files, keeping the most recent results in memory.

    Parameters
    ----------
    cache_items : int
        Previews kept (least recently used dropped first); keyed by source, size and
        the file's modification time and length, so a replaced file is re-read.
    max_concurrent : int
        Decodes running at once (bounds memory when many large files are asked for).
    """

    def __init__(self, cache_items: int = 1024, max_concurrent: int = 4):
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_items = max(0, cache_items)
        self._lock = threading.Lock()
        self._decoding = threading.BoundedSemaphore(max(1, max_concurrent))
        self._placeholders: dict[int, bytes] = {}

    def preview(self, source: str | None, size: ImageSize) -> tuple[bytes, bool]:
        """JPEG bytes of the file at ``source`` shrunk to ``size``, and whether it is the
        real image (False: the placeholder, for missing, unreadable or broken files)."""
        key = self._key(source, size)
        if key is None:
            return self.placeholder(size), False
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached, True
        try:
            with self._decoding:
                decoded = load_image(source, draft_size=size.pixels, max_bytes=MAX_SOURCE_BYTES,
                                     max_pixels=DEFAULT_MAX_PIXELS)
                data = _encode(decoded.image, size.pixels)
        except (ImageLoadError, OSError, ValueError, MemoryError):
            return self.placeholder(size), False
        if size.cached:
            with self._lock:
                self._cache[key] = data
                while len(self._cache) > self._cache_items:
                    self._cache.popitem(last=False)
        return data, True

    @staticmethod
    def _key(source: str | None, size: ImageSize) -> tuple | None:
        if not source:
            return None
        try:
            info = os.stat(resolve_source(source))
        except (ImageLoadError, OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):  # directories, devices, FIFOs are never read
            return None
        return (source, size.value, info.st_mtime_ns, info.st_size)

    def placeholder(self, size: ImageSize) -> bytes:
        """A plain grey square with a crossed frame: "no image to show"."""
        pixels = min(size.pixels, 400)
        if pixels not in self._placeholders:
            image = Image.new("RGB", (pixels, pixels), (226, 226, 226))
            draw = ImageDraw.Draw(image)
            margin = pixels // 4
            draw.rectangle([margin, margin, pixels - margin, pixels - margin],
                           outline=(150, 150, 150), width=max(1, pixels // 60))
            draw.line([margin, margin, pixels - margin, pixels - margin], fill=(150, 150, 150),
                      width=max(1, pixels // 60))
            self._placeholders[pixels] = _encode(image, pixels)
        return self._placeholders[pixels]


def _encode(image: Image.Image, longest: int) -> bytes:
    """A fresh baseline JPEG of ``image`` no larger than ``longest`` on either side,
    carrying no metadata from the source."""
    image = image.convert("RGB")
    image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    buffer = io.BytesIO()
    clean.save(buffer, "JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()


def _image_response(request: Request, source: str | None, size: ImageSize) -> Response:
    data, real = request.app.state.thumbnailer.preview(source, size)
    return Response(data, media_type="image/jpeg", headers={
        "cache-control": _CACHE_CONTROL,
        "x-slopscore-image": "original" if real else "unavailable"})


@router.get("/items/{queue_item_id:int}/image/{size}", name="item_image")
def item_image(request: Request, queue_item_id: int, size: ImageSize, moderator: CurrentModerator):
    """A queue item's upload, by queue id."""
    with request.app.state.engine.connect() as connection:
        row = connection.execute(select(QueueItem.source)
                                 .where(QueueItem.id == row_id(queue_item_id))).first()
    if row is None:
        raise HTTPException(404, "no such item")
    return _image_response(request, row.source, size)


@router.get("/works/image", name="work_image")
def work_image(request: Request, moderator: CurrentModerator,
               key: str = Query(min_length=1, max_length=200), size: ImageSize = ImageSize.THUMB):
    """One of an artist's works (portfolio thumbnails), by its item id in ``artworks``."""
    with request.app.state.engine.connect() as connection:
        row = connection.execute(select(Artwork.source).where(Artwork.item_id == key)).first()
    if row is None:
        raise HTTPException(404, "no such work")
    return _image_response(request, row.source, size)
