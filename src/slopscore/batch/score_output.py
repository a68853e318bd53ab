"""The batch jobs' output files: written through a hidden partial file, atomic on success.

Rows go to a hidden ``.NAME.partial`` file as they are produced; only a run that
finishes renames it to ``NAME``, so a killed run never leaves a half-written file
that looks complete, and never replaces a complete earlier one. A location that
cannot be written (read-only, full, a file where a folder should be) raises
:class:`StorageUnavailableError` with one line that says which and why. A CSV score file is
for people: its text cells that a spreadsheet would run as a formula are defused
(:mod:`slopscore.batch.csv_cells`) unless raw cells are asked for.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from slopscore.batch.csv_cells import defuse_table

__all__ = ["OUTPUT_SCHEMA", "AtomicFile", "CsvRowWriter", "ScoreWriter", "StorageUnavailableError",
           "TableWriter", "output_rows", "read_scores", "storage_errors"]

#: ``triage_score`` in [0, 1]: estimated chance a reviewer confirms a policy concern
#: (higher = review sooner), null when skipped. ``p_ai`` in [0, 1]: calibrated chance
#: the image is AI-generated. ``centroid_z``: distance from the artist's earlier works in
#: units of their own spread (higher = less like them; null in cold start). ``row_number``:
#: the input row (1 = the header line of a CSV); ``skip_detail``: why a row was skipped, in
#: words; ``warnings`` and ``provenance_findings``: JSON lists (what was cut or doubted in the
#: row; typed problems found in the file's metadata).
OUTPUT_SCHEMA = pa.schema([
    ("item_id", pa.string()),
    ("row_number", pa.int64()),
    ("artist_id", pa.string()),
    ("uploaded_at", pa.string()),
    ("status", pa.string()),
    ("skip_reason", pa.string()),
    ("skip_detail", pa.string()),
    ("warnings", pa.string()),
    ("triage_score", pa.float64()),
    ("p_ai", pa.float64()),
    ("reasons", pa.string()),
    ("provenance_reasons", pa.string()),
    ("provenance_findings", pa.string()),
    ("breakdown", pa.string()),
    ("cross_account_posters", pa.int64()),
    ("portfolio_size", pa.int64()),
    ("cold_start", pa.bool_()),
    ("centroid_z", pa.float64()),
    ("near_duplicates", pa.float64()),
    ("nearest_works", pa.string()),
    ("declared_ai", pa.bool_()),
    ("has_process_notes", pa.bool_()),
    ("file_type", pa.string()),
    ("path", pa.string()),
    ("model_version", pa.string()),
    ("backbone_id", pa.string()),
    ("title", pa.string()),
    ("tags", pa.string()),
    ("label", pa.string()),
])


def _missing(value) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and value != value


def _plain(value, kind: pa.DataType):
    """A Python value of the column's type, or None (plain lists: pandas 3 would re-infer)."""
    if _missing(value):
        return None
    if pa.types.is_integer(kind):
        return int(value)
    if pa.types.is_boolean(kind):
        return bool(value)
    if pa.types.is_floating(kind):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _conform(chunk: pd.DataFrame) -> pa.Table:
    columns = {}
    for field in OUTPUT_SCHEMA:
        values = chunk[field.name].tolist() if field.name in chunk else [None] * len(chunk)
        columns[field.name] = pa.array([_plain(v, field.type) for v in values], type=field.type)
    return pa.table(columns, schema=OUTPUT_SCHEMA)


def output_rows(chunk: pd.DataFrame) -> pd.DataFrame:
    """``chunk`` (any columns) as output rows: :data:`OUTPUT_SCHEMA`'s columns, typed, raw text."""
    return _conform(chunk).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)


class StorageUnavailableError(RuntimeError):
    """An output, cache or scratch location cannot be created or written (read-only, full,
    or a file where a folder should be); the message names it and says why, in one line."""


def _reason(exc: BaseException, where: Path) -> str:
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        for parent in where.parents:
            if parent.exists():
                if not parent.is_dir():
                    return f"{parent} is a file, not a folder"
                break
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    errno = re.search(r"\[errno \d+\] (.+)$", lines[-1], re.IGNORECASE)  # Arrow's I/O errors
    if errno:
        return errno.group(1)
    # an error re-raised from a worker process ends with "module.SomeError: the message"
    return re.sub(r"^[\w.]+(Error|Exception): ", "", lines[-1])


