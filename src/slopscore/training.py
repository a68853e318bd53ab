"""``slopscore train`` and ``slopscore evaluate`` as library functions.

Training: split artists into train and test (no artist on both sides); fit the
calibrated detector on the training artists; learn the triage weights from
out-of-fold detector outputs when enough labelled decisions exist (else use the
configured defaults); evaluate on the test artists; log everything to MLflow and
register the scorer under an alias.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.model_selection import GroupKFold

from slopscore import evaluate as metrics_lib
from slopscore.classifier import AIDetector, SplitError, grouped_split
from slopscore.config import Settings
from slopscore.embed import ImageEncoder, embed_sources
from slopscore.embedding_job import open_encoder
from slopscore.images import ImageLoadError, load_image, read_source
from slopscore.manifest import Label
from slopscore.pipeline import prepare_features
from slopscore.report import (
    EvaluationReport,
    reliability_figure,
    roc_pr_figure,
    save_figure,
    score_histogram_figure,
    write_html_report,
)
from slopscore.scorer import Scorer, ScorerInfo, signals_from_frame
from slopscore.tracking import RegisteredScorer, load_scorer_model, log_evaluation_run, log_scorer_run
from slopscore.triage import FEATURES as TRIAGE_FEATURES
from slopscore.triage import TriageModel

__all__ = ["EvaluationOutcome", "TrainOutcome", "evaluate_model", "evaluate_scored", "train"]

PERTURBATIONS = ("jpeg95", "jpeg75", "jpeg50", "downscale_0.5", "thumbnail_256")


@dataclass
class EvaluationOutcome:
    """Metrics (flat, for MLflow), the HTML report and the plots it embeds."""

    metrics: dict[str, float]
    report: Path
    figures: dict[str, Path] = field(default_factory=dict)
    segments: list = field(default_factory=list)


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


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    usable = frame["label"].notna() & frame["embedding"].map(lambda e: e is not None and len(e) > 0)
    return frame[usable].reset_index(drop=True)


def _targets(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``is AI`` (assisted or slop) for the detector, ``is violation`` (slop) for triage."""
    labels = [Label(value) for value in frame["label"]]
    return (np.array([label.is_ai for label in labels], dtype=int),
            np.array([label.is_violation for label in labels], dtype=int))


def training_digest(frame: pd.DataFrame) -> str:
    """sha256 over item ids, content hashes and labels, in a canonical order."""
    hasher = hashlib.sha256()
    for item, sha, label in sorted(zip(frame["item_id"], frame["sha256"], frame["label"])):
        hasher.update(f"{item}\t{sha}\t{label}\n".encode())
    return hasher.hexdigest()


