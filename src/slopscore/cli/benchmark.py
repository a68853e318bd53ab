"""``slopscore benchmark``: the real-image benchmark (real images, simulated timelines).

Thin: parse, validate, call :func:`slopscore.benchmark.run.run_benchmark`, print the compact
detector-vs-triage table. Heavy modules are imported inside the command.
"""

# No ``from __future__ import annotations``: the options below are local to register(), and
# typer must see them as objects, not as names to look up in this module.
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``benchmark`` to ``app`` (called by :mod:`slopscore.cli.main` once its options exist)."""
    from slopscore.cli.main import BackboneOption, CacheDirOption, ConfigOption, StoreOption

    @app.command("benchmark")
    def benchmark(
        manifests: Annotated[list[Path], typer.Argument(
            exists=True, dir_okay=False, help="Corpus manifests (realcorpus / realdata format: file, label ai|human, ...).")],
        out: Annotated[Path, typer.Option("--out", "-o", file_okay=False,
                                          help="Folder for benchmark.html, metrics.csv, items.parquet.")],
        backbone: BackboneOption = None,
        config: ConfigOption = None,
        cache_dir: CacheDirOption = None,
        mlflow_store: StoreOption = None,
        folds: Annotated[int, typer.Option("--folds", min=2, max=20, help="Seen-generators folds.")] = 5,
        seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every random choice.")] = 0,
        bootstrap: Annotated[int, typer.Option("--bootstrap", min=10, max=100_000,
                                               help="Account-bootstrap draws per interval.")] = 1000,
    ) -> None:
        """Measure the detector and the triage score on real images in simulated platform timelines."""
        from slopscore.cli.main import _fail, _settings, _user_errors

        settings = _settings(config, backbone=backbone, cache_dir=cache_dir, mlflow_store=mlflow_store)
        from slopscore.benchmark.corpus import CorpusError
        from slopscore.benchmark.folds import SEEN, UNSEEN, FoldError
        from slopscore.benchmark.run import run_benchmark
        from slopscore.benchmark.tables import DATA_NOTE
        from slopscore.model.registry import ui_command
        from slopscore.terminal.console import console

        with _user_errors():
            try:
                outcome = run_benchmark(manifests, settings, out, n_folds=folds, seed=seed,
                                        n_bootstrap=bootstrap, log=console.print)
            except (CorpusError, FoldError) as exc:
                _fail(str(exc))
        for kind in (SEEN, UNSEEN):
            _, rows = outcome.comparison(kind, digits=2)
            if rows:
                _print_table(console, f"{kind}: detector vs triage ({DATA_NOTE}); 95% intervals", rows)
        console.print(f"report: {outcome.html}\ntables: {outcome.metrics_csv}, {outcome.items_parquet}\n"
                      f"MLflow run {outcome.run_id}: {ui_command(settings.tracking.store_dir)}\n"
                      f"{len(outcome.items)} scored uploads in {outcome.seconds:.0f} s ({DATA_NOTE})")


_SHORT_HEADER = ("scenario", "processing", "pos / neg", "AUROC det", "AUROC triage", "TPR@5%FPR det",
                 "TPR@5%FPR triage", "FPR@thr det", "FPR@thr triage", "AUROC triage-det")


def _print_table(console, title: str, rows) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(*_SHORT_HEADER, title=title)
    for row in rows:
        table.add_row(*(escape(str(cell)) for cell in row))
    console.print(table)
