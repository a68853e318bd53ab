"""Combine every signal into one triage score in [0, 1] with the reasons that moved it.

``triage_score`` is the estimated chance that a reviewer confirms a policy concern
("AI slop") for the item. Higher means review sooner. It only orders a queue for
people: nothing here removes, hides or demotes an upload.

The score is a logistic function of a few named features, each oriented so that
its weight has a fixed, documented sign:

======================  ==============================================  ======
feature                 value (0 when the signal is missing)            weight
======================  ==============================================  ======
``ai_logit``            logit of calibrated P(AI), clipped to ±8        ≥ 0
``portfolio_outlier``   max(0, centroid z-score) vs the artist's spread ≥ 0
``near_duplicates``     log1p(near-identical uploads by the same artist) ≥ 0
``upload_burst``        log of the burst ratio above 1                  ≥ 0
``file_says_ai``        1 when the file's metadata declares AI          ≥ 0
``declared_with_notes`` 1 when the member declared AI and gave notes    ≤ 0
======================  ==============================================  ======

So missing signals contribute nothing, provenance can only raise the score, and
a declaration of AI assistance with process notes (allowed by the policy) can only
lower it. Cross-account duplicates (the same image posted by many members, as in a
protest) are reported as a separate reason and never enter the score.

Weights come from the documented defaults in ``configs/default.yaml`` until enough
reviewer decisions exist; then :meth:`TriageModel.fit` learns them (a logistic
regression whose weights are bounded to the signs above).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

__all__ = ["FEATURES", "TriageModel", "TriageSignals", "triage_features"]

FEATURES = (
    "ai_logit",
    "portfolio_outlier",
    "near_duplicates",
    "upload_burst",
    "file_says_ai",
    "declared_with_notes",
)
#: Allowed sign of each weight: +1 (never lowers), -1 (never raises).
SIGNS = {"ai_logit": 1, "portfolio_outlier": 1, "near_duplicates": 1, "upload_burst": 1,
         "file_says_ai": 1, "declared_with_notes": -1}
DEFAULT_WEIGHTS = {"intercept": -3.0, "ai_logit": 1.0, "portfolio_outlier": 0.5,
                   "near_duplicates": 0.8, "upload_burst": 0.5, "file_says_ai": 1.5,
                   "declared_with_notes": -1.5}
_LOGIT_CLIP = 8.0
_Z_CLIP = 10.0
_REASON_MIN = 0.25  # contributions smaller than this (in logits) are not worth a reason


@dataclass(frozen=True)
class TriageSignals:
    """Per-item inputs, arrays of length N; NaN (or None) where a signal is missing.

    Attributes
    ----------
    p_ai : float array
        Calibrated P(AI-generated), 0..1, higher = more likely AI.
    centroid_z : float array
        Distance from the artist's own earlier works in units of the artist's
        spread; higher = more unlike their portfolio. NaN in cold start.
    portfolio_size : int array
        Earlier accepted works of the artist.
    near_duplicates : float array
        Near-identical uploads by the same artist (recent window).
    uploads_in_window, burst_ratio : float arrays
        Uploads in the trailing window and that count relative to the artist's usual rate.
    file_says_ai : bool array
        The file's own metadata declares AI generation.
    file_generator : object array
        Generator named by the file (str) or None.
    declared_ai, has_process_notes : object arrays of bool or None
    cross_account_posters : int array
        Other accounts that posted a near-identical image (informational only).
    """

    p_ai: np.ndarray
    centroid_z: np.ndarray
    portfolio_size: np.ndarray
    near_duplicates: np.ndarray
    uploads_in_window: np.ndarray
    burst_ratio: np.ndarray
    file_says_ai: np.ndarray
    file_generator: np.ndarray
    declared_ai: np.ndarray
    has_process_notes: np.ndarray
    cross_account_posters: np.ndarray

    def __len__(self) -> int:
        return len(self.p_ai)


def _float(values) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def triage_features(signals: TriageSignals) -> np.ndarray:
    """The ``(N, len(FEATURES))`` design matrix; missing signals become 0."""
    p = np.clip(_float(signals.p_ai), 1e-6, 1 - 1e-6)
    ai_logit = np.clip(np.log(p / (1 - p)), -_LOGIT_CLIP, _LOGIT_CLIP)
    z = _float(signals.centroid_z)
    burst = _float(signals.burst_ratio)
    declared = np.array([v is True or v == 1 for v in signals.declared_ai])
    notes = np.array([v is True or v == 1 for v in signals.has_process_notes])
    columns = [
        ai_logit,
        np.clip(z, 0, _Z_CLIP),
        np.log1p(np.clip(_float(signals.near_duplicates), 0, None)),
        np.log(np.clip(burst, 1, None)),
        np.asarray(signals.file_says_ai, dtype=bool).astype(np.float64),
        (declared & notes).astype(np.float64),
    ]
    return np.nan_to_num(np.column_stack(columns), nan=0.0)


@dataclass
class TriageModel:
    """Weights of the triage logistic model and where they came from.

    Attributes
    ----------
    weights : dict
        ``intercept`` and one weight per name in :data:`FEATURES`.
    source : {"default", "learned"}
    n_decisions : int
        Reviewer decisions the weights were learned from (0 for defaults).
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    source: str = "default"
    n_decisions: int = 0

    def __post_init__(self) -> None:
        missing = [k for k in ("intercept", *FEATURES) if k not in self.weights]
        if missing:
            raise ValueError(f"triage weights lack {missing}")
        wrong = [k for k, sign in SIGNS.items() if self.weights[k] * sign < 0]
        if wrong:
            raise ValueError(f"triage weights {wrong} have the wrong sign; required: "
                             + ", ".join(f"{k} {'>=' if SIGNS[k] > 0 else '<='} 0" for k in wrong))

    @classmethod
    def from_config(cls, weights: Mapping[str, float]) -> "TriageModel":
        """Defaults overridden by a configuration mapping."""
        unknown = set(weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown triage weights {sorted(unknown)}; allowed: {list(DEFAULT_WEIGHTS)}")
        return cls({**DEFAULT_WEIGHTS, **weights})

    @classmethod
    def fit(cls, signals: TriageSignals, violation: np.ndarray, *, l2: float = 1.0) -> "TriageModel":
        """Learn sign-bounded logistic weights from reviewer decisions.

        Parameters
        ----------
        signals : TriageSignals
            Use out-of-fold P(AI) for items the detector was trained on.
        violation : bool array
            The reviewer confirmed a policy concern.
        l2 : float
            Ridge penalty on the feature weights (not the intercept).
        """
        X = triage_features(signals)
        y = np.asarray(violation, dtype=np.float64)
        if len(y) != len(X) or len(np.unique(y)) < 2:
            raise ValueError(f"need decisions of both kinds for {len(X)} items; got {np.unique(y)}")
        bounds = [(None, None)] + [(0, None) if SIGNS[f] > 0 else (None, 0) for f in FEATURES]

        def loss(theta):
            logits = theta[0] + X @ theta[1:]
            nll = np.sum(np.logaddexp(0, logits) - y * logits)
            grad_logits = 1 / (1 + np.exp(-logits)) - y
            grad = np.concatenate([[grad_logits.sum()], X.T @ grad_logits + 2 * l2 * theta[1:]])
            return nll + l2 * np.sum(theta[1:] ** 2), grad

        start = np.array([DEFAULT_WEIGHTS["intercept"]] + [DEFAULT_WEIGHTS[f] for f in FEATURES])
        result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
        weights = {"intercept": float(result.x[0])}
        weights.update({f: float(w) for f, w in zip(FEATURES, result.x[1:])})
        return cls(weights, "learned", len(y))

    def contributions(self, signals: TriageSignals) -> np.ndarray:
        """Per-feature logit contributions ``(N, len(FEATURES))``; 0 for missing signals."""
        weights = np.array([self.weights[f] for f in FEATURES])
        return triage_features(signals) * weights

    def score(self, signals: TriageSignals) -> np.ndarray:
        """``triage_score`` in [0, 1]: estimated chance a reviewer confirms a concern."""
        logits = self.weights["intercept"] + self.contributions(signals).sum(axis=1)
        return 1 / (1 + np.exp(-logits))

    def reasons(self, signals: TriageSignals, top: int = 3) -> list[list[str]]:
        """Plain-language reasons per item: the features that moved the score most, then notes."""
        contributions = self.contributions(signals)
        explained = []
        for i in range(len(signals)):
            order = np.argsort(-np.abs(contributions[i]), kind="stable")
            texts = [_describe(FEATURES[k], signals, i) for k in order[:top]
                     if abs(contributions[i, k]) >= _REASON_MIN]
            texts.extend(_notes(signals, i))
            explained.append(texts)
        return explained


def _describe(feature: str, s: TriageSignals, i: int) -> str:
    if feature == "ai_logit":
        return f"detector: {100 * float(s.p_ai[i]):.0f}% likely AI-generated"
    if feature == "portfolio_outlier":
        return (f"unlike this artist's {int(s.portfolio_size[i])} earlier works "
                f"({float(s.centroid_z[i]):.1f}× their usual spread)")
    if feature == "near_duplicates":
        n = int(s.near_duplicates[i])
        return f"{n} near-identical upload{'s' if n != 1 else ''} by the same artist recently"
    if feature == "upload_burst":
        return (f"{int(s.uploads_in_window[i])} uploads in the last hour "
                f"({float(s.burst_ratio[i]):.0f}× this artist's usual rate)")
    if feature == "file_says_ai":
        generator = s.file_generator[i]
        return f"file says {generator} made it" if generator else "file metadata declares AI generation"
    return "declared AI-assisted, with process notes"


def _notes(s: TriageSignals, i: int) -> list[str]:
    """Context shown beside the reasons; none of it changed the score."""
    notes = []
    posters = s.cross_account_posters[i]
    if posters is not None and posters == posters and int(posters) > 0:
        notes.append(f"same image posted by {int(posters)} other account"
                     f"{'s' if int(posters) != 1 else ''} (repost or protest; not AI evidence)")
    z = s.centroid_z[i]
    if z is None or z != z:
        notes.append(f"new artist: {int(s.portfolio_size[i])} earlier works, too few to compare")
    return notes
