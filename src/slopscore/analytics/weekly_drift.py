"""Score drift over time: PSI per ISO week of upload, per model version, against its reference.

One PSI over a version's whole life hides *when* the uploads changed; a week-by-week PSI
shows a slop burst or a pipeline change in the week it happened. The reference is the
histogram recorded with the model version (:func:`.model_versions.parse_reference`); the
PSI is :func:`.model_versions.population_stability_index`. A **week** is the ISO week
(UTC) of the item's ``day`` (upload time, else scoring time).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from slopscore.analytics import render
from slopscore.analytics.dismissals import DEFAULT_MIN_REVIEWED, NOT_ENOUGH_DATA, check_min_count
from slopscore.analytics.model_versions import NO_REFERENCE, parse_reference, population_stability_index
from slopscore.analytics.render import Figure, Section, Table, number

__all__ = ["COLUMNS", "drift_section", "psi_reading", "weekly_drift_figure", "weekly_score_drift"]

COLUMNS = ["model_version", "week", "week_start", "scored", "psi", "status", "reading"]


def psi_reading(psi: float | None) -> str:
    """Rule of thumb: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift."""
    if psi is None or not np.isfinite(psi):
        return ""
    return "stable" if psi < 0.1 else "moderate shift" if psi <= 0.25 else "major shift"


def weekly_score_drift(items: pd.DataFrame, references: Mapping[str, object], *,
                       min_count: int = DEFAULT_MIN_REVIEWED) -> pd.DataFrame:
    """PSI of each (model version, ISO week of upload) against the version's reference.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, by version then week (oldest first): ``scored`` items that week;
        ``psi`` >= 0 (0 = the training-time distribution, higher = more drift), NaN with
        status ``not_enough_data`` (fewer than ``min_count`` items that week, or in the
        reference) or ``no_reference``; ``reading`` in words.
    """
    min_count = check_min_count(min_count)
    scored = items[np.isfinite(items["triage_score"].to_numpy(dtype=float))] if len(items) else items
    if scored.empty:
        return pd.DataFrame(columns=COLUMNS)
    days = pd.to_datetime(scored["day"], utc=True)
    iso = days.dt.isocalendar()
    scored = scored.assign(week=[f"{y:04d}-W{w:02d}" for y, w in zip(iso["year"], iso["week"])],
                           week_start=(days - pd.to_timedelta(days.dt.day_of_week, unit="D")).dt.date)
    rows = []
    for (version, week, start), group in scored.groupby(["model_version", "week", "week_start"], sort=True):
        scores = group["triage_score"].to_numpy(dtype=float)
        parsed = parse_reference(references.get(version))
        row = {"model_version": str(version), "week": week, "week_start": start, "scored": len(scores),
               "psi": np.nan, "status": "no_reference", "reading": NO_REFERENCE}
        if parsed is not None:
            edges, reference = parsed
            if len(scores) < min_count or reference.sum() < min_count:
                row.update(status="not_enough_data", reading=NOT_ENOUGH_DATA)
            else:
                current, _ = np.histogram(np.clip(scores, edges[0], edges[-1]), bins=edges)
                psi = population_stability_index(reference, current)
                row.update(psi=psi, status="ok", reading=psi_reading(psi))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def draw_weekly_drift(weekly: pd.DataFrame):
    """The matplotlib figure of PSI per week, one line per version (None without a PSI)."""
    ok = weekly[weekly["status"] == "ok"]
    if ok.empty:
        return None
    plt = render.pyplot()
    weeks = sorted(weekly["week"].unique())
    position = {week: i for i, week in enumerate(weeks)}
    fig, axis = plt.subplots(figsize=(min(16.0, max(8.0, 0.3 * len(weeks))), 3.6))
    for version, group in ok.groupby("model_version", sort=True):
        axis.plot([position[w] for w in group["week"]], group["psi"], marker="o", label=str(version))
    axis.axhline(0.1, color="grey", linestyle=":", label="0.1: moderate shift")
    axis.axhline(0.25, color="grey", linestyle="--", label="0.25: major shift")
    axis.set_ylim(bottom=0)
    axis.set_ylabel("PSI against the reference")
    axis.set_title("Score drift per ISO week of upload")
    render.thin_ticks(axis, weeks)
    render.legend_outside(axis)
    return fig


def weekly_drift_figure(weekly: pd.DataFrame) -> Figure | None:
    """PSI per week as a PNG figure for the report; None when no week has a PSI."""
    fig = draw_weekly_drift(weekly)
    if fig is None:
        return None
    return Figure(render.png(fig), "PSI of each model version's scored items per ISO week of upload "
                  "against the score distribution recorded for it at training time. Weeks with "
                  "too few items (or versions without a reference) are left out; the table lists them.")


def drift_section(weekly: pd.DataFrame, drift) -> Section:
    """The report's drift section: PSI per week (table and plot), then each version's histogram."""
    rows = [[str(r.model_version), str(r.week), str(r.scored), number(r.psi), str(r.reading)]
            for r in weekly.itertuples(index=False)]
    section = Section("Score drift against the training distribution, per week", "drift", paragraphs=[
        "Does each model version still see the scores it saw at training time? PSI per ISO week of "
        "upload: a week with a large PSI is when the uploads (or the pipeline) changed, and "
        "calibration and thresholds may no longer hold from then on."],
        tables=[Table(["model version", "week", "scored items", "PSI", "reading"], rows)])
    figure = weekly_drift_figure(weekly)
    if figure is not None:
        section.figures.append(figure)
    for d in drift:
        figure = render.drift_figure(d)
        if figure is not None:
            section.figures.append(figure)
    return section
