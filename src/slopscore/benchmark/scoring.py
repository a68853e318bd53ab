"""One fold of the benchmark: fit a scorer on the training side, score the test side's timelines.

Both go through the production path: a manifest, :func:`~slopscore.batch.feature_pipeline.prepare_features`
(embeddings from the content-hash cache, file signals, then portfolio, near-duplicate and
burst features from each timeline's history and new uploads), then
:func:`~slopscore.training.train.fit_scorer` or ``Scorer.score_frame``. Only new uploads of
the test side are scored, so every score in the benchmark is out of fold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from slopscore.batch.feature_pipeline import prepare_features, write_manifest
from slopscore.benchmark.folds import Fold
from slopscore.benchmark.timelines import T0, Upload, manifest_rows
from slopscore.config import Settings
from slopscore.embedding.backbones import LoadedBackbone
from slopscore.embedding.encoder import ImageEncoder
from slopscore.media.manifest import Label, ManifestRow
from slopscore.model.detector import SplitError
from slopscore.model.scorer import Scorer
from slopscore.training.train import fit_scorer

__all__ = ["FoldScorer", "ITEM_COLUMNS", "fit_fold", "score_timeline"]

#: The benchmark's own columns in ``items.parquet``, before the feature and score columns.
ITEM_COLUMNS = ("fold", "fold_kind", "held_out_family", "scenario", "processing", "item_id", "account",
                "source_group", "file", "source_sha256", "style", "generator", "family", "label",
                "is_ai", "is_concern", "declared")
#: Feature-table columns not copied into the items table (large, or replaced by the truth).
_DROPPED = ("embedding", "path", "label", "artist_id", "item_id", "title", "tags", "review_outcome")
_SCORE_COLUMNS = ("p_ai", "triage_score", "reasons", "breakdown", "model_version", "backbone_id")


@dataclass
class FoldScorer:
    """A scorer fitted for one fold and processing, and what it was fitted on."""

    scorer: Scorer
    n_train: int
    triage_source: str


def _has_embedding(frame: pd.DataFrame) -> pd.Series:
    return frame["embedding"].map(lambda e: e is not None and len(e) > 0)


def training_rows(train_side: pd.DataFrame, paths: Mapping[int, str], prefix: str) -> list[ManifestRow]:
    """A plain labelled manifest: one account per group, its files a week apart, long before T0."""
    rows = []
    for account, (_, members) in enumerate(train_side.groupby("group", sort=True)):
        for k, item in enumerate(members.itertuples(index=False)):
            rows.append(ManifestRow(
                item_id=f"{prefix}/{len(rows):04d}", artist_id=f"train-{account + 1:03d}",
                path=str(paths[item.corpus_index]), uploaded_at=T0 - timedelta(days=1000 - 7 * k),
                label=Label.AI_SLOP if item.is_ai else Label.HUMAN, row_number=len(rows) + 2))
    return rows


def fit_fold(fold: Fold, corpus: pd.DataFrame, paths: Mapping[int, str], processing: str,
             settings: Settings, backbone: LoadedBackbone, encoder: ImageEncoder, work_dir: Path) -> FoldScorer:
    """Fit the fold's scorer on its training side (files as given by ``paths``).

    Raises
    ------
    SplitError
        When the training side cannot be split by group as the detector needs (the message
        names the fold and processing).
    """
    folder = work_dir / "train"
    manifest = write_manifest(training_rows(corpus.iloc[fold.train], paths, f"{fold.fold_id}/train"),
                              folder / "manifest.csv")
    frame = _prepare(manifest, settings, encoder, folder)
    usable = frame[frame["label"].notna() & _has_embedding(frame)].reset_index(drop=True)
    try:
        scorer = fit_scorer(usable, settings, backbone)
    except SplitError as exc:
        raise SplitError(f"fold {fold.title} ({processing}): {exc}") from None
    triage = scorer.triage
    source = str(getattr(triage, "selection", None) or getattr(triage, "source", "unknown"))
    return FoldScorer(scorer, len(usable), source)


def _prepare(manifest: Path, settings: Settings, encoder: ImageEncoder, folder: Path) -> pd.DataFrame:
    prepared = prepare_features(manifest, settings, folder, encoder=encoder)
    if prepared.row_errors:  # our own manifests are always valid; anything else is a bug
        first = prepared.row_errors[0]
        raise RuntimeError(f"{manifest}: row {first.row_number}: {first.reason}: {first.detail}")
    for leftover in ("embeddings.parquet", "embeddings.skips.csv"):
        (folder / leftover).unlink(missing_ok=True)
    return prepared.frame


def score_timeline(uploads: Sequence[Upload], scenario: str, fold: Fold, processing: str,
                   corpus: pd.DataFrame, paths: Mapping[int, str], fitted: FoldScorer,
                   settings: Settings, encoder: ImageEncoder, work_dir: Path) -> pd.DataFrame:
    """Score the new uploads of one scenario's timeline; one row per new upload.

    Returns
    -------
    pandas.DataFrame
        :data:`ITEM_COLUMNS`, then every feature column the scorer was given (portfolio,
        duplicate, burst, provenance and declaration features, ``status``/``skip_reason``),
        then ``p_ai`` (0..1, higher = more likely AI), ``triage_score`` (0..1, higher = review
        sooner), ``reasons``, ``breakdown``, ``model_version``, ``backbone_id``. Uploads
        that could not be embedded have NaN scores.
    """
    folder = work_dir / scenario
    rows = manifest_rows(uploads, paths, f"{fold.fold_id}/{scenario}")
    frame = _prepare(write_manifest(rows, folder / "manifest.csv"), settings, encoder, folder)
    by_id = {row.item_id: upload for row, upload in zip(rows, uploads)}
    new = frame[frame["item_id"].map(lambda i: by_id[i].new)].reset_index(drop=True)
    scores = pd.DataFrame({c: np.full(len(new), np.nan) for c in ("p_ai", "triage_score")})
    embedded = _has_embedding(new).to_numpy()
    if embedded.any():
        scored = fitted.scorer.score_frame(new[embedded]).reset_index(drop=True)
        scores = scored.set_axis(np.flatnonzero(embedded)).reindex(range(len(new)))
    truth = [by_id[i] for i in new["item_id"]]
    source = corpus.set_index("corpus_index").loc[[u.corpus_index for u in truth]].reset_index()
    labels = [u.label for u in truth]
    own = pd.DataFrame({
        "fold": fold.fold_id, "fold_kind": fold.kind, "held_out_family": fold.held_out_family,
        "scenario": scenario, "processing": processing, "item_id": new["item_id"].to_numpy(),
        "account": [u.account for u in truth], "source_group": source["group"].to_numpy(),
        "file": source["file"].to_numpy(), "source_sha256": source["sha256"].to_numpy(),
        "style": source["style"].to_numpy(), "generator": source["generator"].to_numpy(),
        "family": source["family"].to_numpy(), "label": [label.value for label in labels],
        "is_ai": [label.is_ai for label in labels], "is_concern": [label.is_violation for label in labels],
        "declared": [u.declared for u in truth],
    })
    features = new.drop(columns=[c for c in _DROPPED if c in new.columns]).rename(
        columns={"sha256": "scored_sha256"})
    return pd.concat([own, features, scores[[c for c in _SCORE_COLUMNS if c in scores]]], axis=1)
