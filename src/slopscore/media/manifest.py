"""Read upload manifests (CSV, Parquet, JSON Lines) or a folder of images, validating each row.

Every value comes from strangers: strings are bounded, control characters are
rejected, labels and booleans must be one of the known spellings. A bad row
becomes a :class:`RowError` (with its row number) and reading carries on.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = [
    "IMAGE_SUFFIXES",
    "Label",
    "Manifest",
    "ManifestFormatError",
    "ManifestRow",
    "RowError",
    "count_manifest_rows",
    "iter_manifest",
    "read_manifest",
]

REQUIRED_COLUMNS = ("item_id", "artist_id", "path", "uploaded_at")
OPTIONAL_COLUMNS = ("label", "declared_ai", "has_process_notes", "title", "tags", "review_outcome")
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)
MAX_ID_CHARS = 200
MAX_PATH_CHARS = 4096
MAX_TITLE_CHARS = 300
MAX_TAGS = 50
MAX_TAG_CHARS = 64

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_UNKNOWN = {"", "unknown", "none", "null", "nan", "na"}


class Label(str, Enum):
    """Reviewer-facing ground truth for an upload."""

    HUMAN = "human"
    AI_ASSISTED = "ai_assisted"
    AI_SLOP = "ai_slop"

    @property
    def is_ai(self) -> bool:
        """Detector target: any AI involvement."""
        return self is not Label.HUMAN

    @property
    def is_violation(self) -> bool:
        """Triage target: the policy's "AI slop"."""
        return self is Label.AI_SLOP


class ManifestFormatError(ValueError):
    """The manifest as a whole cannot be read (unknown format, missing columns)."""


@dataclass(frozen=True)
class ManifestRow:
    """One validated upload."""

    item_id: str
    artist_id: str
    path: str
    uploaded_at: datetime
    label: Label | None = None
    declared_ai: bool | None = None
    has_process_notes: bool | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    row_number: int = 0
    #: A moderator's verdict (``confirmed`` / ``dismissed``), as exported by
    #: ``slopscore decisions export``; the triage model learns from it.
    review_outcome: str | None = None


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


class _Invalid(ValueError):
    pass


