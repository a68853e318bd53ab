"""The inputs of the triage score, and the features it is a logistic function of.

Every feature is oriented so that its weight has a fixed sign (see :data:`SIGNS`):
evidence of AI generation and of mass production can only raise the score, a
declaration of AI assistance with process notes can only lower it, and a missing signal
contributes 0.

======================  ==========================================================  ======
feature                 value                                                       weight
======================  ==========================================================  ======
``ai_evidence``         the detector's log-likelihood ratio: logit P(AI) minus the  >= 0
                        logit of the AI share it was calibrated for, clipped to +-8
``file_says_ai``        1 when the file's metadata or a valid Content Credential    >= 0
                        says a generator made it and the member did not declare AI
                        use; 0.5 when only a credential that failed validation
                        (changed after signing) says so. A declared work's metadata
                        only confirms the declaration: 0
``portfolio_outlier``   gate x max(0, z - 1): the distance from the artist's works  >= 0
                        (z, in their own spread) beyond their usual variation; 0
                        for an image other accounts also posted
``near_duplicates``     gate x log1p(near-identical uploads by the same artist)      >= 0
``upload_burst``        gate x log of uploads in the window over the artist's       >= 0
                        usual count (accounts with a history only)
``new_account_burst``   gate x log of a new account's uploads in the window over    >= 0
                        the count new accounts usually post (platform-wide)
``declared_with_notes`` 1 when the member declared AI use and gave process notes    <= 0
======================  ==========================================================  ======

**The gate.** Bursts, near-duplicates and distance from a portfolio describe how work is
posted, not how it was made: a human artist uploading a backlog, or changing style,
shows them too. Context therefore only counts as far as the image or the file already
points to AI: ``gate = clip(max(ai_evidence, 0) / GATE_FULL + file_says_ai, 0, 1)``. It is 0
when the detector and provenance both point to a human (then context changes nothing),
and 1 once the detector alone is ``GATE_FULL`` logits (odds of about 7 to 1) towards AI
or a file declares AI. ``GATE_FULL`` is a design constant, not a fitted value.

**Usual variation.** ``z`` is how far an upload lies from the artist's earlier works,
less the artist's typical distance, in units of the spread of those distances (were the
distances normal, one in six of the artist's own works would lie more than one spread
out). Distance within ``USUAL_SPREAD`` is the artist's ordinary variation, not a sign
that they did not make the work, so only the distance beyond it counts (a design
constant, not a fitted value).

**Reposts.** An image that other accounts also posted (``cross_account_posters`` > 0, a
repost or a protest) is expected to be unlike the poster's own works: the repost explains
the distance, and a cross-account duplicate is never evidence of AI generation. Its
distance from the portfolio therefore does not count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CONTEXT_FEATURES", "FEATURES", "GATE_FULL", "SIGNS", "TAMPERED_STRENGTH", "USUAL_SPREAD",
           "TriageSignals", "as_float", "context_gate", "detector_evidence", "provenance_strength",
           "triage_features"]

FEATURES = (
    "ai_evidence",
    "file_says_ai",
    "portfolio_outlier",
    "near_duplicates",
    "upload_burst",
    "new_account_burst",
    "declared_with_notes",
)
#: Features that describe how work is posted; each is multiplied by the gate.
CONTEXT_FEATURES = ("portfolio_outlier", "near_duplicates", "upload_burst", "new_account_burst")
#: Allowed sign of each weight: +1 (never lowers the score), -1 (never raises it).
SIGNS = {"ai_evidence": 1, "file_says_ai": 1, "portfolio_outlier": 1, "near_duplicates": 1,
         "upload_burst": 1, "new_account_burst": 1, "declared_with_notes": -1}
#: Detector evidence (logits) at which context counts in full.
GATE_FULL = 2.0
#: Distance from the portfolio (z, in the artist's own spread) that is ordinary variation.
USUAL_SPREAD = 1.0
#: Weight of a credential that declares AI but failed validation, relative to a valid one.
TAMPERED_STRENGTH = 0.5
_EVIDENCE_CLIP = 8.0
_Z_CLIP = 10.0


@dataclass(frozen=True)
class TriageSignals:
    """Per-item inputs, arrays of length N; NaN (or None) where a signal is missing.

    Attributes
    ----------
    p_ai : float array
        P(AI-generated) for the platform's base rate, 0..1, higher = more likely AI
        (shown in reasons).
    centroid_z : float array
        Distance from the artist's own earlier works in units of the artist's
        spread; higher = more unlike their portfolio. NaN in cold start.
    portfolio_size : int array
        Earlier accepted works of the artist.
    near_duplicates : float array
        Near-identical uploads by the same artist (recent window).
    uploads_in_window, burst_ratio : float arrays
        Uploads in the trailing window, and that count over the artist's usual count.
        ``burst_ratio`` is NaN for an account with no uploads before the window: it has
        no usual rate.
    file_says_ai : bool array
        The file's own metadata or credentials declare AI generation.
    file_generator : object array
        Generator named by the file (str) or None.
    declared_ai, has_process_notes : object arrays of bool or None
    cross_account_posters : int array
        Other accounts that posted a near-identical image. Never raises the score; where
        it is above 0 the distance from the portfolio does not count (see *Reposts*).
    ai_evidence : float array, optional
        The detector's log-likelihood ratio (logit P(AI) minus the logit of the AI share
        it was calibrated for); higher = more AI-like. Derived from ``p_ai`` (as if
        calibrated for an even share) when omitted.
    provenance_source : object array, optional
        Which source declared AI (``c2pa``, ``iptc``, a metadata format) or None.
    c2pa_verified : object array, optional
        Whether the file's Content Credentials validated; None without credentials.
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
    ai_evidence: np.ndarray | None = None
    provenance_source: np.ndarray | None = None
    c2pa_verified: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.p_ai)


