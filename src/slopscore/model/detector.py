"""P(AI-generated) from image embeddings: a logistic head, calibrated on held-out artists.

:class:`AIDetector` follows scikit-learn's estimator conventions: constructor
arguments are stored verbatim, validation happens in ``fit``, learned state ends
in ``_``, ``fit`` returns ``self``, and ``predict_proba`` checks it is fitted.

Every split is grouped by artist: the regularisation strength is chosen by
grouped cross-validation on the fitting artists, and the calibrator is fitted on
*other* artists' works, so no artist's style leaks from fitting into calibration.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, GroupShuffleSplit
from sklearn.utils.validation import check_is_fitted

__all__ = ["AIDetector", "SplitError", "grouped_split"]


class SplitError(ValueError):
    """Labelled data cannot be split by artist as requested."""


def grouped_split(
    y: np.ndarray, groups: np.ndarray, test_fraction: float, *, random_state: int = 0,
    max_tries: int = 50,
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so that no group (artist) is on both sides and both sides hold every class.

    Returns
    -------
    (first, second) : tuple of int arrays
        Disjoint index arrays; ``second`` holds about ``test_fraction`` of the groups.

    Raises
    ------
    SplitError
        When no split with both classes on each side is found.
    """
    y = np.asarray(y)
    groups = _first_appearance_codes(groups)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise SplitError(f"need at least 2 artists to split by artist, got {n_groups}")
    splitter = GroupShuffleSplit(n_splits=max_tries, test_size=test_fraction,
                                 random_state=random_state)
    classes = np.unique(y)
    for first, second in splitter.split(y, y, groups):
        if len(np.unique(y[first])) == len(np.unique(y[second])) == len(classes):
            return first, second
    counts = ", ".join(f"{c}: {int((y == c).sum())}" for c in classes)
    raise SplitError(
        f"no split of {n_groups} artists puts every class on both sides in {max_tries} "
        f"tries (items per class {counts}); more artists with each kind of work are needed"
    )


def _first_appearance_codes(groups) -> np.ndarray:
    """Integer group codes in order of first appearance, so splits never depend on id spelling."""
    _, first_index, inverse = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
    rank = np.empty(len(first_index), dtype=np.int64)
    rank[np.argsort(first_index)] = np.arange(len(first_index))
    return rank[inverse]


