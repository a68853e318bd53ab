"""Terminal output for the CLI: progress, summaries, tables (Rich)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from rich.console import Console
from rich.table import Table

from slopscore.terminal.progress import progress_bar

__all__ = ["console", "print_backbones", "print_embed_summary", "print_metric_estimates", "print_queue",
           "print_training_summary", "progress_bars"]

console = Console()


@contextlib.contextmanager
def progress_bars():
    """Yield ``open_bar(description, total) -> advance``; opening a bar finishes the previous one."""
    with contextlib.ExitStack() as stack:
        def open_bar(description: str, total: int | None):
            stack.pop_all().close()
            return stack.enter_context(progress_bar(description, total))

        yield open_bar


def print_training_summary(outcome) -> None:
    """Headline metrics of a training run and where its outputs went."""
    print_metric_estimates(outcome.evaluation.estimates, "held-out artists")
    console.print(f"trained on {outcome.n_train} items, evaluated on {outcome.n_test}; "
                  f"registered {outcome.registered.alias_uri} (version {outcome.registered.version}); "
                  f"@champion is unchanged until `slopscore promote --candidate {outcome.registered.version}`")


def print_metric_estimates(estimates: dict, where: str) -> None:
    """Detector and triage metrics side by side, each with its 95% interval, and the counts."""
    detector, triage = estimates["detector"], estimates["triage"]
    table = Table(f"metric ({where})", "detector P(AI)", "triage score")
    first_d, first_t = next(iter(detector.values())), next(iter(triage.values()))
    table.add_row("positives / negatives", f"{first_d.n_positive} / {first_d.n_negative}",
                  f"{first_t.n_positive} / {first_t.n_negative}")
    for key, label in (("auroc", "AUROC"), ("average_precision", "average precision"),
                       ("brier_score", "Brier score"), ("ece", "ECE"),
                       ("tpr_at_fpr_1pct", "detection at 1% FPR"),
                       ("tpr_at_fpr_5pct", "detection at 5% FPR")):
        table.add_row(label, _estimate(detector.get(key)), _estimate(triage.get(key)))
    console.print(table)
    console.print("values with 95% intervals over artists; 'too few' below 20 positives or negatives")


def _estimate(estimate) -> str:
    if estimate is None:
        return "n/a"
    return "too few" if estimate.status != "ok" else estimate.text()


def _fmt(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def print_queue(queue, limit: int = 10) -> None:
    """The top of the review queue: score, artist, item, reasons (all text escaped)."""
    import json

    from rich.markup import escape

    table = Table("#", "triage", "P(AI)", "item", "artist", "why", title="review queue (highest first)",
                  show_lines=True)
    for rank, row in enumerate(queue.head(limit).itertuples(), start=1):
        reasons = json.loads(row.reasons) if isinstance(row.reasons, str) else []
        table.add_row(str(rank), _fmt(row.triage_score), _fmt(row.p_ai), escape(str(row.item_id)),
                      escape(str(row.artist_id)), escape("; ".join(reasons)) or "-")
    console.print(table)


def print_embed_summary(summary) -> None:
    """Counts (input = embedded + skipped), reasons, backbone, speed, output paths."""
    rate = summary.n_input / summary.seconds if summary.seconds else 0.0
    console.print(f"backbone: [bold]{summary.backbone_id}[/bold] — {summary.backbone_description}")
    console.print(f"device: {summary.device}, precision: {summary.precision}, {summary.runtime}")
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
    from slopscore.embedding.backbones import DEFAULT_BACKBONE, EFFNET_BACKBONE, weights_available_offline

    table = Table("backbone", "CLIP", "available offline here")
    for name, is_clip in ((DEFAULT_BACKBONE, "yes"), (EFFNET_BACKBONE, "no")):
        table.add_row(name, is_clip, "yes" if weights_available_offline(name, weights_dir) else "no")
    console.print(table)
    console.print(
        "Other forms: open_clip:ARCH/TAG, open_clip:ARCH@/path/weights.safetensors, "
        "open_clip:local-dir:/path, open_clip:hf-hub:org/repo"
    )
