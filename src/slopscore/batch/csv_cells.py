"""CSV cells that a spreadsheet would run as a formula, defused for the people who open them.

Text from uploaders and manifests (titles, tags, ids, paths) reaches CSV files that people
open in spreadsheets: the score output, the label export, the analyst and benchmark
tables. A text cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return, which some spreadsheets skip before reading one) is prefixed with ``'``, so it
shows as text and never runs (CSV injection). Only text is changed: numbers, booleans and
dates stay what they are, negative numbers included. Programs that read the files back
ask for raw cells instead (``--raw-csv``).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["FORMULA_START", "defuse_cell", "defuse_frame", "defuse_table"]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = "^[=+\\-@\t\r]"


def defuse_cell(value: object) -> object:
    """``value`` with a ``'`` in front when it is text a spreadsheet would run; else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def defuse_frame(frame: pd.DataFrame, columns=None) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (in ``columns``, default every column) are defused."""
    frame = frame.copy()
    for column in frame.columns if columns is None else [c for c in columns if c in frame.columns]:
        values = frame[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            frame[column] = values.astype(object).map(defuse_cell)
    return frame


def defuse_table(table: pa.Table) -> pa.Table:
    """A copy of ``table`` whose string columns are defused (other types are untouched)."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            risky = pc.fill_null(pc.match_substring_regex(column, _FORMULA_PATTERN), False)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)
