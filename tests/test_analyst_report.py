"""The analyst report on decision logs built by hand with known rates (SQLite and PostgreSQL).

Expected numbers are counted here in plain Python from the constructed log, and Wilson
intervals come from scipy, independently of the code under test.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sqlalchemy import insert, select

from slopscore.analytics import dismissals, model_versions, review_thresholds
from slopscore.analytics.build import build_report
from slopscore.analytics.data import load_queue_data
from slopscore.model.scorer import score_histogram
from slopscore.review.database import open_queue
from slopscore.review.ingest import register_model_version
from slopscore.review.schema import Action, Decision, ModelVersion, QueueItem

MONDAY_W23 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)  # ISO week 2026-W23
DISMISS = (Action.NO_CONCERN, Action.RESOLVED_CLARIFIED)
CONFIRM = (Action.NOTIFY, Action.RESOLVED_REPLACED, Action.ESCALATE)


def wilson(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def add_log(engine, specs: list[dict]) -> None:
    """Insert queue items and their decisions.

    Each spec holds QueueItem columns plus ``decisions``: a list of (Action, decided_at),
    oldest first (possibly empty: a pending, unreviewed item).
    """
    now = datetime(2026, 5, 1, tzinfo=timezone.utc)
    items = []
    for spec in specs:
        row = {k: v for k, v in spec.items() if k != "decisions"}
        row.setdefault("model_version", "m/1")
        row.setdefault("scored_at", now)
        row.setdefault("status", "pending")
        items.append(row)
    keys = {key for row in items for key in row}
    items = [{key: row.get(key) for key in keys} for row in items]  # executemany: same keys
    with engine.begin() as connection:
        connection.execute(insert(QueueItem), items)
        ids = {(item, version): id_ for item, version, id_ in connection.execute(
            select(QueueItem.item_id, QueueItem.model_version, QueueItem.id))}
        decisions = [
            {"queue_item_id": ids[spec["item_id"], spec.get("model_version", "m/1")], "item_id": spec["item_id"],
             "artist_id": spec.get("artist_id"), "action": action.value,
             "outcome": action.outcome.value, "moderator": "alice", "decided_at": when,
             "model_version": spec.get("model_version", "m/1"),
             "triage_score": spec.get("triage_score")}
            for spec in specs for action, when in spec.get("decisions", [])
        ]
        if decisions:
            connection.execute(insert(Decision), decisions)


def known_log() -> list[dict]:
    """95 reviewed items over three ISO weeks plus 7 pending ones.

    Week 23: 40 reviewed, 10 dismissed. Week 24: 50 reviewed, 20 dismissed. Week 25:
    5 reviewed, all dismissed (too few for a rate). Some items have two decisions: the
    latest decides the outcome.
    """
    specs, n = [], 0
    weeks = [(0, 40, 10), (1, 50, 20), (2, 5, 5)]
    tags = ["ink;Painting", "digital", " ink ", None, "pixel;ink"]
    for week, total, dismissed in weeks:
        for i in range(total):
            n += 1
            when = MONDAY_W23 + timedelta(days=7 * week + i % 5, hours=i % 7)
            is_dismissed = i < dismissed
            if is_dismissed:
                decisions = ([(Action.NOTIFY, when - timedelta(hours=30)),
                              (Action.RESOLVED_CLARIFIED, when)] if i % 4 == 0
                             else [(Action.NO_CONCERN, when)])
            else:
                decisions = ([(Action.NO_CONCERN, when - timedelta(hours=2)),
                              (Action.ESCALATE, when)] if i % 9 == 0
                             else [(Action.NOTIFY, when)])
            specs.append({
                "item_id": f"i{n:03d}", "artist_id": f"a{n % 6}",
                "uploaded_at": when - timedelta(days=1), "triage_score": 0.3 + 0.6 * (i % 10) / 10,
                "tags": tags[n % len(tags)], "cold_start": [True, False, None][n % 3],
                "portfolio_size": [0, 3, 12, 40, 150, None][n % 6],
                "has_process_notes": [True, False, None][n % 3],
                "file_type": ["jpg", "png", None, "JPG"][n % 4], "title": f"work {n}",
                "decisions": decisions,
            })
    for j in range(7):  # scored, never reviewed
        specs.append({"item_id": f"p{j}", "artist_id": "a9", "triage_score": 0.1 * j,
                      "uploaded_at": MONDAY_W23, "tags": "ink", "decisions": []})
    return specs


def expected_outcome(spec: dict) -> bool:
    """Confirmed? From the latest decision, counted independently of the report code."""
    return spec["decisions"][-1][0] in CONFIRM


# ----------------------------------------------------------------------------- loading


def test_loading_takes_the_latest_decision_on_both_databases(queue_url):
    engine = open_queue(queue_url)
    specs = known_log()
    add_log(engine, specs)
    data = load_queue_data(engine)
    assert len(data.items) == len(specs)  # every scored item, reviewed or not
    reviewed = data.reviewed.set_index("item_id")
    assert len(reviewed) == 95
    for spec in specs:
        if not spec["decisions"]:
            assert spec["item_id"] not in reviewed.index
            continue
        row = reviewed.loc[spec["item_id"]]
        action, when = spec["decisions"][-1]
        assert row["action"] == action.value
        assert bool(row["confirmed"]) is expected_outcome(spec)
        assert row["n_decisions"] == len(spec["decisions"])
        assert row["decided_at"] == pd.Timestamp(when)
        iso = when.isocalendar()
        assert row["week"] == f"{iso.year}-W{iso.week:02d}"
    assert str(data.reviewed["decided_at"].dt.tz) == "UTC"
    # --since keeps latest decisions on or after the date; uploads likewise
    later = load_queue_data(engine, since="2026-06-08")
    assert len(later.reviewed) == 55 and set(later.reviewed["week"]) == {"2026-W24", "2026-W25"}
    assert later.items["day"].min() >= pd.Timestamp("2026-06-08", tz="UTC")


def test_model_version_filter_and_references(queue_url):
    engine = open_queue(queue_url)
    add_log(engine, [
        {"item_id": "x1", "model_version": "m/1", "triage_score": 0.9, "uploaded_at": MONDAY_W23,
         "decisions": [(Action.NOTIFY, MONDAY_W23)]},
        {"item_id": "x1", "model_version": "m/2", "triage_score": 0.4, "uploaded_at": MONDAY_W23,
         "decisions": [(Action.NO_CONCERN, MONDAY_W23)]},
    ])
    with engine.begin() as connection:
        connection.execute(insert(ModelVersion), [{
            "model_version": "m/2", "backbone_id": "b", "registered_at": MONDAY_W23,
            "reference_histogram": json.dumps({"edges": [0, 0.5, 1], "counts": [3, 1]})}])
    data = load_queue_data(engine, model_version="m/2")
    assert data.reviewed["model_version"].tolist() == ["m/2"]
    assert data.reviewed["confirmed"].tolist() == [False]
    assert json.loads(data.references["m/2"])["counts"] == [3, 1]
    everything = load_queue_data(engine)
    assert set(everything.reviewed["model_version"]) == {"m/1", "m/2"}
    assert everything.version_order == ["m/2", "m/1"]  # registered first; unregistered last


# ----------------------------------------------------------------------------- rates


@pytest.fixture
def known(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    specs = known_log()
    add_log(engine, specs)
    return engine, specs


def test_overall_and_weekly_rates_match_the_log_with_wilson_intervals(known):
    engine, specs = known
    data = load_queue_data(engine)
    overall = dismissals.dismissal_rate(data.reviewed, min_count=30)
    assert (overall.reviewed, overall.dismissed, overall.confirmed) == (95, 35, 60)
    assert overall.rate == pytest.approx(35 / 95)
    assert (overall.ci_low, overall.ci_high) == pytest.approx(wilson(35, 95), abs=1e-12)

    weekly = dismissals.weekly_dismissal_rates(data.reviewed, min_count=30).set_index("week")
    assert weekly.loc["2026-W23", ["reviewed", "dismissed"]].tolist() == [40, 10]
    assert weekly.loc["2026-W23", "dismissal_rate"] == pytest.approx(0.25)
    assert tuple(weekly.loc["2026-W23", ["ci_low", "ci_high"]]) == pytest.approx(wilson(10, 40))
    assert weekly.loc["2026-W24", "dismissal_rate"] == pytest.approx(0.4)
    assert tuple(weekly.loc["2026-W24", ["ci_low", "ci_high"]]) == pytest.approx(wilson(20, 50))
    # five of five dismissed: reported as not enough data, never 100%
    w25 = weekly.loc["2026-W25"]
    assert (w25["reviewed"], w25["dismissed"], w25["status"]) == (5, 5, "not_enough_data")
    assert math.isnan(w25["dismissal_rate"]) and math.isnan(w25["ci_low"])
    assert str(weekly.loc["2026-W24", "week_start"]) == "2026-06-08"


def test_segment_rates_match_counts_made_by_hand(known):
    engine, specs = known
    data = load_queue_data(engine)
    rates = dismissals.segment_dismissal_rates(data.reviewed, min_count=10)
    got = {(r.segment, r.value): r for r in rates.itertuples(index=False)}

    def tags_of(spec):
        raw = spec["tags"]
        found = {t.strip().lower() for t in (raw or "").split(";") if t.strip()}
        return found or {"untagged"}

    def band(size):
        if size is None:
            return "unknown"
        return "0" if size == 0 else "1–4" if size < 5 else "5–19" if size < 20 else (
            "20–99" if size < 100 else "100+")

    expected: dict[tuple[str, str], list[int]] = {}
    for spec in specs:
        if not spec["decisions"]:
            continue
        dismissed = not expected_outcome(spec)
        keys = [("style/medium tag", t) for t in tags_of(spec)] + [
            ("artist", {True: "new (cold start)", False: "established", None: "unknown"}[spec["cold_start"]]),
            ("portfolio size", band(spec["portfolio_size"])),
            ("process notes", {True: "declared", False: "not declared", None: "unknown"}[spec["has_process_notes"]]),
            ("file type", (spec["file_type"] or "unknown").lower()),
        ]
        for key in keys:
            counts = expected.setdefault(key, [0, 0])
            counts[0] += 1
            counts[1] += dismissed
    assert set(got) == set(expected)
    for key, (n, k) in expected.items():
        row = got[key]
        assert (row.reviewed, row.dismissed, row.confirmed) == (n, k, n - k), key
        if n >= 10:
            assert row.status == "ok" and row.dismissal_rate == pytest.approx(k / n)
            assert (row.ci_low, row.ci_high) == pytest.approx(wilson(k, n)), key
        else:
            assert row.status == "not_enough_data" and math.isnan(row.dismissal_rate)
    # "ink;Painting", " ink " and "pixel;ink" all count towards "ink", each item once
    assert got[("style/medium tag", "ink")].reviewed == sum(
        "ink" in tags_of(s) for s in specs if s["decisions"])
    assert ("file type", "jpg") in got and ("file type", "JPG") not in got


def test_calibration_matches_an_independent_computation():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 1, 400)
    confirmed = rng.uniform(0, 1, 400) < scores ** 2  # over-confident score
    reviewed = pd.DataFrame({"triage_score": scores, "confirmed": confirmed})
    cal = review_thresholds.calibration(reviewed, min_count=30, n_bins=10)
    bins = np.minimum((scores * 10).astype(int), 9)
    ece = sum(abs(confirmed[bins == b].mean() - scores[bins == b].mean()) * (bins == b).sum()
              for b in range(10) if (bins == b).any()) / 400
    assert cal.status == "ok" and cal.n == 400 and cal.n_confirmed == int(confirmed.sum())
    assert cal.ece == pytest.approx(ece)
    assert cal.brier == pytest.approx(np.mean((scores - confirmed) ** 2))
    table = cal.table()
    assert table["items"].sum() == 400 and len(table) == 10
    small = review_thresholds.calibration(reviewed.head(29), min_count=30)
    assert small.status == "not_enough_data" and small.ece is None and small.n == 29


def linear_percentile(values, q: float) -> float:
    """Percentile with linear interpolation between order statistics, counted by hand."""
    ordered = sorted(values)
    position = q / 100 * (len(ordered) - 1)
    below = int(math.floor(position))
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def test_threshold_table_rows_observed_beside_estimated_and_per_day_percentiles():
    day0 = pd.Timestamp("2026-06-01", tz="UTC")
    # 10 days; day d has items scoring 0.15, 0.45, 0.75 and (even days) 0.95; 35 items
    items = pd.DataFrame([{"triage_score": s, "day": day0 + pd.Timedelta(days=d)}
                          for d in range(10) for s in (0.15, 0.45, 0.75, 0.95)
                          if s != 0.95 or d % 2 == 0])
    # reviewed: 12 items at 0.75 (9 confirmed) and 5 at 0.95 (5 confirmed)
    reviewed = pd.DataFrame({"triage_score": [0.75] * 12 + [0.95] * 5,
                             "confirmed": [True] * 9 + [False] * 3 + [True] * 5})
    table = review_thresholds.threshold_table(items, reviewed, thresholds=(0.1, 0.5, 0.8, 0.99),
                                              min_count=10).set_index("threshold")
    assert (table["days"] == 10).all()
    for t in (0.1, 0.5, 0.8, 0.99):
        per_day = [int(((items["triage_score"] >= t) & (items["day"] == day0 + pd.Timedelta(days=d))).sum())
                   for d in range(10)]
        assert table.loc[t, "queue_per_day_median"] == pytest.approx(linear_percentile(per_day, 50))
        assert table.loc[t, "queue_per_day_p90"] == pytest.approx(linear_percentile(per_day, 90))
        assert table.loc[t, "queue_per_day_p10"] == pytest.approx(linear_percentile(per_day, 10))
        assert table.loc[t, "queue_per_day_max"] == max(per_day)
    assert table["queue_per_day_median"].tolist() == pytest.approx([3.5, 1.5, 0.5, 0.0])
    assert table["queue_per_day_p90"].tolist() == pytest.approx([4, 2, 1, 0])
    assert "queue_per_day" not in table  # no mean over the whole period
    row = table.loc[0.5]  # 17 reviewed at or above: observed shares beside the model's estimate
    assert row["rate_source"] == "observed (reviewed items)" and row["observed_status"] == "ok"
    assert (row["reviewed_at_or_above"], row["confirmed_at_or_above"], row["dismissed_at_or_above"]) == (17, 14, 3)
    assert row["observed_confirmed_share"] == pytest.approx(14 / 17)
    assert row["observed_dismissal_share"] == pytest.approx(3 / 17)
    low, high = wilson(14, 17)
    assert (row["observed_confirmed_ci_low"], row["observed_confirmed_ci_high"]) == pytest.approx((low, high))
    assert (row["observed_dismissal_ci_low"], row["observed_dismissal_ci_high"]) == pytest.approx(wilson(3, 17))
    assert row["estimated_confirm_rate"] == pytest.approx((10 * 0.75 + 5 * 0.95) / 15)  # mean queued score
    assert row["estimated_dismissal_rate"] == pytest.approx(1 - (10 * 0.75 + 5 * 0.95) / 15)
    assert row["expected_confirmations_per_day"] == pytest.approx(1.5 * 14 / 17)
    assert row["expected_false_positives_per_day"] == pytest.approx(1.5 * 3 / 17)
    # band: p10 and p90 days (1 and 2 items) times the Wilson bounds
    assert (row["expected_confirmations_band_low"], row["expected_confirmations_band_high"]) == \
        pytest.approx((1 * low, 2 * high))
    assert (row["expected_false_positives_band_low"], row["expected_false_positives_band_high"]) == \
        pytest.approx((1 * (1 - high), 2 * (1 - low)))
    assert "Wilson" in row["band"] and "per-day" in row["band"]
    fallback = table.loc[0.8]  # only 5 reviewed >= 0.8: counts shown, shares not, the model's estimate used
    assert fallback["rate_source"] == "model estimate (mean triage score)"
    assert fallback["observed_status"] == "not_enough_data" and math.isnan(fallback["observed_confirmed_share"])
    assert (fallback["reviewed_at_or_above"], fallback["confirmed_at_or_above"]) == (5, 5)
    assert fallback["estimated_confirm_rate"] == pytest.approx(0.95)
    assert fallback["expected_false_positives_per_day"] == pytest.approx(0.5 * 0.05)
    assert (fallback["expected_confirmations_band_low"], fallback["expected_confirmations_band_high"]) == \
        pytest.approx((0.0, 1 * 0.95))  # per-day variation only
    assert "per-day variation only" in fallback["band"]
    empty = table.loc[0.99]
    assert empty["rate_source"] == "no items" and empty["expected_confirmations_per_day"] == 0.0
    # the lowest threshold whose 90th-percentile day fits the budget
    assert review_thresholds.choose_threshold(table.reset_index(), 2.0)["threshold"] == 0.5
    assert review_thresholds.choose_threshold(table.reset_index(), 1.5)["threshold"] == 0.8
    assert review_thresholds.choose_threshold(table.reset_index(), 10)["threshold"] == 0.1


def test_psi_on_a_known_shift_and_drift_statuses():
    psi = 0.25 * math.log(0.5) * -1 + 0.25 * math.log(1.5)  # (0.25-0.5)ln(.5)+(0.75-0.5)ln(1.5)
    assert model_versions.population_stability_index([50, 50], [25, 75]) == pytest.approx(psi)
    assert model_versions.population_stability_index([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    reference = score_histogram(np.r_[np.full(50, 0.2), np.full(50, 0.7)], bins=2)  # as training stores it
    assert reference == {"edges": [0.0, 0.5, 1.0], "counts": [50, 50]}
    items = pd.DataFrame({
        "model_version": ["m/1"] * 100 + ["m/2"] * 40 + ["m/3"] * 5 + ["m/4"] * 40,
        "triage_score": [0.1] * 25 + [0.9] * 75 + [0.5] * 40 + [0.5] * 5 + [0.3] * 40,
    })
    drift = {d.model_version: d for d in model_versions.score_drift(
        items, {"m/1": json.dumps(reference), "m/2": "{}", "m/3": json.dumps(reference),
                "m/4": {"edges": [0, 0.5, 1], "counts": [10, 10]}},
        min_count=30)}
    assert drift["m/1"].status == "ok" and drift["m/1"].psi == pytest.approx(psi)
    assert drift["m/1"].current_counts.tolist() == [25, 75]
    assert drift["m/2"].status == "no_reference"
    assert drift["m/2"].message == "no reference distribution recorded for this model version"
    assert drift["m/3"].status == "not_enough_data" and drift["m/3"].psi is None
    assert drift["m/4"].status == "not_enough_data"  # a reference of only 20 items


def test_model_comparison_per_version():
    items = pd.DataFrame({"model_version": ["a"] * 50 + ["b"] * 40,
                          "triage_score": np.r_[np.linspace(0, 1, 50), np.full(40, 0.6)]})
    # a: 40 reviewed, confirmed exactly when score > 0.5 (AUROC 1); b: 35 reviewed, all confirmed
    a_scores = np.linspace(0.05, 0.95, 40)
    reviewed = pd.DataFrame({
        "model_version": ["a"] * 40 + ["b"] * 35,
        "triage_score": np.r_[a_scores, np.full(35, 0.6)],
        "confirmed": np.r_[a_scores > 0.5, np.ones(35, bool)],
    })
    table = model_versions.model_comparison(items, reviewed, min_count=30).set_index("model_version")
    a, b = table.loc["a"], table.loc["b"]
    assert (a["scored"], a["reviewed"], a["confirmed"], a["dismissed"]) == (50, 40, 20, 20)
    assert a["dismissal_rate"] == pytest.approx(0.5)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(wilson(20, 40))
    assert a["auroc"] == pytest.approx(1.0) and a["auroc_status"] == "ok"
    assert a["mean_score"] == pytest.approx(0.5)
    assert b["dismissal_rate"] == pytest.approx(0.0)
    assert (b["ci_low"], b["ci_high"]) == pytest.approx(wilson(0, 35))
    assert math.isnan(b["auroc"]) and b["auroc_status"] == "not_enough_data"  # one class only


# ----------------------------------------------------------------------------- the report


def test_report_numbers_csv_and_not_enough_data_cells(known, tmp_path):
    engine, specs = known
    outcome = build_report(engine, tmp_path / "out" / "report.html", min_reviewed=30)
    html = outcome.html.read_text(encoding="utf-8")
    assert outcome.overall.dismissed == 35 and outcome.overall.reviewed == 95
    low, high = wilson(35, 95)
    assert f"{35 / 95:.1%}" in html and f"{low:.1%} – {high:.1%}" in html
    assert f"{10 / 40:.1%}" in html and f"{wilson(10, 40)[0]:.1%} – {wilson(10, 40)[1]:.1%}" in html
    assert '<td class="nodata">not enough data</td>' in html
    assert "100.0%" not in html  # week 25 (5 of 5 dismissed) is not enough data
    assert html.count("data:image/png;base64,") >= 4  # weekly, segments, reliability, thresholds
    assert 'src="http' not in html and "<script" not in html  # nothing loads from elsewhere
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(h.startswith("#") or h.startswith("http://127.0.0.1:8000/items/") for h in hrefs)

    weekly = pd.read_csv(outcome.csv["fpr_weekly"])
    w25 = weekly[weekly["week"] == "2026-W25"].iloc[0]
    assert w25["status"] == "not_enough_data" and pd.isna(w25["dismissal_rate"])
    assert w25["reviewed"] == 5
    overall = pd.read_csv(outcome.csv["fpr_overall"]).iloc[0]
    assert overall["dismissal_rate"] == pytest.approx(35 / 95)
    assert (overall["ci_low"], overall["ci_high"]) == pytest.approx(wilson(35, 95))
    segments = pd.read_csv(outcome.csv["fpr_segments"], keep_default_na=False)
    assert set(segments["status"]) <= {"ok", "not_enough_data"}
    assert (segments.loc[segments["status"] == "not_enough_data", "dismissal_rate"] == "").all()
    thresholds = pd.read_csv(outcome.csv["thresholds"])
    assert thresholds["threshold"].tolist() == pytest.approx(list(review_thresholds.DEFAULT_THRESHOLDS))
    drift = pd.read_csv(outcome.csv["drift"])
    assert drift.iloc[0]["status"] == "no_reference"
    assert "no reference distribution recorded for this model version" in html
    assert all(path.is_file() for path in outcome.csv.values())


def test_untrusted_titles_and_tags_are_escaped(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    evil = "<script>alert(1)</script>"
    add_log(engine, [{
        "item_id": f'<img src=x onerror="alert(2)">{i}', "artist_id": evil, "title": evil,
        "tags": f"{evil};ink", "triage_score": 0.9, "uploaded_at": MONDAY_W23,
        "file_type": "<b>png</b>", "decisions": [(Action.NO_CONCERN, MONDAY_W23)],
    } for i in range(3)])
    outcome = build_report(f"sqlite:///{tmp_path / 'queue.db'}", tmp_path / "r.html", min_reviewed=2)
    html = outcome.html.read_text(encoding="utf-8")
    assert "<script" not in html and "<img src=x" not in html and "<b>png" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the title, shown as text
    assert "&lt;b&gt;png&lt;/b&gt;" in html
    top = pd.read_csv(outcome.csv["top_dismissed"])
    assert top["title"].tolist() == [evil] * 3


def test_csv_cells_that_look_like_formulas_are_defused(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    add_log(engine, [{"item_id": "f1", "title": "=HYPERLINK(\"x\")", "tags": "@ink",
                      "triage_score": 0.8, "uploaded_at": MONDAY_W23,
                      "decisions": [(Action.NO_CONCERN, MONDAY_W23)]}])
    outcome = build_report(engine, tmp_path / "r.html")
    top = pd.read_csv(outcome.csv["top_dismissed"])
    assert top["title"].iloc[0] == "'=HYPERLINK(\"x\")" and top["tags"].iloc[0] == "'@ink"


def test_an_empty_queue_gives_a_report_of_counts_only(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    outcome = build_report(engine, tmp_path / "r.html")
    assert outcome.overall.reviewed == 0 and outcome.overall.rate is None
    assert outcome.calibration.status == "not_enough_data"
    assert "not enough data" in outcome.html.read_text(encoding="utf-8")
    calibration = pd.read_csv(outcome.csv["calibration"]).iloc[0]
    assert calibration["status"] == "not_enough_data" and calibration["n"] == 0
    assert pd.isna(calibration["ece"])


def test_rare_tags_beyond_the_page_limit_are_summarised_but_all_in_the_csv(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    add_log(engine, [{"item_id": f"t{i}", "tags": f"common;rare-{i}", "triage_score": 0.5,
                      "uploaded_at": MONDAY_W23, "decisions": [(Action.NO_CONCERN, MONDAY_W23)]}
                     for i in range(40)])
    outcome = build_report(engine, tmp_path / "r.html", min_reviewed=30)
    html = outcome.html.read_text(encoding="utf-8")
    assert "15 further tags have fewer than 30 reviewed items each (15 item-tag pairs" in html
    assert html.count(">rare-") == 25
    segments = pd.read_csv(outcome.csv["fpr_segments"])
    tags = segments[segments["segment"] == "style/medium tag"].set_index("value")
    assert len(tags) == 41 and tags.loc["common", "reviewed"] == 40
    assert tags.loc["common", "dismissal_rate"] == 1.0  # 40 reviewed: enough for a rate


def test_the_base_rate_the_scores_assume_is_checked_against_the_queue(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    rng = np.random.default_rng(12)
    n, configured, actual = 4000, 0.05, 0.12
    y = rng.random(n) < actual
    separation = 3.0
    logits = separation * rng.normal(np.where(y, separation / 2, -separation / 2), 1.0)  # exact for an even share
    p_configured = 1 / (1 + np.exp(-(logits + np.log(configured / (1 - configured)))))
    add_log(engine, [{"item_id": f"i{k}", "p_ai": float(p_configured[k]), "triage_score": float(p_configured[k]),
                      "uploaded_at": MONDAY_W23,
                      "decisions": [(Action.NOTIFY if y[k] else Action.NO_CONCERN, MONDAY_W23)] if k < 40 else []}
                     for k in range(n)])
    register_model_version(engine, "m/1", "b", {}, base_rate=configured)
    outcome = build_report(engine, tmp_path / "out" / "report.html", min_reviewed=30)
    table = pd.read_csv(outcome.csv["base_rates"]).iloc[0]
    assert table["configured"] == configured and table["scored"] == n
    assert table["em_estimate"] == pytest.approx(actual, abs=0.02)  # the platform has more AI than assumed
    assert abs(p_configured.mean() - actual) > 2 * abs(table["em_estimate"] - actual)  # better than the mean
    assert table["reviewed"] == 40 and table["confirmed"] == int(y[:40].sum())
    html = outcome.html.read_text(encoding="utf-8")
    assert "Base rate: the share of uploads the scores assume are AI" in html and "5.0%" in html
