"""Terminal output for the CLI: progress, summaries, tables (Rich)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.table import Table

from slopscore.progress import progress_bar

__all__ = ["console", "print_backbones", "print_embed_summary", "run_with_progress"]

console = Console()
T = TypeVar("T")


def run_with_progress(job: Callable[[Callable], T], description: str = "embedding") -> T:
    """Run ``job(progress)``; ``progress(total)`` opens a bar and returns its ``advance``."""
    with contextlib.ExitStack() as stack:
        return job(lambda total: stack.enter_context(progress_bar(description, total)))


def print_embed_summary(summary) -> None:
    """Counts (input = embedded + skipped), reasons, backbone, speed, output paths."""
    rate = summary.n_input / summary.seconds if summary.seconds else 0.0
    console.print(f"backbone: [bold]{summary.backbone_id}[/bold] — {summary.backbone_description}")
    console.print(f"device: {summary.device}, precision: {summary.precision}")
    console.print(
        f"input {summary.n_input} = embedded {summary.n_embedded} "
        f"(from cache {summary.n_from_cache}) + skipped {summary.n_skipped}"
        f"   [{summary.seconds:.1f} s, {rate:.1f} items/s]"
    )
    if summary.skip_reasons:
        table = Table("skip reason", "items", title="skipped")
        for reason, count in summary.skip_reasons.most_common():
            table.add_row(reason, str(count))
        console.print(table)
    console.print(f"embeddings: {summary.out}\nskip report: {summary.skip_report}")


def print_backbones(weights_dir: Path | None) -> None:
    """The accepted forms and whether the named ones load offline here."""
    from slopscore.backbones import DEFAULT_BACKBONE, EFFNET_BACKBONE, weights_available_offline

    table = Table("backbone", "CLIP", "available offline here")
    for name, is_clip in ((DEFAULT_BACKBONE, "yes"), (EFFNET_BACKBONE, "no")):
        table.add_row(name, is_clip, "yes" if weights_available_offline(name, weights_dir) else "no")
    console.print(table)
    console.print(
        "Other forms: open_clip:ARCH/TAG, open_clip:ARCH@/path/weights.safetensors, "
        "open_clip:local-dir:/path, open_clip:hf-hub:org/repo"
    )
