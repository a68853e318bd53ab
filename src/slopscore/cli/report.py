"""``slopscore report``: the analyst report (false positives, calibration, thresholds, drift)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

DEFAULT_DB = "sqlite:///demo/queue.db"


def _known_model_versions(db: str) -> list[str]:
    """Model versions that scored into the queue at ``db`` (opened read-only)."""
    from sqlalchemy import select, union

    from slopscore.analytics.data import open_for_report
    from slopscore.review.schema import ModelVersion, QueueItem

    engine = open_for_report(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(union(select(ModelVersion.model_version),
                                            select(QueueItem.model_version).distinct())).scalars()
            return sorted({row for row in rows if row})
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("report")
    def report(
        out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False,
                                          help="HTML file to write; CSV tables go beside it "
                                               "(<name>.fpr_segments.csv, ...).")],
        db: Annotated[str, typer.Option("--db", envvar="SLOPSCORE_QUEUE_URL",
                                        help="Review queue database URL (read only).")] = DEFAULT_DB,
        since: Annotated[Optional[datetime], typer.Option(
            formats=["%Y-%m-%d"], help="Only decisions (and uploads) on or after this "
                                       "date, YYYY-MM-DD (UTC).")] = None,
        model_version: Annotated[Optional[str], typer.Option(
            "--model-version", help="Only this model version (default: all, compared).")] = None,
        min_reviewed: Annotated[int, typer.Option(
            "--min-reviewed", min=1, help="Fewest reviewed items for a rate; below it the "
                                          "report says 'not enough data'.")] = 30,
        daily_budget: Annotated[Optional[float], typer.Option(
            "--daily-budget", help="Items moderators can review per day; the report answers which "
                                   "threshold fits it (default: the median reviewed per day with "
                                   "decisions, else training.review_budget_per_day).")] = None,
        queue_url: Annotated[str, typer.Option(
            "--queue-url", help="The review app's address; items link to BASE/items/<id>.")
        ] = "http://127.0.0.1:8000",
    ) -> None:
        """Write the analyst report: dismissal (false-positive) rates with intervals, calibration,
        review thresholds, score drift and model versions, as one offline HTML file plus CSV."""
        from slopscore.analytics.budget import check_budget
        from slopscore.analytics.build import build_report
        from slopscore.analytics.links import queue_base
        from slopscore.review.database import QueueUnavailableError, redacted

        try:
            queue_base(queue_url)
            if daily_budget is not None:
                check_budget(daily_budget)
        except ValueError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        try:
            if model_version is not None and model_version not in (known := _known_model_versions(db)):
                typer.secho(f"error: no model version {model_version!r} in {redacted(db)}; known: "
                            f"{', '.join(known) or 'none (nothing scored yet)'}", err=True, fg=typer.colors.RED)
                raise typer.Exit(2)
            outcome = build_report(db, out, since=since.date() if since else None,
                                   model_version=model_version, min_reviewed=min_reviewed,
                                   daily_budget=daily_budget, queue_url=queue_url)
        except QueueUnavailableError as exc:
            lines = [line.strip() for line in str(exc).splitlines()
                     if line.strip() and not line.startswith("(Background on this error")]
            typer.secho(f"error: {' '.join(lines)}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        def quoted(rate) -> str:
            return (f"{rate.rate:.1%} dismissed ({rate.ci_low:.1%} – {rate.ci_high:.1%})"
                    if rate.rate is not None else "dismissal rate: not enough data")

        typer.echo(f"{outcome.overall.reviewed} reviewed items, {quoted(outcome.overall)} over every "
                   f"reviewed item; {outcome.n_scored} scored items")
        if outcome.at_threshold is not None:
            typer.echo(f"at the operating threshold {outcome.budget.threshold:.3f}: "
                       f"{outcome.at_threshold.reviewed} reviewed, {quoted(outcome.at_threshold)}")
        typer.echo(outcome.budget.sentence())
        if outcome.simulated:
            typer.echo("note: the decisions include SIMULATED ones (demo data)")
        typer.echo(f"report: {outcome.html}")
        typer.echo("tables: " + ", ".join(p.name for p in outcome.csv.values()))
