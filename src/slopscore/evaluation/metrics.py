"""Evaluation numbers: ranking, calibration, operating points, segment false positives, robustness.

Numbers only. Every function is pure and returns floats, arrays or frozen dataclasses;
drawing them is ``slopscore.evaluation.report``'s job. Inputs are validated once, by the public
functions; the private kernels below them compute on trusted arrays.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

__all__ = [
    "FlipRate",
    "OperatingPoint",
    "ReliabilityCurve",
    "SegmentRate",
    "detection_rate_at_fpr",
    "expected_calibration_error",
    "precision_at_budget",
    "precision_within_daily_budget",
    "reliability_curve",
    "segment_false_positive_rates",
    "summarise",
    "verdict_flip_rate",
    "wilson_interval",
]

Strategy = Literal["uniform", "quantile"]
_STRATEGIES = ("uniform", "quantile")
_Z95 = NormalDist().inv_cdf(0.975)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class ReliabilityCurve:
    """Per-bin calibration of predicted probabilities; every bin is reported.

    Attributes
    ----------
    bin_edges : ndarray of shape (n_bins + 1,)
        Bin boundaries within [0, 1], non-decreasing. A probability equal to an inner
        edge falls in the bin above it; the last bin includes its upper edge.
    mean_predicted : ndarray of shape (n_bins,)
        Mean predicted probability in each bin, in [0, 1]; NaN where the bin is empty.
    observed_frequency : ndarray of shape (n_bins,)
        Fraction of positives in each bin, in [0, 1]; NaN where the bin is empty.
    counts : ndarray of int, shape (n_bins,)
        Items in each bin; 0 marks an empty bin.
    """

    bin_edges: NDArray[np.float64]
    mean_predicted: NDArray[np.float64]
    observed_frequency: NDArray[np.float64]
    counts: NDArray[np.int64]


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


# ----------------------------------------------------------------------------- public API


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95
) -> tuple[float, float] | tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval for a binomial proportion, vectorised.

    Parameters
    ----------
    successes, trials : int or array-like of int
        Non-negative whole numbers with ``successes <= trials``; broadcast together.
    confidence : float, default=0.95
        Coverage, strictly between 0 and 1.

    Returns
    -------
    low, high : float or ndarray
        Bounds within [0, 1] with ``low <= successes / trials <= high``; wider means
        less certain. NaN where ``trials == 0``. Floats for scalar inputs, arrays of
        the broadcast shape otherwise.
    """
    k, n = np.broadcast_arrays(
        np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    )
    _check_counts(k, n)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    low, high = _wilson(k, n, NormalDist().inv_cdf(0.5 + confidence / 2))
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def reliability_curve(
    y_true: ArrayLike, prob: ArrayLike, n_bins: int = 15, strategy: Strategy = "uniform"
) -> ReliabilityCurve:
    """Mean predicted probability against observed frequency, per bin.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = concern, 0 = human.
    prob : array-like of shape (n,)
        Predicted probability of a concern, in [0, 1].
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        ``uniform``: equal-width bins over [0, 1]. ``quantile``: edges at quantiles
        of ``prob``, so bins hold about equally many items; tied probabilities can
        repeat an edge, and the bins between repeated edges are then empty.

    Returns
    -------
    ReliabilityCurve
        All ``n_bins`` bins, empty ones with count 0 and NaN means. A calibrated
        model has ``observed_frequency`` close to ``mean_predicted`` in every bin.
    """
    y, p = _labels_and_probabilities(y_true, prob)
    _check_binning(n_bins, strategy)
    return _reliability(y, p, n_bins, strategy)


def expected_calibration_error(
    y_true: ArrayLike, prob: ArrayLike, n_bins: int = 15, strategy: Strategy = "uniform"
) -> float:
    """Count-weighted mean gap between predicted probability and observed frequency.

    Parameters are those of :func:`reliability_curve`.

    Returns
    -------
    float
        In [0, 1]; 0 means perfectly calibrated within every bin, higher is worse.
        Empty bins carry no weight.
    """
    y, p = _labels_and_probabilities(y_true, prob)
    _check_binning(n_bins, strategy)
    return _ece(_reliability(y, p, n_bins, strategy))


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
    y, s = _labels_and_scores(y_true, score)
    fpr = _check_fraction(fpr, "fpr")
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
    y, s = _labels_and_scores(y_true, score)
    budget = _check_positive_int(budget, "budget")
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
    y, s = _labels_and_scores(y_true, score)
    days = _as_1d(day, "day")
    _check_lengths(y_true=y, day=days)
    budget_per_day = _check_positive_int(budget_per_day, "budget_per_day")
    day_index = _group_index(days, "day")[1]
    order = np.lexsort((-s, day_index))  # by day, then score descending; lexsort is stable
    sorted_days = day_index[order]
    rank_in_day = np.arange(order.size) - np.searchsorted(sorted_days, sorted_days, side="left")
    return float(y[order[rank_in_day < budget_per_day]].mean())


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
    y = _as_labels(y_true, "y_true")
    flags = _as_labels(flagged, "flagged")
    _check_lengths(y_true=y, flagged=flags)
    min_count = _check_positive_int(min_count, "min_count")
    columns = {}
    for name, column in segments.items():
        if not isinstance(name, str):
            raise TypeError(f"segment names must be strings; got {name!r}")
        columns[name] = _as_1d(column, f"segment {name!r}")
        _check_lengths(y_true=y, **{f"segment {name!r}": columns[name]})
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
    original = _as_scores(score_original, "score_original")
    perturbed = _as_scores(score_perturbed, "score_perturbed")
    _check_lengths(score_original=original, score_perturbed=perturbed)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite; got {threshold}")
    n_flipped = int(np.sum((original >= threshold) != (perturbed >= threshold)))
    low, high = _wilson(np.float64(n_flipped), np.float64(original.size), _Z95)
    return FlipRate(original.size, n_flipped, n_flipped / original.size, float(low), float(high))


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
    y, p = _labels_and_probabilities(y_true, prob)
    fprs = [_check_fraction(f, "each of fprs") for f in fprs]
    if budget is not None:
        budget = _check_positive_int(budget, "budget")
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
        "ece": _ece(_reliability(y, p, 15, "uniform")),
    }
    for fpr in fprs:
        rate = _operating_point(y, p, fpr).detection_rate if both_classes else np.nan
        metrics[f"tpr_at_fpr_{100 * fpr:g}pct"] = rate
    if budget is not None:
        metrics[f"precision_at_{budget}"] = _precision_at_budget(y, p, budget)
    return metrics


