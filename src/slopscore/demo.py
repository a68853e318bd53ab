"""``slopscore demo``: the main job end to end, offline, on a generated synthetic platform."""

from __future__ import annotations

from pathlib import Path

from slopscore.backbones import DEFAULT_BACKBONE, EFFNET_BACKBONE, weights_available_offline
from slopscore.config import load_settings
from slopscore.console import console, print_embed_summary, run_with_progress
from slopscore.demo_platform import generate_platform
from slopscore.embedding_job import EmbedJobSummary, run_embedding_job

__all__ = ["choose_demo_backbone", "run_demo"]


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
             weights_dir: str | Path | None = None) -> EmbedJobSummary:
    """Generate the platform under ``out`` and embed every upload; print what happened."""
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
    })
    summary = run_with_progress(lambda progress: run_embedding_job(
        platform.manifest, out / "embeddings.parquet", settings, progress=progress))
    print_embed_summary(summary)
    return summary
