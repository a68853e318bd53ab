"""Triage: one score with reasons, for the platform's base rate; context never convicts alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from slopscore.model.base_rate import logit
from slopscore.model.triage import DEFAULT_BASE_RATE, DEFAULT_WEIGHTS, FEATURES, TriageModel, TriageSignals

THRESHOLD = 0.5
_OBJECT = {"file_generator", "declared_ai", "has_process_notes", "provenance_source", "c2pa_verified"}


def _signals(n=1, **overrides) -> TriageSignals:
    base = dict(
        p_ai=[0.5] * n, centroid_z=[0.0] * n, portfolio_size=[30] * n, near_duplicates=[0] * n,
        uploads_in_window=[1] * n, burst_ratio=[1.0] * n, file_says_ai=[False] * n,
        file_generator=[None] * n, declared_ai=[None] * n, has_process_notes=[None] * n,
        cross_account_posters=[0] * n, ai_evidence=[0.0] * n, provenance_source=[None] * n,
        c2pa_verified=[None] * n,
    )
    base.update(overrides)
    return TriageSignals(**{k: np.asarray(v, dtype=object if k in _OBJECT else None) for k, v in base.items()})


def _random_context(rng, n, **fixed):
    """Any amount of context: distance from the portfolio, near-duplicates, bursts, new accounts."""
    history = rng.random(n) < 0.5
    return _signals(
        n, centroid_z=rng.exponential(5, n), near_duplicates=rng.integers(0, 40, n),
        uploads_in_window=rng.integers(1, 60, n),
        burst_ratio=np.where(history, rng.exponential(20, n), np.nan),
        portfolio_size=np.where(history, rng.integers(0, 50, n), 0), **fixed,
    )


def _calm(signals: TriageSignals) -> TriageSignals:
    n = len(signals)
    return dataclasses.replace(signals, centroid_z=np.zeros(n), near_duplicates=np.zeros(n),
                               uploads_in_window=np.ones(n), burst_ratio=np.ones(n))


def test_scores_are_probabilities_that_rise_with_the_detector_evidence():
    scores = TriageModel().score(_signals(3, ai_evidence=[-3.0, 0.0, 5.0]))
    assert np.all((scores > 0) & (scores < 1)) and np.all(np.diff(scores) > 0)


def test_an_item_with_no_signal_scores_the_base_rate():
    model = TriageModel()
    missing = _signals(p_ai=[None], ai_evidence=[np.nan], centroid_z=[np.nan], near_duplicates=[np.nan],
                       burst_ratio=[np.nan], uploads_in_window=[np.nan])
    assert np.all(model.contributions(missing) == 0)
    for rate in (0.01, DEFAULT_BASE_RATE, 0.3):
        assert model.score(missing, rate)[0] == pytest.approx(rate)


def test_context_alone_never_lifts_a_work_the_detector_and_file_call_human():
    """Property: with detector evidence <= 0 and no provenance, any context changes nothing."""
    model = TriageModel()
    rng = np.random.default_rng(0)
    n = 2000
    evidence = -rng.exponential(2, n)
    busy = _random_context(rng, n, ai_evidence=evidence)
    with_context, without = model.score(busy), model.score(_calm(busy))
    np.testing.assert_array_equal(with_context, without)
    assert with_context.max() < THRESHOLD
    assert not any("usual rate" in r or "new account" in r
                   for reasons in model.reasons(busy) for r in reasons)


def test_a_new_human_artists_backlog_stays_below_the_threshold():
    model = TriageModel()  # counts up to twice what a new account ordinarily posts in its first hour
    backlog = _signals(30, ai_evidence=np.linspace(-4, 0.5, 30), uploads_in_window=np.arange(2, 62, 2),
                       burst_ratio=[np.nan] * 30, portfolio_size=[0] * 30, centroid_z=[np.nan] * 30)
    assert model.score(backlog).max() < THRESHOLD


def test_context_adds_weight_only_as_far_as_the_image_points_to_ai():
    model = TriageModel()
    evidence = np.array([-1.0, 0.5, 1.0, 2.0, 4.0])
    burst = _signals(5, ai_evidence=evidence, uploads_in_window=[20] * 5, burst_ratio=[20.0] * 5)
    lift = logit(model.score(burst)) - logit(model.score(_calm(burst)))
    assert lift[0] == 0 and np.all(np.diff(lift) >= -1e-9) and lift[3] == pytest.approx(lift[4]) and lift[3] > 0


def test_a_new_account_is_judged_against_new_accounts_not_its_own_rate():
    model = TriageModel(new_account_usual_uploads=10)
    signals = _signals(3, ai_evidence=[4.0] * 3, uploads_in_window=[8, 40, 40],
                       burst_ratio=[np.nan, np.nan, 40.0], portfolio_size=[0, 0, 20])
    contributions = model.contributions(signals)
    burst, new = FEATURES.index("upload_burst"), FEATURES.index("new_account_burst")
    assert contributions[0, new] == 0  # 8 uploads is what new accounts usually do
    assert contributions[1, new] > 0 and contributions[1, burst] == 0
    assert contributions[2, burst] > contributions[1, new]
    reasons = model.reasons(signals)
    assert any(r.startswith("40 uploads in the last hour from a new account") for r in reasons[1])
    assert not any("usual rate" in r for r in reasons[0] + reasons[1])
    assert "40 uploads in the last hour (40× this artist's usual rate)" in reasons[2]


def test_a_file_that_says_a_generator_made_it_ranks_above_every_equal_item_without_metadata():
    model = TriageModel()
    rng = np.random.default_rng(1)
    n = 500
    common = dict(ai_evidence=rng.normal(0, 3, n), centroid_z=rng.exponential(3, n),
                  near_duplicates=rng.integers(0, 9, n))
    without = model.score(_signals(n, **common))
    with_meta = model.score(_signals(n, **common, file_says_ai=[True] * n, file_generator=["ComfyUI"] * n,
                                     provenance_source=["comfyui"] * n))
    assert np.all(with_meta > without)


def test_credentials_changed_after_signing_weigh_less_than_valid_ones_but_never_lower():
    model = TriageModel()
    signals = _signals(3, ai_evidence=[0.0] * 3, file_says_ai=[False, True, True],
                       provenance_source=[None, "c2pa", "c2pa"], c2pa_verified=[None, False, True])
    none, tampered, valid = model.score(signals)
    assert none < tampered < valid
    assert "failed validation" in model.reasons(signals)[1][0]


def test_cross_account_duplicates_alone_do_not_raise_the_score():
    model = TriageModel()
    alone = _signals(2, cross_account_posters=[0, 7])
    scores = model.score(alone)
    assert scores[0] == scores[1]
    assert any("posted by 7 other accounts" in r for r in model.reasons(alone)[1])


def test_only_distance_beyond_the_artists_usual_variation_counts():
    model = TriageModel()
    signals = _signals(4, ai_evidence=[3.0] * 4, centroid_z=[-2.0, 0.5, 1.0, 4.0])
    outlier = model.contributions(signals)[:, FEATURES.index("portfolio_outlier")]
    assert list(outlier[:3]) == [0, 0, 0] and outlier[3] == pytest.approx(DEFAULT_WEIGHTS["portfolio_outlier"] * 3)


def test_a_reposted_images_distance_from_the_posters_portfolio_does_not_count():
    """A repost is expected to be unlike the poster's own works: the distance is no evidence."""
    model = TriageModel()
    signals = _signals(3, ai_evidence=[3.0] * 3, centroid_z=[6.0, 6.0, 0.0], cross_account_posters=[0, 4, 4])
    own, repost, typical_repost = model.score(signals)
    assert own > repost == typical_repost
    outlier = FEATURES.index("portfolio_outlier")
    assert model.contributions(signals)[1, outlier] == 0
    assert not any("unlike this artist" in r for r in model.reasons(signals)[1])


