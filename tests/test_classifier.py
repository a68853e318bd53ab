"""The calibrated detector: grouped splits, calibration, estimator conventions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import brier_score_loss

from slopscore.model.detector import AIDetector, SplitError, grouped_split


def _data(n=900, d=32, seed=0, n_artists=60, prevalence_shift=-1.5, scale=10.0):
    """Embeddings whose AI probability follows a logistic model; AI is the minority."""
    rng = np.random.default_rng(seed)
    groups = np.array([f"artist-{i}" for i in rng.integers(0, n_artists, n)])
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    direction = np.zeros(d)
    direction[0] = 1.0
    p = 1 / (1 + np.exp(-(scale * X @ direction + prevalence_shift)))
    y = (rng.random(n) < p).astype(int)
    return X, y, groups


def test_grouped_split_never_puts_an_artist_on_both_sides():
    X, y, groups = _data()
    for seed in range(10):
        first, second = grouped_split(y, groups, 0.3, random_state=seed)
        assert set(groups[first]).isdisjoint(groups[second])
        assert len(first) + len(second) == len(y)
        assert set(y[first]) == set(y[second]) == {0, 1}


def test_grouped_split_explains_impossible_requests():
    y = np.array([0, 0, 1, 1])
    with pytest.raises(SplitError, match="at least 2 artists"):
        grouped_split(y, np.array(["a"] * 4), 0.5)
    with pytest.raises(SplitError, match="items per class 0: 2, 1: 2"):
        grouped_split(y, np.array(["a", "a", "b", "b"]), 0.5)  # each artist holds one class


def test_calibration_lowers_the_brier_score_of_a_miscalibrated_head():
    X, y, groups = _data(n=3000, seed=1)
    train = np.isin(groups, np.unique(groups)[:40])
    model = AIDetector(class_weight="balanced").fit(X[train], y[train], groups[train])
    # The balanced head over-predicts the minority class; calibration must repair it.
    raw = model.head_.predict_proba(X[~train])[:, 1]
    calibrated = model.predict_ai_probability(X[~train])
    assert brier_score_loss(y[~train], calibrated) < brier_score_loss(y[~train], raw)
    assert abs(calibrated.mean() - y[~train].mean()) < abs(raw.mean() - y[~train].mean())


def test_probabilities_are_valid_and_rank_like_the_truth():
    X, y, groups = _data(seed=2)
    model = AIDetector().fit(X, y, groups)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.all((proba >= 0) & (proba <= 1))
    p_ai = model.predict_ai_probability(X)
    assert p_ai[y == 1].mean() > p_ai[y == 0].mean() + 0.2
    assert model.C_ in model.Cs and model.n_fit_ == len(X)


def test_every_labelled_item_helps_calibrate_and_its_check_is_out_of_fold():
    X, y, groups = _data(seed=2)
    model = AIDetector().fit(X, y, groups)
    assert model.n_calibration_ == len(X)  # cross-fitted: no items set aside
    assert model.train_prevalence_ == pytest.approx(y.mean()) and model.training_rate == model.train_prevalence_
    honest = model.oof_probability_
    assert np.isfinite(honest).all() and abs(honest.mean() - y.mean()) < 0.05
    # a head that saw the items is more confident on them than the out-of-fold check
    assert brier_score_loss(y, model.predict_ai_probability(X)) < brier_score_loss(y, honest)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
def test_each_calibration_method_can_be_chosen(method):
    X, y, groups = _data(seed=3)
    model = AIDetector(calibration=method).fit(X, y, groups)
    assert model.calibration_method_ == method
    assert np.all(np.isfinite(model.predict_ai_probability(X)))


def test_auto_calibration_switches_to_isotonic_with_enough_samples():
    X, y, groups = _data(seed=4)
    assert AIDetector().fit(X, y, groups).calibration_method_ == "sigmoid"
    assert AIDetector(isotonic_min_samples=10).fit(X, y, groups).calibration_method_ == "isotonic"


def test_renaming_artists_changes_nothing():
    X, y, groups = _data(seed=5)
    renamed = np.array(["x" + g[::-1] for g in groups])
    a = AIDetector().fit(X, y, groups).predict_ai_probability(X)
    b = AIDetector().fit(X, y, renamed).predict_ai_probability(X)
    assert np.array_equal(a, b)


def test_estimator_conventions():
    model = AIDetector(Cs=(0.5,), calibration="sigmoid")
    assert model.get_params()["Cs"] == (0.5,)
    with pytest.raises(NotFittedError):
        model.predict_proba(np.zeros((1, 3)))
    X, y, groups = _data(d=8, seed=6)
    assert model.fit(X, y, groups) is model and model.C_ == 0.5
    with pytest.raises(ValueError, match=r"expected \(n, 8\)"):
        model.predict_proba(np.zeros((2, 5)))


def test_bad_inputs_name_the_numbers():
    X, y, groups = _data(n=50, d=4)
    with pytest.raises(ValueError, match="X has 50 rows, y has 49"):
        AIDetector().fit(X, y[:-1], groups)
    with pytest.raises(ValueError, match="both 0 .human. and 1"):
        AIDetector().fit(X, np.zeros(50, int), groups)
    with pytest.raises(ValueError, match="calibration='beta'"):
        AIDetector(calibration="beta").fit(X, y, groups)
