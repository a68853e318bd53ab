"""Probabilities for the platform's base rate: Bayes' prior shift and its EM estimate."""

from __future__ import annotations

import numpy as np
import pytest

from slopscore.model.base_rate import estimate_base_rate, logit, shift_prior


def _calibrated(rng, n, rate, separation=2.5):
    """Labels at ``rate`` and probabilities calibrated for an even (50/50) share."""
    y = rng.random(n) < rate
    scores = rng.normal(np.where(y, separation / 2, -separation / 2), 1.0)
    # exact posterior for equal priors: logit = separation * score
    return y, 1 / (1 + np.exp(-separation * scores))


def test_shifting_to_the_true_share_calibrates_and_keeps_the_order():
    rng = np.random.default_rng(0)
    y, p_even = _calibrated(rng, 200_000, 0.05)
    p = shift_prior(p_even, 0.5, 0.05)
    assert np.array_equal(np.argsort(p, kind="stable"), np.argsort(p_even, kind="stable"))
    assert p.mean() == pytest.approx(y.mean(), abs=0.003)
    assert p_even.mean() > 3 * y.mean()  # the balanced probabilities overstate every item's risk
    high = p > 0.5
    assert y[high].mean() == pytest.approx(p[high].mean(), abs=0.03)


def test_shift_is_invertible_keeps_nan_and_refuses_impossible_rates():
    p = np.array([0.01, 0.3, 0.9, np.nan])
    back = shift_prior(shift_prior(p, 0.5, 0.02), 0.02, 0.5)
    np.testing.assert_allclose(back[:3], p[:3], rtol=1e-9)
    assert np.isnan(back[3])
    np.testing.assert_array_equal(shift_prior(p[:3], 0.4, 0.4), p[:3])
    with pytest.raises(ValueError, match="to_rate must be strictly between 0 and 1; got 1.0"):
        shift_prior(p, 0.5, 1.0)


def test_em_recovers_the_share_of_unlabelled_items():
    rng = np.random.default_rng(1)
    for rate in (0.02, 0.1, 0.4):
        y, p_even = _calibrated(rng, 50_000, rate)
        estimate = estimate_base_rate(p_even, 0.5)
        assert estimate.converged and estimate.n_items == 50_000
        assert estimate.rate == pytest.approx(rate, abs=0.01)
        assert abs(p_even.mean() - rate) > abs(estimate.rate - rate)  # better than the naive mean


def test_em_ignores_missing_values_and_explains_empty_input():
    assert estimate_base_rate([0.2, np.nan, 0.2], 0.5).n_items == 2
    with pytest.raises(ValueError, match="no finite probabilities"):
        estimate_base_rate([np.nan], 0.5)
    assert logit([0.0, 1.0]).tolist() == pytest.approx([-13.8155, 13.8155], abs=1e-3)
