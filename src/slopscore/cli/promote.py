"""``slopscore promote``: compare a candidate with ``@champion`` and move the alias when asked."""

# No ``from __future__ import annotations``: the options below are local to register(), and
# typer must see them as objects, not as names to look up in this module.
from pathlib import Path
from typing import Annotated, Optional

import typer

from slopscore.training.promotion_rule import RULE

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    from slopscore.cli.main import CacheDirOption, ConfigOption, StoreOption, WeightsDirOption, _settings, _user_errors

    @app.command("promote", help=(
        "Compare registered version CANDIDATE with @champion on one labelled manifest (both score "
        "the same items; metrics with 95% intervals, per-segment false-positive rates at the review "
        "threshold), log the comparison to MLflow and print it. @champion moves only with --apply "
        "(after the comparison, whatever it shows) or --if-better (only when " + RULE + "). "
        "Exit 1 when --if-better refuses. Without a champion yet, --apply promotes with no "
        "comparison."))
    def promote(
        candidate: Annotated[str, typer.Option("--candidate", help="Registered version to promote, e.g. 2.")],
        eval_manifest: Annotated[Optional[Path], typer.Option(
            "--eval", exists=True, dir_okay=False, help="Labelled manifest both models score.")] = None,
        apply: Annotated[bool, typer.Option("--apply", help="Move @champion after showing the comparison.")] = False,
        if_better: Annotated[bool, typer.Option("--if-better", help="Move @champion only when the candidate "
                                                                    "is not worse (the rule above).")] = False,
        out: Annotated[Path, typer.Option("--out", "-o", file_okay=False,
                                          help="Folder for both reports and comparison.csv.")] = Path("slopscore-promote"),
        config: ConfigOption = None,
        cache_dir: CacheDirOption = None,
        weights_dir: WeightsDirOption = None,
        mlflow_store: StoreOption = None,
    ) -> None:
        settings = _settings(config, weights_dir=weights_dir, cache_dir=cache_dir, mlflow_store=mlflow_store)
        from slopscore.terminal.console import console, progress_bars
        from slopscore.training.promotion import comparison_lines
        from slopscore.training.promotion import promote as run_promotion

        with _user_errors(), progress_bars() as progress:
            outcome = run_promotion(candidate, settings, eval_manifest=eval_manifest, out_dir=out, apply=apply,
                                    if_better=if_better, progress=progress, log=console.print)
        for line in comparison_lines(outcome):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        if outcome.refused:
            raise typer.Exit(1)
