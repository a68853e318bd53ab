"""The linear triage of scorers saved before the gated form, so they score as they did.

Those models weigh ``logit P(AI)`` (for the training set's share, not the platform's)
and add context with no gate. Their pickled :class:`~slopscore.model.triage.TriageModel`
has no ``form`` attribute; :mod:`slopscore.model.triage` sends it here. New models never
use this module.
"""

from __future__ import annotations

import numpy as np

from slopscore.model.triage_reasons import context_notes
from slopscore.model.triage_signals import TriageSignals, as_float

__all__ = ["LEGACY_FEATURES", "legacy_contributions", "legacy_reasons"]

LEGACY_FEATURES = ("ai_logit", "portfolio_outlier", "near_duplicates", "upload_burst", "file_says_ai",
                   "declared_with_notes")
_LOGIT_CLIP = 8.0
_Z_CLIP = 10.0
_REASON_MIN = 0.25


def _legacy_features(signals: TriageSignals) -> np.ndarray:
    p = np.clip(as_float(signals.p_ai), 1e-6, 1 - 1e-6)
    declared = np.array([v is True or v == 1 for v in signals.declared_ai])
    notes = np.array([v is True or v == 1 for v in signals.has_process_notes])
    columns = [
        np.clip(np.log(p / (1 - p)), -_LOGIT_CLIP, _LOGIT_CLIP),
        np.clip(as_float(signals.centroid_z), 0, _Z_CLIP),
        np.log1p(np.clip(as_float(signals.near_duplicates), 0, None)),
        np.log(np.clip(as_float(signals.burst_ratio), 1, None)),
        np.asarray(signals.file_says_ai, dtype=bool).astype(np.float64),
        (declared & notes).astype(np.float64),
    ]
    return np.nan_to_num(np.column_stack(columns), nan=0.0)


def legacy_contributions(weights: dict[str, float], signals: TriageSignals) -> np.ndarray:
    """Per-feature logit contributions ``(N, len(LEGACY_FEATURES))``."""
    return _legacy_features(signals) * np.array([weights[f] for f in LEGACY_FEATURES])


def legacy_reasons(weights: dict[str, float], signals: TriageSignals, top: int = 3) -> list[list[str]]:
    """The reasons those models gave: the features that moved the score most, then notes."""
    contributions = legacy_contributions(weights, signals)
    explained = []
    for i in range(len(signals)):
        order = np.argsort(-np.abs(contributions[i]), kind="stable")
        texts = [_describe(LEGACY_FEATURES[k], signals, i) for k in order[:top]
                 if abs(contributions[i, k]) >= _REASON_MIN]
        explained.append(texts + context_notes(signals, i))
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
