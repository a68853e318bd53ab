"""Properties of the evaluation numbers: intervals, calibration, operating points, segments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_auc_score

from slopscore.evaluation.calibration import expected_calibration_error, reliability_curve
from slopscore.evaluation.intervals import wilson_interval
from slopscore.evaluation.metrics import (
    detection_rate_at_fpr,
    precision_at_budget,
    precision_within_daily_budget,
    summarise,
)
from slopscore.evaluation.verdicts import segment_false_positive_rates, verdict_flip_rate


def calibrated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities p ~ U(0, 1) and labels y ~ Bernoulli(p): calibrated by construction."""
    rng = np.random.default_rng(seed)
    prob = rng.uniform(size=n)
    return (rng.uniform(size=n) < prob).astype(int), prob


# ----------------------------------------------------------------------------- Wilson


def test_wilson_matches_textbook_value():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490, abs=1e-3) and high == pytest.approx(0.943, abs=1e-3)


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_an_independent_implementation(confidence):
    trials = np.array([1, 7, 10, 40, 333, 1000])
    successes = np.array([0, 3, 10, 10, 111, 999])
    low, high = wilson_interval(successes, trials, confidence)
    for k, n, lo, hi in zip(successes, trials, low, high):
        reference = binomtest(int(k), int(n)).proportion_ci(confidence, method="wilson")
        assert (lo, hi) == pytest.approx((reference.low, reference.high), abs=1e-9)


def test_wilson_contains_the_estimate_and_stays_within_unit_interval():
    rng = np.random.default_rng(0)
    trials = rng.integers(1, 500, size=2000)
    successes = rng.integers(0, trials + 1)
    low, high = wilson_interval(successes, trials)
    estimate = successes / trials
    assert np.all((0 <= low) & (low <= estimate) & (estimate <= high) & (high <= 1))


def test_wilson_narrows_as_trials_grow_and_widens_with_confidence():
    trials = np.array([10, 100, 1_000, 10_000])
    low, high = wilson_interval(trials * 3 // 10, trials)
    assert np.all(np.diff(high - low) < 0)
    narrow, wide = wilson_interval(30, 100, 0.8), wilson_interval(30, 100, 0.99)
    assert wide[0] < narrow[0] and narrow[1] < wide[1]


def test_wilson_with_no_trials_is_nan():
    low, high = wilson_interval(np.array([0, 2]), np.array([0, 4]))
    assert np.isnan(low[0]) and np.isnan(high[0]) and np.isfinite([low[1], high[1]]).all()
    assert all(math.isnan(bound) for bound in wilson_interval(0, 0))


@pytest.mark.parametrize(
    ("successes", "trials", "confidence", "message"),
    [
        (11, 10, 0.95, "11 successes out of 10 trials"),
        (-1, 10, 0.95, "successes must be non-negative whole numbers; got -1"),
        (2.5, 10, 0.95, "got 2.5"),
        (1, 10, 1.0, "got 1.0"),
    ],
)
def test_wilson_rejects_bad_input_with_the_numbers(successes, trials, confidence, message):
    with pytest.raises(ValueError, match=message):
        wilson_interval(successes, trials, confidence)


# ----------------------------------------------------------------------------- calibration


def test_ece_is_zero_when_every_bin_is_calibrated():
    # three bins, each holding one probability whose observed frequency matches it
    prob = np.repeat([0.05, 0.45, 0.85], 20)
    y = np.concatenate([np.arange(20) < k for k in (1, 9, 17)]).astype(int)
    assert expected_calibration_error(y, prob, n_bins=10) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(y, prob**3, n_bins=10) > 0.1


def test_ece_is_small_for_a_calibrated_model_and_grows_when_pushed_away():
    y, prob = calibrated_sample(20_000, seed=1)
    eces = [expected_calibration_error(y, prob**power) for power in (1, 2, 3)]
    assert eces[0] < 0.03
    assert eces[0] < eces[1] < eces[2]
    assert expected_calibration_error(y, prob, strategy="quantile") < 0.03


def test_reliability_curve_reports_empty_bins_instead_of_dropping_them():
    prob = np.array([0.05, 0.1, 0.15, 0.3, 0.35])
    curve = reliability_curve([0, 0, 1, 0, 1], prob, n_bins=5)
    assert curve.counts.tolist() == [3, 2, 0, 0, 0]
    assert len(curve.mean_predicted) == len(curve.observed_frequency) == 5
    assert np.isnan(curve.mean_predicted[2:]).all() and np.isnan(curve.observed_frequency[2:]).all()


def test_reliability_curve_bins_are_consistent():
    y, prob = calibrated_sample(3_000, seed=2)
    for strategy in ("uniform", "quantile"):
        curve = reliability_curve(y, prob, n_bins=10, strategy=strategy)
        filled = curve.counts > 0
        assert curve.counts.sum() == y.size
        inside = (curve.bin_edges[:-1] <= curve.mean_predicted) & (
            curve.mean_predicted <= curve.bin_edges[1:]
        )
        assert inside[filled].all()
        observed = curve.observed_frequency[filled]
        assert ((0 <= observed) & (observed <= 1)).all()
    quantile = reliability_curve(y, prob, n_bins=10, strategy="quantile")
    assert quantile.counts.max() - quantile.counts.min() <= 1


def test_quantile_bins_with_tied_probabilities_stay_reported():
    prob = [0.2] * 5 + [0.9]
    curve = reliability_curve([0, 1, 0, 1, 1, 0], prob, n_bins=4, strategy="quantile")
    assert len(curve.counts) == 4 and curve.counts.sum() == 6
    assert np.isnan(curve.mean_predicted[curve.counts == 0]).all()


# ----------------------------------------------------------------------------- detection rate


def test_detection_rate_never_exceeds_the_fpr_target_and_is_the_best_allowed():
    for seed in range(200):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2, 300))
        y = rng.uniform(size=n) < rng.uniform(0.1, 0.9)
        y[:2] = [True, False]  # both classes present
        score = np.round(rng.normal(size=n) + y, int(rng.integers(0, 3)))  # many ties
        target = float(rng.choice([0.0, 0.01, 0.05, 0.1, 0.29, rng.uniform()]))
        point = detection_rate_at_fpr(y, score, target)
        negatives, positives = score[~y], score[y]
        assert np.mean(negatives >= point.threshold) == point.false_positive_rate <= target
        assert np.mean(positives >= point.threshold) == point.detection_rate
        # the next lower threshold worth trying (a negative's score) would break the target
        lower = negatives[negatives < point.threshold]
        if lower.size:
            assert np.mean(negatives >= lower.max()) > target


