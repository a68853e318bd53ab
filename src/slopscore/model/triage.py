"""Combine every signal into one triage score in [0, 1] with the reasons that moved it.

``triage_score`` is the estimated chance that a reviewer confirms a policy concern ("AI
slop") for the item, **for the platform's base rate** of concerns. Higher means review
sooner. It only orders a queue for people: nothing here removes, hides or demotes an
upload. The score is a logistic function of the features of
:mod:`slopscore.model.triage_signals`::

    logit(triage_score) = logit(base_rate) + offset + sum_f weight_f * feature_f

The detector's evidence enters as a log-likelihood ratio, so with weight 1 and offset 0
a calibrated detector's judgement is used as it is and moved to the platform's share of
concerns by Bayes' rule. Context (bursts, near-duplicates, distance from the portfolio)
passes through a gate that is closed when the image and the file both point to a human:
context alone can never raise such a work's score. Weights have fixed signs: provenance
can only raise the score; a declaration of AI assistance with process notes can only
lower it. Cross-account duplicates (a repost or a protest) are a note, never a feature.

Weights are the documented defaults in ``configs/default.yaml`` unless a combination
learned from reviewer decisions (:meth:`TriageModel.fit`) proved better under grouped
cross-validation (see :mod:`slopscore.training.triage_selection`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from slopscore.model.base_rate import logit, sigmoid
from slopscore.model.triage_legacy import LEGACY_FEATURES, legacy_contributions, legacy_reasons
from slopscore.model.triage_reasons import context_notes, describe, top_reasons
from slopscore.model.triage_signals import (
    FEATURES,
    SIGNS,
    TriageSignals,
    detector_evidence,
    provenance_strength,
    triage_features,
)

__all__ = ["DEFAULT_BASE_RATE", "DEFAULT_NEW_ACCOUNT_UPLOADS", "DEFAULT_WEIGHTS", "FEATURES", "TriageModel",
           "TriageSignals", "triage_features"]

#: Share of uploads that are concerns, when nothing else is configured.
DEFAULT_BASE_RATE = 0.05
#: Uploads a new account may make in one burst window as ordinary human behaviour, platform-wide:
#: an artist who joins often posts a backlog of 10-30 earlier works within the first hour
#: (the product brief's own example), so only a count beyond that is evidence.
DEFAULT_NEW_ACCOUNT_UPLOADS = 30.0
#: ``intercept`` is the offset added to ``logit(base_rate)``; the rest weigh the features.
DEFAULT_WEIGHTS = {"intercept": 0.0, "ai_evidence": 1.0, "file_says_ai": 3.0, "portfolio_outlier": 0.3,
                   "near_duplicates": 0.6, "upload_burst": 0.5, "new_account_burst": 0.5,
                   "declared_with_notes": -1.5}


@dataclass
class TriageModel:
    """Weights of the triage logistic model and where they came from.

    Attributes
    ----------
    weights : dict
        ``intercept`` (the offset from ``logit(base_rate)``) and one weight per name in
        :data:`FEATURES`.
    source : {"default", "learned"}
    n_decisions : int
        Reviewer decisions (or labels) the weights were learned from (0 for defaults).
    new_account_usual_uploads : float
        Uploads a new account usually makes in one burst window, platform-wide.
    selection : str
        Why these weights were chosen over the alternative (empty when not compared).
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    source: str = "default"
    n_decisions: int = 0
    new_account_usual_uploads: float = DEFAULT_NEW_ACCOUNT_UPLOADS
    selection: str = ""
    form: str = "gated"

    def __post_init__(self) -> None:
        missing = [k for k in ("intercept", *FEATURES) if k not in self.weights]
        if missing:
            raise ValueError(f"triage weights lack {missing}")
        wrong = [k for k, sign in SIGNS.items() if self.weights[k] * sign < 0]
        if wrong:
            raise ValueError(f"triage weights {wrong} have the wrong sign; required: "
                             + ", ".join(f"{k} {'>=' if SIGNS[k] > 0 else '<='} 0" for k in wrong))
        if not self.new_account_usual_uploads >= 1:
            raise ValueError(f"new_account_usual_uploads must be at least 1; got {self.new_account_usual_uploads}")

    @property
    def is_legacy(self) -> bool:
        """True for a model pickled before the gated form (it scores as it always did)."""
        return self.__dict__.get("form") is None

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features this model weighs, in breakdown order."""
        return LEGACY_FEATURES if self.is_legacy else FEATURES

    @classmethod
    def from_config(cls, weights: Mapping[str, float],
                    new_account_usual_uploads: float = DEFAULT_NEW_ACCOUNT_UPLOADS) -> "TriageModel":
        """Defaults overridden by a configuration mapping."""
        unknown = set(weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown triage weights {sorted(unknown)}; allowed: {list(DEFAULT_WEIGHTS)}")
        return cls({**DEFAULT_WEIGHTS, **weights}, new_account_usual_uploads=new_account_usual_uploads)

    @classmethod
    def fit(cls, signals: TriageSignals, violation: np.ndarray, *, l2: float = 1.0,
            new_account_usual_uploads: float = DEFAULT_NEW_ACCOUNT_UPLOADS,
            fixed: Mapping[str, float] | None = None) -> "TriageModel":
        """Learn sign-bounded logistic weights from reviewer decisions (or labels).

        The fitted intercept absorbs the decisions' own share of concerns; the stored
        offset is relative to that share, so scores move to any platform base rate.

        Parameters
        ----------
        signals : TriageSignals
            Use out-of-fold detector evidence for items the detector was trained on.
        violation : bool array
            The reviewer confirmed a policy concern.
        l2 : float
            Ridge penalty on the feature weights (not the intercept).
        fixed : mapping, optional
            Feature weights held at given values (e.g. context weights that the data at
            hand cannot inform); the others are fitted around them.
        """
        X = triage_features(signals, new_account_usual_uploads)
        y = np.asarray(violation, dtype=np.float64)
        if len(y) != len(X) or len(np.unique(y)) < 2:
            raise ValueError(f"need decisions of both kinds for {len(X)} items; got {np.unique(y)}")
        fixed = dict(fixed or {})
        unknown = set(fixed) - set(FEATURES)
        if unknown:
            raise ValueError(f"cannot fix unknown triage features {sorted(unknown)}; known: {list(FEATURES)}")
        bounds = [(None, None)] + [(fixed[f], fixed[f]) if f in fixed else (0, None) if SIGNS[f] > 0 else (None, 0)
                                   for f in FEATURES]

        def loss(theta):
            logits = theta[0] + X @ theta[1:]
            nll = np.sum(np.logaddexp(0, logits) - y * logits)
            grad_logits = sigmoid(logits) - y
            grad = np.concatenate([[grad_logits.sum()], X.T @ grad_logits + 2 * l2 * theta[1:]])
            return nll + l2 * np.sum(theta[1:] ** 2), grad

        start = np.array([float(logit(y.mean()))] + [fixed.get(f, DEFAULT_WEIGHTS[f]) for f in FEATURES])
        result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
        weights = {"intercept": float(result.x[0] - logit(y.mean()))}
        weights.update({f: float(w) for f, w in zip(FEATURES, result.x[1:])})
        model = cls(weights, "learned", len(y), new_account_usual_uploads)  # checks the fixed signs too
        return model

    def intercept(self, base_rate: float = DEFAULT_BASE_RATE) -> float:
        """The logit of the score of an item with no signal at all, for ``base_rate``."""
        if self.is_legacy:
            return float(self.weights["intercept"])
        return float(logit(base_rate) + self.weights["intercept"])

    def contributions(self, signals: TriageSignals) -> np.ndarray:
        """Per-feature logit contributions ``(N, len(feature_names))``; 0 for missing signals."""
        if self.is_legacy:
            return legacy_contributions(self.weights, signals)
        weights = np.array([self.weights[f] for f in FEATURES])
        return triage_features(signals, self.new_account_usual_uploads) * weights

    def score(self, signals: TriageSignals, base_rate: float = DEFAULT_BASE_RATE) -> np.ndarray:
        """``triage_score`` in [0, 1]: the estimated chance a reviewer confirms a concern.

        Higher = review sooner. ``base_rate`` is the platform's share of concerns the
        chance is stated for (models pickled before the gated form ignore it).
        """
        return sigmoid(self.intercept(base_rate) + self.contributions(signals).sum(axis=1))

    def reasons(self, signals: TriageSignals, top: int = 3, *, base_rate: float = DEFAULT_BASE_RATE,
                quote_percent: bool = False) -> list[list[str]]:
        """Plain-language reasons per item: the features that moved the score most, then notes.

        ``quote_percent`` allows the detector's percentage (for ``base_rate``) in the text;
        give it only when the detector's calibration was measured within tolerance.
        """
        if self.is_legacy:
            return legacy_reasons(self.weights, signals, top)
        contributions = self.contributions(signals)
        evidence = detector_evidence(signals)
        strength = provenance_strength(signals)
        explained = []
        for i in range(len(signals)):
            texts = [describe(FEATURES[k], signals, i, evidence=float(evidence[i]),
                              strength=float(strength[i]), base_rate=base_rate, quote_percent=quote_percent,
                              new_account_usual_uploads=self.new_account_usual_uploads)
                     for k in top_reasons(contributions[i], top)]
            explained.append(texts + context_notes(signals, i))
        return explained
