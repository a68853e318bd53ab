"""Read upload manifests (CSV, Parquet, JSON Lines) or a folder of images, row by row.

Every row gives exactly one entry: a validated :class:`ManifestRow` (see
:mod:`slopscore.media.manifest_values` for the checks and bounds), or a
:class:`RowError` with its row number and, when it can be read, its ``item_id``.
Bytes that are not UTF-8, an unparseable CSV record or an invalid value cost their
row only; reading carries on. Only a manifest that cannot be read as a whole
(unknown type, missing columns, damaged file) raises :class:`ManifestFormatError`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from slopscore.media.manifest_values import MAX_ID_CHARS, InvalidValue, Label, ManifestRow, validate_record

__all__ = [
    "IMAGE_SUFFIXES",
    "Label",
    "Manifest",
    "ManifestFormatError",
    "ManifestRow",
    "RowError",
    "check_manifest",
    "count_manifest_rows",
    "folder_item_id",
    "iter_manifest",
    "read_manifest",
]

REQUIRED_COLUMNS = ("item_id", "artist_id", "path", "uploaded_at")
OPTIONAL_COLUMNS = ("label", "declared_ai", "has_process_notes", "title", "tags", "review_outcome")
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)
#: A CSV field longer than this makes its row malformed (Python's csv default is 131,072).
MAX_FIELD_CHARS = 1 << 24
_SURROGATES = re.compile("[\ud800-\udfff]")  # undecodable bytes (surrogateescape), bad JSON escapes


class ManifestFormatError(ValueError):
    """The manifest as a whole cannot be read (unknown type, missing columns, damaged file)."""


@dataclass(frozen=True)
class RowError:
    """A row that failed validation; ``reason`` is ``malformed_row`` or ``duplicate_item_id``."""

    row_number: int
    item_id: str | None
    reason: str
    detail: str


@dataclass
class Manifest:
    """All rows of a manifest, valid and invalid, in file order."""

    rows: list[ManifestRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def check_manifest(source: str | os.PathLike[str]) -> int:
    """Read the whole manifest once, without validating values, and count its rows.

    Run it before any work so that a damaged file stops a job at once. The count is
    the number of entries :func:`iter_manifest` yields (blank lines are not rows).

    Raises
    ------
    ManifestFormatError
        As :func:`iter_manifest`.
    """
    source = Path(source)
    if source.is_dir():
        return sum(1 for _ in _folder_files(source))
    return sum(1 for _ in _records(source))


def count_manifest_rows(source: str | os.PathLike[str]) -> int | None:
    """Number of rows (for progress bars), read cheaply; None when unknown."""
    source = Path(source)
    try:
        if source.suffix.lower() == ".parquet" and source.is_file():
            import pyarrow.parquet as pq

            return pq.ParquetFile(source).metadata.num_rows
        return check_manifest(source)
    except Exception:  # only a hint for the progress bar; reading reports the real error
        return None


def read_manifest(source: str | os.PathLike[str]) -> Manifest:
    """Read a whole manifest (or image folder); see :func:`iter_manifest`."""
    manifest = Manifest()
    for entry in iter_manifest(source):
        (manifest.errors if isinstance(entry, RowError) else manifest.rows).append(entry)
    return manifest


def iter_manifest(source: str | os.PathLike[str]) -> Iterator[ManifestRow | RowError]:
    """Stream one entry per row of a manifest file or a folder of images.

    Relative ``path`` values are resolved against the manifest's folder. A
    repeated ``item_id`` keeps its first row and yields ``duplicate_item_id``
    for the others.

    Raises
    ------
    ManifestFormatError
        Unknown file type, unreadable or damaged file, or missing required columns.
    """
    source = Path(source)
    seen: set[str] = set()
    for entry in _iter_folder(source) if source.is_dir() else _iter_rows(source):
        if isinstance(entry, ManifestRow):
            if entry.item_id in seen:
                entry = RowError(entry.row_number, entry.item_id, "duplicate_item_id",
                                 "item_id already appeared earlier in the manifest")
            else:
                seen.add(entry.item_id)
        yield entry


def _iter_rows(source: Path) -> Iterator[ManifestRow | RowError]:
    base = source.resolve().parent
    for number, record in _records(source):
        if isinstance(record, RowError):
            yield record
            continue
        try:
            undecodable = [str(name) for name, value in record.items() if _has_surrogates(value)]
            if undecodable:
                raise InvalidValue(f"{', '.join(undecodable)[:120]}: bytes that are not valid UTF-8")
            yield validate_record(record, number, base)
        except InvalidValue as exc:
            yield RowError(number, _short(record.get("item_id")), "malformed_row", str(exc))


def _records(source: Path) -> Iterator[tuple[int, Mapping | RowError]]:
    """Raw records with their row numbers, from the reader for the file's type."""
    if not source.is_file():
        raise ManifestFormatError(f"manifest {source} does not exist")
    suffix = source.suffix.lower()
    readers = {".csv": _csv_records, ".parquet": _parquet_records, ".jsonl": _jsonl_records,
               ".ndjson": _jsonl_records}
    if suffix not in readers:
        raise ManifestFormatError(
            f"manifest {source.name}: unknown type {suffix!r}; use .csv, .parquet or .jsonl"
        )
    return readers[suffix](source)