def test_declared_ai_with_process_notes_lowers_the_score():
    model = TriageModel()
    scores = model.score(_signals(2, ai_evidence=[3.0, 3.0], declared_ai=[False, True],
                                  has_process_notes=[False, True]))
    assert scores[1] < scores[0]


def test_the_base_rate_moves_every_score_without_reordering():
    model = TriageModel()
    signals = _random_context(np.random.default_rng(2), 300, ai_evidence=np.random.default_rng(3).normal(0, 3, 300))
    low, high = model.score(signals, 0.01), model.score(signals, 0.2)
    assert np.all(low < high)
    np.testing.assert_array_equal(np.argsort(low, kind="stable"), np.argsort(high, kind="stable"))


def test_reasons_quote_percentages_only_when_allowed_and_name_the_base_rate():
    model = TriageModel()
    signals = _signals(2, p_ai=[0.62, 0.02], ai_evidence=[5.0, -3.0])
    words = model.reasons(signals)
    assert words[0][0] == "detector: image looks strongly AI-like"
    assert words[1][0] == "detector: image looks human-like"
    quoted = model.reasons(signals, base_rate=0.05, quote_percent=True)
    assert quoted[0][0] == "detector: 62% likely AI-generated (for a 5% base rate)"


def test_reasons_name_the_signals_that_moved_the_score():
    model = TriageModel()
    signals = _signals(2, ai_evidence=[3.0, 3.0], centroid_z=[8.0, 0.0], near_duplicates=[0, 9])
    reasons = model.reasons(signals)
    assert any(r.startswith("unlike this artist's 30 earlier works") for r in reasons[0])
    assert "9 near-identical uploads by the same artist recently" in reasons[1]
    # Taking away a named signal lowers the logit by exactly its contribution.
    calmer = dataclasses.replace(signals, centroid_z=np.zeros(2))
    drop = logit(model.score(signals))[0] - logit(model.score(calmer))[0]
    assert drop == pytest.approx(model.contributions(signals)[0, FEATURES.index("portfolio_outlier")])


