"""Probabilities for the platform's base rate, not the training set's.

A classifier calibrated on a roughly balanced training set reports P(AI) as if half of
all uploads were AI. A platform's uploads are mostly human (perhaps a few percent are
slop), so that number overstates the chance that a human artist's work is AI. Under
the usual label-shift assumption (the images of each class look the same on the
platform as in training; only the class shares differ), Bayes' rule moves a
probability from one prior to another by adding the difference of the priors' logits:

    logit P_platform = logit P_train - logit(train_rate) + logit(base_rate)

:func:`estimate_base_rate` estimates the platform's rate from unlabelled uploads with
the EM procedure of Saerens, Latinne and Decaestecker (2002), "Adjusting the outputs of
a classifier to new a priori probabilities: a simple procedure", Neural Computation 14.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["BaseRateEstimate", "estimate_base_rate", "logit", "shift_prior", "sigmoid"]

_EPS = 1e-6


def logit(p: ArrayLike) -> np.ndarray:
    """Log-odds of probabilities clipped to ``[1e-6, 1 - 1e-6]`` (finite for 0 and 1)."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(x: ArrayLike) -> np.ndarray:
    """The inverse of :func:`logit`, in [0, 1]."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def _check_rate(rate: float, name: str) -> float:
    rate = float(rate)
    if not 0.0 < rate < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1; got {rate}")
    return rate


def shift_prior(p: ArrayLike, from_rate: float, to_rate: float) -> np.ndarray:
    """Move probabilities made for a class share of ``from_rate`` to ``to_rate``.

    Parameters
    ----------
    p : array-like of float in [0, 1]
        Calibrated probabilities of the positive class (AI), for the training share.
        NaN stays NaN.
    from_rate, to_rate : float in (0, 1)
        Positive share the probabilities were calibrated for, and the share wanted.

    Returns
    -------
    ndarray of float in [0, 1]
        Higher = more likely positive; the order of items never changes. Equal rates
        return ``p`` unchanged.
    """
    from_rate = _check_rate(from_rate, "from_rate")
    to_rate = _check_rate(to_rate, "to_rate")
    p = np.asarray(p, dtype=np.float64)
    if from_rate == to_rate:
        return p.copy()
    shifted = sigmoid(logit(p) - logit(from_rate) + logit(to_rate))
    return np.where(np.isnan(p), np.nan, shifted)


@dataclass(frozen=True)
class BaseRateEstimate:
    """The EM estimate of a base rate and how it was reached.

    Attributes
    ----------
    rate : float
        Estimated positive share among the items, in (0, 1).
    n_items : int
        Finite probabilities the estimate used.
    iterations : int
    converged : bool
        False when ``max_iter`` was reached first.
    """

    rate: float
    n_items: int
    iterations: int
    converged: bool


def estimate_base_rate(p: ArrayLike, train_rate: float, *, start: float | None = None,
                       tol: float = 1e-6, max_iter: int = 1000) -> BaseRateEstimate:
    """Estimate the positive share of unlabelled items from calibrated probabilities (EM).

    Each step moves every probability from the training share to the current estimate
    (:func:`shift_prior`) and takes their mean as the next estimate, until it changes by
    less than ``tol``.

    Parameters
    ----------
    p : array-like of float in [0, 1]
        Calibrated probabilities for ``train_rate``; NaN entries are ignored.
    train_rate : float in (0, 1)
        Positive share the probabilities were calibrated for.
    start : float in (0, 1), optional
        First estimate; the mean of ``p`` by default.

    Raises
    ------
    ValueError
        No finite probability, or rates outside (0, 1).
    """
    train_rate = _check_rate(train_rate, "train_rate")
    values = np.asarray(p, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite probabilities to estimate a base rate from")
    rate = float(np.clip(values.mean() if start is None else _check_rate(start, "start"),
                         _EPS, 1 - _EPS))
    for iteration in range(1, max_iter + 1):
        updated = float(np.clip(shift_prior(values, train_rate, rate).mean(), _EPS, 1 - _EPS))
        if abs(updated - rate) < tol:
            return BaseRateEstimate(updated, int(values.size), iteration, True)
        rate = updated
    return BaseRateEstimate(rate, int(values.size), max_iter, False)
