"""The ``slopscore`` command line. Commands are thin: parse, validate, call the library.

Heavy libraries (torch, open_clip, pyarrow) are imported inside commands so that
``slopscore --help`` returns at once.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="slopscore",
    help="Rank art-platform uploads for human review of likely low-effort AI imagery. "
    "Nothing is ever removed, hidden or demoted by this tool.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Options shared by several commands, defined once.
ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", envvar="SLOPSCORE_CONFIG", exists=True, dir_okay=False,
                 help="Settings file (YAML); defaults apply when omitted."),
]
BackboneOption = Annotated[
    Optional[str],
    typer.Option("--backbone", envvar="SLOPSCORE_BACKBONE",
                 help="e.g. open_clip:ViT-B-32/laion2b_s34b_b79k, "
                 "open_clip:ViT-B-32@/path/weights.safetensors, effnet-lite0."),
]
CacheDirOption = Annotated[
    Optional[Path],
    typer.Option("--cache-dir", envvar="SLOPSCORE_CACHE_DIR", file_okay=False,
                 help="Embedding cache folder."),
]
WeightsDirOption = Annotated[
    Optional[Path],
    typer.Option("--weights-dir", envvar="SLOPSCORE_WEIGHTS_DIR", file_okay=False,
                 help="Where pretrained weights are cached (open_clip / Hugging Face)."),
]
RuntimeOption = Annotated[
    Optional[str],
    typer.Option("--runtime", help="Encoder runtime: torch, onnxruntime (needs the onnx extra) or auto "
                                   "(the faster one measured on this machine)."),
]
DownloadOption = Annotated[
    Optional[bool],
    typer.Option("--allow-download/--no-download",
                 help="Whether missing weights may be fetched over the network."),
]


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@contextlib.contextmanager
def _user_errors(queue_url: str | None = None):
    """Turn expected failures (bad input, missing weights, a location that cannot be written)
    into one clear line and exit 2; with ``queue_url``, also the review queue's failures."""
    from slopscore.batch.ray_engine import RayUnavailableError
    from slopscore.batch.score_output import StorageUnavailableError
    from slopscore.config import ConfigError
    from slopscore.embedding.backbones import BackboneRefusedError, BackboneSpecError, WeightsUnavailableError
    from slopscore.embedding.torch_runtime import DeviceUnavailableError
    from slopscore.media.manifest import ManifestFormatError
    from slopscore.model.detector import SplitError
    from slopscore.model.store import ModelNotFoundError
    from slopscore.training.promotion import PromotionError

    expected = (BackboneSpecError, BackboneRefusedError, WeightsUnavailableError, ConfigError,
                ManifestFormatError, SplitError, RayUnavailableError, StorageUnavailableError,
                DeviceUnavailableError, ModelNotFoundError, PromotionError)
    database_errors: tuple[type[Exception], ...] = ()
    if queue_url is not None:
        from sqlalchemy.exc import OperationalError

        from slopscore.review.database import QueueUnavailableError, redacted

        database_errors = (QueueUnavailableError, OperationalError)
    try:
        yield
    except expected as exc:
        _fail(str(exc))
    except database_errors as exc:  # unreachable, or read-only, full or gone while written to
        first = (str(exc).strip().splitlines() or ["failed"])[0]  # SQLAlchemy adds a link line
        _fail(first if isinstance(exc, QueueUnavailableError)
              else f"cannot write the review queue {redacted(queue_url)}: {first}")


def _settings(config: Path | None, *, backbone: str | None = None, weights_dir: Path | None = None,
              allow_download: bool | None = None, cache_dir: Path | None = None,
              mlflow_store: Path | None = None, extra: dict | None = None):
    """Load settings and apply the shared options (None means "not given")."""
    from slopscore.config import ConfigError, load_settings

    def text(path: Path | None) -> str | None:
        return str(path) if path else None

    overrides = {
        "embedding.backbone": backbone,
        "embedding.weights_dir": text(weights_dir),
        "embedding.allow_download": allow_download,
        "cache.dir": text(cache_dir),
        "tracking.store_dir": text(mlflow_store),
        **(extra or {}),
    }
    try:
        return load_settings(config, overrides)
    except ConfigError as exc:
        _fail(str(exc))


