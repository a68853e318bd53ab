"""Input checks shared by the evaluation metrics (private).

The public metric functions call these once, at the boundary, and hand the trusted
arrays on to their kernels. Each check raises ``ValueError`` with a message that names
the argument, the count of bad values and an example; none changes a valid input beyond
converting it (labels to bool, scores and probabilities to float64).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "as_1d",
    "as_labels",
    "as_probabilities",
    "as_scores",
    "check_fraction",
    "check_lengths",
    "check_positive_int",
    "group_index",
    "labels_and_probabilities",
    "labels_and_scores",
]


def as_1d(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; need at least one item")
    return array


def as_labels(values: ArrayLike, name: str) -> NDArray[np.bool_]:
    array = as_1d(values, name)
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must be binary (0/1 or bool); got dtype {array.dtype}. "
            "Map labels to 1 = concern (AI slop), 0 = human first"
        )
    other = array[(array != 0) & (array != 1)]
    if other.size:
        raise ValueError(
            f"{name} must contain only 0 and 1; {other.size} of {array.size} values "
            f"are something else, e.g. {np.unique(other)[:3].tolist()}"
        )
    return array == 1


def as_scores(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = as_1d(values, name)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got dtype {array.dtype}")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name} has {bad.sum()} non-finite values (NaN or inf) among {array.size}, "
            f"the first at index {np.flatnonzero(bad)[0]}"
        )
    return array


def as_probabilities(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = as_scores(values, name)
    outside = (array < 0) | (array > 1)
    if outside.any():
        raise ValueError(
            f"{name} must lie within [0, 1]; {outside.sum()} of {array.size} values are "
            f"outside (min {array.min():g}, max {array.max():g})"
        )
    return array


def labels_and_scores(
    y_true: ArrayLike, score: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    return _labels_and(y_true, score, "score", as_scores)


def labels_and_probabilities(
    y_true: ArrayLike, prob: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    return _labels_and(y_true, prob, "prob", as_probabilities)


def _labels_and(
    y_true: ArrayLike,
    values: ArrayLike,
    name: str,
    convert: Callable[[ArrayLike, str], NDArray[np.float64]],
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Labels, then ``values`` checked by ``convert`` under ``name``, then equal lengths."""
    y = as_labels(y_true, "y_true")
    converted = convert(values, name)
    check_lengths(y_true=y, **{name: converted})
    return y, converted


def check_lengths(**arrays: np.ndarray) -> None:
    (first, reference), *others = arrays.items()
    for name, array in others:
        if array.size != reference.size:
            raise ValueError(f"{first} has {reference.size} items, {name} has {array.size}")


def check_fraction(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must lie within [0, 1]; got {value}")
    return value


def check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive whole number; got {value!r}")
    return int(value)


def group_index(column: np.ndarray, name: str) -> tuple[np.ndarray, NDArray[np.intp]]:
    """Sorted distinct values of ``column`` and each item's position among them."""
    try:
        values, index = np.unique(column, return_inverse=True)
    except TypeError as error:
        raise ValueError(
            f"{name} values must be mutually comparable (all strings, all numbers or all "
            f"dates; fill missing values with a label first): {error}"
        ) from None
    return values, index.ravel()
