"""Calibration of predicted probabilities: reliability curves and expected calibration error.

A probability is calibrated when, among items given probability ``p``, a fraction ``p``
are concerns. Labels and probabilities follow the conventions of
:mod:`slopscore.evaluation.metrics`. The kernels ``reliability_bins`` and ``curve_ece``
take trusted arrays and are shared with :func:`slopscore.evaluation.metrics.summarise`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from slopscore.evaluation._arrays import check_positive_int, labels_and_probabilities

__all__ = ["ReliabilityCurve", "curve_ece", "expected_calibration_error", "reliability_bins",
           "reliability_curve"]

Strategy = Literal["uniform", "quantile"]
_STRATEGIES = ("uniform", "quantile")


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
    y, p = labels_and_probabilities(y_true, prob)
    _check_binning(n_bins, strategy)
    return reliability_bins(y, p, n_bins, strategy)


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
    y, p = labels_and_probabilities(y_true, prob)
    _check_binning(n_bins, strategy)
    return curve_ece(reliability_bins(y, p, n_bins, strategy))


def reliability_bins(
    y: NDArray[np.bool_], p: NDArray[np.float64], n_bins: int, strategy: Strategy
) -> ReliabilityCurve:
    """Reliability curve of trusted, validated arrays (see :func:`reliability_curve`)."""
    quantiles = np.linspace(0.0, 1.0, n_bins + 1)
    edges = quantiles if strategy == "uniform" else np.quantile(p, quantiles)
    bins = np.searchsorted(edges[1:-1], p, side="right")
    counts = np.bincount(bins, minlength=n_bins)
    filled = counts > 0

    def per_bin_mean(values: NDArray[np.float64]) -> NDArray[np.float64]:
        sums = np.bincount(bins, weights=values, minlength=n_bins)
        return np.divide(sums, counts, out=np.full(n_bins, np.nan), where=filled)

    return ReliabilityCurve(edges, per_bin_mean(p), per_bin_mean(y.astype(float)), counts)


def curve_ece(curve: ReliabilityCurve) -> float:
    """Expected calibration error of a computed curve, in [0, 1]; lower is better calibrated."""
    filled = curve.counts > 0
    gaps = np.abs(curve.observed_frequency[filled] - curve.mean_predicted[filled])
    return float(np.sum(curve.counts[filled] * gaps) / curve.counts.sum())


def _check_binning(n_bins: int, strategy: str) -> None:
    check_positive_int(n_bins, "n_bins")
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}; got {strategy!r}")