@contextlib.contextmanager
def storage_errors(what: str, where: str | os.PathLike[str],
                   kinds: tuple[type[BaseException], ...] = (OSError, sqlite3.Error, pa.ArrowException),
                   ) -> Iterator[None]:
    """Turn the block's errors of ``kinds`` (by default OSError, SQLite and Arrow errors) into
    :class:`StorageUnavailableError`."""
    try:
        yield
    except kinds as exc:
        raise StorageUnavailableError(f"cannot write {what} {where}: {_reason(exc, Path(where))}") \
            from exc


class AtomicFile:
    """A file written through ``.NAME.partial`` and renamed to ``NAME`` when the ``with`` block
    succeeds; on failure the partial file is removed and ``NAME`` is left as it was."""

    def __init__(self, out: str | os.PathLike[str], what: str = "output file"):
        self.out = Path(out)
        self.what = what
        self.partial = self.out.with_name(f".{self.out.name}.partial")
        self._handle = None

    def _open(self):
        """The writer over :attr:`partial` (anything with ``close()``)."""
        raise NotImplementedError

    def __enter__(self):
        with storage_errors(self.what, self.out):
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self._open()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            try:
                with storage_errors(self.what, self.out):
                    self._handle.close()
                    os.replace(self.partial, self.out)
                return
            except StorageUnavailableError:
                self.partial.unlink(missing_ok=True)
                raise
        with contextlib.suppress(Exception):
            self._handle.close()
        with contextlib.suppress(OSError):
            self.partial.unlink(missing_ok=True)


class TableWriter(AtomicFile):
    """Append Arrow tables of ``schema`` to ``out`` (Parquet when ``parquet``, by default when
    the name ends in ``.parquet``; else CSV); atomic."""

    def __init__(self, out: str | os.PathLike[str], schema: pa.Schema, what: str = "output file",
                 *, parquet: bool | None = None):
        super().__init__(out, what)
        self.schema = schema
        self.parquet = self.out.suffix == ".parquet" if parquet is None else parquet

    def _open(self):
        if self.parquet:
            return pq.ParquetWriter(self.partial, self.schema)
        return pa_csv.CSVWriter(self.partial, self.schema)

    def write_table(self, table: pa.Table) -> None:
        """Append ``table`` (of :attr:`schema`)."""
        with storage_errors(self.what, self.out):
            self._handle.write_table(table)


class CsvRowWriter(AtomicFile):
    """A small CSV file (a header, then rows) written with :mod:`csv`; atomic."""

    def __init__(self, out: str | os.PathLike[str], header, what: str = "report"):
        super().__init__(out, what)
        self.header = list(header)
        self._rows = None

    def _open(self):
        handle = open(self.partial, "w", newline="", encoding="utf-8")
        self._rows = csv.writer(handle)
        self._rows.writerow(self.header)
        return handle

    def write_row(self, values) -> None:
        """Append one row."""
        with storage_errors(self.what, self.out):
            self._rows.writerow(values)


class ScoreWriter(TableWriter):
    """Append score chunks to ``out`` (``.parquet``, else CSV) in :data:`OUTPUT_SCHEMA`; atomic.

    CSV text cells that would run as spreadsheet formulas get a ``'`` in front unless
    ``raw_csv``; Parquet is always raw.
    """

    def __init__(self, out: str | os.PathLike[str], *, raw_csv: bool = False):
        super().__init__(out, OUTPUT_SCHEMA)
        self.raw_csv = raw_csv

    def write(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Append ``chunk`` (any columns; missing ones are null); returns the rows with their
        values as given (never defused: the review queue stores them raw)."""
        table = _conform(chunk)
        self.write_table(table if self.parquet or self.raw_csv else defuse_table(table))
        return table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)


def read_scores(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A batch job's output, best first (skipped rows last)."""
    path = Path(path)
    if path.suffix == ".parquet":
        table = pq.read_table(path, schema=OUTPUT_SCHEMA)
    else:
        table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
            column_types=OUTPUT_SCHEMA, strings_can_be_null=True))
    frame = table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    order = np.lexsort((frame["item_id"].astype(str).to_numpy(),
                        -frame["triage_score"].fillna(-1.0).to_numpy()))
    return frame.iloc[order].reset_index(drop=True)