def _split(frame: pd.DataFrame, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    y_ai, y_violation = _targets(frame)
    groups = frame["artist_id"].to_numpy()
    try:
        return grouped_split(y_ai + y_violation, groups, settings.training.test_fraction,
                             random_state=settings.training.random_state)
    except SplitError:  # too few AI-assisted artists to place on both sides
        return grouped_split(y_ai, groups, settings.training.test_fraction,
                             random_state=settings.training.random_state)


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    return np.stack([np.asarray(e, dtype=np.float32) for e in frame["embedding"]])


def _out_of_fold_p_ai(frame: pd.DataFrame, settings: Settings, n_splits: int = 5) -> np.ndarray:
    """P(AI) for each training item from a detector that never saw its artist."""
    X, (y_ai, _), groups = _matrix(frame), _targets(frame), frame["artist_id"].to_numpy()
    n_splits = min(n_splits, len(np.unique(groups)))
    p = np.full(len(frame), np.nan)
    for fit_rows, held_rows in GroupKFold(n_splits=n_splits).split(X, y_ai, groups):
        try:
            detector = AIDetector(calibration=settings.training.calibration,
                                  random_state=settings.training.random_state)
            p[held_rows] = detector.fit(X[fit_rows], y_ai[fit_rows], groups[fit_rows]) \
                .predict_ai_probability(X[held_rows])
        except (SplitError, ValueError):
            continue  # that fold's artists cannot be split; its items keep a missing P(AI)
    return p


def _triage_model(train_frame: pd.DataFrame, settings: Settings) -> TriageModel:
    """Learned from decisions when there are enough of both kinds, else the configured defaults."""
    _, y_violation = _targets(train_frame)
    enough = (len(y_violation) >= settings.triage.min_decisions
              and min(y_violation.sum(), len(y_violation) - y_violation.sum())
              >= settings.triage.min_per_class)
    if not enough:
        return TriageModel.from_config(settings.triage.weights)
    p_oof = _out_of_fold_p_ai(train_frame, settings)
    return TriageModel.fit(signals_from_frame(train_frame, p_oof), y_violation.astype(bool))


def train(
    manifest: str | os.PathLike[str],
    settings: Settings,
    out_dir: str | os.PathLike[str],
    *,
    progress=None,
    log: Callable[[str], None] = print,
) -> TrainOutcome:
    """Train, evaluate on held-out artists, log to MLflow and register the scorer.

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
    frame = _labelled(prepared.frame)
    train_rows, test_rows = _split(frame, settings)
    train_frame, test_frame = frame.iloc[train_rows], frame.iloc[test_rows]
    y_ai, _ = _targets(train_frame)
    detector = AIDetector(calibration=settings.training.calibration,
                          random_state=settings.training.random_state)
    detector.fit(_matrix(train_frame), y_ai, train_frame["artist_id"].to_numpy())
    triage = _triage_model(train_frame, settings)
    log(f"detector: C={detector.C_}, {detector.calibration_method_} calibration on "
        f"{detector.n_calibration_} items of held-out artists; triage weights: {triage.source}")
    info = ScorerInfo(
        backbone=settings.embedding.backbone, backbone_id=backbone.backbone_id,
        preprocess_id=backbone.preprocess.id, embed_dim=backbone.embed_dim,
        training_digest=training_digest(train_frame), n_training_items=len(train_frame),
        feature_names=[f"embedding[0..{backbone.embed_dim - 1}]", *TRIAGE_FEATURES],
    )
    scorer = Scorer(info, detector, triage)
    evaluation = evaluate_scored(
        test_frame, scorer.score_frame(test_frame), settings, out_dir,
        title=f"slopscore evaluation on {len(test_frame)} items of held-out artists",
        context=[("backbone", f"{backbone.backbone_id} ({backbone.description})"),
                 ("training items", str(len(train_frame))),
                 ("triage weights", triage.source)],
        encoder=encoder, scorer=scorer,
    )
    params = {"backbone": info.backbone_id, "is_clip": backbone.is_clip, "C": detector.C_,
              "calibration": detector.calibration_method_, "n_train": len(train_frame),
              "n_test": len(test_frame), "triage_source": triage.source,
              **{f"triage_{k}": round(v, 4) for k, v in triage.weights.items()}}
    registered = log_scorer_run(
        scorer, store_dir=settings.tracking.store_dir, params=params, metrics=evaluation.metrics,
        artifacts=[("report", evaluation.report), *(("plots", p) for p in evaluation.figures.values())],
        dataset=train_frame[["item_id", "artist_id", "sha256", "label"]].reset_index(drop=True),
        registered_name=settings.tracking.model_name, alias=settings.tracking.alias,
        experiment=settings.tracking.experiment, run_name="train",
    )
    return TrainOutcome(registered.scorer, registered, evaluation, len(train_frame), len(test_frame),
                        frozenset(train_frame["artist_id"]), frozenset(test_frame["artist_id"]))


def evaluate_scored(
    frame: pd.DataFrame,
    scored: pd.DataFrame,
    settings: Settings,
    out_dir: str | os.PathLike[str],
    *,
    title: str,
    context: list[tuple[str, str]] = (),
    encoder: ImageEncoder | None = None,
    scorer: Scorer | None = None,
) -> EvaluationOutcome:
    """Metrics, plots and the HTML report for labelled, scored items.

    Robustness (verdict flips under recompression and resizing) is measured when
    ``encoder`` and ``scorer`` are given, by re-encoding perturbed copies.
    """
    out_dir = Path(out_dir)
    y_ai, y_violation = _targets(frame)
    p_ai = scored["p_ai"].to_numpy(dtype=float)
    triage = scored["triage_score"].to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = metrics_lib.summarise(y_ai, p_ai)
        queue = metrics_lib.summarise(y_violation, triage)
    metrics = {f"detector_{k}": v for k, v in detector.items()}
    metrics.update({f"triage_{k}": v for k, v in queue.items()})
    days = frame["uploaded_at"].dt.strftime("%Y-%m-%d").to_numpy()
    budget = settings.training.review_budget_per_day
    metrics[f"triage_precision_daily_budget_{budget}"] = metrics_lib.precision_within_daily_budget(
        y_violation, triage, days, budget)
    flagged = triage >= settings.triage.review_threshold
    segments = metrics_lib.segment_false_positive_rates(
        y_violation, flagged, _segments(frame), min_count=settings.training.segment_min_count)
    robustness = _robustness(frame, p_ai, encoder, scorer, settings) if encoder and scorer else {}
    metrics.update({f"flip_rate_{k}": v.flip_rate for k, v in robustness.items()})
    figures = {
        "detector reliability": save_figure(reliability_figure(
            metrics_lib.reliability_curve(y_ai, p_ai, n_bins=10), "P(AI) reliability"),
            out_dir / "plots" / "detector_reliability.png"),
        "triage reliability": save_figure(reliability_figure(
            metrics_lib.reliability_curve(y_violation, triage, n_bins=10), "triage score reliability"),
            out_dir / "plots" / "triage_reliability.png"),
        "detector ROC and PR": save_figure(roc_pr_figure(y_ai, p_ai, "P(AI)"),
                                           out_dir / "plots" / "detector_roc_pr.png"),
        "triage scores by label": save_figure(score_histogram_figure(
            {label: triage[frame["label"].to_numpy() == label] for label in sorted(set(frame["label"]))},
            "triage score by label"), out_dir / "plots" / "triage_by_label.png"),
    }
    report = EvaluationReport(
        title=title, summary=[("items", str(len(frame))), *context],
        metric_tables={
            "Detector: P(AI) against ai_assisted + ai_slop": _formatted(detector),
            "Triage: score against confirmed slop": _formatted(
                {**queue, f"precision within {budget}/day": metrics[f"triage_precision_daily_budget_{budget}"]}),
        },
        tables={
            f"False-positive rate on non-violations at triage ≥ {settings.triage.review_threshold}": (
                ["segment", "value", "non-violations", "flagged", "FPR", "95% interval"],
                [[r.segment, r.value, r.n_negative, r.n_flagged,
                  "not enough data" if r.status == "not_enough_data" else f"{r.false_positive_rate:.1%}",
                  "" if r.status == "not_enough_data" else f"{r.ci_low:.1%} – {r.ci_high:.1%}"]
                 for r in segments]),
            "Robustness: detector verdict (P(AI) ≥ 0.5) flips": (
                ["perturbation", "items", "flipped", "flip rate", "95% interval"],
                [[name, r.n_items, r.n_flipped, f"{r.flip_rate:.1%}", f"{r.ci_low:.1%} – {r.ci_high:.1%}"]
                 for name, r in robustness.items()]),
        },
        figures=figures,
        notes=["Scores rank items for human review; a flagged item is a question for a "
               "moderator, never a verdict. False positives on human work are the costliest error."],
    )
    path = write_html_report(report, out_dir / "evaluation_report.html")
    return EvaluationOutcome(metrics, path, figures, segments)


def _formatted(values: dict[str, float]) -> list[tuple[str, str]]:
    def text(key: str, value) -> str:
        if key == "n" or not isinstance(value, float):
            return str(int(value)) if key == "n" else str(value)
        return "n/a" if value != value else f"{value:.4f}"

    return [(k, text(k, v)) for k, v in values.items()]


def _segments(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Style/medium (first tag), new vs established artist, process notes, declared AI."""
    size = frame["portfolio_size"].fillna(0).to_numpy()
    return {
        "style": frame["tags"].map(lambda t: t.split(";")[0] if t else "untagged").to_numpy(dtype=object),
        "artist": np.where(frame["cold_start"].fillna(True).astype(bool), "new (cold start)",
                           np.where(size < 20, "established (<20 works)", "established (20+ works)")),
        "process notes": frame["has_process_notes"].map(
            lambda v: "unknown" if pd.isna(v) else ("yes" if v else "no")).to_numpy(dtype=object),
        "declared AI": frame["declared_ai"].map(
            lambda v: "unknown" if pd.isna(v) else ("yes" if v else "no")).to_numpy(dtype=object),
    }


def _perturb(data: bytes, name: str) -> bytes:
    image = load_image(data).image
    if name.startswith("jpeg"):
        quality = int(name[4:])
    else:
        quality = 95
        if name == "downscale_0.5":
            image = image.resize((max(1, image.width // 2), max(1, image.height // 2)),
                                 Image.Resampling.LANCZOS)
        else:
            image.thumbnail((256, 256), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _robustness(frame, p_ai, encoder: ImageEncoder, scorer: Scorer, settings: Settings,
                max_items: int = 200) -> dict:
    """Verdict flips of P(AI) ≥ 0.5 when each image is recompressed or resized."""
    rows = np.arange(len(frame))[np.isfinite(p_ai)][:max_items]
    originals = {}
    for i in rows:
        try:
            originals[i] = read_source(frame["path"].iloc[i], settings.images.max_bytes)
        except ImageLoadError:
            continue  # the file changed or vanished since it was scored
    keep = np.array(sorted(originals))
    results = {}
    for name in PERTURBATIONS:
        perturbed = [_perturb(originals[i], name) for i in keep]
        vectors = [r.vector for r in embed_sources(perturbed, encoder, num_workers=0,
                                                   batch_size=settings.embedding.batch_size)]
        p_new = scorer.detector.predict_ai_probability(np.stack(vectors))
        results[name] = metrics_lib.verdict_flip_rate(p_ai[keep], p_new, 0.5)
    return results


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
    settings = settings.model_copy(update={"embedding": settings.embedding.model_copy(
        update={"backbone": scorer.info.backbone})})
    _, encoder = open_encoder(settings)
    prepared = prepare_features(manifest, settings, out_dir, encoder=encoder, progress=progress)
    frame = _labelled(prepared.frame)
    scored = model.predict(frame)
    outcome = evaluate_scored(frame, scored, settings, out_dir,
                              title=f"slopscore evaluation of {model_uri} on {len(frame)} items",
                              context=[("model version", scorer.info.model_version)],
                              encoder=encoder, scorer=scorer)
    log_evaluation_run(
        store_dir=settings.tracking.store_dir, model_uri=model_uri,
        model_version=scorer.info.model_version, metrics=outcome.metrics,
        dataset_digest=training_digest(frame),
        artifacts=[("report", outcome.report), *(("plots", p) for p in outcome.figures.values())],
        experiment=settings.tracking.experiment,
    )
    return outcome
