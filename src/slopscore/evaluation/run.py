"""Evaluate scored, labelled items: metrics, plots and the HTML report.

Numbers come from :mod:`slopscore.evaluation.metrics`, :mod:`slopscore.evaluation.calibration`
and :mod:`slopscore.evaluation.verdicts`, drawing from :mod:`slopscore.evaluation.report`; this
module decides what an evaluation contains.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from slopscore.config import Settings
from slopscore.embedding.encoder import ImageEncoder
from slopscore.evaluation.calibration import reliability_curve
from slopscore.evaluation.estimates import Estimate, estimate_metrics, flat_estimates
from slopscore.evaluation.items import confusion_table, galleries, predictions_table
from slopscore.evaluation.metrics import precision_within_daily_budget
from slopscore.evaluation.report import (
    EvaluationReport,
    reliability_figure,
    roc_pr_figure,
    save_figure,
    score_histogram_figure,
    write_html_report,
)
from slopscore.evaluation.robustness import verdict_flips
from slopscore.evaluation.verdicts import segment_false_positive_rates
from slopscore.media.manifest import Label
from slopscore.model.scorer import Scorer

__all__ = ["EvaluationOutcome", "evaluate_scored", "targets"]


@dataclass
class EvaluationOutcome:
    """Metrics (flat, for MLflow), the HTML report and the plots it embeds.

    ``estimates`` holds, for ``detector`` and ``triage``, each headline metric with its
    counts and 95% interval (or "too few"); ``metrics`` flattens them for MLflow.
    ``predictions`` has one row per item (:func:`slopscore.evaluation.items.predictions_table`);
    ``files`` the tables written beside the report (``predictions``, ``confusion``), for MLflow.
    """

    metrics: dict[str, float]
    report: Path
    figures: dict[str, Path] = field(default_factory=dict)
    segments: list = field(default_factory=list)
    estimates: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    predictions: pd.DataFrame | None = None
    files: dict[str, Path] = field(default_factory=dict)
    threshold: float = float("nan")


def targets(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``is AI`` (assisted or slop) for the detector, ``is violation`` for triage.

    The triage target is the moderator's ``review_outcome`` (confirmed = 1) where the
    frame has one, else whether the label is ``ai_slop``.
    """
    labels = [Label(value) for value in frame["label"]]
    violation = np.array([label.is_violation for label in labels], dtype=int)
    if "review_outcome" in frame:
        outcomes = frame["review_outcome"].tolist()
        violation = np.array([v if o not in ("confirmed", "dismissed") else int(o == "confirmed")
                              for v, o in zip(violation, outcomes)], dtype=int)
    return np.array([label.is_ai for label in labels], dtype=int), violation


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
    y_ai, y_violation = targets(frame)
    p_ai = scored["p_ai"].to_numpy(dtype=float)
    triage = scored["triage_score"].to_numpy(dtype=float)
    groups = frame["artist_id"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimates = {"detector": estimate_metrics(y_ai, p_ai, groups, seed=settings.training.random_state),
                     "triage": estimate_metrics(y_violation, triage, groups, seed=settings.training.random_state)}
    metrics = {**flat_estimates("detector", estimates["detector"]), **flat_estimates("triage", estimates["triage"])}
    days = frame["uploaded_at"].dt.strftime("%Y-%m-%d").to_numpy()
    budget = settings.training.review_budget_per_day
    metrics[f"triage_precision_daily_budget_{budget}"] = precision_within_daily_budget(
        y_violation, triage, days, budget)
    threshold = settings.triage.review_threshold
    if scorer is not None and scorer.info.review_threshold is not None:
        threshold = scorer.info.review_threshold
    flagged = triage >= threshold
    predictions = predictions_table(frame, scored, y_ai, y_violation, threshold)
    confusion = confusion_table(predictions)
    files = {"predictions": out_dir / "predictions.csv", "confusion": out_dir / "confusion_at_threshold.csv"}
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(files["predictions"], index=False)
    confusion.to_csv(files["confusion"], index=False)
    segments = segment_false_positive_rates(
        y_violation, flagged, _segments(frame), min_count=settings.training.segment_min_count)
    robustness = {}
    if encoder is not None and scorer is not None:
        robustness = verdict_flips(frame, p_ai, encoder, scorer.detector,
                                   batch_size=settings.embedding.batch_size,
                                   max_bytes=settings.images.max_bytes)
    metrics.update({f"flip_rate_{k}": v.flip_rate for k, v in robustness.items()})
    figures = {
        "detector reliability": save_figure(reliability_figure(
            reliability_curve(y_ai, p_ai, n_bins=10), "P(AI) reliability"),
            out_dir / "plots" / "detector_reliability.png"),
        "triage reliability": save_figure(reliability_figure(
            reliability_curve(y_violation, triage, n_bins=10), "triage score reliability"),
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
            "Detector: P(AI) against ai_assisted + ai_slop, 95% intervals over artists": _formatted(
                estimates["detector"]),
            "Triage: score against confirmed slop, 95% intervals over artists": [
                *_formatted(estimates["triage"]),
                (f"precision within {budget}/day", _number(metrics[f"triage_precision_daily_budget_{budget}"]))],
        },
        tables={
            f"Confusion at the review threshold (triage ≥ {threshold:.3g}); per-item predictions in "
            f"{files['predictions'].name}": (
                ["label", "items", "flagged", "not flagged", "flagged share"],
                [[r.label, r.items, r.flagged, r.not_flagged, f"{r.flagged_share:.1%}"]
                 for r in confusion.itertuples()]),
            f"False-positive rate on non-violations at triage ≥ {threshold:.3g}": (
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
        galleries=galleries(frame, predictions),
        notes=["Scores rank items for human review; a flagged item is a question for a "
               "moderator, never a verdict. False positives on human work are the costliest error."],
    )
    path = write_html_report(report, out_dir / "evaluation_report.html")
    return EvaluationOutcome(metrics, path, figures, segments, estimates, predictions, files, threshold)


def _number(value: float) -> str:
    return "n/a" if value != value else f"{value:.4f}"


def _formatted(estimates: dict[str, Estimate]) -> list[tuple[str, str]]:
    """The counts, then each metric as ``value [low, high]`` or "too few"."""
    first = next(iter(estimates.values()))
    return [("positives / negatives", f"{first.n_positive} / {first.n_negative}"),
            *((name, estimate.text(4)) for name, estimate in estimates.items())]


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
