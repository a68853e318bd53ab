"""Assemble the analyst report: load, compute, draw, write the HTML page and its CSV tables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from slopscore.analytics import base_rates, budget, dismissals, model_versions, render, review_thresholds
from slopscore.analytics.data import QueueData, load_queue_data, open_for_report
from slopscore.analytics.definitions import DEFINITIONS
from slopscore.analytics.links import DEFAULT_QUEUE_URL, item_href, queue_base
from slopscore.analytics.render import Link, Section, Table, number, pct, rate_cells
from slopscore.analytics.threshold_report import budget_section, segments_at_threshold_section, threshold_section
from slopscore.analytics.weekly_drift import drift_section, weekly_score_drift
from slopscore.evaluation.estimates import MIN_COUNT, TOO_FEW
from slopscore.review.database import redacted

__all__ = ["DEFINITIONS", "ReportOutcome", "build_report"]

_CSV_NAMES = ("fpr_overall", "fpr_weekly", "fpr_segments", "fpr_segments_at_threshold", "top_dismissed",
              "calibration", "thresholds", "budget", "drift", "drift_weekly", "models", "base_rates")


@dataclass(frozen=True)
class ReportOutcome:
    """What :func:`build_report` wrote, with its headline numbers.

    Attributes
    ----------
    html : Path
        The self-contained report.
    csv : dict of str to Path
        The tables beside it (``fpr_overall``, ``fpr_weekly``, ``fpr_segments``,
        ``fpr_segments_at_threshold``, ``top_dismissed``, ``calibration``, ``thresholds``,
        ``budget``, ``drift``, ``drift_weekly``, ``models``, ``base_rates``).
    n_scored : int
        Scored queue items in scope.
    overall : dismissals.Rate
        Dismissal rate over every reviewed item (counts, rate and Wilson 95% interval in
        [0, 1], lower = fewer false positives).
    calibration : review_thresholds.Calibration
        ECE and Brier in [0, 1] (lower is better), or not enough data.
    model_versions : list of str
    simulated : bool
        The decisions came from the demo's simulated reviewer.
    tables : dict of str to pandas.DataFrame
        The frames written as CSV, by the same names.
    budget : budget.BudgetAnswer or None
        The operating threshold for the daily review budget, with its expected cost.
    at_threshold : dismissals.Rate or None
        Dismissal rate among reviewed items scoring at or above the operating threshold
        (in [0, 1], lower is better): the rate the headline quotes; None without a threshold.
    """

    html: Path
    csv: dict[str, Path]
    n_scored: int
    overall: dismissals.Rate
    calibration: review_thresholds.Calibration
    model_versions: list[str]
    simulated: bool
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    budget: budget.BudgetAnswer | None = None
    at_threshold: dismissals.Rate | None = None


def build_report(engine_or_url: Engine | str, out_html: str | os.PathLike[str], *,
                 since: date | datetime | str | None = None, model_version: str | None = None,
                 min_reviewed: int = dismissals.DEFAULT_MIN_REVIEWED,
                 thresholds=review_thresholds.DEFAULT_THRESHOLDS,
                 n_bins: int = 10, daily_budget: float | None = None,
                 queue_url: str = DEFAULT_QUEUE_URL) -> ReportOutcome:
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
    daily_budget : float, optional
        Items moderators can review per day (> 0); default: the median reviewed items per
        day with decisions, else the configured ``training.review_budget_per_day``.
    queue_url : str
        The review app's address; items link to ``{queue_url}/items/{queue item id}``.

    Raises
    ------
    slopscore.review.database.QueueUnavailableError
        The database cannot be read as a review queue.
    ValueError
        ``queue_url`` is not an http(s) address, or ``daily_budget`` is not positive.
    """
    base = queue_base(queue_url)
    if daily_budget is not None:
        daily_budget = budget.check_budget(daily_budget)
    if isinstance(engine_or_url, str):
        engine = open_for_report(engine_or_url)
        try:
            data = load_queue_data(engine, since=since, model_version=model_version)
        finally:
            engine.dispose()
    else:
        engine = engine_or_url
        data = load_queue_data(engine, since=since, model_version=model_version)
    tables, sections, headline = _compute(data, min_reviewed, thresholds, n_bins, daily_budget, base)
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
        "headline": headline["text"], "sections": sections,
        "definitions": [d.format(min_reviewed=min_reviewed, n_bins=n_bins, min_count=MIN_COUNT)
                        for d in DEFINITIONS],
        "csv_files": [path.name for path in paths.values()],
    })
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(html, encoding="utf-8")
    return ReportOutcome(out_html, paths, len(data.items), headline["overall"],
                         headline["calibration"], headline["versions"], data.simulated, tables,
                         budget=headline["budget"], at_threshold=headline["at_threshold"])