@app.command()
def embed(
    source: Annotated[Path, typer.Argument(exists=True, help="Manifest (CSV/Parquet/JSONL) or image folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="Output Parquet file.")],
    config: ConfigOption = None,
    backbone: BackboneOption = None,
    cache_dir: CacheDirOption = None,
    weights_dir: WeightsDirOption = None,
    allow_download: DownloadOption = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per model call.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Decoding processes (0: in-process).")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto, fp32 or bf16.")] = None,
    runtime: RuntimeOption = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor fill the cache.")] = False,
) -> None:
    """Embed images; writes OUT (Parquet) and OUT.skips.csv (one row per skipped input)."""
    settings = _settings(
        config, backbone=backbone, weights_dir=weights_dir, allow_download=allow_download,
        cache_dir=cache_dir,
        extra={
            "embedding.batch_size": batch_size,
            "embedding.num_workers": workers,
            "embedding.device": device,
            "embedding.precision": precision,
            "embedding.runtime": runtime,
            "cache.enabled": False if no_cache else None,
        },
    )
    from slopscore.batch.embed_job import run_embedding_job
    from slopscore.terminal.console import print_embed_summary, progress_bars

    with _user_errors(), progress_bars() as bar:
        summary = run_embedding_job(source, out, settings, progress=lambda total: bar("embedding", total))
    print_embed_summary(summary)


StoreOption = Annotated[
    Optional[Path],
    typer.Option("--mlflow-store", envvar="SLOPSCORE_MLFLOW_STORE", file_okay=False,
                 help="Local MLflow store folder (MLFLOW_TRACKING_URI overrides)."),
]


@app.command()
def train(
    manifest: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Labelled manifest.")],
    out: Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Folder for embeddings, plots, report.")] = Path("slopscore-train"),
    config: ConfigOption = None,
    backbone: BackboneOption = None,
    cache_dir: CacheDirOption = None,
    weights_dir: WeightsDirOption = None,
    allow_download: DownloadOption = None,
    mlflow_store: StoreOption = None,
) -> None:
    """Train the detector and triage on labelled uploads; log to MLflow and register a new model
    version with the alias @candidate (@champion moves only with `slopscore promote`)."""
    settings = _settings(config, backbone=backbone, weights_dir=weights_dir,
                         allow_download=allow_download, cache_dir=cache_dir,
                         mlflow_store=mlflow_store)
    from slopscore.model.registry import ui_command
    from slopscore.terminal.console import console, print_training_summary, progress_bars
    from slopscore.training.train import train as train_scorer

    with _user_errors(), progress_bars() as progress:
        outcome = train_scorer(manifest, settings, out, progress=progress, log=console.print)
    print_training_summary(outcome)
    console.print(f"report: {outcome.evaluation.report}\nMLflow UI: {ui_command(settings.tracking.store_dir)}")


@app.command()
def evaluate(
    manifest: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Labelled manifest.")],
    model: Annotated[str, typer.Option("--model", "-m", help="MLflow model URI, e.g. models:/slopscore-scorer@champion.")],
    out: Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Folder for plots and report.")] = Path("slopscore-eval"),
    config: ConfigOption = None,
    cache_dir: CacheDirOption = None,
    weights_dir: WeightsDirOption = None,
    mlflow_store: StoreOption = None,
) -> None:
    """Evaluate a logged scorer on labelled uploads; log the metrics and report to MLflow."""
    settings = _settings(config, weights_dir=weights_dir, cache_dir=cache_dir,
                         mlflow_store=mlflow_store)
    from slopscore.terminal.console import console, print_metric_estimates, progress_bars
    from slopscore.training.train import evaluate_model

    with _user_errors(), progress_bars() as progress:
        outcome = evaluate_model(model, manifest, settings, out, progress=progress)
    print_metric_estimates(outcome.estimates, "evaluated items")
    console.print(f"report: {outcome.report}")


