"""``slopscore train`` and ``slopscore evaluate`` as library functions.

Training: split artists into train and test (no artist on both sides); fit the
calibrated detector on the training artists; learn the triage weights from
out-of-fold detector outputs when enough labelled decisions exist (else use the
configured defaults); evaluate on the test artists; log everything to MLflow and
register the scorer as a new version with the ``candidate`` alias (``@champion`` moves
only through :mod:`slopscore.training.promotion`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from slopscore.batch.embed_job import open_encoder
from slopscore.batch.feature_pipeline import prepare_features
from slopscore.config import Settings
from slopscore.embedding.backbones import LoadedBackbone
from slopscore.evaluation.run import EvaluationOutcome, evaluate_scored, targets
from slopscore.model.detector import AIDetector, SplitError, grouped_split
from slopscore.model.registry import RegisteredScorer, load_scorer_model, log_evaluation_run, log_scorer_run
from slopscore.model.scorer import Scorer, ScorerInfo, score_histogram
from slopscore.model.triage import FEATURES as TRIAGE_FEATURES
from slopscore.training.calibration_check import calibration_summary
from slopscore.training.review_threshold import choose_review_threshold
from slopscore.training.triage_selection import choose_triage

__all__ = ["TrainOutcome", "evaluate_model", "fit_scorer", "evaluation_artifacts", "file_digest", "labelled_items", "train",
           "training_digest"]

@dataclass
class TrainOutcome:
    """What ``slopscore train`` produced."""

    scorer: Scorer
    registered: RegisteredScorer
    evaluation: EvaluationOutcome
    n_train: int
    n_test: int
    train_artists: frozenset[str] = frozenset()
    test_artists: frozenset[str] = frozenset()


def labelled_items(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with a label and an embedding (what training, evaluation and promotion use)."""
    usable = frame["label"].notna() & frame["embedding"].map(lambda e: e is not None and len(e) > 0)
    return frame[usable].reset_index(drop=True)


def training_digest(frame: pd.DataFrame) -> str:
    """sha256 over item ids, content hashes and labels, in a canonical order."""
    hasher = hashlib.sha256()
    for item, sha, label in sorted(zip(frame["item_id"], frame["sha256"], frame["label"])):
        hasher.update(f"{item}\t{sha}\t{label}\n".encode())
    return hasher.hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (names the exact manifest a run used)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def evaluation_artifacts(outcome: EvaluationOutcome) -> list[tuple[str, Path]]:
    """What an evaluation logs to MLflow: the report, its tables and its plots."""
    return [("report", outcome.report), *(("report", p) for p in outcome.files.values()),
            *(("plots", p) for p in outcome.figures.values())]