# ----------------------------------------------------------------------------- kernels


def _wilson(
    k: NDArray[np.float64], n: NDArray[np.float64], z: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson bounds for trusted counts; NaN where ``n == 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        spread = z * z / n
        centre = (p + spread / 2) / (1 + spread)
        half = z * np.sqrt(p * (1 - p) / n + spread / (4 * n)) / (1 + spread)
    # At k = 0 and k = n a bound equals p exactly; pin it there rather than keep rounding error.
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return np.where(n == 0, np.nan, low), np.where(n == 0, np.nan, high)


def _reliability(
    y: NDArray[np.bool_], p: NDArray[np.float64], n_bins: int, strategy: Strategy
) -> ReliabilityCurve:
    quantiles = np.linspace(0.0, 1.0, n_bins + 1)
    edges = quantiles if strategy == "uniform" else np.quantile(p, quantiles)
    bins = np.searchsorted(edges[1:-1], p, side="right")
    counts = np.bincount(bins, minlength=n_bins)
    filled = counts > 0

    def per_bin_mean(values: NDArray[np.float64]) -> NDArray[np.float64]:
        sums = np.bincount(bins, weights=values, minlength=n_bins)
        return np.divide(sums, counts, out=np.full(n_bins, np.nan), where=filled)

    return ReliabilityCurve(edges, per_bin_mean(p), per_bin_mean(y.astype(float)), counts)


def _ece(curve: ReliabilityCurve) -> float:
    filled = curve.counts > 0
    gaps = np.abs(curve.observed_frequency[filled] - curve.mean_predicted[filled])
    return float(np.sum(curve.counts[filled] * gaps) / curve.counts.sum())


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


def _segment_rows(
    name: str,
    column: np.ndarray,
    y: NDArray[np.bool_],
    flagged: NDArray[np.bool_],
    min_count: int,
) -> list[SegmentRate]:
    values, index = _group_index(column, f"segment {name!r}")
    negative = ~y
    n_negative = np.bincount(index[negative], minlength=values.size)
    n_flagged = np.bincount(index[negative & flagged], minlength=values.size)
    low, high = _wilson(n_flagged.astype(float), n_negative.astype(float), _Z95)
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


# ----------------------------------------------------------------------------- validation


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; need at least one item")
    return array


def _as_labels(values: ArrayLike, name: str) -> NDArray[np.bool_]:
    array = _as_1d(values, name)
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


def _as_scores(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = _as_1d(values, name)
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


def _as_probabilities(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = _as_scores(values, name)
    outside = (array < 0) | (array > 1)
    if outside.any():
        raise ValueError(
            f"{name} must lie within [0, 1]; {outside.sum()} of {array.size} values are "
            f"outside (min {array.min():g}, max {array.max():g})"
        )
    return array


def _labels_and_scores(
    y_true: ArrayLike, score: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    y = _as_labels(y_true, "y_true")
    s = _as_scores(score, "score")
    _check_lengths(y_true=y, score=s)
    return y, s


def _labels_and_probabilities(
    y_true: ArrayLike, prob: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    y = _as_labels(y_true, "y_true")
    p = _as_probabilities(prob, "prob")
    _check_lengths(y_true=y, prob=p)
    return y, p


def _check_lengths(**arrays: np.ndarray) -> None:
    (first, reference), *others = arrays.items()
    for name, array in others:
        if array.size != reference.size:
            raise ValueError(f"{first} has {reference.size} items, {name} has {array.size}")


def _check_counts(k: NDArray[np.float64], n: NDArray[np.float64]) -> None:
    for name, counts in (("successes", k), ("trials", n)):
        bad = ~np.isfinite(counts) | (counts < 0) | (counts != np.round(counts))
        if bad.any():
            raise ValueError(f"{name} must be non-negative whole numbers; got {counts[bad][0]}")
    over = k > n
    if over.any():
        raise ValueError(
            f"successes must not exceed trials; got {k[over][0]:g} successes "
            f"out of {n[over][0]:g} trials"
        )


def _check_binning(n_bins: int, strategy: str) -> None:
    _check_positive_int(n_bins, "n_bins")
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}; got {strategy!r}")


def _check_fraction(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must lie within [0, 1]; got {value}")
    return value


def _check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive whole number; got {value!r}")
    return int(value)


def _group_index(column: np.ndarray, name: str) -> tuple[np.ndarray, NDArray[np.intp]]:
    """Sorted distinct values of ``column`` and each item's position among them."""
    try:
        values, index = np.unique(column, return_inverse=True)
    except TypeError as error:
        raise ValueError(
            f"{name} values must be mutually comparable (all strings, all numbers or all "
            f"dates; fill missing values with a label first): {error}"
        ) from None
    return values, index.ravel()