@app.command()
def score(
    model: Annotated[str, typer.Option("--model", "-m", help="MLflow model URI (models:/NAME@ALIAS, runs:/...) or a saved scorer folder.")],
    source: Annotated[Path, typer.Option("--input", "-i", exists=True, help="Manifest (CSV/Parquet/JSONL) or image folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="Output file (.parquet or .csv).")],
    history: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Manifest of the artists' earlier uploads (portfolio context).")] = None,
    queue: Annotated[Optional[str], typer.Option("--queue", envvar="SLOPSCORE_QUEUE_URL", help="Review queue database URL, e.g. sqlite:///queue.db or postgresql+psycopg://...")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", help="local (this machine) or ray (Ray Data actor pool; needs the ray extra).")] = None,
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", envvar="RAY_ADDRESS", help="Ray cluster to join (e.g. ray://head:10001 or auto); default starts Ray here.")] = None,
    ray_actors: Annotated[Optional[int], typer.Option("--ray-actors", help="Encoder actors in the Ray pool.")] = None,
    chunk_rows: Annotated[Optional[int], typer.Option("--chunk-rows", help="Rows per chunk; bounds memory.")] = None,
    config: ConfigOption = None,
    cache_dir: CacheDirOption = None,
    weights_dir: WeightsDirOption = None,
    mlflow_store: StoreOption = None,
    runtime: RuntimeOption = None,
    raw_csv: Annotated[bool, typer.Option("--raw-csv", help="Write a CSV output's text cells as they are; by default cells a spreadsheet would run as a formula (= + - @) get a ' in front.")] = False,
) -> None:
    """Score uploads for review: one output row per input row, scored or skipped with a reason."""
    settings = _settings(config, weights_dir=weights_dir, cache_dir=cache_dir,
                         mlflow_store=mlflow_store,
                         extra={"batch.engine": engine, "batch.ray_address": ray_address,
                                "batch.ray_actors": ray_actors, "batch.chunk_rows": chunk_rows,
                                "embedding.runtime": runtime})
    from slopscore.batch.score_job import run_batch_job
    from slopscore.batch.score_table import load_scorer
    from slopscore.review.ingest import QueueWriter, open_queue, register_model_version
    from slopscore.terminal.console import console, print_queue, progress_bars

    database = None
    with _user_errors(queue):
        if queue:
            database = open_queue(queue)  # fail before any work when the database is unreachable
        scorer = load_scorer(model, settings.tracking.store_dir)
        analyser = _file_analyser(settings, scorer)
        if database is not None:  # the first write: a read-only queue stops the run here
            register_model_version(database, scorer.info.model_version, scorer.info.backbone_id,
                                   scorer.info.reference_histogram, scorer.info.base_rate)
    with _user_errors(queue), progress_bars() as progress:
        summary = run_batch_job(scorer, source, out, settings, history=history,
                                queue=QueueWriter(database) if database is not None else None,
                                analyser=analyser, progress=progress, raw_csv=raw_csv)
    print_queue(summary.top, limit=10)
    if database is not None:
        console.print(f"review queue: {summary.n_queued} rows inserted or updated")
    console.print(f"engine {summary.engine}, {summary.runtime}; embeddings: {summary.n_from_cache} from cache, "
                  f"{summary.n_encoded} encoded (history included); {summary.seconds:.1f} s")
    if summary.skip_reasons:
        console.print("skipped: " + ", ".join(f"{reason} {count}"
                                              for reason, count in summary.skip_reasons.most_common()))
    console.print(f"input {summary.n_input} = scored {summary.n_scored} + skipped {summary.n_skipped}"
                  f"   model {scorer.info.model_version}; wrote {out}")


def _file_analyser(settings, scorer):
    """The per-file engine the settings ask for (None: the job's local default)."""
    if settings.batch.engine != "ray":
        return None
    from slopscore.batch.ray_engine import RayFileAnalyser

    return RayFileAnalyser.start(settings.with_backbone(scorer.info.backbone), scorer)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Folder for the demo's data and outputs.")] = Path("demo"),
    backbone: BackboneOption = None,
    weights_dir: WeightsDirOption = None,
) -> None:
    """Run the whole pipeline offline on a generated, clearly synthetic platform."""
    from slopscore.demo.run import run_demo

    with _user_errors():
        run_demo(out, backbone=backbone, weights_dir=weights_dir)


@app.command()
def backbones(weights_dir: WeightsDirOption = None) -> None:
    """List the backbone forms and whether each named one works offline here."""
    from slopscore.terminal.console import print_backbones

    print_backbones(weights_dir)


def _register_command_groups() -> None:
    """Commands that live in their own modules (moderation web app, analyst report, benchmark, promote,
    scoring API)."""
    from slopscore.cli import api, benchmark, outbox, promote, report, web

    web.register(app)
    api.register(app)
    report.register(app)
    benchmark.register(app)
    promote.register(app)
    outbox.register(app)


_register_command_groups()


def main() -> None:  # pragma: no cover - console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
