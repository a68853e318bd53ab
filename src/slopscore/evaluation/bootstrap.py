"""Cluster bootstrap intervals for ranking and calibration metrics: numbers only, no plotting.

Uploads of one account are not independent (one artist's works look alike), so intervals
resample whole accounts: each draw picks accounts with replacement, separately among
accounts with and without positives, and an upload's weight is how often its account was
picked. The metric kernels below take those weights for all draws at once, a
``(n_draws, n)`` matrix, and agree with :mod:`slopscore.evaluation.metrics` at unit weights
(tested).

Conventions follow :mod:`slopscore.evaluation.metrics`: ``y`` is True for the positive
class (AI for the detector, a policy concern for triage), scores are higher for more likely
positives, and an item is flagged when ``score >= threshold``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["base_rate_weights", "cluster_weights", "interval", "weighted_auroc",
           "weighted_average_precision", "weighted_ece", "weighted_rates_at_threshold",
           "weighted_tpr_at_fpr"]

Weights = NDArray[np.float64]


def cluster_weights(clusters: ArrayLike, strata: ArrayLike, n_draws: int,
                    rng: np.random.Generator) -> Weights:
    """Bootstrap weights that resample whole clusters (accounts), stratum by stratum.

    Parameters
    ----------
    clusters : array-like of shape (n,)
        Cluster (account) of each item.
    strata : array-like of bool, shape (n,)
        Stratum of each item; a cluster's stratum is True if any of its items is True.
    n_draws : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n_draws, n)
        Non-negative whole numbers: how often each item's cluster was drawn. Every draw holds
        as many clusters of each stratum as the data.
    """
    _, first, inverse = np.unique(np.asarray(clusters), return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    flagged = np.zeros(len(first), dtype=bool)
    np.logical_or.at(flagged, inverse, np.asarray(strata, dtype=bool))
    counts = np.zeros((n_draws, len(first)))
    for members in (np.flatnonzero(flagged), np.flatnonzero(~flagged)):
        m = len(members)
        if m == 0:
            continue
        picks = rng.integers(0, m, size=(n_draws, m)) + (np.arange(n_draws) * m)[:, None]
        counts[:, members] = np.bincount(picks.ravel(), minlength=n_draws * m).reshape(n_draws, m)
    return counts[:, inverse]


def base_rate_weights(y: ArrayLike, weights: Weights, rate: float, rng: np.random.Generator) -> Weights:
    """Subsample positives so that they make up ``rate`` of the uploads in every draw.

    Each row keeps its negatives' weights and replaces the positives' by a multinomial draw of
    ``round(rate / (1 - rate) * negatives)`` uploads, in proportion to their weights in that row.

    Returns
    -------
    ndarray of shape (n_draws, n)
        Rows where no positive has weight keep no positives.
    """
    y = np.asarray(y, dtype=bool)
    out = np.array(weights, dtype=np.float64, copy=True)
    positive = np.flatnonzero(y)
    for row in out:
        pool = row[positive]
        wanted = int(round(rate / (1 - rate) * row[~y].sum()))
        row[positive] = 0.0
        if pool.sum() > 0 and wanted > 0:
            row[positive] = rng.multinomial(wanted, pool / pool.sum())
    return out


def _tie_groups(y: NDArray[np.bool_], score: NDArray[np.float64], weights: Weights):
    """Per-draw positive and negative weight in each group of tied scores, highest score first."""
    order = np.argsort(-score, kind="stable")
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    w = np.atleast_2d(weights)[:, order]
    labels = y[order]
    positives = np.add.reduceat(w * labels, starts, axis=1)
    negatives = np.add.reduceat(w * ~labels, starts, axis=1)
    return positives, negatives


def _divide(numerator, denominator):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def weighted_auroc(y: ArrayLike, score: ArrayLike, weights: Weights) -> NDArray[np.float64]:
    """AUROC per draw, in [0, 1] (0.5 is chance, higher is better); ties count one half; NaN
    for a draw without both classes."""
    y, score = np.asarray(y, dtype=bool), np.asarray(score, dtype=np.float64)
    positives, negatives = _tie_groups(y, score, weights)
    total_p, total_n = positives.sum(axis=1), negatives.sum(axis=1)
    below = total_n[:, None] - np.cumsum(negatives, axis=1)
    return _divide((positives * (below + 0.5 * negatives)).sum(axis=1), total_p * total_n)


def weighted_average_precision(y: ArrayLike, score: ArrayLike, weights: Weights) -> NDArray[np.float64]:
    """Average precision per draw (as scikit-learn's, no interpolation), in [0, 1]; higher is better."""
    y, score = np.asarray(y, dtype=bool), np.asarray(score, dtype=np.float64)
    positives, negatives = _tie_groups(y, score, weights)
    tp, fp = np.cumsum(positives, axis=1), np.cumsum(negatives, axis=1)
    precision = _divide(tp, tp + fp)
    return _divide(np.nansum(positives * precision, axis=1), positives.sum(axis=1))


def weighted_tpr_at_fpr(y: ArrayLike, score: ArrayLike, weights: Weights, fpr: float) -> NDArray[np.float64]:
    """Detection rate per draw at the threshold that flags at most ``fpr`` of the negatives.

    The threshold lies just above the score of the negative ranked ``floor(fpr * m) + 1`` by
    score (``m``: negatives' weight), as in
    :func:`slopscore.evaluation.metrics.detection_rate_at_fpr`. In [0, 1]; higher is better.
    """
    y, score = np.asarray(y, dtype=bool), np.asarray(score, dtype=np.float64)
    positives, negatives = _tie_groups(y, score, weights)
    total_p, total_n = positives.sum(axis=1), negatives.sum(axis=1)
    allowed = np.floor(fpr * total_n + 1e-9)
    allowed = np.where((total_n > 0) & (allowed > fpr * total_n), allowed - 1, allowed)
    cum_p, cum_n = np.cumsum(positives, axis=1), np.cumsum(negatives, axis=1)
    group = np.argmax(cum_n >= (allowed + 1)[:, None], axis=1)
    above = np.where(group > 0, cum_p[np.arange(len(group)), np.maximum(group - 1, 0)], 0.0)
    above = np.where(allowed >= total_n, total_p, above)
    return np.where(total_n > 0, _divide(above, total_p), np.nan)


def weighted_rates_at_threshold(y: ArrayLike, score: ArrayLike, weights: Weights,
                                threshold: float) -> dict[str, NDArray[np.float64]]:
    """Per draw, at ``score >= threshold``: ``fpr`` (negatives flagged; lower is better), ``tpr``
    (positives flagged; higher is better) and ``precision`` (flagged that are positive; higher is
    better), each in [0, 1] and NaN where undefined."""
    y = np.asarray(y, dtype=bool)
    flagged = np.asarray(score, dtype=np.float64) >= threshold
    w = np.atleast_2d(weights)
    flagged_p, flagged_n = (w * (y & flagged)).sum(axis=1), (w * (~y & flagged)).sum(axis=1)
    return {"fpr": _divide(flagged_n, (w * ~y).sum(axis=1)),
            "tpr": _divide(flagged_p, (w * y).sum(axis=1)),
            "precision": _divide(flagged_p, flagged_p + flagged_n)}


def weighted_ece(y: ArrayLike, prob: ArrayLike, weights: Weights, n_bins: int = 15) -> NDArray[np.float64]:
    """Expected calibration error per draw over ``n_bins`` equal-width bins (the binning of
    :func:`slopscore.evaluation.calibration.reliability_bins`); in [0, 1], lower is better."""
    y, prob = np.asarray(y, dtype=np.float64), np.asarray(prob, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], prob, side="right")
    gaps = np.zeros((len(prob), n_bins))
    gaps[np.arange(len(prob)), bins] = y - prob
    w = np.atleast_2d(weights)
    return _divide(np.abs(w @ gaps).sum(axis=1), w.sum(axis=1))


def interval(draws: ArrayLike, point: float, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the bootstrap ``draws``, widened to contain ``point``.

    Biased statistics (ECE above all: it grows as samples shrink) can have a percentile
    interval that misses the estimate itself; the interval then reaches out to it.
    NaN draws (a draw without both classes) are ignored; all NaN gives ``(nan, nan)``.
    """
    draws = np.asarray(draws, dtype=np.float64)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0 or not np.isfinite(point):
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(min(low, point)), float(max(high, point))
