"""Argument checks of the PDQ modules (:mod:`~slopscore.signals.pdq`,
:mod:`~slopscore.signals.pdq_index` and :mod:`~slopscore.signals.duplicates`) that know
nothing of PDQ itself: integers, id lists, index rows and times.

Each check raises ``ValueError`` with the value given and what is allowed; those that
convert return the checked value (ids as an object array, times as integer seconds).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np

__all__ = [
    "as_epoch_seconds",
    "as_window_seconds",
    "check_ids",
    "check_int_range",
    "check_rows",
    "is_int",
]


def is_int(value: Any) -> bool:
    """True for Python and numpy integers; False for bools and everything else."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_int_range(value: Any, name: str, high: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer in ``0..high``."""
    if not is_int(value) or not 0 <= value <= high:
        raise ValueError(f"{name} is {value!r}; expected an integer in 0..{high}")


def check_ids(ids: Any, count: int, name: str) -> np.ndarray:
    """``ids`` as a new object array, checked to hold ``count`` entries."""
    array = np.empty(len(ids), dtype=object)
    array[:] = list(ids)
    if array.shape != (count,):
        raise ValueError(f"{name} has {array.shape[0]} entries; expected {count}")
    return array


def check_rows(rows: Any, size: int) -> np.ndarray:
    """Index rows as int64, each in 0..size-1; all ``size`` rows when ``rows`` is None."""
    if rows is None:
        return np.arange(size, dtype=np.int64)
    array = np.asarray(rows)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValueError(
            f"rows has shape {array.shape} and dtype {array.dtype}; expected 1-D integers"
        )
    if array.size and (array.min() < 0 or array.max() >= size):
        raise ValueError(
            f"rows span {array.min()}..{array.max()}; the index has rows 0..{size - 1}"
        )
    return array.astype(np.int64)


def as_epoch_seconds(values: Any, count: int) -> np.ndarray:
    """Upload times as int64 seconds since the Unix epoch."""
    array = np.asarray(values)
    if array.shape != (count,):
        raise ValueError(f"uploaded_at has shape {array.shape}; expected ({count},)")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind == "M":
        missing = np.flatnonzero(np.isnat(array))
        if missing.size:
            raise ValueError(f"uploaded_at has NaT at position {int(missing[0])}")
        return array.astype("datetime64[s]").astype(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype == object:
        for position, value in enumerate(array):
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(
                    f"uploaded_at[{position}] is {value!r}; expected a timezone-aware datetime"
                )
        return np.array([int(value.timestamp() // 1) for value in array], dtype=np.int64)
    raise ValueError(
        f"uploaded_at has dtype {array.dtype}; expected datetime64, integer seconds or datetimes"
    )


def as_window_seconds(window: timedelta | np.timedelta64 | int | None) -> int | None:
    """A time window as whole seconds, >= 0 (sub-second parts dropped); None stays None."""
    if window is None:
        return None
    if isinstance(window, timedelta):
        seconds = window.total_seconds()
    elif isinstance(window, np.timedelta64):
        seconds = window / np.timedelta64(1, "s")
    elif is_int(window):
        seconds = int(window)
    else:
        raise ValueError(f"window is {window!r}; expected a timedelta or integer seconds")
    if not seconds >= 0:
        raise ValueError(f"window is {seconds} seconds; expected >= 0")
    return int(seconds)
