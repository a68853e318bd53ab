"""``slopscore benchmark`` as a library function: corpus -> folds -> timelines -> scores -> outputs.

For every fold (seen generators, then unseen generator) and both processings (files as they
are, and platform-processed), a scorer is fitted on the fold's training side and the test
side's scenario timelines are scored. The encoder is loaded once; embeddings come from the
content-hash cache, so a rerun encodes nothing. The timelines are the same for both
processings; only the files differ.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from slopscore.batch.embed_job import open_encoder
from slopscore.benchmark.corpus import Corpus, read_corpus
from slopscore.benchmark.folds import Fold, seen_generator_folds, unseen_generator_folds
from slopscore.benchmark.measure import measure
from slopscore.benchmark.outputs import log_run, write_items, write_metrics, write_readme
from slopscore.benchmark.page import build_page, readme_lines
from slopscore.benchmark.processing import AS_IS, PROCESSED, PROCESSING_ID, processed_copies
from slopscore.benchmark.report import write_page
from slopscore.benchmark.scoring import fit_fold, score_timeline
from slopscore.benchmark.tables import COMPARISON_HEADER, DATA_NOTE, comparison_rows
from slopscore.benchmark.timelines import SCENARIOS, build_scenario
from slopscore.config import Settings

__all__ = ["BenchmarkOutcome", "FoldRecord", "run_benchmark"]


@dataclass
class FoldRecord:
    """What one fold and processing did (for the report)."""

    fold: Fold
    processing: str
    n_train: int
    triage_source: str
    uploads: dict[str, int] = field(default_factory=dict)


@dataclass
class BenchmarkOutcome:
    """Where the outputs went and the tables behind them."""

    out_dir: Path
    html: Path
    metrics_csv: Path
    items_parquet: Path
    readme: Path
    run_id: str
    metrics: pd.DataFrame
    items: pd.DataFrame
    corpus: Corpus
    records: list[FoldRecord]
    backbone_id: str
    seconds: float

    def comparison(self, fold_kind: str, digits: int = 3) -> tuple[tuple[str, ...], list[list[str]]]:
        """The compact detector-vs-triage table of one fold kind (header, rows)."""
        return COMPARISON_HEADER, comparison_rows(self.metrics, fold_kind, digits)


def _paths(corpus: pd.DataFrame, copies: dict[str, Path]) -> dict[str, dict[int, str]]:
    return {AS_IS: dict(zip(corpus["corpus_index"], corpus["path"])),
            PROCESSED: {i: str(copies[s]) for i, s in zip(corpus["corpus_index"], corpus["sha256"])}}


def run_benchmark(
    manifests: Sequence[str | os.PathLike[str]],
    settings: Settings,
    out_dir: str | os.PathLike[str],
    *,
    n_folds: int = 5,
    seed: int = 0,
    n_bootstrap: int = 1000,
    log: Callable[[str], None] = print,
) -> BenchmarkOutcome:
    """Run the real-image benchmark and write its outputs into ``out_dir``.

    Parameters
    ----------
    manifests : sequence of path-like
        Corpus manifests (see :mod:`slopscore.benchmark.corpus`).
    settings : Settings
        The product's settings (backbone, cache, portfolio, triage, tracking), used as they
        are: nothing is tuned to the corpus.
    out_dir : path-like
        Receives ``benchmark.html``, ``metrics.csv``, ``items.parquet``, ``README.txt``,
        ``plots/`` and ``work/`` (the timeline manifests); other files there are left alone.
    n_folds, seed, n_bootstrap : int
        Seen-generators folds (also how human groups are split in the unseen-generator
        folds), the seed of every random choice, and account-bootstrap draws per interval.
    log : callable
        Receives one-line progress messages.

    Raises
    ------
    CorpusError, FoldError, SplitError
        A manifest that cannot be used, or a corpus that cannot be split as asked.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = read_corpus(manifests)
    frame = corpus.frame
    log(f"corpus: {corpus.counts()}; skipped {corpus.skipped or 'nothing'}")
    copies, failures = processed_copies(zip(frame["sha256"], frame["path"]),
                                        Path(settings.cache.dir).expanduser() / "benchmark-processed",
                                        max_pixels=settings.images.max_pixels)
    if failures:
        corpus = corpus.without(failures, "not decodable")
        frame = corpus.frame
        log(f"left out {len(failures)} files that do not decode")
    backbone, encoder = open_encoder(settings)
    log(f"backbone: {backbone.backbone_id} — {backbone.description}")
    folds = seen_generator_folds(frame, n_folds, seed) + unseen_generator_folds(frame, n_folds, seed)
    paths = _paths(frame, copies)
    parts, records = [], []
    for number, fold in enumerate(folds):
        test_side = frame.iloc[fold.test]
        timelines = {name: build_scenario(name, test_side, seed, number) for name in SCENARIOS}
        for processing in (AS_IS, PROCESSED):
            lap = time.perf_counter()
            work = out / "work" / fold.fold_id / processing
            fitted = fit_fold(fold, frame, paths[processing], processing, settings, backbone, encoder, work)
            record = FoldRecord(fold, processing, fitted.n_train, fitted.triage_source)
            for name, uploads in timelines.items():
                if not uploads:
                    continue
                scored = score_timeline(uploads, name, fold, processing, frame, paths[processing], fitted,
                                        settings, encoder, work)
                record.uploads[name] = len(scored)
                parts.append(scored)
            records.append(record)
            log(f"{fold.title} {processing}: trained on {fitted.n_train}, scored "
                f"{sum(record.uploads.values())} uploads in {len(record.uploads)} scenarios "
                f"({time.perf_counter() - lap:.1f} s)")
    items = pd.concat(parts, ignore_index=True)
    log(f"measuring {len(items)} scored uploads ({n_bootstrap} bootstrap draws per interval)")
    metrics = measure(items, settings.triage.review_threshold, n_bootstrap, seed)
    seconds = time.perf_counter() - started
    context = {"corpus": corpus, "records": records, "settings": settings, "backbone": backbone,
               "seed": seed, "n_folds": n_folds, "n_bootstrap": n_bootstrap, "seconds": seconds,
               "manifests": [str(m) for m in manifests], "plots": out / "plots"}
    html = write_page(build_page(metrics, items, context), out / "benchmark.html")
    metrics_csv = write_metrics(metrics, out / "metrics.csv")
    items_parquet = write_items(items, out / "items.parquet")
    readme = write_readme(out / "README.txt", readme_lines(context))
    run_id = log_run(
        settings.tracking.store_dir, metrics,
        params={"backbone": backbone.backbone_id, "is_clip": backbone.is_clip, "folds": n_folds, "seed": seed,
                "bootstrap": n_bootstrap, "review_threshold": settings.triage.review_threshold,
                "processing": PROCESSING_ID, "n_items": len(items), "manifests": ", ".join(context["manifests"])},
        tags={"corpus_digest": corpus.digest, "backbone_id": backbone.backbone_id, "data_note": DATA_NOTE},
        artifacts=[html, metrics_csv, readme],
    )
    return BenchmarkOutcome(out, html, metrics_csv, items_parquet, readme, run_id, metrics, items, corpus,
                            records, backbone.backbone_id, seconds)
