"""Training picks the triage combination: learned weights only when grouped CV shows them better."""

from __future__ import annotations

import numpy as np
import pandas as pd

from slopscore.config import load_settings
from slopscore.model.detector import AIDetector
from slopscore.model.scorer import Scorer, ScorerInfo
from slopscore.model.triage import TriageModel
from slopscore.training.calibration_check import calibration_summary
from slopscore.training.review_threshold import choose_review_threshold
from slopscore.training.triage_selection import choose_triage, out_of_fold_signals


def _frame(n=600, seed=0, duplicates_tell=False):
    """Labelled items of 60 artists; the embedding says a little, duplicates maybe a lot."""
    rng = np.random.default_rng(seed)
    artists = rng.integers(0, 60, n)
    y = rng.random(n) < 0.5
    X = rng.normal(size=(n, 16))
    X[:, 0] += np.where(y, 1.0, -1.0)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    dups = np.where(y & duplicates_tell, rng.integers(3, 12, n), 0) if duplicates_tell else rng.integers(0, 3, n)
    frame = pd.DataFrame({
        "item_id": [f"i{i}" for i in range(n)], "artist_id": [f"a{a}" for a in artists],
        "label": np.where(y, "ai_slop", "human"), "embedding": list(X),
        "near_duplicates": dups.astype(float), "portfolio_size": 20, "centroid_z": 0.0,
    })
    detector = AIDetector(Cs=(1.0,)).fit(X, y.astype(int), frame["artist_id"].to_numpy())
    return frame, detector


def _settings(**triage):
    return load_settings(None, {f"triage.{k}": v for k, v in triage.items()})


def test_too_few_decisions_keep_the_defaults_and_say_so():
    frame, detector = _frame(n=120)
    model = choose_triage(frame, detector, _settings(min_decisions=200))
    assert model.source == "default" and "learning needs 200" in model.selection


def test_defaults_stay_when_learning_does_not_beat_them():
    frame, detector = _frame(seed=1)
    model = choose_triage(frame, detector, _settings(min_decisions=100))
    assert model.source == "default"
    assert model.selection.startswith("defaults kept; grouped CV over 600 decisions: log loss")


def test_learned_weights_replace_the_defaults_when_they_are_better_out_of_fold():
    frame, detector = _frame(seed=2, duplicates_tell=True)
    model = choose_triage(frame, detector, _settings(min_decisions=100))
    assert model.source == "learned" and model.selection.startswith("learned; grouped CV")
    assert model.weights["near_duplicates"] > 0.6  # duplicates earned more than the default weight


def test_calibration_is_measured_out_of_fold_with_an_interval():
    frame, detector = _frame(seed=3)
    y = (frame["label"] == "ai_slop").to_numpy()
    summary = calibration_summary(detector, y)
    assert summary["n"] == len(frame) and summary["method"] == "sigmoid"
    assert summary["ece_low"] <= summary["ece"] <= summary["ece_high"] < 0.2
    assert summary["within_tolerance"] == (summary["ece_high"] <= 0.05)
    few = calibration_summary(AIDetector(Cs=(1.0,)).fit(np.stack(frame["embedding"][:100]), y[:100].astype(int),
                                                          frame["artist_id"][:100].to_numpy()), y[:100])
    assert few["n"] == 100 and few["within_tolerance"] is False  # too few items to quote percentages


def test_a_review_threshold_can_be_set_by_a_false_positive_rate_on_human_work():
    frame, detector = _frame(seed=4)
    scorer = Scorer(ScorerInfo("b", "b", "p", 16, "d", len(frame), base_rate=0.05), detector, TriageModel())
    fixed = choose_review_threshold(frame, scorer, _settings())
    assert fixed == (0.5, "fixed at 0.5")
    threshold, rule = choose_review_threshold(frame, scorer, _settings(review_threshold_rule="human_fpr",
                                                                      target_human_fpr=0.05))
    scores = scorer.triage.score(out_of_fold_signals(frame, detector), 0.05)
    human = (frame["label"] == "human").to_numpy()
    assert (scores[human] >= threshold).mean() <= 0.05 < (scores[human] >= threshold * 0.9).mean()
    assert rule.startswith("5% false positives on") and "out of fold" in rule
    few, _ = _frame(n=30, seed=5)
    small = Scorer(ScorerInfo("b", "b", "p", 16, "d", 30, base_rate=0.05),
                   AIDetector(Cs=(1.0,)).fit(np.stack(few["embedding"]), (few["label"] == "ai_slop").to_numpy().astype(int),
                                             few["artist_id"].to_numpy()), TriageModel())
    value, why = choose_review_threshold(few, small, _settings(review_threshold_rule="human_fpr"))
    assert value == 0.5 and "the FPR rule needs 20" in why
