"""One-dimensional calibrators: a detector's raw score -> a probability.

Fitted on out-of-fold scores (every labelled item scored by a head that never saw its
artist), so calibration uses all the labelled data without judging a head on its own
training items. Three maps, each monotone (they never reorder items):

* ``sigmoid`` (Platt): ``P = 1 / (1 + exp(-(a * s + b)))``; two parameters, safe on
  small sets.
* ``isotonic``: a non-decreasing step function; flexible, overfits small sets.
* ``temperature``: ``P = 1 / (1 + exp(-s / T))``; one parameter, keeps the head's intercept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = ["METHODS", "ScoreCalibrator", "fit_calibrator"]

METHODS = ("sigmoid", "isotonic", "temperature")


@dataclass
class ScoreCalibrator:
    """A fitted monotone map from raw scores to P(positive) in [0, 1]."""

    method: str
    model: object

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """P(positive) in [0, 1] for raw scores (higher score, higher probability)."""
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        if self.method == "isotonic":
            return np.clip(self.model.predict(s), 0.0, 1.0)
        if self.method == "temperature":
            return 1.0 / (1.0 + np.exp(-s / float(self.model)))
        return self.model.predict_proba(s.reshape(-1, 1))[:, 1]


def fit_calibrator(scores: np.ndarray, y: np.ndarray, method: str) -> ScoreCalibrator:
    """Fit ``method`` (one of :data:`METHODS`) on raw scores and 0/1 labels.

    Raises
    ------
    ValueError
        Unknown method, or labels without both classes.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=int).reshape(-1)
    if method not in METHODS:
        raise ValueError(f"calibration method {method!r}; allowed: {', '.join(METHODS)}")
    if len(np.unique(y)) < 2:
        raise ValueError(f"calibration needs both classes; got {len(y)} items of class {np.unique(y)}")
    if method == "isotonic":
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
    elif method == "temperature":
        def nll(log_t: float) -> float:
            z = s / np.exp(log_t)
            return float(np.sum(np.logaddexp(0.0, z) - y * z))

        model = float(np.exp(minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x))
    else:
        model = LogisticRegression(C=1e6, max_iter=1000).fit(s.reshape(-1, 1), y)
    return ScoreCalibrator(method, model)
