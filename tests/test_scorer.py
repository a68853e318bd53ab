"""The scorer states P(AI) and the triage score for its base rate, and says which."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from slopscore.model.base_rate import logit
from slopscore.model.detector import AIDetector
from slopscore.model.scorer import Scorer, ScorerInfo
from slopscore.model.triage import TriageModel


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    n, d = 400, 8
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    detector = AIDetector(Cs=(1.0,)).fit(X, y, np.array([f"a{i % 40}" for i in range(n)]))
    frame = pd.DataFrame({"embedding": list(X[:50].astype(np.float32)), "portfolio_size": 20})
    return detector, frame


def _scorer(detector, base_rate, within_tolerance=False) -> Scorer:
    info = ScorerInfo("test:tiny-clip", "test:tiny-clip/seed0", "p", 8, "digest", 400, base_rate=base_rate,
                      calibration={"within_tolerance": within_tolerance})
    return Scorer(info, detector, TriageModel())


def test_probabilities_are_for_the_stated_base_rate(fitted):
    detector, frame = fitted
    raw = detector.predict_ai_probability(np.stack(frame["embedding"]))
    platform = _scorer(detector, 0.05).score_frame(frame)
    expected = 1 / (1 + np.exp(-(logit(raw) - logit(detector.train_prevalence_) + logit(0.05))))
    np.testing.assert_allclose(platform["p_ai"], expected, rtol=1e-9)
    assert (platform["p_ai"] < raw).mean() > 0.9  # a 50/50 training set overstated them
    rarer = _scorer(detector, 0.01).score_frame(frame)
    assert np.all(rarer["triage_score"] < platform["triage_score"])
    breakdown = json.loads(platform["breakdown"].iat[0])
    assert breakdown["intercept"] == pytest.approx(logit(0.05), abs=1e-4)
    total = sum(breakdown.values())
    assert 1 / (1 + np.exp(-total)) == pytest.approx(platform["triage_score"].iat[0], abs=1e-3)


def test_percentages_are_quoted_only_when_calibration_was_within_tolerance(fitted):
    detector, frame = fitted
    words = _scorer(detector, 0.05).score_frame(frame)["reasons"].map(json.loads)
    assert not any("%" in r for reasons in words for r in reasons)
    quoted = _scorer(detector, 0.05, within_tolerance=True).score_frame(frame)["reasons"].map(json.loads)
    assert any("(for a 5% base rate)" in r for reasons in quoted for r in reasons)


def test_a_scorer_saved_without_a_base_rate_keeps_its_training_probabilities(fitted, tmp_path):
    detector, frame = fitted
    old = dataclasses.replace(_scorer(detector, 0.05).info, base_rate=None)
    scored = Scorer(old, detector, TriageModel()).score_frame(frame)
    np.testing.assert_allclose(scored["p_ai"], detector.predict_ai_probability(np.stack(frame["embedding"])))
    again = Scorer.load(Scorer(old, detector, TriageModel()).save(tmp_path / "s"))
    assert again.info.base_rate is None
