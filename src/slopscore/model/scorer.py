"""The trained scorer: backbone spec + calibrated detector + triage model, saved as one folder.

A :class:`Scorer` turns a table of per-item features (an embedding from its
backbone plus the portfolio, duplicate, provenance and declaration signals) into
``p_ai``, ``triage_score`` and reasons. Every output row records the model
version and backbone that produced it.

The folder holds ``scorer.json`` (human-readable metadata) and ``scorer.joblib``
(the fitted estimators). Load only folders you produced: joblib files are pickles.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from slopscore.model.base_rate import logit, shift_prior
from slopscore.model.detector import AIDetector
from slopscore.model.triage import TriageModel, TriageSignals

__all__ = ["SIGNAL_COLUMNS", "Scorer", "ScorerInfo", "score_histogram", "signals_from_frame"]

FORMAT_VERSION = 1
#: Columns a feature table carries besides ``embedding``.
SIGNAL_COLUMNS = (
    "centroid_z", "portfolio_size", "near_duplicates", "uploads_in_window", "burst_ratio",
    "file_says_ai", "file_generator", "declared_ai", "has_process_notes", "cross_account_posters",
    "provenance_source", "c2pa_verified",
)
_VERSIONED = ("slopscore", "torch", "open-clip-torch", "scikit-learn", "numpy", "pillow")


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


@dataclass(frozen=True)
class ScorerInfo:
    """What produced a scorer, stored beside it.

    Attributes
    ----------
    backbone : str
        Backbone string to embed new images with.
    backbone_id, preprocess_id : str
        Identity of the embeddings the detector was trained on.
    embed_dim : int
    feature_names : list of str
        Detector inputs (``embedding[0..D-1]``) and triage features, in order.
    training_digest : str
        sha256 over the training items' ids, content hashes and labels.
    n_training_items : int
    model_version : str
        Set on registration (e.g. ``slopscore/3``); ``local`` until then.
    reference_histogram : dict
        ``{"edges": [...], "counts": [...]}``: triage scores on the held-out
        evaluation items, the baseline for score-drift reports (empty if unknown).
    base_rate : float or None
        The platform's share of AI uploads that ``p_ai`` and ``triage_score`` are stated
        for (``scoring.base_rate`` at training). None for scorers saved before it was
        kept: they report probabilities for their training set's share.
    calibration : dict
        How well the detector's probabilities were calibrated, measured out of fold:
        ``method``, ``n``, ``ece`` with its 95% interval ``ece_low``/``ece_high``, and
        ``within_tolerance`` (only then do reasons quote percentages).
    review_threshold : float or None
        Triage score at or above which an item counts as flagged for review in
        evaluations; ``review_threshold_rule`` says how it was chosen.
    library_versions : dict
    created_at : str
    """

    backbone: str
    backbone_id: str
    preprocess_id: str
    embed_dim: int
    training_digest: str
    n_training_items: int
    feature_names: list = field(default_factory=list)
    model_version: str = "local"
    reference_histogram: dict = field(default_factory=dict)
    base_rate: float | None = None
    calibration: dict = field(default_factory=dict)
    review_threshold: float | None = None
    review_threshold_rule: str = ""
    library_versions: dict = field(default_factory=_versions)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    format_version: int = FORMAT_VERSION


@dataclass
class Scorer:
    """Detector + triage model + the identity of the features they expect."""

    info: ScorerInfo
    detector: AIDetector
    triage: TriageModel

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``scorer.json`` and ``scorer.joblib`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump({"detector": self.detector, "triage": self.triage}, folder / "scorer.joblib")
        (folder / "scorer.json").write_text(json.dumps(asdict(self.info), indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> "Scorer":
        """Read a folder written by :meth:`save`."""
        folder = Path(folder)
        info = json.loads((folder / "scorer.json").read_text())
        if info.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"scorer in {folder} has format {info.get('format_version')}; "
                f"this slopscore reads format {FORMAT_VERSION}"
            )
        estimators = joblib.load(folder / "scorer.joblib")
        return cls(ScorerInfo(**info), estimators["detector"], estimators["triage"])

    def score_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """Score a feature table.

        Parameters
        ----------
        features : pandas.DataFrame
            ``embedding`` (a sequence of floats per row, or None when the image
            could not be embedded) and the :data:`SIGNAL_COLUMNS` (missing
            columns count as missing signals).

        Returns
        -------
        pandas.DataFrame
            ``p_ai`` (0..1, higher = more likely AI, for the scorer's ``base_rate``; NaN
            without an embedding), ``triage_score`` (0..1, the estimated chance a
            reviewer confirms a concern at that base rate; higher = review sooner),
            ``reasons`` (JSON list of strings),
            ``breakdown`` (JSON object: each triage feature's contribution to the
            score's logit, positive = raised it, plus the ``intercept``),
            ``model_version`` and ``backbone_id``; same index as ``features``.
        """
        p_raw = np.full(len(features), np.nan)
        has = np.array([e is not None and len(e) > 0 for e in features["embedding"]], dtype=bool)
        if has.any():
            matrix = np.stack([np.asarray(e, dtype=np.float32) for e in features["embedding"][has]])
            if matrix.shape[1] != self.info.embed_dim:
                raise ValueError(
                    f"embeddings have {matrix.shape[1]} dimensions; this scorer expects "
                    f"{self.info.embed_dim} from {self.info.backbone_id}"
                )
            p_raw[has] = self.detector.predict_ai_probability(matrix)
        base_rate, training_rate = self.info.base_rate, self.detector.training_rate
        if self.triage.is_legacy or base_rate is None or training_rate is None:
            p_ai, evidence, base_rate = p_raw, None, 0.5  # saved before base rates: as it scored then
        else:
            p_ai = shift_prior(p_raw, training_rate, base_rate)
            evidence = logit(p_raw) - logit(training_rate)
        signals = signals_from_frame(features, p_ai, evidence)
        contributions = self.triage.contributions(signals)
        intercept = self.triage.intercept(base_rate)
        names = self.triage.feature_names
        quote = bool(self.info.calibration.get("within_tolerance", False))
        return pd.DataFrame(
            {
                "p_ai": p_ai,
                "triage_score": self.triage.score(signals, base_rate),
                "reasons": [json.dumps(r) for r in self.triage.reasons(signals, base_rate=base_rate,
                                                                        quote_percent=quote)],
                "breakdown": [json.dumps({"intercept": round(intercept, 4),
                                          **{f: round(float(c), 4) + 0.0 for f, c in zip(names, row)}})
                              for row in contributions],
                "model_version": self.info.model_version,
                "backbone_id": self.info.backbone_id,
            },
            index=features.index,
        )


def score_histogram(scores, bins: int = 20) -> dict:
    """``{"edges", "counts"}``: equal-width histogram of scores in [0, 1] (NaN ignored)."""
    values = np.asarray(scores, dtype=np.float64)
    counts, edges = np.histogram(values[np.isfinite(values)], bins=bins, range=(0.0, 1.0))
    return {"edges": [round(float(e), 6) for e in edges], "counts": [int(c) for c in counts]}


def signals_from_frame(features: pd.DataFrame, p_ai: np.ndarray,
                       ai_evidence: np.ndarray | None = None) -> TriageSignals:
    """Build :class:`TriageSignals` from a feature table; absent columns are missing signals.

    ``ai_evidence`` is the detector's log-likelihood ratio (see :class:`TriageSignals`).
    """
    n = len(features)

    def column(name: str, default, dtype=None) -> np.ndarray:
        if name in features:
            values = features[name].to_numpy(dtype=object)
            values = np.array([default if _is_missing(v) else v for v in values], dtype=object)
        else:
            values = np.array([default] * n, dtype=object)
        return values.astype(dtype) if dtype is not None else values

    return TriageSignals(
        p_ai=np.asarray(p_ai, dtype=np.float64),
        centroid_z=column("centroid_z", np.nan, np.float64),
        portfolio_size=column("portfolio_size", 0, np.int64),
        near_duplicates=column("near_duplicates", np.nan, np.float64),
        uploads_in_window=column("uploads_in_window", np.nan, np.float64),
        burst_ratio=column("burst_ratio", np.nan, np.float64),
        file_says_ai=column("file_says_ai", False, bool),
        file_generator=column("file_generator", None),
        declared_ai=column("declared_ai", None),
        has_process_notes=column("has_process_notes", None),
        cross_account_posters=column("cross_account_posters", 0, np.int64),
        ai_evidence=None if ai_evidence is None else np.asarray(ai_evidence, dtype=np.float64),
        provenance_source=column("provenance_source", None),
        c2pa_verified=column("c2pa_verified", None),
    )


def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