def _split(frame: pd.DataFrame, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    y_ai, y_violation = targets(frame)
    groups = frame["artist_id"].to_numpy()
    try:
        return grouped_split(y_ai + y_violation, groups, settings.training.test_fraction,
                             random_state=settings.training.random_state)
    except SplitError:  # too few AI-assisted artists to place on both sides
        return grouped_split(y_ai, groups, settings.training.test_fraction,
                             random_state=settings.training.random_state)


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    return np.stack([np.asarray(e, dtype=np.float32) for e in frame["embedding"]])


def fit_scorer(train_frame: pd.DataFrame, settings: Settings, backbone: LoadedBackbone) -> Scorer:
    """Fit the calibrated detector and the triage combination on labelled feature rows.

    Parameters
    ----------
    train_frame : pandas.DataFrame
        Labelled rows with embeddings (from :func:`slopscore.batch.feature_pipeline.prepare_features`),
        all on the fitting side of an artist-grouped split.
    settings : Settings
    backbone : LoadedBackbone
        The backbone that produced the embeddings (its id is stored with the scorer).

    Returns
    -------
    Scorer
        Unregistered (``model_version`` is ``local``); :func:`train` logs and registers it.
    """
    y_ai, _ = targets(train_frame)
    detector = AIDetector(calibration=settings.training.calibration,
                          random_state=settings.training.random_state)
    detector.fit(_matrix(train_frame), y_ai, train_frame["artist_id"].to_numpy())
    info = ScorerInfo(
        backbone=settings.embedding.backbone, backbone_id=backbone.backbone_id,
        preprocess_id=backbone.preprocess.id, embed_dim=backbone.embed_dim,
        training_digest=training_digest(train_frame), n_training_items=len(train_frame),
        feature_names=[f"embedding[0..{backbone.embed_dim - 1}]", *TRIAGE_FEATURES],
        base_rate=settings.scoring.base_rate, calibration=calibration_summary(detector, y_ai),
    )
    scorer = Scorer(info, detector, choose_triage(train_frame, detector, settings))
    threshold, rule = choose_review_threshold(train_frame, scorer, settings)
    scorer.info = replace(info, review_threshold=threshold, review_threshold_rule=rule)
    return scorer


def train(
    manifest: str | os.PathLike[str],
    settings: Settings,
    out_dir: str | os.PathLike[str],
    *,
    progress=None,
    log: Callable[[str], None] = print,
) -> TrainOutcome:
    """Train, evaluate on held-out artists, log to MLflow and register the scorer as a new
    version with the ``candidate`` alias (``tracking.candidate_alias``); ``@champion`` is
    left as it was.

    Parameters
    ----------
    manifest : path-like
        Labelled manifest (rows without a label are ignored for training).
    settings : Settings
    out_dir : path-like
        Embeddings, plots and ``evaluation_report.html`` go here.
    progress : callable, optional
        ``progress(description, total)`` returning ``advance(n)``.
    log : callable
        Receives one-line status messages.
    """
    out_dir = Path(out_dir)
    backbone, encoder = open_encoder(settings)
    log(f"backbone: {backbone.backbone_id} — {backbone.description}")
    prepared = prepare_features(manifest, settings, out_dir, encoder=encoder, progress=progress)
    frame = labelled_items(prepared.frame)
    train_rows, test_rows = _split(frame, settings)
    train_frame, test_frame = frame.iloc[train_rows], frame.iloc[test_rows]
    scorer = fit_scorer(train_frame, settings, backbone)
    detector, triage = scorer.detector, scorer.triage
    calibration = scorer.info.calibration
    ece = "n/a" if calibration["ece"] is None else (
        f"{calibration['ece']:.3f} [{calibration['ece_low']:.3f}, {calibration['ece_high']:.3f}]")
    log(f"detector: C={detector.C_}, {detector.calibration_method_} calibration cross-fitted on "
        f"{detector.n_calibration_} items (out-of-fold ECE {ece}; percentages quoted in reasons: "
        f"{'yes' if calibration['within_tolerance'] else 'no'}); probabilities for a "
        f"{100 * scorer.info.base_rate:g}% base rate")
    log(f"triage weights: {triage.selection or triage.source}")
    log(f"review threshold {scorer.info.review_threshold:.3f}: {scorer.info.review_threshold_rule}")
    info = scorer.info
    test_scores = scorer.score_frame(test_frame)
    scorer.info = replace(info, reference_histogram=score_histogram(test_scores["triage_score"]))
    evaluation = evaluate_scored(
        test_frame, test_scores, settings, out_dir,
        title=f"slopscore evaluation on {len(test_frame)} items of held-out artists",
        context=[("backbone", f"{backbone.backbone_id} ({backbone.description})"),
                 ("training items", str(len(train_frame))),
                 ("triage weights", triage.source)],
        encoder=encoder, scorer=scorer,
    )
    params = {"backbone": info.backbone_id, "is_clip": backbone.is_clip, "C": detector.C_,
              "calibration": detector.calibration_method_, "n_train": len(train_frame),
              "base_rate": scorer.info.base_rate, "triage_selection": triage.selection,
              "n_test": len(test_frame), "triage_source": triage.source,
              **{f"triage_{k}": round(v, 4) for k, v in triage.weights.items()}}
    manifest_path = Path(manifest).resolve()
    data = {"data_manifest": str(manifest_path), "data_manifest_sha256": file_digest(manifest_path),
            "backbone": settings.embedding.backbone}
    description = (
        f"slopscore scorer: calibrated P(AI) detector ({detector.calibration_method_}) on {info.backbone_id} "
        f"embeddings + triage combination ({triage.source}), probabilities for a {100 * info.base_rate:g}% "
        f"base rate. Trained on {len(train_frame)} items ({len(frame)} labelled, artist-grouped split) of "
        f"{manifest_path} (sha256 {data['data_manifest_sha256'][:12]}…), evaluated on {len(test_frame)} "
        "items of held-out artists. Ranks uploads for human review; never removes anything.")
    registered = log_scorer_run(
        scorer, store_dir=settings.tracking.store_dir, params=params, metrics=evaluation.metrics,
        artifacts=evaluation_artifacts(evaluation),
        dataset=train_frame[["item_id", "artist_id", "sha256", "label"]].reset_index(drop=True),
        registered_name=settings.tracking.model_name, alias=settings.tracking.candidate_alias,
        experiment=settings.tracking.experiment, run_name=f"train {manifest_path.name} {info.backbone_id}",
        description=description, tags=data,
    )
    return TrainOutcome(registered.scorer, registered, evaluation, len(train_frame), len(test_frame),
                        frozenset(train_frame["artist_id"]), frozenset(test_frame["artist_id"]))


def evaluate_model(
    model_uri: str,
    manifest: str | os.PathLike[str],
    settings: Settings,
    out_dir: str | os.PathLike[str],
    *,
    progress=None,
) -> EvaluationOutcome:
    """Score a labelled manifest with a logged scorer, write the report, log an evaluation run."""
    model = load_scorer_model(model_uri, settings.tracking.store_dir)
    scorer: Scorer = model.unwrap_python_model().scorer
    settings = settings.with_backbone(scorer.info.backbone)
    _, encoder = open_encoder(settings)
    prepared = prepare_features(manifest, settings, out_dir, encoder=encoder, progress=progress)
    frame = labelled_items(prepared.frame)
    scored = scorer.score_frame(frame)  # what model.predict does, without the signature's notices
    outcome = evaluate_scored(frame, scored, settings, out_dir,
                              title=f"slopscore evaluation of {model_uri} on {len(frame)} items",
                              context=[("model version", scorer.info.model_version)],
                              encoder=encoder, scorer=scorer)
    log_evaluation_run(
        store_dir=settings.tracking.store_dir, model_uri=model_uri,
        model_version=scorer.info.model_version, metrics=outcome.metrics,
        dataset_digest=training_digest(frame),
        artifacts=evaluation_artifacts(outcome), experiment=settings.tracking.experiment,
        tags={"data_manifest": str(Path(manifest).resolve()), "data_manifest_sha256": file_digest(manifest),
              "backbone": scorer.info.backbone},
    )
    return outcome
