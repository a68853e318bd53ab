"""Score new uploads with a trained scorer, using the artists' history as context.

Portfolio and duplicate features of a new upload are computed against the
history manifest (the artists' earlier works) plus the rest of the batch; only
the new uploads are returned. Every input row gets exactly one output row:
scored, or skipped with its typed reason.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from slopscore.config import Settings
from slopscore.embedding_job import EmbedJobSummary, open_encoder
from slopscore.manifest import read_manifest
from slopscore.pipeline import prepare_features, write_manifest
from slopscore.scorer import Scorer

__all__ = ["OUTPUT_COLUMNS", "ScoringRun", "load_scorer", "score_uploads", "write_scores"]

OUTPUT_COLUMNS = (
    "item_id", "artist_id", "uploaded_at", "status", "skip_reason", "triage_score", "p_ai",
    "reasons", "provenance_reasons", "cross_account_posters", "portfolio_size", "cold_start",
    "model_version", "backbone_id", "title", "tags", "label",
)


@dataclass
class ScoringRun:
    """Scores (one row per input row, best first) and how the embeddings were obtained."""

    scores: pd.DataFrame
    embed_summary: EmbedJobSummary


def score_uploads(
    scorer: Scorer,
    new_uploads: str | os.PathLike[str],
    settings: Settings,
    work_dir: str | os.PathLike[str],
    *,
    history: str | os.PathLike[str] | None = None,
    progress=None,
) -> ScoringRun:
    """Score every row of ``new_uploads``; one output row per input row, best first.

    Embeddings and file signals come from the caches when present, so a run that
    was interrupted (even by ``kill -9``) resumes without redoing finished work.

    Returns
    -------
    ScoringRun
        ``scores`` has :data:`OUTPUT_COLUMNS`; ``triage_score`` in [0, 1] (estimated
        chance that a reviewer confirms a concern; higher = review sooner), NaN for
        skipped rows.
    """
    settings = settings.with_backbone(scorer.info.backbone)
    _, encoder = open_encoder(settings)
    if encoder.backbone.backbone_id != scorer.info.backbone_id:
        raise ValueError(f"backbone {encoder.backbone.backbone_id} differs from the scorer's "
                         f"{scorer.info.backbone_id}")
    new = read_manifest(new_uploads)
    new_ids = {row.item_id for row in new.rows}
    with tempfile.TemporaryDirectory() as tmp:
        combined = new_uploads
        if history is not None:
            past = [row for row in read_manifest(history).rows if row.item_id not in new_ids]
            combined = write_manifest(past + new.rows, Path(tmp) / "combined.csv")
        prepared = prepare_features(combined, settings, work_dir, encoder=encoder, progress=progress)
    frame = prepared.frame[prepared.frame["item_id"].isin(new_ids)].reset_index(drop=True)
    scored = pd.concat([frame, scorer.score_frame(frame)], axis=1)
    embedded = scored["status"] == "embedded"
    scored.loc[~embedded, ["triage_score", "p_ai"]] = float("nan")
    scored.loc[~embedded, "reasons"] = json.dumps([])
    errors = pd.DataFrame({
        "item_id": [e.item_id for e in new.errors], "status": "skipped",
        "skip_reason": [e.reason for e in new.errors],
    })
    out = pd.concat([scored, errors], ignore_index=True) if len(errors) else scored
    for column in OUTPUT_COLUMNS:
        if column not in out:
            out[column] = None
    ordered = out[list(OUTPUT_COLUMNS)].sort_values("triage_score", ascending=False,
                                                    na_position="last", kind="stable")
    return ScoringRun(ordered.reset_index(drop=True), prepared.embed_summary)


def load_scorer(model: str, store_dir: str | os.PathLike[str]) -> Scorer:
    """A scorer from a saved folder, or from MLflow by URI (``models:/...``, ``runs:/...``)."""
    if Path(model).is_dir():
        return Scorer.load(model)
    from slopscore.tracking import load_scorer_model

    return load_scorer_model(model, store_dir).unwrap_python_model().scorer


def write_scores(scored: pd.DataFrame, out: str | os.PathLike[str]) -> Path:
    """Write scores as Parquet (``.parquet``) or CSV (anything else), atomically.

    The file appears complete or not at all: a killed run never leaves half a file.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = scored.assign(uploaded_at=scored["uploaded_at"].astype(str))
    partial = out.with_name(f".{out.name}.partial")
    if out.suffix == ".parquet":
        table.to_parquet(partial, index=False)
    else:
        table.to_csv(partial, index=False)
    os.replace(partial, out)
    return out
