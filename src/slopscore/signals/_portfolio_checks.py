"""Input checks of :func:`~slopscore.signals.portfolio.portfolio_features` and
:class:`~slopscore.signals.portfolio.PortfolioConfig`.

Each check takes one argument as the caller gave it and returns it in the form the
portfolio kernels use (float32 unit vectors, object arrays of strings, bools, int64
nanoseconds since the epoch), or raises ``ValueError``/``TypeError`` naming the numbers
involved.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "as_bools",
    "as_embeddings",
    "as_nanoseconds",
    "as_strings",
    "as_unique_strings",
    "check_int",
    "check_number",
    "seconds_to_ns",
]

# How far an embedding's L2 norm may stray from 1 (float32 round trips stay far inside).
_NORM_TOLERANCE = 1e-3
_NS_PER_S = 1_000_000_000


def check_int(name: str, value: object, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_number(
    name: str,
    value: object,
    low: float,
    high: float = np.inf,
    low_open: bool = False,
) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite real number from ``low`` (excluded
    when ``low_open``) to ``high``."""
    ok = (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and np.isfinite(value)
        and (value > low if low_open else value >= low)
        and value <= high
    )
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        upper = "" if high == np.inf else f" and <= {high}"
        raise ValueError(f"{name} must be a finite number {bound}{upper}, got {value!r}")


def as_embeddings(embeddings: ArrayLike) -> np.ndarray:
    """``(N, D)`` floats as C-contiguous float32 rows, checked finite and L2-normalised."""
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"embeddings must have shape (N, D) with D >= 1, got shape {array.shape}")
    if array.dtype.kind != "f":
        raise TypeError(f"embeddings must be floating point, got dtype {array.dtype}")
    vectors = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"embeddings must be finite; row {row} holds NaN or inf")
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
    off = np.abs(norms - 1.0)
    if len(off) and off.max() > _NORM_TOLERANCE:
        row = int(off.argmax())
        raise ValueError(
            f"embeddings must be L2-normalised: row {row} has norm {norms[row]:.6g} "
            f"(tolerance {_NORM_TOLERANCE})"
        )
    return vectors


def _check_length(array: np.ndarray, name: str, n: int) -> None:
    if array.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match embeddings, got {array.shape}")


def as_strings(values: Sequence[str] | np.ndarray, name: str, n: int) -> np.ndarray:
    """``n`` strings as a new object array."""
    array = np.array(values, dtype=object)  # a copy: results are made read-only
    _check_length(array, name, n)
    for i, value in enumerate(array):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be strings; entry {i} is {type(value).__name__}")
    return array


def as_unique_strings(values: Sequence[str] | np.ndarray, name: str, n: int) -> np.ndarray:
    """:func:`as_strings`, checked to hold no repeats."""
    array = as_strings(values, name, n)
    distinct, counts = np.unique(array, return_counts=True)
    if len(distinct) != n:
        repeated = distinct[counts > 1][0]
        raise ValueError(
            f"{name} must be unique: {n - len(distinct)} repeats, e.g. {repeated!r} "
            f"appears {counts.max()} times"
        )
    return array


def as_bools(values: ArrayLike, name: str, n: int) -> np.ndarray:
    """``n`` values of numpy bool dtype, as an array."""
    array = np.asarray(values)
    _check_length(array, name, n)
    if array.dtype != np.bool_:
        raise TypeError(f"{name} must be booleans, got dtype {array.dtype}")
    return array


def as_nanoseconds(uploaded_at: ArrayLike, n: int) -> np.ndarray:
    """Timestamps as int64 nanoseconds since the epoch."""
    array = np.asarray(uploaded_at)
    _check_length(array, "uploaded_at", n)
    if array.dtype.kind == "M":
        missing = np.isnat(array)
        if missing.any():
            raise ValueError(f"uploaded_at must not be NaT; entry {int(np.argmax(missing))} is")
        nanoseconds = array.astype("datetime64[ns]")
        if not np.array_equal(nanoseconds.astype(array.dtype), array):
            raise ValueError("uploaded_at must lie between the years 1678 and 2262")
        return nanoseconds.view(np.int64)
    if array.dtype.kind in "iu":
        limit = np.iinfo(np.int64).max // _NS_PER_S
        if len(array) and np.abs(array).max() > limit:
            raise ValueError(
                f"uploaded_at epoch seconds must be within +/-{limit}, got {np.abs(array).max()}"
            )
        return array.astype(np.int64) * _NS_PER_S
    raise TypeError(
        "uploaded_at must be numpy datetime64 or integer epoch seconds, "
        f"got dtype {array.dtype} (convert with np.asarray(values, dtype='datetime64[ns]'))"
    )


def seconds_to_ns(seconds: float) -> int:
    """A length of time in seconds as whole nanoseconds (rounded)."""
    return int(round(seconds * _NS_PER_S))