class AIDetector(ClassifierMixin, BaseEstimator):
    """Calibrated P(AI) from L2-normalised embeddings.

    Parameters
    ----------
    Cs : sequence of float
        Inverse regularisation strengths tried by grouped cross-validation.
    n_splits : int
        Folds (by artist) for choosing ``C``; reduced when there are fewer artists.
    calibration : {"auto", "sigmoid", "isotonic", "temperature"}
        ``auto``: sigmoid (Platt) below ``isotonic_min_samples`` calibration
        samples, isotonic at or above (isotonic overfits small sets).
    calibration_fraction : float
        Share of artists held out from fitting to fit the calibrator.
    isotonic_min_samples : int
    class_weight : {"balanced", None}
        Passed to the logistic head; calibration restores true probabilities.
    random_state : int

    Attributes
    ----------
    C_ : float
        The chosen regularisation strength.
    calibration_method_ : str
    n_fit_, n_calibration_ : int
        Samples used for fitting and for calibration (disjoint artists).
    classes_ : ndarray of shape (2,)
        ``[0, 1]``: 1 means AI-generated (``ai_assisted`` or ``ai_slop``).
    """

    def __init__(self, Cs=(0.01, 0.1, 1.0, 10.0, 100.0), n_splits=5, calibration="auto",
                 calibration_fraction=0.3, isotonic_min_samples=1000,
                 class_weight="balanced", random_state=0):
        self.Cs = Cs
        self.n_splits = n_splits
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.isotonic_min_samples = isotonic_min_samples
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X, y, groups):
        """Fit the head on some artists and calibrate it on the others.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : array of shape (n_samples,)
            1 for AI (assisted or slop), 0 for human.
        groups : array of shape (n_samples,)
            Artist ids; no artist is split across fitting and calibration.
        """
        X, y, groups = self._validate(X, y, groups)
        groups = _first_appearance_codes(groups)
        if self.calibration not in {"auto", "sigmoid", "isotonic", "temperature"}:
            raise ValueError(
                f"calibration={self.calibration!r}; allowed: auto, sigmoid, isotonic, temperature"
            )
        fit_idx, cal_idx = grouped_split(y, groups, self.calibration_fraction,
                                         random_state=self.random_state)
        self.C_ = self._choose_c(X[fit_idx], y[fit_idx], groups[fit_idx])
        head = self._head(self.C_).fit(X[fit_idx], y[fit_idx])
        method = self.calibration
        if method == "auto":
            method = "isotonic" if len(cal_idx) >= self.isotonic_min_samples else "sigmoid"
        self.calibrated_ = CalibratedClassifierCV(FrozenEstimator(head), method=method)
        with warnings.catch_warnings():
            # A frozen head is calibrated on all given data; sklearn still checks fold sizes.
            warnings.filterwarnings("ignore", message="The least populated class")
            self.calibrated_.fit(X[cal_idx], y[cal_idx])
        self.head_ = head
        self.calibration_method_ = method
        self.n_fit_, self.n_calibration_ = len(fit_idx), len(cal_idx)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def _validate(self, X, y, groups):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        groups = np.asarray(groups)
        if X.ndim != 2:
            raise ValueError(f"X has shape {X.shape}; expected (n_samples, n_features)")
        if not (len(X) == len(y) == len(groups)):
            raise ValueError(f"X has {len(X)} rows, y has {len(y)}, groups has {len(groups)}")
        if not np.all(np.isfinite(X)):
            raise ValueError(f"X has {int((~np.isfinite(X)).sum())} non-finite values")
        values = set(np.unique(y).tolist())
        if not values <= {0, 1} or len(values) < 2:
            raise ValueError(f"y must hold both 0 (human) and 1 (AI); got values {sorted(values)}")
        return X, y.astype(int), groups

    def _head(self, C: float) -> LogisticRegression:
        return LogisticRegression(C=C, class_weight=self.class_weight, max_iter=2000)

    def _choose_c(self, X, y, groups) -> float:
        """Regularisation with the best grouped-CV log loss (ties go to stronger regularisation)."""
        n_splits = min(self.n_splits, len(np.unique(groups)))
        if n_splits < 2 or len(self.Cs) == 1:
            return float(self.Cs[0])
        folds = [
            (train, test) for train, test in GroupKFold(n_splits=n_splits).split(X, y, groups)
            if len(np.unique(y[train])) == 2
        ]
        losses = []
        for C in self.Cs:
            loss = 0.0
            for train, test in folds:
                p = self._head(C).fit(X[train], y[train]).predict_proba(X[test])[:, 1]
                p = np.clip(p, 1e-6, 1 - 1e-6)
                loss -= float(np.sum(y[test] * np.log(p) + (1 - y[test]) * np.log(1 - p)))
            losses.append(loss)
        return float(self.Cs[int(np.argmin(losses))])

    def decision_function(self, X) -> np.ndarray:
        """Uncalibrated logit of the head; higher means more likely AI."""
        check_is_fitted(self, "calibrated_")
        return self.head_.decision_function(self._features(X))

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities, columns ``[P(human), P(AI)]``, each row summing to 1."""
        check_is_fitted(self, "calibrated_")
        return self.calibrated_.predict_proba(self._features(X))

    def predict_ai_probability(self, X) -> np.ndarray:
        """P(AI-generated) in [0, 1]; higher means more likely AI."""
        return self.predict_proba(X)[:, 1]

    def _features(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has shape {X.shape}; expected (n, {self.n_features_in_})")
        return X
