"""Plain-language reasons for a triage score: the signals that moved it, then context notes.

A reason is given only for a feature whose contribution moved the score's log-odds by at
least ``REASON_MIN``. Detector percentages are quoted only when the scorer's calibration
was measured within tolerance, and always name the base rate they assume; otherwise the
detector is described in words.
"""

from __future__ import annotations

import numpy as np

from slopscore.model.triage_signals import FEATURES, TAMPERED_STRENGTH, TriageSignals

__all__ = ["REASON_MIN", "context_notes", "describe", "top_reasons"]

#: Contributions smaller than this (in logits) are not worth a reason.
REASON_MIN = 0.25


def _detector_words(evidence: float) -> str:
    if evidence >= 4:
        return "strongly AI-like"
    if evidence >= 2:
        return "AI-like"
    if evidence > 0:
        return "slightly AI-like"
    if evidence <= -4:
        return "strongly human-like"
    return "human-like"


def describe(feature: str, s: TriageSignals, i: int, *, evidence: float, strength: float,
             base_rate: float, quote_percent: bool, new_account_usual_uploads: float) -> str:
    """The reason text of one feature of item ``i``."""
    if feature == "ai_evidence":
        if quote_percent:
            return (f"detector: {100 * float(s.p_ai[i]):.0f}% likely AI-generated "
                    f"(for a {100 * base_rate:g}% base rate)")
        return f"detector: image looks {_detector_words(evidence)}"
    if feature == "file_says_ai":
        if strength <= TAMPERED_STRENGTH:
            return "Content Credentials declare AI, but they failed validation (changed after signing?)"
        generator = s.file_generator[i]
        return f"file says {generator} made it" if generator else "file metadata declares AI generation"
    if feature == "portfolio_outlier":
        return (f"unlike this artist's {int(s.portfolio_size[i])} earlier works "
                f"({float(s.centroid_z[i]):.1f}× their usual spread)")
    if feature == "near_duplicates":
        n = int(s.near_duplicates[i])
        return f"{n} near-identical upload{'s' if n != 1 else ''} by the same artist recently"
    if feature == "upload_burst":
        return (f"{int(s.uploads_in_window[i])} uploads in the last hour "
                f"({float(s.burst_ratio[i]):.0f}× this artist's usual rate)")
    if feature == "new_account_burst":
        return (f"{int(s.uploads_in_window[i])} uploads in the last hour from a new account "
                f"(new accounts usually post up to {new_account_usual_uploads:g})")
    if feature == "declared_with_notes":
        return "declared AI-assisted, with process notes"
    raise KeyError(f"no reason text for feature {feature!r}; known: {FEATURES}")


def context_notes(s: TriageSignals, i: int) -> list[str]:
    """Context shown beside the reasons; none of it changed the score."""
    notes = []
    posters = s.cross_account_posters[i]
    if posters is not None and posters == posters and int(posters) > 0:
        notes.append(f"same image posted by {int(posters)} other account"
                     f"{'s' if int(posters) != 1 else ''} (repost or protest; not AI evidence)")
    z = s.centroid_z[i]
    if z is None or z != z:
        n, ratio = int(s.portfolio_size[i]), s.burst_ratio[i]
        if ratio is None or ratio != ratio:  # nothing uploaded before the window: a new account
            notes.append(f"new artist: {n} earlier works, too few to compare")
        else:  # earlier uploads, but too few accepted ones to form a portfolio
            notes.append(f"{n} earlier accepted works, too few to compare with")
    return notes


def top_reasons(contributions: np.ndarray, top: int) -> list[int]:
    """Indices of the features worth a reason, largest absolute contribution first."""
    order = np.argsort(-np.abs(contributions), kind="stable")
    return [int(k) for k in order[:top] if abs(contributions[k]) >= REASON_MIN]