def test_ties_among_negatives_do_not_push_the_fpr_over_target():
    y = np.array([0] * 10 + [1] * 5)
    score = np.array([0.5] * 10 + [0.5, 0.6, 0.7, 0.8, 0.9])
    point = detection_rate_at_fpr(y, score, 0.5)  # flagging any 0.5 would flag all ten negatives
    assert point.false_positive_rate == 0.0 and point.detection_rate == pytest.approx(0.8)


def test_detection_rate_is_one_for_perfectly_separated_scores():
    y = np.array([0] * 50 + [1] * 50)
    score = np.concatenate([np.linspace(0, 0.4, 50), np.linspace(0.6, 1, 50)])
    point = detection_rate_at_fpr(y, score, 0.0)
    assert point.detection_rate == 1.0 and point.false_positive_rate == 0.0


def test_detection_rate_is_monotone_in_the_target():
    y, prob = calibrated_sample(2_000, seed=3)
    rates = [detection_rate_at_fpr(y, prob, fpr).detection_rate for fpr in np.linspace(0, 1, 41)]
    assert np.all(np.diff(rates) >= 0) and rates[-1] == 1.0


def test_detection_rate_needs_both_classes():
    with pytest.raises(ValueError, match="3 positives and 0 negatives"):
        detection_rate_at_fpr([1, 1, 1], [0.1, 0.2, 0.3], 0.05)


# ----------------------------------------------------------------------------- review budgets


def test_precision_at_budget_on_a_constructed_example():
    y = [1, 0, 1, 0, 0, 1]
    score = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert precision_at_budget(y, score, 1) == 1.0
    assert precision_at_budget(y, score, 2) == 0.5
    assert precision_at_budget(y, score, 3) == pytest.approx(2 / 3)
    assert precision_at_budget(y, score, 100) == 0.5  # budget beyond n reviews everything


def test_precision_at_budget_breaks_ties_by_input_order():
    score = [0.5, 0.5, 0.5, 0.1]
    assert precision_at_budget([1, 0, 0, 0], score, 1) == 1.0
    assert precision_at_budget([0, 1, 1, 0], score, 1) == 0.0


def test_precision_within_daily_budget_takes_top_k_per_day():
    day = np.array(["mon", "mon", "mon", "tue", "tue", "tue", "wed"])
    score = np.array([0.9, 0.1, 0.8, 0.3, 0.2, 0.95, 0.4])
    y = np.array([1, 1, 0, 0, 1, 1, 0])
    # reviewed, 2 a day: mon 0.9 (1), 0.8 (0); tue 0.95 (1), 0.3 (0); wed 0.4 (0)
    assert precision_within_daily_budget(y, score, day, 2) == pytest.approx(2 / 5)
    # one day of everything equals the global budget
    same_day = np.zeros(7, dtype=int)
    assert precision_within_daily_budget(y, score, same_day, 3) == precision_at_budget(y, score, 3)


