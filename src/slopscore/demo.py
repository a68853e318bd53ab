"""``slopscore demo``: the whole pipeline, offline, on a generated synthetic platform.

Generate the platform, train on its history, evaluate on held-out artists, score
today's uploads and print the top of the review queue with reasons.
"""

from __future__ import annotations

from pathlib import Path

from dataclasses import dataclass

import pandas as pd

from slopscore.backbones import DEFAULT_BACKBONE, EFFNET_BACKBONE, weights_available_offline
from slopscore.config import load_settings
from slopscore.console import console, print_queue, print_training_summary, progress_bars
from slopscore.demo_platform import generate_platform
from slopscore.review_queue import open_queue, register_model_version
from slopscore.scoring import score_uploads
from slopscore.tracking import ui_command
from slopscore.training import TrainOutcome, train

__all__ = ["DemoOutcome", "choose_demo_backbone", "run_demo"]


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
    console.rule("score today's uploads into the review queue")
    database = open_queue(f"sqlite:///{(out / 'queue.db').resolve()}")
    info = trained.scorer.info
    register_model_version(database, info.model_version, info.backbone_id, info.reference_histogram)
    with progress_bars() as progress:
        queue = score_uploads(trained.scorer, platform.new_uploads, settings, out / "scoring",
                              history=platform.history, queue=database, progress=progress).scores
    queue_path = out / "queue.csv"
    queue.to_csv(queue_path, index=False)
    print_queue(queue, limit=12)
    console.print(f"full queue: {queue_path} ({len(queue)} rows = "
                  f"{int((queue['status'] == 'embedded').sum())} scored + "
                  f"{int((queue['status'] != 'embedded').sum())} skipped)")
    console.print(f"evaluation report: {trained.evaluation.report}")
    console.print(f"MLflow: {ui_command(settings.tracking.store_dir)}  (model {trained.registered.alias_uri})")
    return DemoOutcome(trained, queue, queue_path)


@dataclass
class DemoOutcome:
    """What the demo produced."""

    trained: TrainOutcome
    queue: pd.DataFrame
    queue_path: Path
