"""Score new uploads with a trained scorer, using the artists' history as context.

A thin layer over :mod:`slopscore.batch.score_job` for callers that want the scores as a
table (the demo, notebooks, tests): the job streams to a file, which is read back
best first. Every input row gets exactly one output row: scored, or skipped with
its typed reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from slopscore.batch.score_job import BatchJobSummary, QueueSink, run_batch_job
from slopscore.batch.score_output import OUTPUT_SCHEMA, read_scores
from slopscore.config import Settings
from slopscore.model.scorer import Scorer

__all__ = ["OUTPUT_COLUMNS", "ScoringRun", "load_scorer", "score_uploads"]

OUTPUT_COLUMNS = tuple(OUTPUT_SCHEMA.names)


@dataclass
class ScoringRun:
    """Scores (one row per input row, best first) and what the job did."""

    scores: pd.DataFrame
    summary: BatchJobSummary


def score_uploads(
    scorer: Scorer,
    new_uploads: str | os.PathLike[str],
    settings: Settings,
    work_dir: str | os.PathLike[str],
    *,
    history: str | os.PathLike[str] | None = None,
    queue: QueueSink | None = None,
    analyser=None,
    progress=None,
) -> ScoringRun:
    """Score every row of ``new_uploads``; one output row per input row, best first.

    Writes ``work_dir/scores.parquet``. ``analyser`` reuses a loaded per-file engine
    (:class:`slopscore.batch.file_analysis.LocalFileAnalyser` by default). Embeddings and file signals come from the
    caches when present, so an interrupted run (even ``kill -9``) resumes without
    redoing finished work.

    Returns
    -------
    ScoringRun
        ``scores`` has :data:`OUTPUT_COLUMNS`; ``triage_score`` in [0, 1] (estimated
        chance that a reviewer confirms a concern; higher = review sooner), NaN for
        skipped rows.
    """
    out = Path(work_dir) / "scores.parquet"
    summary = run_batch_job(scorer, new_uploads, out, settings, history=history, queue=queue,
                            analyser=analyser, work_dir=Path(work_dir) / "work", progress=progress)
    return ScoringRun(read_scores(out), summary)


def load_scorer(model: str, store_dir: str | os.PathLike[str]) -> Scorer:
    """A scorer from a saved folder, or from MLflow by URI (``models:/...``, ``runs:/...``)."""
    if Path(model).is_dir():
        return Scorer.load(model)
    from slopscore.model.registry import load_scorer_model

    return load_scorer_model(model, store_dir).unwrap_python_model().scorer
