"""Triage: one score with reasons; missing signals are neutral, provenance never lowers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from slopscore.model.triage import FEATURES, TriageModel, TriageSignals


def _signals(n=1, **overrides) -> TriageSignals:
    base = dict(
        p_ai=[0.5] * n, centroid_z=[0.0] * n, portfolio_size=[30] * n, near_duplicates=[0] * n,
        uploads_in_window=[1] * n, burst_ratio=[1.0] * n, file_says_ai=[False] * n,
        file_generator=[None] * n, declared_ai=[None] * n, has_process_notes=[None] * n,
        cross_account_posters=[0] * n,
    )
    base.update(overrides)
    return TriageSignals(**{k: np.asarray(v, dtype=object if k in {"file_generator", "declared_ai",
                                                                   "has_process_notes"} else None)
                            for k, v in base.items()})


def test_scores_are_probabilities_and_rise_with_p_ai():
    model = TriageModel()
    scores = model.score(_signals(3, p_ai=[0.1, 0.5, 0.95]))
    assert np.all((scores > 0) & (scores < 1)) and np.all(np.diff(scores) > 0)


def test_missing_signals_contribute_nothing():
    model = TriageModel()
    missing = _signals(p_ai=[None], centroid_z=[np.nan], near_duplicates=[np.nan], burst_ratio=[np.nan])
    assert np.all(model.contributions(missing) == 0)
    assert model.score(missing)[0] == pytest.approx(1 / (1 + np.exp(3.0)))


def test_provenance_never_lowers_the_score():
    model = TriageModel()
    rng = np.random.default_rng(0)
    n = 200
    common = dict(p_ai=rng.random(n), centroid_z=rng.normal(size=n) * 3,
                  near_duplicates=rng.integers(0, 9, n))
    without = model.score(_signals(n, **common, file_says_ai=[False] * n))
    with_meta = model.score(_signals(n, **common, file_says_ai=[True] * n, file_generator=["ComfyUI"] * n))
    assert np.all(with_meta > without)


def test_cross_account_duplicates_alone_do_not_raise_the_score():
    model = TriageModel()
    alone = _signals(2, cross_account_posters=[0, 7])
    scores = model.score(alone)
    assert scores[0] == scores[1]
    assert any("posted by 7 other accounts" in r for r in model.reasons(alone)[1])


def test_declared_ai_with_process_notes_lowers_the_score():
    model = TriageModel()
    scores = model.score(_signals(2, p_ai=[0.9, 0.9], declared_ai=[False, True], has_process_notes=[False, True]))
    assert scores[1] < scores[0]


def test_reasons_name_the_signals_that_moved_the_score():
    model = TriageModel()
    signals = _signals(
        3,
        p_ai=[0.5, 0.5, 0.97],
        centroid_z=[6.0, 0.0, 0.0],
        near_duplicates=[0, 9, 0],
        uploads_in_window=[1, 10, 1],
        burst_ratio=[1.0, 10.0, 1.0],
    )
    reasons = model.reasons(signals)
    assert reasons[0][0].startswith("unlike this artist's 30 earlier works")
    assert reasons[1][0] == "9 near-identical uploads by the same artist recently"
    assert reasons[1][1] == "10 uploads in the last hour (10× this artist's usual rate)"
    assert reasons[2][0] == "detector: 97% likely AI-generated"
    # Taking away the first-named signal lowers the score by exactly its contribution.
    contributions = model.contributions(signals)
    calmer = dataclasses.replace(signals, centroid_z=np.array([0.0, 0.0, 0.0]))
    drop = np.log(model.score(signals)[0] / (1 - model.score(signals)[0])) - np.log(
        model.score(calmer)[0] / (1 - model.score(calmer)[0]))
    assert drop == pytest.approx(contributions[0, FEATURES.index("portfolio_outlier")])


def test_cold_start_is_a_note_not_a_distance():
    model = TriageModel()
    reasons = model.reasons(_signals(portfolio_size=[2], centroid_z=[np.nan]))[0]
    assert reasons == ["new artist: 2 earlier works, too few to compare"]


def test_learned_weights_keep_their_signs_and_fit_the_decisions():
    rng = np.random.default_rng(1)
    n = 2000
    p_ai = rng.random(n)
    file_says = rng.random(n) < 0.2
    dup = rng.integers(0, 5, n)
    signals = _signals(n, p_ai=p_ai, file_says_ai=file_says, near_duplicates=dup,
                       centroid_z=rng.normal(size=n))
    true_logit = -2 + 3 * np.log(p_ai / (1 - p_ai)) / 4 + 1.0 * np.log1p(dup)
    violation = rng.random(n) < 1 / (1 + np.exp(-true_logit))
    model = TriageModel.fit(signals, violation)
    assert model.source == "learned" and model.n_decisions == n
    assert all(model.weights[f] >= 0 for f in FEATURES if f != "declared_with_notes")
    assert model.weights["declared_with_notes"] <= 0
    assert model.weights["ai_logit"] == pytest.approx(0.75, abs=0.15)
    assert model.weights["near_duplicates"] == pytest.approx(1.0, abs=0.25)
    # Calibrated on its own decisions: mean score ≈ observed rate.
    assert model.score(signals).mean() == pytest.approx(violation.mean(), abs=0.02)


def test_configured_weights_are_validated():
    assert TriageModel.from_config({"file_says_ai": 2.0}).weights["file_says_ai"] == 2.0
    with pytest.raises(ValueError, match="wrong sign.*file_says_ai >= 0"):
        TriageModel.from_config({"file_says_ai": -1.0})
    with pytest.raises(ValueError, match="unknown triage weights"):
        TriageModel.from_config({"vibes": 1.0})
