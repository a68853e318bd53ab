"""The batch job's output file: one row per input row, appended chunk by chunk, atomic.

Rows go to a hidden ``.NAME.partial`` file as they are scored; only a run that
finishes renames it to ``NAME``, so a killed run never leaves a half-written file
that looks complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = ["OUTPUT_SCHEMA", "ScoreWriter", "read_scores"]

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


class ScoreWriter:
    """Append score chunks to ``out`` (``.parquet``, else CSV); atomic on successful exit."""

    def __init__(self, out: str | os.PathLike[str]):
        self.out = Path(out)
        self.partial = self.out.with_name(f".{self.out.name}.partial")
        self._writer = None

    def __enter__(self) -> "ScoreWriter":
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if self.out.suffix == ".parquet":
            self._writer = pq.ParquetWriter(self.partial, OUTPUT_SCHEMA)
        else:
            self._writer = pa_csv.CSVWriter(self.partial, OUTPUT_SCHEMA)
        return self

    def write(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Append ``chunk`` (any columns; missing ones are null); returns the rows as written."""
        table = _conform(chunk)
        self._writer.write_table(table)
        return table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)

    def __exit__(self, kind, value, traceback) -> None:
        self._writer.close()
        if kind is None:
            os.replace(self.partial, self.out)
        else:
            self.partial.unlink(missing_ok=True)


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
