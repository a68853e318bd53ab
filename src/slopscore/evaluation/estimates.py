"""Headline metrics with the counts behind them and 95% intervals, or "too few".

A metric from a handful of positives (AUROC 1.000 from one AI upload, say) is noise that
reads like certainty. Every estimate here carries ``n_positive`` and ``n_negative``, a 95%
interval from a bootstrap that resamples whole artists (their works are alike, so items are
not independent; :mod:`slopscore.evaluation.bootstrap`), and below :data:`MIN_COUNT`
positives (or negatives) no number at all: the status says "too few".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from slopscore.evaluation.bootstrap import (
    cluster_weights,
    interval,
    weighted_auroc,
    weighted_average_precision,
    weighted_ece,
    weighted_tpr_at_fpr,
)
from slopscore.evaluation.metrics import summarise

__all__ = ["MIN_COUNT", "TOO_FEW", "Estimate", "estimate_metrics", "flat_estimates"]

#: Fewest positives (and negatives) a metric is reported from.
MIN_COUNT = 20
TOO_FEW = "too few"


@dataclass(frozen=True)
class Estimate:
    """One metric on one set of items.

    Attributes
    ----------
    value, low, high : float
        The estimate and its 95% interval (NaN when ``status`` is "too few"). The range
        and direction are the metric's own (see :func:`estimate_metrics`).
    n_positive, n_negative : int
    status : {"ok", "too few"}
    """

    value: float
    low: float
    high: float
    n_positive: int
    n_negative: int
    status: str

    def text(self, digits: int = 3) -> str:
        """``0.912 [0.850, 0.951]``, or ``too few (3 positives; 20 needed)``."""
        if self.status != "ok":
            return f"{TOO_FEW} ({self.n_positive} positives, {self.n_negative} negatives; {MIN_COUNT} of each needed)"
        if math.isnan(self.value):
            return "n/a"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def estimate_metrics(y_true: ArrayLike, prob: ArrayLike, groups: ArrayLike, *, fprs=(0.01, 0.05),
                     n_draws: int = 500, seed: int = 0) -> dict[str, Estimate]:
    """AUROC, average precision, Brier score, ECE and detection rates at fixed FPRs, with intervals.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 = positive (AI, or a confirmed concern), 0 = human.
    prob : array-like of shape (n,)
        Predicted probability of a positive, in [0, 1].
    groups : array-like of shape (n,)
        Artist of each item: the bootstrap resamples whole artists.

    Returns
    -------
    dict of str to Estimate
        ``auroc`` (0.5 is chance, higher is better), ``average_precision`` (higher is
        better), ``brier_score`` and ``ece`` (lower is better), ``tpr_at_fpr_{k}pct``
        (higher is better); all in [0, 1].
    """
    y = np.asarray(y_true, dtype=bool)
    p = np.asarray(prob, dtype=np.float64)
    n_positive, n_negative = int(y.sum()), int((~y).sum())
    names = ["auroc", "average_precision", "brier_score", "ece", *(f"tpr_at_fpr_{100 * f:g}pct" for f in fprs)]
    if min(n_positive, n_negative) < MIN_COUNT:
        nan = float("nan")
        return {name: Estimate(nan, nan, nan, n_positive, n_negative, TOO_FEW) for name in names}
    points = summarise(y.astype(int), p, fprs=fprs)
    weights = cluster_weights(np.asarray(groups), y, n_draws, np.random.default_rng(seed))
    draws = {
        "auroc": weighted_auroc(y, p, weights),
        "average_precision": weighted_average_precision(y, p, weights),
        "brier_score": (weights @ np.square(p - y)) / weights.sum(axis=1),
        "ece": weighted_ece(y, p, weights, n_bins=15),
        **{f"tpr_at_fpr_{100 * f:g}pct": weighted_tpr_at_fpr(y, p, weights, f) for f in fprs},
    }
    return {name: Estimate(float(points[name]), *interval(draws[name], float(points[name])),
                           n_positive, n_negative, "ok") for name in names}


def flat_estimates(prefix: str, estimates: dict[str, Estimate]) -> dict[str, float]:
    """MLflow-ready numbers: ``{prefix}_{name}`` with ``_low``/``_high`` (omitted when too few),
    and ``{prefix}_n_positive`` / ``{prefix}_n_negative`` always."""
    flat: dict[str, float] = {}
    for name, estimate in estimates.items():
        if estimate.status == "ok":
            flat.update({f"{prefix}_{name}": estimate.value, f"{prefix}_{name}_low": estimate.low,
                         f"{prefix}_{name}_high": estimate.high})
    first = next(iter(estimates.values()))
    flat.update({f"{prefix}_n_positive": float(first.n_positive), f"{prefix}_n_negative": float(first.n_negative)})
    return flat
