"""P(AI-generated) from image embeddings: a logistic head, calibrated on held-out artists.

:class:`AIDetector` follows scikit-learn's estimator conventions: constructor
arguments are stored verbatim, validation happens in ``fit``, learned state ends
in ``_``, ``fit`` returns ``self``, and ``predict_proba`` checks it is fitted.

Every split is grouped by artist: the regularisation strength is chosen by grouped
cross-validation, and the calibrator is *cross-fitted*: each item's score comes from a
head fitted on other artists' works, so every labelled item helps calibrate and no
artist's style leaks from fitting into calibration. The probabilities are for the
training set's AI share (:attr:`AIDetector.train_prevalence_`); the scorer moves them to
the platform's base rate.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, GroupShuffleSplit
from sklearn.utils.validation import check_is_fitted

from slopscore.model.calibrators import METHODS, fit_calibrator

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
        Folds (by artist) for choosing ``C`` and for cross-fitting the calibrator;
        reduced when there are fewer artists.
    calibration : {"auto", "sigmoid", "isotonic", "temperature"}
        ``auto``: sigmoid (Platt) below ``isotonic_min_samples`` calibration
        samples, isotonic at or above (isotonic overfits small sets).
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
        Samples the final head was fitted on, and out-of-fold scores the calibrator was
        fitted on (cross-fitted: every labelled item whose artist could be held out).
    train_prevalence_ : float
        Share of AI among the calibration items: the base rate :meth:`predict_proba`
        is calibrated for (see :func:`slopscore.model.base_rate.shift_prior`).
    oof_probability_ : ndarray of shape (n_samples,)
        Calibrated P(AI) of each fitting item from a head and a calibrator that never saw
        its artist (NaN where its fold could not be fitted): an honest calibration check.
    classes_ : ndarray of shape (2,)
        ``[0, 1]``: 1 means AI-generated (``ai_assisted`` or ``ai_slop``).
    """

    def __init__(self, Cs=(0.01, 0.1, 1.0, 10.0, 100.0), n_splits=5, calibration="auto",
                 isotonic_min_samples=1000, class_weight="balanced", random_state=0):
        self.Cs = Cs
        self.n_splits = n_splits
        self.calibration = calibration
        self.isotonic_min_samples = isotonic_min_samples
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X, y, groups):
        """Fit the head on every artist and its calibrator on out-of-fold scores.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : array of shape (n_samples,)
            1 for AI (assisted or slop), 0 for human.
        groups : array of shape (n_samples,)
            Artist ids; no artist's works are scored by a head fitted on them.

        Raises
        ------
        SplitError
            Fewer than 2 artists, or no fold whose fitting side holds both classes.
        """
        X, y, groups = self._validate(X, y, groups)
        groups = _first_appearance_codes(groups)
        if self.calibration not in {"auto", *METHODS}:
            raise ValueError(
                f"calibration={self.calibration!r}; allowed: auto, sigmoid, isotonic, temperature"
            )
        self.C_ = self._choose_c(X, y, groups)
        folds = self._folds(y, groups)
        oof = np.full(len(y), np.nan)
        for fit_rows, held_rows in folds:
            oof[held_rows] = self._head(self.C_).fit(X[fit_rows], y[fit_rows]).decision_function(X[held_rows])
        scored = np.isfinite(oof)
        if len(np.unique(y[scored])) < 2:
            raise SplitError(f"only {int(scored.sum())} items could be scored out of fold, not both classes")
        method = self.calibration
        if method == "auto":
            method = "isotonic" if scored.sum() >= self.isotonic_min_samples else "sigmoid"
        self.head_ = self._head(self.C_).fit(X, y)
        self.calibrator_ = fit_calibrator(oof[scored], y[scored], method)
        self.oof_probability_ = self._nested_calibrated(oof, y, folds, method)
        self.calibration_method_ = method
        self.n_fit_, self.n_calibration_ = len(y), int(scored.sum())
        self.train_prevalence_ = float(y[scored].mean())
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def _folds(self, y, groups) -> list[tuple[np.ndarray, np.ndarray]]:
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise SplitError(f"need at least 2 artists to cross-fit a calibrator, got {n_groups}")
        splitter = GroupKFold(n_splits=min(self.n_splits, n_groups))
        folds = [(fit, held) for fit, held in splitter.split(y, y, groups) if len(np.unique(y[fit])) == 2]
        if not folds:
            raise SplitError("no artist-grouped fold leaves both classes to fit the head on")
        return folds

    @staticmethod
    def _nested_calibrated(oof: np.ndarray, y: np.ndarray, folds, method: str) -> np.ndarray:
        """Each fold's out-of-fold scores calibrated by a calibrator fitted on the other folds."""
        probability = np.full(len(y), np.nan)
        for _, held_rows in folds:
            others = np.isfinite(oof)
            others[held_rows] = False
            if len(np.unique(y[others])) == 2:
                probability[held_rows] = fit_calibrator(oof[others], y[others], method).predict(oof[held_rows])
        return probability

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
        check_is_fitted(self, "head_")
        return self.head_.decision_function(self._features(X))

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities for :attr:`train_prevalence_`, columns ``[P(human), P(AI)]``."""
        check_is_fitted(self, "head_")
        if "calibrator_" not in self.__dict__:  # pickled before cross-fitting: a frozen-head calibrator
            return self.calibrated_.predict_proba(self._features(X))
        p = self.calibrator_.predict(self.head_.decision_function(self._features(X)))
        return np.column_stack([1.0 - p, p])

    @property
    def training_rate(self) -> float | None:
        """The AI share the probabilities are calibrated for; None for detectors pickled before it was kept."""
        return self.__dict__.get("train_prevalence_")

    def predict_ai_probability(self, X) -> np.ndarray:
        """P(AI-generated) in [0, 1]; higher means more likely AI."""
        return self.predict_proba(X)[:, 1]

    def _features(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has shape {X.shape}; expected (n, {self.n_features_in_})")
        return X