def count_manifest_rows(source: str | os.PathLike[str]) -> int | None:
    """Number of data rows (for progress bars), cheaply; None when unknown."""
    source = Path(source)
    if source.is_dir():
        return sum(1 for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    suffix = source.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(source).metadata.num_rows
        with open(source, newline="", encoding="utf-8", errors="replace") as handle:
            if suffix == ".csv":
                return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
            return sum(1 for line in handle if line.strip())
    except Exception:  # only a hint for the progress bar; reading reports the real error
        return None


def read_manifest(source: str | os.PathLike[str]) -> Manifest:
    """Read a whole manifest (or image folder); see :func:`iter_manifest`."""
    manifest = Manifest()
    for entry in iter_manifest(source):
        (manifest.errors if isinstance(entry, RowError) else manifest.rows).append(entry)
    return manifest


def iter_manifest(source: str | os.PathLike[str]) -> Iterator[ManifestRow | RowError]:
    """Stream validated rows from a manifest file or a folder of images.

    Relative ``path`` values are resolved against the manifest's folder. A
    repeated ``item_id`` keeps its first row and yields ``duplicate_item_id``
    for the others.

    Raises
    ------
    ManifestFormatError
        Unknown file type, unreadable file, or missing required columns.
    """
    source = Path(source)
    if source.is_dir():
        yield from _iter_folder(source)
        return
    if not source.is_file():
        raise ManifestFormatError(f"manifest {source} does not exist")
    suffix = source.suffix.lower()
    readers = {".csv": _csv_records, ".parquet": _parquet_records, ".jsonl": _jsonl_records,
               ".ndjson": _jsonl_records}
    if suffix not in readers:
        raise ManifestFormatError(
            f"manifest {source.name}: unknown type {suffix!r}; use .csv, .parquet or .jsonl"
        )
    seen: set[str] = set()
    base = source.resolve().parent
    for number, record in readers[suffix](source):
        if isinstance(record, RowError):
            yield record
            continue
        try:
            row = _validate(record, number, base)
        except _Invalid as exc:
            raw_id = record.get("item_id")
            yield RowError(number, _short(raw_id), "malformed_row", str(exc))
            continue
        if row.item_id in seen:
            yield RowError(number, row.item_id, "duplicate_item_id",
                           "item_id already appeared earlier in the manifest")
            continue
        seen.add(row.item_id)
        yield row


def _short(value: Any) -> str | None:
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


def _csv_records(source: Path) -> Iterator[tuple[int, Mapping | RowError]]:
    try:
        handle = open(source, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ManifestFormatError(f"cannot open manifest {source}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        _check_columns(reader.fieldnames or [], source)
        number = 1
        while True:
            number += 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                yield number, RowError(number, None, "malformed_row", f"unparseable CSV: {exc}")
                continue
            if None in record:
                yield number, RowError(number, _short(record.get("item_id")), "malformed_row",
                                       "more fields than the header")
                continue
            yield number, record


def _jsonl_records(source: Path) -> Iterator[tuple[int, Mapping | RowError]]:
    checked = False
    with open(source, encoding="utf-8", errors="replace") as handle:
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
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise ManifestFormatError(f"cannot read Parquet manifest {source}: {exc}") from None
    _check_columns(parquet.schema_arrow.names, source)
    number = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for record in batch.to_pylist():
            number += 1
            yield number, record


def _iter_folder(folder: Path) -> Iterator[ManifestRow]:
    """Ad-hoc scoring: every image file below ``folder``; artist unknown."""
    number = 0
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        number += 1
        relative = path.relative_to(folder).as_posix()
        mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
        yield ManifestRow(relative[:MAX_ID_CHARS], "unknown", str(path), mtime, row_number=number)


def _validate(record: Mapping[str, Any], number: int, base: Path) -> ManifestRow:
    item_id = _identifier(record.get("item_id"), "item_id")
    artist_id = _identifier(record.get("artist_id"), "artist_id")
    path = _text(record.get("path"), "path", MAX_PATH_CHARS, required=True)
    if "://" not in path and not os.path.isabs(path):
        path = str(base / path)
    return ManifestRow(
        item_id=item_id,
        artist_id=artist_id,
        path=path,
        uploaded_at=_timestamp(record.get("uploaded_at")),
        label=_label(record.get("label")),
        declared_ai=_boolean(record.get("declared_ai"), "declared_ai"),
        has_process_notes=_boolean(record.get("has_process_notes"), "has_process_notes"),
        title=_text(record.get("title"), "title", MAX_TITLE_CHARS, truncate=True) or None,
        tags=_tags(record.get("tags")),
        row_number=number,
        review_outcome=_review_outcome(record.get("review_outcome")),
    )


def _review_outcome(value: Any) -> str | None:
    text = _text(value, "review_outcome", 16).lower()
    if text in _UNKNOWN:
        return None
    if text not in {"confirmed", "dismissed"}:
        raise _Invalid(f"review_outcome {text!r} is not one of confirmed, dismissed")
    return text


def _text(value: Any, name: str, limit: int, *, required: bool = False,
          truncate: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        value = ""
    text = str(value).strip()
    if required and not text:
        raise _Invalid(f"{name} is empty")
    if any(ord(ch) < 32 and ch not in "\t" for ch in text) or "\x7f" in text:
        raise _Invalid(f"{name} contains control characters")
    if len(text) > limit:
        if not truncate:
            raise _Invalid(f"{name} has {len(text)} characters, the limit is {limit}")
        text = text[:limit]
    return text


def _identifier(value: Any, name: str) -> str:
    return _text(value, name, MAX_ID_CHARS, required=True)


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value, "uploaded_at", 64, required=True)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _Invalid(f"uploaded_at {text!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _label(value: Any) -> Label | None:
    text = "" if value is None else str(value).strip().lower()
    if text in _UNKNOWN:
        return None
    try:
        return Label(text)
    except ValueError:
        allowed = [label.value for label in Label] + ["unknown"]
        raise _Invalid(f"label {text[:40]!r} is not one of {allowed}") from None


def _boolean(value: Any, name: str) -> bool | None:
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in _UNKNOWN:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Invalid(f"{name} {text[:20]!r} is not true/false")


def _tags(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and value != value):
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).replace(",", ";").split(";")
    tags = []
    for item in items:
        tag = _text(item, "tag", MAX_TAG_CHARS, truncate=True).lower()
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise _Invalid(f"{len(tags)} tags, the limit is {MAX_TAGS}")
    return tuple(tags)
