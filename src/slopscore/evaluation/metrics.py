"""Evaluation numbers: ranking, operating points and the headline summary of one set of predictions.

Numbers only. Every function is pure and returns floats, dicts or frozen dataclasses;
drawing them is ``slopscore.evaluation.report``'s job. Inputs are validated once, by the public
functions; the private kernels below them compute on trusted arrays. Calibration lives in
:mod:`slopscore.evaluation.calibration`, Wilson intervals in :mod:`slopscore.evaluation.intervals`,
per-segment false positives and verdict flips in :mod:`slopscore.evaluation.verdicts`; all
follow the conventions below.

Conventions
-----------
- ``y_true`` is binary: 1 (or True) means the item is a policy concern (AI slop), the
  positive class; 0 (or False) means human work, the negative class. A false positive
  is human work flagged for review, the costliest error.
- ``prob`` is a probability in [0, 1]; ``score`` is any finite number. For both, higher
  means more likely to be a concern.
- An item is flagged when ``score >= threshold``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from slopscore.evaluation._arrays import (
    as_1d,
    check_fraction,
    check_lengths,
    check_positive_int,
    group_index,
    labels_and_probabilities,
    labels_and_scores,
)
from slopscore.evaluation.calibration import curve_ece, reliability_bins

__all__ = [
    "OperatingPoint",
    "detection_rate_at_fpr",
    "precision_at_budget",
    "precision_within_daily_budget",
    "summarise",
]


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class OperatingPoint:
    """A review threshold and what it achieves on the evaluated items.

    Attributes
    ----------
    threshold : float
        Items with ``score >= threshold`` are flagged.
    detection_rate : float
        Fraction of positives flagged (true-positive rate), in [0, 1]; higher is better.
    false_positive_rate : float
        Fraction of negatives (human work) flagged, in [0, 1]; lower is better.
    n_positive, n_negative : int
        Items of each class the rates are computed over.
    """

    threshold: float
    detection_rate: float
    false_positive_rate: float
    n_positive: int
    n_negative: int


# ----------------------------------------------------------------------------- public API


def detection_rate_at_fpr(y_true: ArrayLike, score: ArrayLike, fpr: float) -> OperatingPoint:
    """The highest detection rate whose false-positive rate on human work stays within ``fpr``.

    The threshold comes from the negatives alone. With ``m`` negatives, at most
    ``floor(fpr * m)`` may be flagged, so the threshold is placed just above (the
    next float after) the ``floor(fpr * m) + 1``-th highest negative score. Negatives
    tied with that score are therefore all left unflagged: ties can lower the realised
    false-positive rate below ``fpr`` but never raise it above. When every negative may
    be flagged (``fpr == 1``), the threshold is the lowest score and everything is flagged.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = concern, 0 = human; both classes must be present.
    score : array-like of shape (n,)
        Finite scores, higher = more likely a concern.
    fpr : float
        Largest acceptable false-positive rate, in [0, 1].

    Returns
    -------
    OperatingPoint
        ``threshold`` and ``detection_rate`` (in [0, 1], higher is better), with the
        realised ``false_positive_rate`` (in [0, ``fpr``]). The detection rate does not
        decrease as ``fpr`` grows.
    """
    y, s = labels_and_scores(y_true, score)
    fpr = check_fraction(fpr, "fpr")
    n_positive = int(y.sum())
    if n_positive in (0, y.size):
        raise ValueError(
            "a detection rate at a false-positive rate needs both classes; y_true has "
            f"{n_positive} positives and {y.size - n_positive} negatives"
        )
    return _operating_point(y, s, fpr)


def precision_at_budget(y_true: ArrayLike, score: ArrayLike, budget: int) -> float:
    """Precision among the ``budget`` highest-scoring items, as a reviewer would see them.

    Items are ranked by score, highest first; tied scores keep their input order
    (the earlier item ranks first), so the result is deterministic.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = concern, 0 = human.
    score : array-like of shape (n,)
        Finite scores, higher = more likely a concern.
    budget : int
        How many items can be reviewed; when it exceeds ``n``, all items are reviewed.

    Returns
    -------
    float
        Fraction of reviewed items that are concerns, in [0, 1]; higher is better.
    """
    y, s = labels_and_scores(y_true, score)
    budget = check_positive_int(budget, "budget")
    return _precision_at_budget(y, s, budget)


def precision_within_daily_budget(
    y_true: ArrayLike, score: ArrayLike, day: ArrayLike, budget_per_day: int
) -> float:
    """Precision when each day's ``budget_per_day`` highest-scoring items are reviewed.

    Within a day, ties keep their input order (the earlier item ranks first). A day
    with fewer items than the budget has all of them reviewed.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = concern, 0 = human.
    score : array-like of shape (n,)
        Finite scores, higher = more likely a concern.
    day : array-like of shape (n,)
        Day key of each item (dates, strings or integers, mutually comparable).
    budget_per_day : int
        Reviews available per day.

    Returns
    -------
    float
        Concerns among all reviewed items, pooled over days, in [0, 1]; higher is better.
    """
    y, s = labels_and_scores(y_true, score)
    days = as_1d(day, "day")
    check_lengths(y_true=y, day=days)
    budget_per_day = check_positive_int(budget_per_day, "budget_per_day")
    day_index = group_index(days, "day")[1]
    order = np.lexsort((-s, day_index))  # by day, then score descending; lexsort is stable
    sorted_days = day_index[order]
    rank_in_day = np.arange(order.size) - np.searchsorted(sorted_days, sorted_days, side="left")
    return float(y[order[rank_in_day < budget_per_day]].mean())



def summarise(
    y_true: ArrayLike,
    prob: ArrayLike,
    *,
    fprs: Sequence[float] = (0.01, 0.05),
    budget: int | None = None,
) -> dict[str, float]:
    """The headline numbers for one set of predictions.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = concern, 0 = human.
    prob : array-like of shape (n,)
        Predicted probability of a concern, in [0, 1].
    fprs : sequence of float, default=(0.01, 0.05)
        False-positive rates on human work at which to report the detection rate.
    budget : int, optional
        When given, also report precision among the ``budget`` highest-scoring items.

    Returns
    -------
    dict of str to float
        - ``n``: number of items; ``prevalence``: fraction of positives, in [0, 1].
        - ``auroc``: in [0, 1], 0.5 is chance, higher is better.
        - ``average_precision``: in [0, 1], higher is better.
        - ``brier_score``: mean squared error of ``prob``, in [0, 1], lower is better.
        - ``ece``: expected calibration error (15 uniform bins), in [0, 1], lower is better.
        - ``tpr_at_fpr_{100 * fpr:g}pct`` (e.g. ``tpr_at_fpr_1pct``): detection rate at
          that false-positive rate, in [0, 1], higher is better.
        - ``precision_at_{budget}``: in [0, 1], higher is better (only with ``budget``).

        When ``y_true`` holds one class only, ``auroc``, ``average_precision`` and the
        detection rates are NaN and an ``UndefinedMetricWarning`` is issued.
    """
    y, p = labels_and_probabilities(y_true, prob)
    fprs = [check_fraction(f, "each of fprs") for f in fprs]
    if budget is not None:
        budget = check_positive_int(budget, "budget")
    n_positive = int(y.sum())
    both_classes = 0 < n_positive < y.size
    if not both_classes:
        warnings.warn(
            f"y_true has only one class ({n_positive} positives, {y.size - n_positive} "
            "negatives); AUROC, average precision and detection rates are NaN",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    labels = y.astype(int)
    metrics = {
        "n": float(y.size),
        "prevalence": n_positive / y.size,
        "auroc": float(roc_auc_score(labels, p)) if both_classes else np.nan,
        "average_precision": float(average_precision_score(labels, p)) if both_classes else np.nan,
        "brier_score": float(brier_score_loss(labels, p, pos_label=1)),
        "ece": curve_ece(reliability_bins(y, p, 15, "uniform")),
    }
    for fpr in fprs:
        rate = _operating_point(y, p, fpr).detection_rate if both_classes else np.nan
        metrics[f"tpr_at_fpr_{100 * fpr:g}pct"] = rate
    if budget is not None:
        metrics[f"precision_at_{budget}"] = _precision_at_budget(y, p, budget)
    return metrics


# ----------------------------------------------------------------------------- kernels


def _operating_point(y: NDArray[np.bool_], s: NDArray[np.float64], fpr: float) -> OperatingPoint:
    negatives = np.sort(s[~y])[::-1]
    positives = s[y]
    allowed = _allowed_false_positives(fpr, negatives.size)
    if allowed >= negatives.size:
        threshold = float(s.min())
    else:
        threshold = float(np.nextafter(negatives[allowed], np.inf))
    return OperatingPoint(
        threshold=threshold,
        detection_rate=float(np.mean(positives >= threshold)),
        false_positive_rate=float(np.mean(negatives >= threshold)),
        n_positive=positives.size,
        n_negative=negatives.size,
    )


def _allowed_false_positives(fpr: float, n_negative: int) -> int:
    """Largest ``k`` with ``k / n_negative <= fpr``, robust to products like 0.29 * 100."""
    allowed = int(np.floor(fpr * n_negative + 1e-9))
    return allowed - 1 if allowed / n_negative > fpr else allowed


def _precision_at_budget(y: NDArray[np.bool_], s: NDArray[np.float64], budget: int) -> float:
    reviewed = np.argsort(-s, kind="stable")[:budget]
    return float(y[reviewed].mean())
