"""Rates of fixed verdicts, each with a Wilson 95% interval: per-segment false positives, flips.

A verdict is flag or no flag at a threshold (``score >= threshold`` is flagged). Here
the threshold is already chosen: :func:`segment_false_positive_rates` counts how often
human work is flagged within each value of a segment column, and
:func:`verdict_flip_rate` how often a perturbation changes the verdict. Labels and
scores follow the conventions of :mod:`slopscore.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from slopscore.evaluation._arrays import (
    as_1d,
    as_labels,
    as_scores,
    check_lengths,
    check_positive_int,
    group_index,
)
from slopscore.evaluation.intervals import Z_95, wilson_bounds

__all__ = ["FlipRate", "SegmentRate", "segment_false_positive_rates", "verdict_flip_rate"]


@dataclass(frozen=True, order=True)
class SegmentRate:
    """False-positive rate on human work within one value of one segment column.

    Rows order by segment, then value.

    Attributes
    ----------
    segment : str
        Column name, e.g. ``"medium"``.
    value : object
        The column's value for this row, as a Python scalar.
    n_negative : int
        Negative (human) items with this value.
    n_flagged : int
        Of those, how many were flagged.
    status : {"ok", "not_enough_data"}
        ``not_enough_data`` when ``n_negative`` is below the ``min_count`` asked for.
    false_positive_rate : float or None
        ``n_flagged / n_negative`` in [0, 1], lower is better; None when
        ``status`` is ``not_enough_data``.
    ci_low, ci_high : float or None
        Wilson 95% interval for the rate, within [0, 1]; None when ``status`` is
        ``not_enough_data``.
    """

    segment: str
    value: object
    n_negative: int
    n_flagged: int
    status: Literal["ok", "not_enough_data"]
    false_positive_rate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class FlipRate:
    """How often a perturbation changes the flag/no-flag verdict.

    Attributes
    ----------
    n_items : int
        Items compared.
    n_flipped : int
        Items whose verdict differs between original and perturbed score.
    flip_rate : float
        ``n_flipped / n_items`` in [0, 1]; lower means more robust.
    ci_low, ci_high : float
        Wilson 95% interval for ``flip_rate``, within [0, 1].
    """

    n_items: int
    n_flipped: int
    flip_rate: float
    ci_low: float
    ci_high: float


def segment_false_positive_rates(
    y_true: ArrayLike,
    flagged: ArrayLike,
    segments: Mapping[str, ArrayLike],
    min_count: int = 20,
) -> list[SegmentRate]:
    """False-positive rate on human work for every value of every segment column.

    Only negative (human) items count towards a rate; positives are ignored. A value
    seen only among positives still gets a row, with ``n_negative == 0``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = concern, 0 = human.
    flagged : array-like of shape (n,)
        Binary verdicts, 1 (or True) = flagged for review.
    segments : mapping of str to array-like of shape (n,)
        Segment columns, e.g. ``{"medium": ..., "new_artist": ...}``; values within a
        column must be mutually comparable (fill missing values with a label first).
    min_count : int, default=20
        Fewest negatives for which a rate is reported.

    Returns
    -------
    list of SegmentRate
        Sorted by segment, then value. Rates and Wilson 95% intervals lie in [0, 1],
        lower is better; with fewer than ``min_count`` negatives they are None and the
        status is ``not_enough_data``, never a misleading 0% or 100%.
    """
    y = as_labels(y_true, "y_true")
    flags = as_labels(flagged, "flagged")
    check_lengths(y_true=y, flagged=flags)
    min_count = check_positive_int(min_count, "min_count")
    columns = {}
    for name, column in segments.items():
        if not isinstance(name, str):
            raise TypeError(f"segment names must be strings; got {name!r}")
        columns[name] = as_1d(column, f"segment {name!r}")
        check_lengths(y_true=y, **{f"segment {name!r}": columns[name]})
    rows = [
        row
        for name, column in columns.items()
        for row in _segment_rows(name, column, y, flags, min_count)
    ]
    return sorted(rows)


def verdict_flip_rate(
    score_original: ArrayLike, score_perturbed: ArrayLike, threshold: float
) -> FlipRate:
    """How often the verdict ``score >= threshold`` changes under a perturbation.

    Parameters
    ----------
    score_original : array-like of shape (n,)
        Scores of the original images.
    score_perturbed : array-like of shape (n,)
        Scores of the same items after a perturbation (JPEG recompression, resizing,
        thumbnailing), in the same order.
    threshold : float
        Review threshold; a score equal to it counts as flagged.

    Returns
    -------
    FlipRate
        Count and fraction of changed verdicts, in [0, 1] (lower is more robust), with
        its Wilson 95% interval. Symmetric in the two score arrays.
    """
    original = as_scores(score_original, "score_original")
    perturbed = as_scores(score_perturbed, "score_perturbed")
    check_lengths(score_original=original, score_perturbed=perturbed)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite; got {threshold}")
    n_flipped = int(np.sum((original >= threshold) != (perturbed >= threshold)))
    low, high = wilson_bounds(np.float64(n_flipped), np.float64(original.size), Z_95)
    return FlipRate(original.size, n_flipped, n_flipped / original.size, float(low), float(high))


def _segment_rows(
    name: str,
    column: np.ndarray,
    y: NDArray[np.bool_],
    flagged: NDArray[np.bool_],
    min_count: int,
) -> list[SegmentRate]:
    values, index = group_index(column, f"segment {name!r}")
    negative = ~y
    n_negative = np.bincount(index[negative], minlength=values.size)
    n_flagged = np.bincount(index[negative & flagged], minlength=values.size)
    low, high = wilson_bounds(n_flagged.astype(float), n_negative.astype(float), Z_95)
    rows = []
    for i, value in enumerate(values.tolist()):
        enough = bool(n_negative[i] >= min_count)
        rows.append(
            SegmentRate(
                segment=name,
                value=value,
                n_negative=int(n_negative[i]),
                n_flagged=int(n_flagged[i]),
                status="ok" if enough else "not_enough_data",
                false_positive_rate=float(n_flagged[i] / n_negative[i]) if enough else None,
                ci_low=float(low[i]) if enough else None,
                ci_high=float(high[i]) if enough else None,
            )
        )
    return rows