def _compute(data: QueueData, min_reviewed: int, thresholds, n_bins: int, daily_budget: float | None,
             queue_url: str):
    """Every table (for CSV) and every section (for HTML)."""
    reviewed, items = data.reviewed, data.items
    overall = dismissals.dismissal_rate(reviewed, min_reviewed)
    weekly = dismissals.weekly_dismissal_rates(reviewed, min_reviewed)
    segments = dismissals.segment_dismissal_rates(reviewed, min_reviewed)
    top = dismissals.top_dismissed(reviewed)
    cal = review_thresholds.calibration(reviewed, min_count=min_reviewed, n_bins=n_bins)
    table = review_thresholds.threshold_table(items, reviewed, thresholds=thresholds,
                                              min_count=min_reviewed, since=data.since)
    n, source = ((daily_budget, "--daily-budget") if daily_budget is not None
                 else budget.default_daily_budget(reviewed))
    answer = budget.budget_answer(items, reviewed, n, budget_source=source, min_count=min_reviewed,
                                  since=data.since)
    at = (reviewed[reviewed["triage_score"] >= answer.threshold] if answer.threshold is not None
          else reviewed.iloc[0:0])
    at_rate = dismissals.dismissal_rate(at, min_reviewed) if answer.threshold is not None else None
    at_segments = dismissals.segment_dismissal_rates(at, min_reviewed)
    drift = model_versions.score_drift(items, data.references, min_count=min_reviewed)
    drift_weekly = weekly_score_drift(items, data.references, min_count=min_reviewed)
    models = model_versions.model_comparison(items, reviewed, drift=drift,
                                             min_count=min_reviewed, n_bins=n_bins)
    rank = {version: i for i, version in enumerate(data.version_order)}  # oldest first
    drift = sorted(drift, key=lambda d: rank.get(d.model_version, len(rank)))
    drift_weekly = drift_weekly.sort_values("model_version", key=lambda c: c.map(rank), kind="stable",
                                            ignore_index=True)
    models = models.sort_values("model_version", key=lambda c: c.map(rank), kind="stable",
                                ignore_index=True)
    versions = models["model_version"].tolist()
    top = top.assign(queue_link=[item_href(queue_url, i) for i in top["queue_item_id"]])
    tables = {
        "fpr_overall": pd.DataFrame([_rate_row("every reviewed item", None, overall, min_reviewed)]
                                    + ([_rate_row("at or above the operating threshold", answer.threshold,
                                                  at_rate, min_reviewed)] if at_rate else [])),
        "fpr_weekly": weekly.assign(week_start=weekly["week_start"].astype(str)),
        "fpr_segments": segments,
        "fpr_segments_at_threshold": at_segments.assign(threshold=answer.threshold),
        "top_dismissed": top,
        "calibration": _calibration_rows(cal),
        "thresholds": table,
        "budget": pd.DataFrame([{"budget_per_day": answer.budget, "budget_source": answer.budget_source,
                                 "threshold": answer.threshold, "days_over_budget": answer.days_over_budget,
                                 **(answer.row or {"days": answer.days}), "answer": answer.sentence()}]),
        "drift": pd.DataFrame([{"model_version": d.model_version, "scored": d.n, "psi": d.psi,
                                "status": d.status, "message": d.message} for d in drift],
                              columns=["model_version", "scored", "psi", "status", "message"]),
        "drift_weekly": drift_weekly.assign(week_start=drift_weekly["week_start"].astype(str)),
        "models": models,
        "base_rates": base_rates.base_rate_table(items, reviewed, data.base_rates, min_reviewed),
    }
    sections = [
        budget_section(answer),
        segments_at_threshold_section(at_segments, at_rate, answer.threshold, min_reviewed),
        _fpr_section(overall, weekly),
        _segment_section(segments, overall, min_reviewed),
        _top_section(top),
        _calibration_section(cal),
        threshold_section(table, min_reviewed),
        drift_section(drift_weekly, drift),
        _model_section(models),
        base_rates.base_rate_section(tables["base_rates"]),
    ]
    quoted = at_rate if at_rate is not None else overall
    which = (f"reviewed items scoring ≥ {answer.threshold:.3f}, the operating threshold"
             if at_rate is not None else "every reviewed item (no operating threshold)")
    text = (f"Headline false-positive (dismissal) rate, among {which}: "
            + (f"{pct(quoted.rate)} ({rate_cells(quoted.status, quoted.rate, quoted.ci_low, quoted.ci_high)[1]}, "
               f"{quoted.dismissed} of {quoted.reviewed})" if quoted.rate is not None
               else f"{dismissals.NOT_ENOUGH_DATA} ({quoted.dismissed} of {quoted.reviewed})")
            + ". " + answer.sentence())
    summary = [
        ("scored items in scope", str(len(items))),
        ("reviewed items", str(overall.reviewed)),
        ("dismissed / confirmed", f"{overall.dismissed} / {overall.confirmed}"),
        ("operating threshold (daily budget)", f"{answer.threshold:.3f} ({answer.budget:g} a day)"
         if answer.threshold is not None else f"none fits {answer.budget:g} a day"),
        *_rate_summary(f"at the operating threshold (score ≥ {answer.threshold:.3f})"
                       if at_rate is not None else None, at_rate),
        *_rate_summary("over every reviewed item", overall),
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
                              "summary": summary, "notes": notes, "text": text, "budget": answer,
                              "at_threshold": at_rate}


