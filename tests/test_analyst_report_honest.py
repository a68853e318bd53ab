"""The honest parts of the analyst report, on decision logs built by hand (real SQLite).

Observed-vs-estimated threshold rows and per-day queue percentiles, the daily-budget answer
on a log where the right threshold is known, segment dismissal rates at the operating
threshold, "too few" calibration bins, drift per week, escaped item links and readable plots.
Expected numbers are counted here from the constructed log.
"""

from __future__ import annotations

import html as html_module
import itertools
import math
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from typer.testing import CliRunner

from slopscore.analytics import budget, links, render, review_thresholds, weekly_drift
from slopscore.analytics.build import build_report
from slopscore.analytics.dismissals import Rate
from slopscore.cli.main import app
from slopscore.review.database import open_queue
from slopscore.review.ingest import register_model_version
from slopscore.review.schema import Action
from tests.test_analyst_report import add_log, linear_percentile, wilson

DAY0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)  # a Monday, ISO week 2026-W23
SCORES = [round(0.05 + 0.1 * k, 2) for k in range(10)]  # 0.05, 0.15, ..., 0.95 every day


def budget_log() -> list[dict]:
    """20 upload days of 10 items (one per score in SCORES) plus a burst of 10 at 0.85 on day 19.

    Items scoring >= 0.45 are reviewed on their upload day; 0.45–0.65 are dismissed, 0.85 and
    0.95 confirmed, 0.75 confirmed on even days and dismissed on odd ones. Items at 0.75 are
    new artists (cold start), every other item an established one.
    """
    specs = []
    for day in range(20):
        when = DAY0 + timedelta(days=day)
        scores = SCORES + ([0.85] * 10 if day == 19 else [])
        for k, score in enumerate(scores):
            if score < 0.4:
                decisions = []
            elif score < 0.7 or (score == 0.75 and day % 2):
                decisions = [(Action.NO_CONCERN, when + timedelta(hours=2))]
            else:
                decisions = [(Action.NOTIFY, when + timedelta(hours=2))]
            specs.append({"item_id": f"d{day}-{k}", "artist_id": f"a{k}", "triage_score": score,
                          "uploaded_at": when, "cold_start": score == 0.75, "decisions": decisions})
    return specs