def test_daily_budget_breaks_ties_by_input_order_and_ignores_day_order():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.uniform(size=300), 1)
    day = rng.integers(0, 7, 300)
    result = precision_within_daily_budget(y, score, day, 5)
    reviewed = [min(5, np.sum(day == d)) for d in range(7)]
    hits = [precision_at_budget(y[day == d], score[day == d], 5) * reviewed[d] for d in range(7)]
    assert result == pytest.approx(sum(hits) / sum(reviewed))


# ----------------------------------------------------------------------------- segments


def decision_log() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Segment A: 40 human items, 10 flagged; B: 5 human items; positives in both."""
    medium = ["A"] * 40 + ["B"] * 5 + ["A"] * 6 + ["B"] * 3
    y = [0] * 45 + [1] * 9
    flagged = [1] * 10 + [0] * 30 + [1] * 2 + [0] * 3 + [1] * 9
    new_artist = [True, False] * 27
    segments = {"medium": np.array(medium), "new_artist": np.array(new_artist)}
    return np.array(y), np.array(flagged), segments


def test_segment_rates_on_a_constructed_decision_log():
    y, flagged, segments = decision_log()
    rows = segment_false_positive_rates(y, flagged, segments, min_count=20)
    by_key = {(row.segment, row.value): row for row in rows}
    a = by_key[("medium", "A")]
    assert (a.n_negative, a.n_flagged, a.status) == (40, 10, "ok")
    assert a.false_positive_rate == 0.25
    reference = binomtest(10, 40).proportion_ci(0.95, method="wilson")
    assert (a.ci_low, a.ci_high) == pytest.approx((reference.low, reference.high), abs=1e-9)
    assert (a.ci_low, a.ci_high) == pytest.approx((0.1419, 0.4019), abs=1e-4)
    b = by_key[("medium", "B")]
    assert (b.n_negative, b.n_flagged, b.status) == (5, 2, "not_enough_data")
    assert b.false_positive_rate is None and b.ci_low is None and b.ci_high is None
    assert {row.n_negative for row in rows if row.segment == "new_artist"} == {22, 23}


def test_segment_rows_come_sorted_and_cover_every_value():
    y, flagged, segments = decision_log()
    rows = segment_false_positive_rates(y, flagged, segments)
    assert rows == sorted(rows)
    assert [(row.segment, row.value) for row in rows] == [
        ("medium", "A"), ("medium", "B"), ("new_artist", False), ("new_artist", True)
    ]


def test_segment_rates_ignore_positives_and_report_values_seen_only_among_them():
    y = np.array([0] * 30 + [1] * 10)
    flagged = np.array([0] * 30 + [1] * 10)
    style = np.array(["ink"] * 30 + ["3d"] * 10)
    rows = segment_false_positive_rates(y, flagged, {"style": style})
    by_value = {row.value: row for row in rows}
    assert by_value["ink"].false_positive_rate == 0.0 and by_value["ink"].status == "ok"
    assert by_value["3d"].n_negative == 0 and by_value["3d"].status == "not_enough_data"


def test_segment_column_length_is_checked():
    with pytest.raises(ValueError, match="y_true has 3 items, segment 'style' has 2"):
        segment_false_positive_rates([0, 0, 1], [0, 1, 1], {"style": ["a", "b"]})


# ----------------------------------------------------------------------------- robustness


def test_verdict_flip_rate_on_a_constructed_example():
    original = np.array([0.1, 0.6, 0.7, 0.4])
    perturbed = np.array([0.2, 0.4, 0.8, 0.5])  # 0.6 -> 0.4 clears, 0.4 -> 0.5 flags (>=)
    flips = verdict_flip_rate(original, perturbed, threshold=0.5)
    assert (flips.n_items, flips.n_flipped, flips.flip_rate) == (4, 2, 0.5)
    assert flips.ci_low < 0.5 < flips.ci_high
    assert verdict_flip_rate(perturbed, original, 0.5) == flips


def test_unchanged_scores_never_flip():
    _, prob = calibrated_sample(500, seed=5)
    flips = verdict_flip_rate(prob, prob.copy(), 0.5)
    assert flips.n_flipped == 0 and flips.ci_low == 0.0 and 0 < flips.ci_high < 0.01


# ----------------------------------------------------------------------------- summary


def test_summarise_reports_every_headline_number():
    y, prob = calibrated_sample(2_000, seed=6)
    metrics = summarise(y, prob, budget=100)
    assert set(metrics) == {
        "n", "prevalence", "auroc", "average_precision", "brier_score", "ece",
        "tpr_at_fpr_1pct", "tpr_at_fpr_5pct", "precision_at_100",
    }
    assert metrics["n"] == 2_000 and metrics["prevalence"] == y.mean()
    assert metrics["auroc"] == pytest.approx(roc_auc_score(y, prob))
    assert metrics["tpr_at_fpr_1pct"] <= metrics["tpr_at_fpr_5pct"]
    assert all(0 <= value <= 1 for key, value in metrics.items() if key != "n")


def test_ranking_metrics_ignore_monotone_transforms_and_label_renaming():
    y, prob = calibrated_sample(2_000, seed=7)
    ranking = ("auroc", "average_precision", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct")
    original = summarise(y, prob)
    squashed = summarise(y, prob**3)
    for key in ranking:
        assert squashed[key] == pytest.approx(original[key], abs=1e-12)
    assert squashed["ece"] > original["ece"]
    # any strictly increasing transform of raw scores keeps the detection rate
    logit = np.log(prob / (1 - prob))
    for fpr in (0.01, 0.05):
        assert detection_rate_at_fpr(y, 10 * logit + 3, fpr).detection_rate == original[
            f"tpr_at_fpr_{fpr * 100:g}pct"
        ]
    # swapping which class is "positive" and inverting the probability keeps AUROC
    assert summarise(1 - y, 1 - prob)["auroc"] == pytest.approx(original["auroc"], abs=1e-12)


def test_one_class_gives_nan_ranking_metrics_with_a_warning():
    with pytest.warns(UndefinedMetricWarning, match="only one class"):
        metrics = summarise([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4])
    for key in ("auroc", "average_precision", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct"):
        assert math.isnan(metrics[key])
    assert metrics["brier_score"] == pytest.approx(np.mean(np.square([0.1, 0.2, 0.3, 0.4])))
    assert metrics["prevalence"] == 0.0


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: summarise([0, 1] * 5, [0.5] * 9), "y_true has 10 items, prob has 9"),
        (
            lambda: expected_calibration_error([0, 1, 1], [0.2, 1.3, -0.1]),
            r"2 of 3 values are outside \(min -0.1, max 1.3\)",
        ),
        (
            lambda: reliability_curve([0, 2, 1], [0.1, 0.2, 0.3]),
            r"1 of 3 values are something else, e.g. \[2\]",
        ),
        (lambda: reliability_curve(["human", "ai_slop"], [0.1, 0.2]), "got dtype <U7"),
        (
            lambda: detection_rate_at_fpr([0, 1], [0.1, np.nan], 0.05),
            "1 non-finite values .* at index 1",
        ),
        (lambda: detection_rate_at_fpr([0, 1], [0.1, 0.9], 1.5), "fpr must lie within"),
        (
            lambda: precision_at_budget([0, 1], [0.1, 0.9], 0),
            "budget must be a positive whole number; got 0",
        ),
        (lambda: expected_calibration_error([0, 1], [0.1, 0.9], strategy="kmeans"), "'kmeans'"),
        (
            lambda: verdict_flip_rate([0.1, 0.2], [0.3], 0.5),
            "score_original has 2 items, score_perturbed has 1",
        ),
        (lambda: summarise([], []), "y_true is empty"),
        (
            lambda: precision_within_daily_budget([0, 1], [0.1, 0.2], [None, "mon"], 1),
            "day values must be mutually comparable",
        ),
    ],
)
def test_validation_errors_carry_the_numbers(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_estimates_carry_counts_and_intervals_over_artists_or_say_too_few():
    from slopscore.evaluation.estimates import MIN_COUNT, estimate_metrics, flat_estimates

    rng = np.random.default_rng(11)
    n = 600
    groups = rng.integers(0, 60, n)
    y = rng.random(n) < 0.3
    prob = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1)
    estimates = estimate_metrics(y, prob, groups, n_draws=300)
    auroc = estimates["auroc"]
    assert auroc.value == pytest.approx(roc_auc_score(y, prob))
    assert auroc.low <= auroc.value <= auroc.high and auroc.high - auroc.low < 0.2
    assert (auroc.n_positive, auroc.n_negative) == (int(y.sum()), int((~y).sum()))
    assert estimates["ece"].low <= estimates["ece"].value <= estimates["ece"].high
    wider = estimate_metrics(y[:150], prob[:150], groups[:150], n_draws=300)["auroc"]
    assert wider.high - wider.low > auroc.high - auroc.low  # fewer items, less certainty
    few = estimate_metrics(y[: MIN_COUNT + 10] | (np.arange(MIN_COUNT + 10) < 3), prob[: MIN_COUNT + 10],
                           groups[: MIN_COUNT + 10])
    assert all(e.status == "too few" and np.isnan(e.value) for e in few.values())
    assert few["auroc"].text().startswith("too few (")
    flat = flat_estimates("detector", few)
    assert "detector_auroc" not in flat and flat["detector_n_positive"] == few["auroc"].n_positive
    assert {"d_auroc", "d_auroc_low", "d_auroc_high", "d_n_negative"} <= set(flat_estimates("d", estimates))