def as_float(values) -> np.ndarray:
    """Floats with None as NaN."""
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def _flags(values) -> np.ndarray:
    return np.array([v is True or v == 1 for v in values], dtype=bool)


def detector_evidence(signals: TriageSignals) -> np.ndarray:
    """``ai_evidence`` in logits (0 where missing), clipped to +-8."""
    if signals.ai_evidence is not None:
        evidence = as_float(signals.ai_evidence)
    else:
        p = np.clip(as_float(signals.p_ai), 1e-6, 1 - 1e-6)
        evidence = np.log(p / (1 - p))
    return np.nan_to_num(np.clip(evidence, -_EVIDENCE_CLIP, _EVIDENCE_CLIP), nan=0.0)


def provenance_strength(signals: TriageSignals) -> np.ndarray:
    """1 where the file declares AI, ``TAMPERED_STRENGTH`` where only a failed credential does."""
    says = np.asarray(signals.file_says_ai, dtype=bool).astype(np.float64)
    if signals.provenance_source is None or signals.c2pa_verified is None:
        return says
    tampered = np.array([src == "c2pa" and ok is False
                         for src, ok in zip(signals.provenance_source, signals.c2pa_verified)])
    return np.where(tampered, says * TAMPERED_STRENGTH, says)


def context_gate(evidence: np.ndarray, provenance: np.ndarray) -> np.ndarray:
    """How far context may count, in [0, 1]: 0 when image and file both point to a human."""
    return np.clip(np.maximum(evidence, 0.0) / GATE_FULL + provenance, 0.0, 1.0)


def triage_features(signals: TriageSignals, new_account_usual_uploads: float) -> np.ndarray:
    """The ``(N, len(FEATURES))`` design matrix; missing signals become 0.

    ``new_account_usual_uploads`` is how many uploads a new account usually makes in one
    burst window, platform-wide: a new account's count is judged against it.
    """
    evidence = detector_evidence(signals)
    provenance = provenance_strength(signals)
    gate = context_gate(evidence, provenance)
    uploads = as_float(signals.uploads_in_window)
    ratio = as_float(signals.burst_ratio)
    no_history = np.isnan(ratio) & np.isfinite(uploads)
    new_account = np.where(no_history, uploads / max(float(new_account_usual_uploads), 1.0), np.nan)
    declared_ai = _flags(signals.declared_ai)
    declared = declared_ai & _flags(signals.has_process_notes)
    own_work = np.nan_to_num(as_float(signals.cross_account_posters), nan=0.0) <= 0
    columns = [
        evidence,
        np.where(declared_ai, 0.0, provenance),
        np.where(own_work, gate * np.clip(as_float(signals.centroid_z) - USUAL_SPREAD, 0, _Z_CLIP), 0.0),
        gate * np.log1p(np.clip(as_float(signals.near_duplicates), 0, None)),
        gate * np.log(np.clip(ratio, 1, None)),
        gate * np.log(np.clip(new_account, 1, None)),
        declared.astype(np.float64),
    ]
    return np.nan_to_num(np.column_stack(columns), nan=0.0)