@pytest.fixture
def budget_queue(tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    add_log(open_queue(url), budget_log())
    return url


def test_the_budget_answer_is_the_threshold_known_from_the_log(budget_queue, tmp_path):
    outcome = build_report(budget_queue, tmp_path / "r.html", min_reviewed=20, daily_budget=3)
    answer = outcome.budget
    # at 0.75 three items a day (13 on the burst day): the 90th percentile day fits 3; at 0.65 four
    assert answer.threshold == pytest.approx(0.75) and answer.budget_source == "--daily-budget"
    assert (answer.days, answer.days_over_budget) == (20, 1)
    row = answer.row
    per_day = [3] * 19 + [13]
    assert row["queue_per_day_median"] == pytest.approx(linear_percentile(per_day, 50)) == 3
    assert row["queue_per_day_p90"] == pytest.approx(linear_percentile(per_day, 90))
    assert row["queue_per_day_max"] == 13
    # reviewed at or above 0.75: 20 days x 3 + the burst's 10; the 10 odd-day 0.75s dismissed
    assert (row["reviewed_at_or_above"], row["dismissed_at_or_above"]) == (70, 10)
    assert row["rate_source"] == "observed (reviewed items)"
    low, high = wilson(60, 70)
    assert row["expected_confirmations_per_day"] == pytest.approx(3 * 60 / 70)
    assert row["expected_false_positives_per_day"] == pytest.approx(3 * 10 / 70)
    p10, p90 = linear_percentile(per_day, 10), linear_percentile(per_day, 90)
    assert (row["expected_confirmations_band_low"], row["expected_confirmations_band_high"]) == \
        pytest.approx((p10 * low, p90 * high))
    assert (row["expected_false_positives_band_low"], row["expected_false_positives_band_high"]) == \
        pytest.approx((p10 * (1 - high), p90 * (1 - low)))
    page = html_module.unescape(outcome.html.read_text(encoding="utf-8"))
    assert "Given a daily review budget of 3, use threshold 0.750" in page
    assert "1 of 20 days over budget" in page
    csv = pd.read_csv(outcome.csv["budget"]).iloc[0]
    assert csv["threshold"] == pytest.approx(0.75) and csv["budget_per_day"] == 3
    # a budget of 4 moves the threshold down to 0.65; one below the top score's queue fits nothing
    nothing = budget.budget_answer(pd.DataFrame({"triage_score": [], "day": []}), pd.DataFrame(), 4)
    assert nothing.threshold is None and "nothing is scored" in nothing.sentence()
    lower = build_report(budget_queue, tmp_path / "r4.html", min_reviewed=20, daily_budget=4)
    assert lower.budget.threshold == pytest.approx(0.65)
    none = build_report(budget_queue, tmp_path / "r0.html", min_reviewed=20, daily_budget=0.5)
    assert none.budget.threshold is None and none.at_threshold is None
    assert "no threshold fits" in none.budget.sentence()


def test_the_default_budget_is_what_moderators_reviewed_per_day(budget_queue, tmp_path):
    outcome = build_report(budget_queue, tmp_path / "r.html", min_reviewed=20)
    # six items reviewed a day (16 on the burst day): median 6, so threshold 0.45 (six a day)
    assert outcome.budget.budget == 6 and "median reviewed items per day" in outcome.budget.budget_source
    assert outcome.budget.threshold == pytest.approx(0.45)
    no_decisions = pd.DataFrame({"decided_at": pd.Series(dtype="datetime64[ns, UTC]")})
    assert budget.default_daily_budget(no_decisions)[0] == budget.CONFIG_BUDGET == 50
    with pytest.raises(ValueError, match="positive"):
        budget.check_budget(0)


def test_segment_dismissal_rates_at_the_operating_threshold(budget_queue, tmp_path):
    outcome = build_report(budget_queue, tmp_path / "r.html", min_reviewed=20, daily_budget=3)
    at = pd.read_csv(outcome.csv["fpr_segments_at_threshold"]).set_index(["segment", "value"])
    everything = pd.read_csv(outcome.csv["fpr_segments"]).set_index(["segment", "value"])
    # at >= 0.75: new artists are the 0.75s (20 reviewed, 10 dismissed); established 50, none dismissed
    new, old = at.loc[("artist", "new (cold start)")], at.loc[("artist", "established")]
    assert (new["reviewed"], new["dismissed"]) == (20, 10) and new["dismissal_rate"] == pytest.approx(0.5)
    assert (new["ci_low"], new["ci_high"]) == pytest.approx(wilson(10, 20))
    assert (old["reviewed"], old["dismissed"]) == (50, 0) and old["dismissal_rate"] == 0.0
    assert (at["threshold"] == 0.75).all()
    # over every reviewed item the established artists also carry the 0.45-0.65 dismissals
    every = everything.loc[("artist", "established")]
    assert (every["reviewed"], every["dismissed"]) == (110, 60)
    assert outcome.at_threshold.reviewed == 70 and outcome.at_threshold.dismissed == 10
    assert outcome.overall.reviewed == 130 and outcome.overall.dismissed == 70
    page = html_module.unescape(outcome.html.read_text(encoding="utf-8"))
    headline = re.search(r'<p class="note"><strong>(.*?)</strong>', page).group(1)
    assert headline.startswith("Headline false-positive (dismissal) rate, among reviewed items scoring "
                               f"≥ 0.750, the operating threshold: {10 / 70:.1%}")
    assert f"false-positive (dismissal) rate over every reviewed item</th><td>{70 / 130:.1%}" in page
    overall = pd.read_csv(outcome.csv["fpr_overall"]).set_index("scope")
    assert overall.loc["at or above the operating threshold", "dismissed"] == 10
    assert overall.loc["every reviewed item", "dismissed"] == 70


def test_threshold_csv_shows_observed_shares_beside_the_model_estimate(budget_queue, tmp_path):
    outcome = build_report(budget_queue, tmp_path / "r.html", min_reviewed=20, daily_budget=3)
    table = pd.read_csv(outcome.csv["thresholds"]).set_index("threshold")
    row = table.loc[0.8]  # >= 0.8: 0.85 and 0.95 every day plus the burst, all reviewed and confirmed
    assert (row["queue_per_day_median"], row["queue_per_day_p90"], row["queue_per_day_max"]) == (2, 2, 12)
    assert (row["reviewed_at_or_above"], row["dismissed_at_or_above"]) == (50, 0)
    assert row["observed_confirmed_share"] == 1.0 and row["observed_dismissal_share"] == 0.0
    assert row["estimated_confirm_rate"] == pytest.approx((30 * 0.85 + 20 * 0.95) / 50)
    top = table.loc[0.95]  # 20 reviewed at 0.95: still observed
    assert top["rate_source"] == "observed (reviewed items)"
    few = review_thresholds.threshold_table(
        pd.DataFrame({"triage_score": [0.9], "day": [pd.Timestamp("2026-06-01", tz="UTC")]}),
        pd.DataFrame({"triage_score": [0.9], "confirmed": [True]}), thresholds=(0.5,), min_count=20).iloc[0]
    assert few["rate_source"] == "model estimate (mean triage score)" and few["reviewed_at_or_above"] == 1
    page = outcome.html.read_text(encoding="utf-8")
    assert "OBSERVED: reviewed ≥ t" in page and "MODEL ESTIMATE: confirm rate" in page


def test_calibration_bins_below_the_minimum_say_too_few(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    # 25 reviewed in the 0.9 bin, 5 in the 0.1 bin (MIN_COUNT is 20)
    add_log(engine, [{"item_id": f"c{i}", "triage_score": 0.92 if i < 25 else 0.12, "uploaded_at": DAY0,
                      "decisions": [(Action.NOTIFY if i % 5 else Action.NO_CONCERN, DAY0)]}
                     for i in range(30)])
    outcome = build_report(engine, tmp_path / "r.html", min_reviewed=30)
    bins = pd.read_csv(outcome.csv["calibration"]).set_index("bin_low")
    assert bins.loc[0.9, "bin_status"] == "ok" and bins.loc[0.9, "observed_confirmed_rate"] == pytest.approx(20 / 25)
    assert bins.loc[0.1, "bin_status"] == "too few" and pd.isna(bins.loc[0.1, "observed_confirmed_rate"])
    assert bins.loc[0.1, "items"] == 5
    page = outcome.html.read_text(encoding="utf-8")
    assert '<td>0.10–0.20</td><td>5</td><td>0.120</td><td class="nodata">too few</td>' in page
    assert outcome.calibration.shown_curve().observed_frequency[1] != outcome.calibration.shown_curve(
    ).observed_frequency[1]  # NaN: not drawn


def test_drift_is_shown_per_week(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    register_model_version(engine, "m/1", "b", {"edges": [0.0, 0.5, 1.0], "counts": [50, 50]}, base_rate=0.05)
    specs = []
    for week, (n_low, n_high) in enumerate([(20, 20), (10, 30), (2, 3)]):  # W23 same, W24 shifted, W25 tiny
        for i in range(n_low + n_high):
            specs.append({"item_id": f"w{week}-{i}", "triage_score": 0.2 if i < n_low else 0.7,
                          "uploaded_at": DAY0 + timedelta(days=7 * week + i % 5)})
    add_log(engine, specs)
    outcome = build_report(engine, tmp_path / "r.html", min_reviewed=30)
    weekly = pd.read_csv(outcome.csv["drift_weekly"]).set_index("week")
    assert list(weekly.index) == ["2026-W23", "2026-W24", "2026-W25"]
    assert weekly.loc["2026-W23", "psi"] == pytest.approx(0.0)
    shifted = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert weekly.loc["2026-W24", "psi"] == pytest.approx(shifted) and weekly.loc["2026-W24", "scored"] == 40
    assert weekly.loc["2026-W24", "reading"] == weekly_drift.psi_reading(shifted) == "major shift"
    assert weekly.loc["2026-W25", "status"] == "not_enough_data" and pd.isna(weekly.loc["2026-W25", "psi"])
    assert str(weekly.loc["2026-W24", "week_start"]) == "2026-06-08"
    page = outcome.html.read_text(encoding="utf-8")
    assert "Score drift per ISO week" in weekly_drift.draw_weekly_drift(outcome.tables["drift_weekly"]).axes[0].get_title()
    assert "<td>m/1</td><td>2026-W24</td><td>40</td>" in page


def test_items_link_to_their_queue_page_escaped(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    evil = '"><script>alert(1)</script>'
    add_log(engine, [{"item_id": f"{evil}{i}", "triage_score": 0.9, "uploaded_at": DAY0,
                      "decisions": [(Action.NO_CONCERN, DAY0)]} for i in range(3)])
    outcome = build_report(engine, tmp_path / "r.html", min_reviewed=2,
                           queue_url="https://mod.example.org/queue app/")
    page = outcome.html.read_text(encoding="utf-8")
    assert "<script" not in page
    top = outcome.tables["top_dismissed"]
    for row in top.itertuples(index=False):
        href = f"https://mod.example.org/queue%20app/items/{int(row.queue_item_id)}"
        assert row.queue_link == href
        assert f'<a href="{href}">{escape(row.item_id)}</a>' in page  # the id is text, never markup
    assert pd.read_csv(outcome.csv["top_dismissed"])["queue_link"].str.startswith("https://").all()
    assert links.item_href("http://h", "a/b?c#d") == "http://h/items/a%2Fb%3Fc%23d"
    for bad in ("javascript:alert(1)", "data:text/html,x", "http://", "http://h/?q=1", "http://u:p@h"):
        with pytest.raises(ValueError):
            links.queue_base(bad)


def test_cli_options_for_budget_and_queue_url(budget_queue, tmp_path):
    runner = CliRunner()
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "--db", budget_queue, "--out", str(out), "--min-reviewed", "20",
                                 "--daily-budget", "3", "--queue-url", "http://review.local:9000"])
    assert result.exit_code == 0, result.output
    assert "Given a daily review budget of 3, use threshold 0.750" in result.output
    assert "at the operating threshold 0.750: 70 reviewed, 14.3% dismissed" in result.output
    assert 'href="http://review.local:9000/items/' in out.read_text(encoding="utf-8")
    for option in (["--queue-url", "javascript:alert(1)"], ["--daily-budget", "0"]):
        bad = runner.invoke(app, ["report", "--db", budget_queue, "--out", str(tmp_path / "b.html"), *option])
        assert bad.exit_code == 2 and bad.output.strip().startswith("error:")
        assert len(bad.output.strip().splitlines()) == 1 and not (tmp_path / "b.html").exists()


# ----------------------------------------------------------------------------- readable plots


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _assert_readable(fig) -> None:
    """No two visible tick labels overlap, and no legend overlaps any axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for axis in fig.axes:
        for ticks in (axis.get_xticklabels(), axis.get_yticklabels()):
            boxes = [t.get_window_extent(renderer) for t in ticks if t.get_visible() and t.get_text()]
            for a, b in itertools.combinations(boxes, 2):
                assert not _overlaps(a, b), "tick labels overlap"
        legend = axis.get_legend()
        if legend is not None:
            box = legend.get_window_extent(renderer)
            for other in fig.axes:
                assert not _overlaps(box, other.get_window_extent(renderer)), "legend over the axes"
    render.pyplot().close(fig)


@pytest.mark.parametrize("n_weeks", [3, 40, 160])
def test_weekly_plots_stay_readable_at_any_scale(n_weeks):
    rng = np.random.default_rng(n_weeks)
    reviewed = rng.integers(5, 200, n_weeks)
    dismissed = (reviewed * rng.uniform(0.1, 0.6, n_weeks)).astype(int)
    weeks = [f"{2024 + w // 52}-W{w % 52 + 1:02d}" for w in range(n_weeks)]
    frame = pd.DataFrame({"week": weeks, "reviewed": reviewed, "dismissed": dismissed,
                          "confirmed": reviewed - dismissed, "dismissal_rate": dismissed / reviewed,
                          "ci_low": dismissed / reviewed - 0.05, "ci_high": dismissed / reviewed + 0.05,
                          "status": np.where(reviewed >= 30, "ok", "not_enough_data")})
    _assert_readable(render.draw_weekly(frame, Rate(100, 30, "ok", 0.3, 0.25, 0.35)))
    drift = pd.DataFrame({"model_version": "m/1", "week": weeks, "scored": reviewed,
                          "psi": rng.uniform(0, 0.4, n_weeks), "status": "ok"})
    _assert_readable(weekly_drift.draw_weekly_drift(drift))


@pytest.mark.parametrize("n_values", [2, 30, 90])
def test_segment_plot_stays_readable_at_any_scale(n_values):
    rate = np.linspace(0.05, 0.95, n_values)
    frame = pd.DataFrame({"segment": "style/medium tag", "value": [f"tag number {i}" for i in range(n_values)],
                          "reviewed": 50, "dismissal_rate": rate, "ci_low": rate - 0.04, "ci_high": rate + 0.04,
                          "status": "ok"})
    _assert_readable(render.draw_segments(frame, Rate(100, 50, "ok", 0.5, 0.4, 0.6), max_tags=n_values))
