"""``slopscore demo``: the whole pipeline, offline, on a generated synthetic platform.

Generate the platform, train on its history, evaluate on held-out artists, promote the
model to ``@champion`` (through ``slopscore promote``'s code), score today's uploads and
print the top of the review queue with reasons.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from slopscore.analytics.build import build_report
from slopscore.batch.feature_pipeline import write_manifest
from slopscore.batch.file_analysis import LocalFileAnalyser
from slopscore.batch.score_table import score_uploads
from slopscore.config import load_settings
from slopscore.demo.decisions import labels_from_manifest, simulate_decisions
from slopscore.demo.platform import generate_platform
from slopscore.embedding.backbones import DEFAULT_BACKBONE, EFFNET_BACKBONE, weights_available_offline
from slopscore.media.manifest import read_manifest
from slopscore.model.registry import ui_command
from slopscore.review.ingest import QueueWriter, open_queue, register_model_version
from slopscore.terminal.console import console, print_queue, print_training_summary, progress_bars
from slopscore.training.promotion import PromotionOutcome, comparison_lines, promote
from slopscore.training.train import TrainOutcome, train

__all__ = ["DemoOutcome", "choose_demo_backbone", "run_demo"]

#: Simulated reviews per upload day in the demo (a small moderation team's budget).
_REVIEWS_PER_DAY = 5


def choose_demo_backbone(weights_dir: str | Path | None = None) -> tuple[str, str]:
    """The production default when its weights are already here, else ``effnet-lite0``.

    Returns
    -------
    (backbone, why) : tuple of str
    """
    if weights_available_offline(DEFAULT_BACKBONE, weights_dir):
        return DEFAULT_BACKBONE, "its weights are in the local cache"
    return EFFNET_BACKBONE, (
        f"the weights of the production default {DEFAULT_BACKBONE} are not in the local "
        "cache and the demo never downloads. effnet-lite0 is an ImageNet EfficientNet-Lite0, "
        "NOT CLIP; run with --backbone and --weights-dir to use CLIP weights you have"
    )


def run_demo(out: str | Path, *, backbone: str | None = None,
             weights_dir: str | Path | None = None) -> "DemoOutcome":
    """Generate the platform under ``out``, train, evaluate, score today's uploads; print it all."""
    out = Path(out)
    console.rule("slopscore demo (synthetic data, offline)")
    platform = generate_platform(out / "platform", seed=0)
    counts = ", ".join(f"{label} {n}" for label, n in sorted(platform.counts.items()))
    console.print(f"generated a synthetic platform in {platform.root}: {counts}")
    why = "chosen with --backbone"
    if backbone is None:
        backbone, why = choose_demo_backbone(weights_dir)
    console.print(f"backbone: [bold]{backbone}[/bold] ({why})")
    settings = load_settings(None, {
        "embedding.backbone": backbone,
        "embedding.allow_download": False,
        "embedding.weights_dir": str(weights_dir) if weights_dir else None,
        "cache.dir": str(out / "cache"),
        "tracking.store_dir": str(out / "mlruns"),
    })
    console.rule("train on the history (uploads before today)")
    with progress_bars() as progress:
        trained = train(platform.history, settings, out / "training", progress=progress,
                        log=console.print)
    print_training_summary(trained)
    past = _held_out_history(platform.history, trained.test_artists, out / "platform")
    console.rule("promote the candidate to @champion")
    with progress_bars() as progress:  # a rerun compares with the earlier demo's champion first
        promoted = promote(trained.registered.version, settings, eval_manifest=past, out_dir=out / "promote",
                           apply=True, progress=progress, log=console.print)
    for line in comparison_lines(promoted):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.rule("score into the review queue")
    database = open_queue(f"sqlite:///{(out / 'queue.db').resolve()}")
    info = trained.scorer.info
    register_model_version(database, info.model_version, info.backbone_id, info.reference_histogram,
                           info.base_rate)
    analyser = LocalFileAnalyser.open(settings)  # one loaded encoder for both runs
    with progress_bars() as progress:
        score_uploads(trained.scorer, past, settings, out / "scoring-past", history=platform.history,
                      queue=QueueWriter(database), analyser=analyser, progress=progress)
        queue = score_uploads(trained.scorer, platform.new_uploads, settings, out / "scoring",
                              history=platform.history, queue=QueueWriter(database), analyser=analyser,
                              progress=progress).scores
    simulated = simulate_decisions(database, labels_from_manifest(platform.manifest),
                                   budget_per_day=_REVIEWS_PER_DAY, seed=0)
    console.print(f"SIMULATED moderator decisions (from the synthetic labels, for the analyst "
                  f"report): {simulated.decisions} decisions on {simulated.reviewed} items "
                  f"({simulated.confirmed} confirmed, {simulated.dismissed} dismissed)")
    report = build_report(database, out / "report" / "analyst_report.html")
    queue_path = out / "queue.csv"
    queue.to_csv(queue_path, index=False)
    print_queue(queue, limit=12)
    console.print(f"full queue: {queue_path} ({len(queue)} rows = "
                  f"{int((queue['status'] == 'embedded').sum())} scored + "
                  f"{int((queue['status'] != 'embedded').sum())} skipped)")
    password = _demo_moderator(database)
    console.print(f"evaluation report: {trained.evaluation.report}")
    console.print(f"analyst report: {report.html} ({_describe_rate(report.overall)})")
    console.print(f"review queue: slopscore serve --db sqlite:///{out / 'queue.db'}  then open "
                  f"http://127.0.0.1:8000 and sign in as [bold]demo[/bold] / [bold]{password}[/bold]")
    champion = f"models:/{settings.tracking.model_name}@{settings.tracking.alias}"
    console.print(f"MLflow: {ui_command(settings.tracking.store_dir)}  (model {champion}, version "
                  f"{trained.registered.version})")
    return DemoOutcome(trained, queue, queue_path, promoted)


def _describe_rate(rate) -> str:
    if rate.rate is None:
        return f"{rate.reviewed} reviewed items: not enough data for a dismissal rate"
    return (f"dismissal rate {100 * rate.rate:.0f}% of {rate.reviewed} reviewed items, "
            f"95% CI {100 * rate.ci_low:.0f}–{100 * rate.ci_high:.0f}%")


def _held_out_history(history: Path, artists: frozenset[str], folder: Path) -> Path:
    """The earlier uploads of the artists held out of training (the scorer never saw them)."""
    rows = [row for row in read_manifest(history).rows if row.artist_id in artists]
    return write_manifest(rows, folder / "held_out_history.csv")


def _demo_moderator(database) -> str:
    """A ``demo`` admin account (it decides and manages templates and accounts) with a fresh
    random password (printed once)."""
    from slopscore.review.accounts import create_moderator, set_password
    from slopscore.review.validation import InvalidInput

    password = secrets.token_urlsafe(12)
    try:
        create_moderator(database, "demo", password, role="admin")
    except InvalidInput:  # a rerun over an earlier demo: same account, new password
        set_password(database, "demo", password)
    return password


@dataclass
class DemoOutcome:
    """What the demo produced."""

    trained: TrainOutcome
    queue: pd.DataFrame
    queue_path: Path
    promotion: PromotionOutcome | None = None