def _has_surrogates(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATES.search(value) is not None
    return isinstance(value, (list, tuple)) and any(_has_surrogates(v) for v in value)


def _short(value: Any) -> str | None:
    """An error row's item_id: the raw value when printable (bounded), else None."""
    if value is None:
        return None
    text = str(value)
    return text[:MAX_ID_CHARS] if text.isprintable() else None


def _check_columns(columns, source: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ManifestFormatError(
            f"manifest {source.name} lacks required column(s) {missing}; "
            f"required: {list(REQUIRED_COLUMNS)}, optional: {list(OPTIONAL_COLUMNS)}"
        )


def _csv_next(reader) -> list[str]:
    """The next record, with fields up to :data:`MAX_FIELD_CHARS` (csv's limit is process-wide)."""
    previous = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        return next(reader)
    finally:
        csv.field_size_limit(previous)


def _csv_records(source: Path) -> Iterator[tuple[int, Mapping | RowError]]:
    """Records numbered as a spreadsheet numbers rows (1 = the header; blank lines count)."""
    try:  # undecodable bytes become lone surrogates, so that they cost their row only
        handle = open(source, newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise ManifestFormatError(f"cannot open manifest {source}: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        number, header = 0, []
        try:
            while not header:
                number += 1
                header = _csv_next(reader)
        except StopIteration:
            pass
        except csv.Error as exc:
            raise ManifestFormatError(f"manifest {source.name}: unreadable header: {exc}") from None
        _check_columns(header, source)
        while True:
            number += 1
            try:
                fields = _csv_next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield number, RowError(number, None, "malformed_row", f"unparseable CSV: {exc}")
                continue
            if not fields:  # a blank line
                continue
            record = dict(zip(header, fields))
            if len(fields) > len(header):
                yield number, RowError(number, _short(record.get("item_id")), "malformed_row",
                                       "more fields than the header")
                continue
            yield number, record


def _jsonl_records(source: Path) -> Iterator[tuple[int, Mapping | RowError]]:
    checked = False
    try:
        handle = open(source, encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise ManifestFormatError(f"cannot open manifest {source}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RowError(number, None, "malformed_row", f"invalid JSON: {exc.msg}")
                continue
            if not isinstance(record, dict):
                yield number, RowError(number, None, "malformed_row", "line is not a JSON object")
                continue
            if not checked:
                _check_columns(record.keys(), source)
                checked = True
            yield number, record


def _parquet_records(source: Path) -> Iterator[tuple[int, Mapping | RowError]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    number = 0
    try:
        parquet = pq.ParquetFile(source)
        _check_columns(parquet.schema_arrow.names, source)
        for batch in parquet.iter_batches(batch_size=4096):
            # times as text: one outside Python's years 1-9999 costs its row, not the batch
            columns = [column.cast(pa.string()) if pa.types.is_timestamp(column.type)
                       or pa.types.is_date(column.type) else column for column in batch.columns]
            for record in pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pylist():
                number += 1
                yield number, record
    except ManifestFormatError:
        raise
    except Exception as exc:  # pyarrow raises several unrelated types for damaged files
        where = f" after row {number}" if number else ""
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        message = "".join(ch if ch.isprintable() else "?" for ch in message[:300])
        raise ManifestFormatError(f"cannot read Parquet manifest {source}{where}: {message}") \
            from None


def _folder_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            yield path


def folder_item_id(relative: str) -> str:
    """The item id of a file in an image folder: its relative path, when that is a valid id.

    A longer or unprintable path keeps a printable prefix plus a hash of the whole
    path, so that ids stay distinct and the same on every run.
    """
    if len(relative) <= MAX_ID_CHARS and relative.isprintable():
        return relative
    digest = hashlib.sha256(relative.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    shown = "".join(ch if ch.isprintable() else "?" for ch in relative)
    return f"{shown[:MAX_ID_CHARS - len(digest) - 1]}~{digest}"


def _iter_folder(folder: Path) -> Iterator[ManifestRow | RowError]:
    """Ad-hoc scoring: every image file below ``folder``; artist unknown."""
    for number, path in enumerate(_folder_files(folder), start=1):
        item_id = folder_item_id(path.relative_to(folder).as_posix())
        if _has_surrogates(str(path)):
            yield RowError(number, item_id, "malformed_row", "file name is not valid UTF-8")
            continue
        try:
            mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
        except (OSError, OverflowError, ValueError) as exc:
            yield RowError(number, item_id, "malformed_row", f"cannot read the file's time: {exc}")
            continue
        yield ManifestRow(item_id, "unknown", str(path), mtime, row_number=number)