def _rate_row(scope: str, threshold: float | None, rate: dismissals.Rate, min_reviewed: int) -> dict:
    return {"scope": scope, "threshold": threshold, "reviewed": rate.reviewed, "dismissed": rate.dismissed,
            "confirmed": rate.confirmed, "dismissal_rate": rate.rate, "ci_low": rate.ci_low,
            "ci_high": rate.ci_high, "status": rate.status, "min_reviewed": min_reviewed}


def _rate_summary(scope: str | None, rate: dismissals.Rate | None) -> list[tuple[str, str]]:
    """Summary rows of one dismissal rate, labelled with the items it counts."""
    if rate is None:
        return []
    cells = rate_cells(rate.status, rate.rate, rate.ci_low, rate.ci_high)
    return [(f"false-positive (dismissal) rate {scope}", cells[0]),
            (f"95% interval (Wilson), {rate.dismissed} of {rate.reviewed} dismissed", cells[1])]


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
    rows = [[Link(_short(r.item_id), r.queue_link), _short(r.model_version), _short(r.artist_id),
             _short(r.title), _short(r.tags), number(r.triage_score), str(r.action),
             f"{r.decided_at:%Y-%m-%d %H:%M}"] for r in top.itertuples(index=False)]
    return Section("Highest-scoring dismissed items", "dismissed", paragraphs=[
        "The dismissed items the model ranked highest: the false positives most worth a second "
        "look when deciding what the score should learn. Each item links to its page on the review "
        "app (--queue-url). Titles and tags are the members' own text, shortened here (the CSV "
        "file has them whole)."],
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
             pct(r.observed_confirmed_rate) if r.bin_status == "ok" else TOO_FEW]
            for r in cal.table().itertuples(index=False)]
    section.paragraphs.append(f"A bin with fewer than {MIN_COUNT} reviewed items says '{TOO_FEW}': "
                              "its observed share would be noise.")
    section.tables.append(Table(["score bin", "reviewed items", "mean score", "confirmed"], rows))
    figure = render.reliability_png(cal)
    if figure is not None:
        section.figures.append(figure)
    return section


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
