"""The report's threshold sections: the threshold table, the budget answer, and who the
operating threshold wrongly sends to people (segment dismissal rates at and above it).

Formatting only; the numbers come from :mod:`.review_thresholds`, :mod:`.budget` and
:mod:`.dismissals`.
"""

from __future__ import annotations

import pandas as pd

from slopscore.analytics import render
from slopscore.analytics.budget import BudgetAnswer
from slopscore.analytics.dismissals import NOT_ENOUGH_DATA, Rate
from slopscore.analytics.render import Section, Table, interval, number, pct, rate_cells
from slopscore.analytics.review_thresholds import BAND_ESTIMATE, BAND_OBSERVED, OBSERVED

__all__ = ["budget_section", "segments_at_threshold_section", "threshold_section"]


def _one(value: float) -> str:
    return number(value, 1)


def threshold_section(table: pd.DataFrame, min_reviewed: int) -> Section:
    """Per-day queue (median, p90, max), observed rates beside the model's estimate, expectations."""
    rows = []
    for r in table.itertuples(index=False):
        observed = rate_cells(r.observed_status, r.observed_confirmed_share, r.observed_confirmed_ci_low,
                              r.observed_confirmed_ci_high)
        dismissed = rate_cells(r.observed_status, r.observed_dismissal_share, r.observed_dismissal_ci_low,
                               r.observed_dismissal_ci_high)
        rows.append([
            f"{r.threshold:.2f}", _one(r.queue_per_day_median), _one(r.queue_per_day_p90),
            _one(r.queue_per_day_max), str(r.reviewed_at_or_above), str(r.confirmed_at_or_above),
            str(r.dismissed_at_or_above), *observed, dismissed[0],
            pct(r.estimated_confirm_rate), pct(r.estimated_dismissal_rate), r.rate_source,
            _one(r.expected_confirmations_per_day),
            interval(r.expected_confirmations_band_low, r.expected_confirmations_band_high, _one),
            _one(r.expected_false_positives_per_day),
            interval(r.expected_false_positives_band_low, r.expected_false_positives_band_high, _one),
        ])
    days = int(table["days"].iloc[0]) if len(table) else 0
    section = Section("Review thresholds", "thresholds", paragraphs=[
        f"For each threshold: how many items a day reach the queue, over the {days} days observed "
        "(median, 90th percentile and busiest day; days without uploads count as 0), and what "
        "reviewers would find there.",
        "OBSERVED columns come from reviewed items scoring at or above the threshold (counts "
        f"always; shares with a Wilson 95% interval once there are {min_reviewed}). MODEL "
        "ESTIMATE columns are the mean triage score of every queued item, the model's own "
        "calibrated chance of a confirmation. The expected confirmations and false positives "
        "per (median) day use the observed share where it exists, else the model's estimate; "
        "'rate used' says which.",
        f"Bands: with the observed share, {BAND_OBSERVED}; with the model estimate, {BAND_ESTIMATE}."],
        tables=[Table(["threshold", "queue / day: median", "p90", "max", "OBSERVED: reviewed ≥ t",
                       "confirmed", "dismissed", "confirmed share", "95% interval",
                       "dismissal share", "MODEL ESTIMATE: confirm rate", "dismissal rate",
                       "rate used", "expected confirmations / day", "band",
                       "expected false positives / day", "band"], rows)])
    if len(table):
        section.figures.append(render.threshold_figure(table))
    return section


def budget_section(answer: BudgetAnswer) -> Section:
    """"Given a daily review budget of N, use threshold T", with what it costs per day."""
    section = Section("Threshold for the daily review budget", "budget", paragraphs=[
        answer.sentence(),
        f"Budget: {answer.budget:g} items a day ("
        + ("set with --daily-budget" if answer.budget_source == "--daily-budget"
           else f"{answer.budget_source}; --daily-budget sets it") + "). "
        "The threshold is the lowest one whose queue fits the budget on at least 9 days in 10 "
        "(every distinct score is tried), rounded up to 3 decimals."])
    r = answer.row
    if r is None:
        return section
    observed = r["rate_source"] == OBSERVED
    section.tables.append(Table(
        ["threshold", "queue / day: median", "p90", "max", "days over budget", "rate used",
         "confirm rate", "expected confirmations / day", "band", "expected false positives / day", "band"],
        [[f"{answer.threshold:.3f}", _one(r["queue_per_day_median"]), _one(r["queue_per_day_p90"]),
          _one(r["queue_per_day_max"]), f"{answer.days_over_budget} of {answer.days}", r["rate_source"],
          pct(r["confirm_rate"]) + (f" ({interval(r['observed_confirmed_ci_low'], r['observed_confirmed_ci_high'])})"
                                    if observed else ""),
          _one(r["expected_confirmations_per_day"]),
          interval(r["expected_confirmations_band_low"], r["expected_confirmations_band_high"], _one),
          _one(r["expected_false_positives_per_day"]),
          interval(r["expected_false_positives_band_low"], r["expected_false_positives_band_high"], _one)]],
        caption=f"Bands: {r['band']}."))
    return section


def segments_at_threshold_section(segments: pd.DataFrame, rate: Rate, threshold: float | None,
                                  min_reviewed: int) -> Section:
    """Dismissal rates per segment among reviewed items scoring at or above the operating threshold."""
    if threshold is None:
        return Section("False positives by segment at the operating threshold", "segments-at-threshold",
                       paragraphs=["No operating threshold: no threshold fits the daily review budget."])
    title = f"False positives by segment at the operating threshold (score ≥ {threshold:.3f})"
    section = Section(title, "segments-at-threshold", paragraphs=[
        f"What the model at its operating threshold {threshold:.3f} (the budget's threshold) wrongly "
        "sends to people: among reviewed items scoring at or above it, the share dismissed, per "
        f"segment. Rates need {min_reviewed} reviewed items in the segment value. The section "
        "'False positives by segment' counts every reviewed item instead."])
    section.tables.append(render.overall_table(rate))
    shown = segments[(segments["segment"] != "style/medium tag") | (segments["status"] == "ok")]
    hidden = len(segments) - len(shown)
    section.tables.append(render.rates_table(shown, [("segment", "segment"), ("value", "value")]))
    if hidden:
        section.paragraphs.append(f"{hidden} tags with fewer than {min_reviewed} reviewed items at the "
                                  "threshold are left out here; the fpr_segments_at_threshold CSV lists them.")
    figure = render.segment_figure(segments, rate, title=f"Dismissal rate by segment, score ≥ {threshold:.3f}")
    if figure is not None:
        section.figures.append(figure)
    elif not len(shown) or (shown["status"] != "ok").all():
        section.paragraphs.append(f"No segment value has {min_reviewed} reviewed items at the threshold: "
                                  f"{NOT_ENOUGH_DATA} for a plot.")
    return section