def test_cold_start_is_a_note_not_a_distance():
    reasons = TriageModel().reasons(_signals(portfolio_size=[2], centroid_z=[np.nan], burst_ratio=[np.nan]))[0]
    assert reasons == ["new artist: 2 earlier works, too few to compare"]


def test_an_account_with_earlier_uploads_is_not_called_new():
    # Earlier uploads (so a usual rate) but too few accepted works for a portfolio.
    reasons = TriageModel().reasons(_signals(portfolio_size=[0], centroid_z=[np.nan], burst_ratio=[1.0]))[0]
    assert reasons == ["0 earlier accepted works, too few to compare with"]


def test_learned_weights_keep_their_signs_and_their_offset_is_free_of_the_training_share():
    rng = np.random.default_rng(4)
    n = 4000
    evidence = rng.normal(0, 2, n)
    file_says = rng.random(n) < 0.2
    dup = rng.integers(0, 5, n)
    signals = _signals(n, ai_evidence=evidence, file_says_ai=file_says, near_duplicates=dup)
    gate = np.clip(np.maximum(evidence, 0) / 2.0 + file_says, 0, 1)
    true_logit = 0.75 * evidence + 1.0 * gate * np.log1p(dup) + 1.5 * file_says
    violation = rng.random(n) < 1 / (1 + np.exp(-true_logit))
    model = TriageModel.fit(signals, violation)
    assert model.source == "learned" and model.n_decisions == n
    assert all(model.weights[f] >= 0 for f in FEATURES if f != "declared_with_notes")
    assert model.weights["declared_with_notes"] <= 0
    assert model.weights["ai_evidence"] == pytest.approx(0.75, abs=0.1)
    assert model.weights["near_duplicates"] == pytest.approx(1.0, abs=0.3)
    # At the decisions' own share it reproduces their rate; at a 5% base rate it predicts far fewer.
    assert model.score(signals, violation.mean()).mean() == pytest.approx(violation.mean(), abs=0.02)
    assert model.score(signals, 0.05).mean() < 0.2


def test_configured_weights_are_validated():
    assert TriageModel.from_config({"file_says_ai": 2.0}).weights["file_says_ai"] == 2.0
    with pytest.raises(ValueError, match="wrong sign.*file_says_ai >= 0"):
        TriageModel.from_config({"file_says_ai": -1.0})
    with pytest.raises(ValueError, match="unknown triage weights"):
        TriageModel.from_config({"ai_logit": 1.0})
    with pytest.raises(ValueError, match="new_account_usual_uploads"):
        TriageModel(new_account_usual_uploads=0)


def test_fixed_weights_are_held_while_the_others_are_fitted():
    rng = np.random.default_rng(5)
    n = 2000
    signals = _signals(n, ai_evidence=rng.normal(0, 2, n), uploads_in_window=rng.integers(1, 30, n),
                       burst_ratio=rng.exponential(5, n))
    truth = TriageModel({**DEFAULT_WEIGHTS, "intercept": 0.0, "ai_evidence": 1.0, "upload_burst": 0.5,
                         "file_says_ai": 0.0, "declared_with_notes": 0.0})
    violation = rng.random(n) < truth.score(signals, 0.5)
    model = TriageModel.fit(signals, violation, fixed={"upload_burst": 0.5, "near_duplicates": 0.6})
    assert model.weights["upload_burst"] == 0.5 and model.weights["near_duplicates"] == 0.6
    assert model.weights["ai_evidence"] == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="cannot fix unknown triage features"):
        TriageModel.fit(signals, violation, fixed={"vibes": 1.0})
    with pytest.raises(ValueError, match="wrong sign"):
        TriageModel.fit(signals, violation, fixed={"upload_burst": -1.0})


def test_metadata_of_a_work_the_member_declared_only_confirms_the_declaration():
    model = TriageModel()
    signals = _signals(3, ai_evidence=[2.0] * 3, file_says_ai=[False, True, True], declared_ai=[True, True, None],
                       has_process_notes=[True, True, None], file_generator=[None, "ComfyUI", "ComfyUI"])
    declared_plain, declared_with_metadata, undeclared_with_metadata = model.score(signals)
    assert declared_plain == declared_with_metadata < undeclared_with_metadata
