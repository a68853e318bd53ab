"""Manifest-level faults, generated on demand in a temporary folder (nothing binary is committed).

Each builder writes a manifest (and the images it names) and returns a :class:`Case`:
what every row of it must become in the output of ``slopscore score``, by row number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

HEADER = "item_id,artist_id,path,uploaded_at,title,tags"
FUTURE = "uploaded_at is more than a day in the future"


@dataclass(frozen=True)
class Expected:
    """One row's typed outcome; ``detail`` is a phrase its ``skip_detail`` must contain."""

    item_id: str | None
    skip_reason: str | None = None  # None: scored
    detail: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return "embedded" if self.skip_reason is None else "skipped"


@dataclass
class Case:
    """A generated input and the outcome of each of its rows (by row number)."""

    name: str
    source: Path
    rows: dict[int, Expected] = field(default_factory=dict)


def _image(path: Path, seed: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).resize((64, 48), Image.Resampling.BICUBIC).save(path)
    return path.name


def _line(item_id: str, seed: int, folder: Path, *, when="2026-07-01T10:00:00Z", title="",
          tags="", artist: str | None = None) -> str:
    name = _image(folder / "img" / f"{seed}.png", seed)
    return f"{item_id},{artist or f'artist-{seed % 3}'},img/{name},{when},{title},{tags}"


def _csv(folder: Path, name: str, lines: list[str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in
                                [HEADER, *lines]) + b"\n")
    return path


def invalid_utf8_small(folder: Path) -> Case:
    """Two rows, the second with a byte that is not UTF-8 in its title (crashed the job)."""
    lines = [_line("s1", 1, folder, title="Harbour"), _line("s2", 2, folder).encode() + b"caf\xe9"]
    return Case("invalid_utf8_small", _csv(folder, "small.csv", lines), {
        2: Expected("s1"), 3: Expected("s2", "malformed_row", "not valid UTF-8")})


def invalid_utf8_large(folder: Path) -> Case:
    """40 rows of 300-character titles (past Python's 8 KiB decoding chunk) with bad bytes in
    one title and in one item_id: they cost those two rows, not the 12 around them."""
    lines: list[str | bytes] = [_line(f"l{i}", i, folder, title="long title " * 27)
                                for i in range(40)]
    lines[30] = lines[30].encode().replace(b"long title", b"long \xff\xfe title", 1)
    lines[35] = lines[35].encode().replace(b"l35,", b"l\xc335,", 1)
    rows = {i + 2: Expected(f"l{i}") for i in range(40)}
    rows[32] = Expected("l30", "malformed_row", "not valid UTF-8")
    rows[37] = Expected(None, "malformed_row", "item_id: bytes that are not valid UTF-8")
    return Case("invalid_utf8_large", _csv(folder, "large.csv", lines), rows)


def huge_fields(folder: Path) -> Case:
    """Fields past csv's 131,072-character limit: a title and tags (cut, kept) and an item_id
    (too long to be an id: malformed, with its first 200 characters)."""
    lines = [_line("h1", 1, folder, title="T" * 200_000),
             _line("h2", 2, folder, tags=";".join(f"tag{i}" for i in range(30_000))),
             _line("x" * 150_000, 3, folder), _line("h4", 4, folder)]
    return Case("huge_fields", _csv(folder, "huge.csv", lines), {
        2: Expected("h1", warnings=("title cut to 300 characters",)),
        3: Expected("h2", warnings=("tags cut to 50",)),
        4: Expected("x" * 200, "malformed_row", "item_id has 150000 characters, the limit is 200"),
        5: Expected("h4")})


def cut_and_kept(folder: Path) -> Case:
    """Valid uploads with untidy free text: a newline inside a quoted title, 51 tags, a control
    character. Each is kept, cut to its limits, and its warnings say what was done."""
    lines = [_line("c1", 1, folder, title='"Two\nlines"'),
             _line("c2", 2, folder, tags=";".join(f"t{i}" for i in range(51))),
             _line("c3", 3, folder, title="Bell\x07 and " + "long " * 80),
             _line("c4", 4, folder, title="tidy", tags="ink;paper")]
    return Case("cut_and_kept", _csv(folder, "cut.csv", lines), {
        2: Expected("c1", warnings=("title put on one line",)),
        3: Expected("c2", warnings=("tags cut to 50",)),
        4: Expected("c3", warnings=("control characters removed from title",
                                    "title cut to 300 characters")),
        5: Expected("c4")})


def dates(folder: Path) -> Case:
    """Valid ISO dates that leave the years 1-9999 in UTC (malformed), a far-future date (kept,
    warned) and the earliest date that stays in range (kept)."""
    lines = [_line("d1", 1, folder, when="0001-01-01T00:00:00+05:00"),
             _line("d2", 2, folder, when="9999-12-31T23:59:59-05:00"),
             _line("d3", 3, folder, when="2999-01-01T00:00:00Z"),
             _line("d4", 4, folder, when="0001-01-01T06:00:00+05:00"),
             _line("d5", 5, folder)]
    outside = "falls outside the years 1-9999 once converted to UTC"
    return Case("dates", _csv(folder, "dates.csv", lines), {
        2: Expected("d1", "malformed_row", outside), 3: Expected("d2", "malformed_row", outside),
        4: Expected("d3", warnings=(FUTURE,)), 5: Expected("d4"), 6: Expected("d5")})


def skip_rows(folder: Path) -> Case:
    """Rows skipped for each kind of reason, each with its row number and a detail."""
    lines = [_line("k1", 1, folder), "k2,artist-0,img/gone.png,2026-07-01T10:00:00Z,,",
             "k3,artist-0,,2026-07-01T10:00:00Z,,", "k4,artist-0,img/1.png,yesterday,,",
             "k5,artist-0,img/1.png,2026-07-01T10:00:00Z,,,surplus", "", _line("k6", 6, folder)]
    return Case("skip_rows", _csv(folder, "skips.csv", lines), {
        2: Expected("k1"), 3: Expected("k2", "missing", "no file"),
        4: Expected("k3", "malformed_row", "path is empty"),
        5: Expected("k4", "malformed_row", "not an ISO 8601 date-time"),
        6: Expected("k5", "malformed_row", "more fields than the header"),
        8: Expected("k6")})  # row 7 is a blank line: not a row


def folder_long_names(folder: Path) -> Case:
    """An image folder whose two file names share their first 200 characters (ids collided)."""
    images = folder / "uploads"
    names = sorted(["p" * 200 + "-first.png", "p" * 200 + "-second.png", "plain.png"])
    for seed, name in enumerate(names):
        _image(images / name, seed)
    from slopscore.media.manifest import folder_item_id

    return Case("folder_long_names", images,
                {i + 1: Expected(folder_item_id(name)) for i, name in enumerate(names)})


def damaged_parquet(path: Path, rows: int = 400) -> Path:
    """A Parquet manifest whose second row group has a damaged page header (footer intact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "item_id": [f"p{i}" for i in range(rows)], "artist_id": ["a"] * rows,
        "path": [f"img/{i}.png" for i in range(rows)],
        "uploaded_at": ["2026-07-01T10:00:00Z"] * rows,
    }), path, row_group_size=rows // 2)
    column = pq.ParquetFile(path).metadata.row_group(1).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start:start + 12] = b"\xff" * 12
    path.write_bytes(bytes(data))
    return path


#: Every manifest-level case that ``slopscore score`` must finish with exit code 0.
BUILDERS = (invalid_utf8_small, invalid_utf8_large, huge_fields, cut_and_kept, dates, skip_rows,
            folder_long_names)
