"""Assemble the analyst report: load, compute, draw, write the HTML page and its CSV tables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from slopscore.analytics import base_rates, dismissals, model_versions, render, review_thresholds
from slopscore.analytics.data import QueueData, load_queue_data, open_for_report
from slopscore.analytics.render import Section, Table, interval, number, pct, rate_cells
from slopscore.review.database import redacted

__all__ = ["DEFINITIONS", "ReportOutcome", "build_report"]

DEFINITIONS = (
    "Reviewed item: a queue item (one upload scored by one model version) with at least one "
    "moderator decision. Its outcome is the outcome of its latest decision: 'no concern' and "
    "'resolved: clarified' are dismissed; 'notify', 'resolved: replaced' and 'escalate' are "
    "confirmed.",
    "False-positive (dismissal) rate: dismissed / reviewed, from 0% to 100%; lower means fewer "
    "people's work was flagged without a concern. Intervals are Wilson 95% score intervals.",
    "Minimum reviewed items: {min_reviewed}. Below it a rate, calibration or AUROC is reported "
    "as 'not enough data' (empty in the CSV files, with status not_enough_data), never as 0% "
    "or 100%. Counts are always shown.",
    "Week: the ISO week (UTC) of the latest decision. --since keeps reviewed items whose latest "
    "decision is on or after the date, and scored items uploaded (scored, when the upload time "
    "is unknown) on or after it.",
    "Segments: every style/medium tag of the item (tags are ';'-separated and lower-cased; an "
    "item counts once in each of its tags), new (scored in cold start) vs established artist, "
    "portfolio-size band (earlier works: 0, 1–4, 5–19, 20–99, 100+), process notes declared, "
    "and file type. Missing values are 'unknown'.",
    "Calibration: reviewed items only, which the queue selected by score, so it describes the "
    "top of the ranking. Reliability bins are {n_bins} equal-width bins over [0, 1]. ECE is "
    "the count-weighted mean |observed confirmed rate - mean score| over bins (0 = calibrated, "
    "lower is better); Brier is the mean squared difference between score and outcome "
    "(lower is better).",
    "Threshold table: queue per day = scored items with triage score ≥ threshold divided by "
    "the days observed (UTC days of the upload time, from the first day, or --since, to the "
    "last, days without uploads included). Expected confirmations and false positives per day "
    "= queue per day × the confirmed / dismissed rate among reviewed items scoring ≥ "
    "threshold (Wilson 95% band); with fewer than the minimum reviewed items above the "
    "threshold, the mean triage score of the queued items (the model's calibrated estimate) "
    "is used instead and no band is given. The 'estimate' column says which.",
    "Score drift: each model version's scored items against the reference histogram "
    "recorded for it (scores of its held-out evaluation items at training time), as the "
    "population stability index PSI = Σ (current − reference) × ln(current / reference) over "
    "bin shares (empty bins count as 0.0001). 0 = same distribution; rule of thumb: below 0.1 "
    "stable, 0.1–0.25 moderate shift, above 0.25 major shift.",
    "AUROC: how well the triage score separates confirmed from dismissed reviewed items (0.5 = "
    "chance, 1 = perfect); needs both outcomes and the minimum reviewed items.",
)
_CSV_NAMES = ("fpr_overall", "fpr_weekly", "fpr_segments", "top_dismissed", "calibration",
              "thresholds", "drift", "models", "base_rates")


@dataclass(frozen=True)
class ReportOutcome:
    """What :func:`build_report` wrote, with its headline numbers.

    Attributes
    ----------
    html : Path
        The self-contained report.
    csv : dict of str to Path
        The tables beside it (``fpr_overall``, ``fpr_weekly``, ``fpr_segments``,
        ``top_dismissed``, ``calibration``, ``thresholds``, ``drift``, ``models``).
    n_scored : int
        Scored queue items in scope.
    overall : dismissals.Rate
        Overall dismissal rate (counts, rate and Wilson 95% interval in [0, 1]).
    calibration : review_thresholds.Calibration
        ECE and Brier in [0, 1] (lower is better), or not enough data.
    model_versions : list of str
    simulated : bool
        The decisions came from the demo's simulated reviewer.
    tables : dict of str to pandas.DataFrame
        The frames written as CSV, by the same names.
    """

    html: Path
    csv: dict[str, Path]
    n_scored: int
    overall: dismissals.Rate
    calibration: review_thresholds.Calibration
    model_versions: list[str]
    simulated: bool
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def build_report(engine_or_url: Engine | str, out_html: str | os.PathLike[str], *,
                 since: date | datetime | str | None = None, model_version: str | None = None,
                 min_reviewed: int = dismissals.DEFAULT_MIN_REVIEWED,
                 thresholds=review_thresholds.DEFAULT_THRESHOLDS,
                 n_bins: int = 10) -> ReportOutcome:
    """Write the analyst report (HTML + CSV tables) for a review queue.

    Parameters
    ----------
    engine_or_url : Engine or str
        The review queue, or its URL (opened read-only by
        :func:`~slopscore.analytics.data.open_for_report`).
    out_html : path-like
        The HTML file; CSV files go beside it as ``<stem>.<table>.csv``.
    since : date, datetime or ISO string, optional
        Only decisions (and uploads) on or after it.
    model_version : str, optional
        Only this model version (default: all, compared side by side).
    min_reviewed : int
        Fewest reviewed items for a rate, calibration or AUROC (default 30).
    thresholds : sequence of float
        Rows of the threshold table.
    n_bins : int
        Equal-width bins of the reliability diagram.

    Raises
    ------
    slopscore.review.database.QueueUnavailableError
        The database cannot be read as a review queue.
    """
    if isinstance(engine_or_url, str):
        engine = open_for_report(engine_or_url)
        try:
            data = load_queue_data(engine, since=since, model_version=model_version)
        finally:
            engine.dispose()
    else:
        engine = engine_or_url
        data = load_queue_data(engine, since=since, model_version=model_version)
    tables, sections, headline = _compute(data, min_reviewed, thresholds, n_bins)
    out_html = Path(out_html)
    paths = render.csv_paths(out_html, _CSV_NAMES)
    for name, path in paths.items():
        render.write_csv(tables[name], path)
    html = render.page_html({
        "title": "slopscore analyst report: false positives, calibration and thresholds",
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "database": redacted(engine.url.render_as_string(hide_password=True)),
        "since": data.since.date().isoformat() if data.since is not None else "all time",
        "model_version": model_version or "all versions",
        "simulated": data.simulated, "summary": headline["summary"], "notes": headline["notes"],
        "sections": sections,
        "definitions": [d.format(min_reviewed=min_reviewed, n_bins=n_bins) for d in DEFINITIONS],
        "csv_files": [path.name for path in paths.values()],
    })
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(html, encoding="utf-8")
    return ReportOutcome(out_html, paths, len(data.items), headline["overall"],
                         headline["calibration"], headline["versions"], data.simulated, tables)


def _compute(data: QueueData, min_reviewed: int, thresholds, n_bins: int):
    """Every table (for CSV) and every section (for HTML)."""
    reviewed, items = data.reviewed, data.items
    overall = dismissals.dismissal_rate(reviewed, min_reviewed)
    weekly = dismissals.weekly_dismissal_rates(reviewed, min_reviewed)
    segments = dismissals.segment_dismissal_rates(reviewed, min_reviewed)
    top = dismissals.top_dismissed(reviewed)
    cal = review_thresholds.calibration(reviewed, min_count=min_reviewed, n_bins=n_bins)
    table = review_thresholds.threshold_table(items, reviewed, thresholds=thresholds,
                                              min_count=min_reviewed, since=data.since)
    drift = model_versions.score_drift(items, data.references, min_count=min_reviewed)
    models = model_versions.model_comparison(items, reviewed, drift=drift,
                                             min_count=min_reviewed, n_bins=n_bins)
    rank = {version: i for i, version in enumerate(data.version_order)}  # oldest first
    drift = sorted(drift, key=lambda d: rank.get(d.model_version, len(rank)))
    models = models.sort_values("model_version", key=lambda c: c.map(rank), kind="stable",
                                ignore_index=True)
    versions = models["model_version"].tolist()
    tables = {
        "fpr_overall": pd.DataFrame([{
            "reviewed": overall.reviewed, "dismissed": overall.dismissed,
            "confirmed": overall.confirmed, "dismissal_rate": overall.rate,
            "ci_low": overall.ci_low, "ci_high": overall.ci_high, "status": overall.status,
            "min_reviewed": min_reviewed}]),
        "fpr_weekly": weekly.assign(week_start=weekly["week_start"].astype(str)),
        "fpr_segments": segments,
        "top_dismissed": top,
        "calibration": _calibration_rows(cal),
        "thresholds": table,
        "drift": pd.DataFrame([{"model_version": d.model_version, "scored": d.n, "psi": d.psi,
                                "status": d.status, "message": d.message} for d in drift],
                              columns=["model_version", "scored", "psi", "status", "message"]),
        "models": models,
        "base_rates": base_rates.base_rate_table(items, reviewed, data.base_rates, min_reviewed),
    }
    sections = [
        _fpr_section(overall, weekly),
        _segment_section(segments, overall, min_reviewed),
        _top_section(top),
        _calibration_section(cal),
        _threshold_section(table, min_reviewed),
        _drift_section(drift),
        _model_section(models),
        base_rates.base_rate_section(tables["base_rates"]),
    ]
    summary = [
        ("scored items in scope", str(len(items))),
        ("reviewed items", str(overall.reviewed)),
        ("dismissed / confirmed", f"{overall.dismissed} / {overall.confirmed}"),
        ("false-positive (dismissal) rate", rate_cells(overall.status, overall.rate,
                                                       overall.ci_low, overall.ci_high)[0]),
        ("95% interval (Wilson)", rate_cells(overall.status, overall.rate, overall.ci_low,
                                             overall.ci_high)[1]),
        ("expected calibration error (ECE)", number(cal.ece) if cal.ece is not None
         else dismissals.NOT_ENOUGH_DATA),
        ("decisions from", _span(reviewed["decided_at"]) if len(reviewed) else "no decisions"),
        ("model versions", ", ".join(versions) or "none"),
        ("minimum reviewed items per rate", str(min_reviewed)),
    ]
    notes = []
    if data.unrecognised_decisions:
        notes.append(f"{data.unrecognised_decisions} reviewed items whose latest decision has an "
                     "action and outcome outside the policy vocabulary are left out.")
    return tables, sections, {"overall": overall, "calibration": cal, "versions": versions,
                              "summary": summary, "notes": notes}


def _calibration_rows(cal: review_thresholds.Calibration) -> pd.DataFrame:
    """Reliability bins with the headline numbers on every row (one row of counts when too few)."""
    bins = cal.table()
    if bins.empty:
        bins = pd.DataFrame({column: [float("nan")] for column in bins.columns})
    return bins.assign(status=cal.status, n=cal.n, n_confirmed=cal.n_confirmed, ece=cal.ece,
                       brier=cal.brier, n_bins=cal.n_bins, strategy=cal.strategy)


def _span(stamps: pd.Series) -> str:
    return f"{stamps.min():%Y-%m-%d} to {stamps.max():%Y-%m-%d}"


def _fpr_section(overall: dismissals.Rate, weekly: pd.DataFrame) -> Section:
    section = Section("False positives: overall and by week", "fpr", paragraphs=[
        "How often reviewed items were dismissed (no concern, or the member's clarification "
        "cleared it). Every dismissal is a person whose work was put in front of a moderator "
        "without a policy concern."])
    section.tables.append(render.overall_table(overall))
    section.tables.append(render.rates_table(weekly, [("week", "ISO week"),
                                                      ("week_start", "week starting")]))
    if len(weekly):
        section.figures.append(render.weekly_figure(weekly, overall))
    return section


#: Tags below the minimum listed in the HTML (most reviewed first); the CSV lists every one.
_MAX_SMALL_TAGS = 25


def _segment_section(segments: pd.DataFrame, overall: dismissals.Rate,
                     min_reviewed: int) -> Section:
    section = Section("False positives by segment", "segments", paragraphs=[
        "Are some groups of artists flagged without a concern more often? Rates need at least "
        f"{min_reviewed} reviewed items in the segment value; smaller groups show their counts "
        "and 'not enough data'."])
    small_tag = (segments["segment"] == "style/medium tag") & (segments["status"] != "ok")
    hidden = segments[small_tag].iloc[_MAX_SMALL_TAGS:]
    shown = segments.drop(index=hidden.index)
    section.tables.append(render.rates_table(shown, [("segment", "segment"), ("value", "value")]))
    if len(hidden):
        section.paragraphs.append(
            f"The table lists the {_MAX_SMALL_TAGS} most-reviewed tags without enough data; "
            f"{len(hidden)} further tags have fewer than {min_reviewed} reviewed items each "
            f"({int(hidden['reviewed'].sum())} item-tag pairs in all). The fpr_segments CSV "
            "file lists them.")
    figure = render.segment_figure(segments, overall)
    if figure is not None:
        section.figures.append(figure)
    return section


def _short(value: object, limit: int = 60) -> str:
    """Member-supplied text cut to ``limit`` characters for the page (the CSV keeps it whole)."""
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _top_section(top: pd.DataFrame) -> Section:
    rows = [[_short(r.item_id), _short(r.model_version), _short(r.artist_id), _short(r.title),
             _short(r.tags), number(r.triage_score), str(r.action),
             f"{r.decided_at:%Y-%m-%d %H:%M}"] for r in top.itertuples(index=False)]
    return Section("Highest-scoring dismissed items", "dismissed", paragraphs=[
        "The dismissed items the model ranked highest: the false positives most worth a second "
        "look when deciding what the score should learn. Titles and tags are the members' own "
        "text, shortened here (the CSV file has them whole)."],
        tables=[Table(["item", "model version", "artist", "title", "tags", "triage score",
                       "latest action", "decided (UTC)"], rows)])


def _calibration_section(cal: review_thresholds.Calibration) -> Section:
    section = Section("Calibration of the triage score", "calibration", paragraphs=[
        "The triage score states the estimated chance that a reviewer confirms a concern. Among "
        "reviewed items, does that chance match what reviewers decided?"])
    if cal.status != "ok":
        section.tables.append(Table(["reviewed items with a score", "confirmed", "ECE", "Brier"],
                                    [[str(cal.n), str(cal.n_confirmed), dismissals.NOT_ENOUGH_DATA,
                                      dismissals.NOT_ENOUGH_DATA]]))
        return section
    section.tables.append(Table(["reviewed items with a score", "confirmed", "ECE", "Brier"],
                                [[str(cal.n), str(cal.n_confirmed), number(cal.ece),
                                  number(cal.brier)]]))
    rows = [[f"{r.bin_low:.2f}–{r.bin_high:.2f}", str(int(r.items)), number(r.mean_score),
             pct(r.observed_confirmed_rate)] for r in cal.table().itertuples(index=False)]
    section.tables.append(Table(["score bin", "reviewed items", "mean score", "confirmed"], rows))
    figure = render.reliability_png(cal)
    if figure is not None:
        section.figures.append(figure)
    return section


def _threshold_section(table: pd.DataFrame, min_reviewed: int) -> Section:
    rows = []
    for r in table.itertuples(index=False):
        band = r.estimate == "reviewed outcomes"
        rows.append([
            f"{r.threshold:.2f}", number(r.queue_per_day, 1), str(r.reviewed_at_or_above),
            str(r.confirmed_at_or_above), r.estimate, pct(r.confirm_rate),
            interval(r.confirm_rate_ci_low, r.confirm_rate_ci_high) if band else "",
            number(r.expected_confirmations_per_day, 1),
            interval(r.expected_confirmations_ci_low, r.expected_confirmations_ci_high,
                     lambda v: number(v, 1)) if band else "",
            number(r.expected_false_positives_per_day, 1),
            interval(r.expected_false_positives_ci_low, r.expected_false_positives_ci_high,
                     lambda v: number(v, 1)) if band else "",
        ])
    days = int(table["days"].iloc[0]) if len(table) else 0
    section = Section("Review thresholds", "thresholds", paragraphs=[
        f"For each threshold: how many items a day would reach the queue (over {days} days "
        "observed) and how many of them reviewers would be expected to confirm or dismiss. "
        f"Rates come from reviewed items above the threshold when there are at least "
        f"{min_reviewed}; otherwise from the mean triage score (marked in 'estimate'). Pick the "
        "threshold whose queue fits the daily review budget."],
        tables=[Table(["threshold", "queue / day", "reviewed ≥ t", "confirmed ≥ t", "estimate",
                       "confirm rate", "95% interval", "expected confirmations / day", "95% band",
                       "expected false positives / day", "95% band"], rows)])
    if len(table):
        section.figures.append(render.threshold_figure(table))
    return section


def _drift_section(drift: list[model_versions.Drift]) -> Section:
    rows = [[d.model_version, str(d.n), number(d.psi) if d.psi is not None else "",
             d.message or _psi_reading(d.psi)] for d in drift]
    section = Section("Score drift against the training distribution", "drift", paragraphs=[
        "Does each model version see the scores it saw at training time? A large PSI means the "
        "uploads (or the pipeline) changed, and calibration and thresholds may no longer hold."],
        tables=[Table(["model version", "scored items", "PSI", "reading"], rows)])
    for d in drift:
        figure = render.drift_figure(d)
        if figure is not None:
            section.figures.append(figure)
    return section


def _psi_reading(psi: float | None) -> str:
    if psi is None:
        return ""
    return "stable" if psi < 0.1 else "moderate shift" if psi <= 0.25 else "major shift"


def _model_section(models: pd.DataFrame) -> Section:
    rows = []
    for r in models.itertuples(index=False):
        rows.append([
            str(r.model_version), str(r.scored), str(r.reviewed), str(r.confirmed),
            str(r.dismissed), *rate_cells(r.status, r.dismissal_rate, r.ci_low, r.ci_high),
            number(r.mean_score),
            number(r.ece) if pd.notna(r.ece) else dismissals.NOT_ENOUGH_DATA,
            number(r.auroc) if r.auroc_status == "ok" else dismissals.NOT_ENOUGH_DATA,
            number(r.psi) if pd.notna(r.psi) else "",
        ])
    return Section("Model versions compared", "models", paragraphs=[
        "Each model version that wrote into the queue: its volume, what reviewers decided on "
        "its items, its calibration (ECE), how well it ranks confirmed above dismissed items "
        "(AUROC) and its drift (PSI)."],
        tables=[Table(["model version", "scored", "reviewed", "confirmed", "dismissed",
                       "dismissal rate", "95% interval", "mean score", "ECE", "AUROC", "PSI"],
                      rows)])
