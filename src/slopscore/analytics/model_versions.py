"""Model versions side by side: score drift against each reference, and the comparison table.

Pure functions on the frames of :mod:`.data`, with the definitions of :mod:`.dismissals`.
:func:`score_drift` compares each model version's scores with the reference histogram
recorded with it (``ModelVersion.reference_histogram``) by the population stability index
(PSI); :func:`model_comparison` puts volume, outcomes, dismissal rate, calibration, ranking
and drift in one row per version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from slopscore.analytics.dismissals import (
    DEFAULT_MIN_REVIEWED,
    NOT_ENOUGH_DATA,
    check_min_count,
    dismissal_rate,
)
from slopscore.analytics.review_thresholds import calibration

__all__ = [
    "Drift",
    "NO_REFERENCE",
    "model_comparison",
    "parse_reference",
    "population_stability_index",
    "score_drift",
]

NO_REFERENCE = "no reference distribution recorded for this model version"
_PSI_EPSILON = 1e-4


# ----------------------------------------------------------------------------- drift


def population_stability_index(reference_counts: Sequence[float],
                               current_counts: Sequence[float],
                               epsilon: float = _PSI_EPSILON) -> float:
    """Population stability index between two histograms over the same bins.

    ``PSI = sum_i (c_i - r_i) * ln(c_i / r_i)`` with ``r`` and ``c`` the bin proportions;
    an empty bin's proportion is replaced by ``epsilon`` so that the sum stays finite.

    Returns
    -------
    float
        In [0, inf); 0 means identical distributions, higher means more shift. Common
        rule of thumb: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift.
    """
    r = np.asarray(reference_counts, dtype=float)
    c = np.asarray(current_counts, dtype=float)
    if r.shape != c.shape or r.ndim != 1 or r.size == 0:
        raise ValueError(f"histograms must have the same bins; got {r.shape} and {c.shape}")
    if r.sum() <= 0 or c.sum() <= 0 or (r < 0).any() or (c < 0).any():
        raise ValueError("histogram counts must be non-negative with a positive total")
    r = np.where(r > 0, r / r.sum(), epsilon)
    c = np.where(c > 0, c / c.sum(), epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


@dataclass(frozen=True, eq=False)
class Drift:
    """Scores of one model version against its reference (training-time) distribution.

    Attributes
    ----------
    model_version : str
    n : int
        Scored items compared.
    status : {"ok", "not_enough_data", "no_reference"}
    message : str
        Human-readable status ("" when ok).
    edges : ndarray or None
        Bin edges of the reference histogram (scores outside are counted in the end bins).
    reference_counts, current_counts : ndarray or None
    psi : float or None
        :func:`population_stability_index`, >= 0, higher = more drift.
    """

    model_version: str
    n: int
    status: Literal["ok", "not_enough_data", "no_reference"]
    message: str
    edges: np.ndarray | None = None
    reference_counts: np.ndarray | None = None
    current_counts: np.ndarray | None = None
    psi: float | None = None


def parse_reference(raw: object) -> tuple[np.ndarray, np.ndarray] | None:
    """Edges and counts from a stored ``reference_histogram``; None when absent or unusable."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        edges = np.asarray(data["edges"], dtype=float)
        counts = np.asarray(data["counts"], dtype=float)
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    if (edges.ndim != 1 or counts.ndim != 1 or edges.size < 2 or counts.size != edges.size - 1
            or not np.all(np.isfinite(edges)) or not np.all(np.diff(edges) > 0)
            or not np.all(np.isfinite(counts)) or (counts < 0).any() or counts.sum() <= 0):
        return None
    return edges, counts


def score_drift(items: pd.DataFrame, references: Mapping[str, object], *,
                min_count: int = DEFAULT_MIN_REVIEWED) -> list[Drift]:
    """PSI of each model version's scored items against its reference histogram.

    Parameters
    ----------
    items : pandas.DataFrame
        Scored items with ``model_version`` and ``triage_score``.
    references : mapping of str to object
        ``ModelVersion.reference_histogram`` (JSON text or dict) per version; missing,
        empty or malformed ones give status ``no_reference``.
    min_count : int
        Fewest scored items, and fewest reference items, for which a PSI is given.
    """
    min_count = check_min_count(min_count)
    results = []
    for version, group in items.groupby("model_version", sort=True):
        scores = group["triage_score"].to_numpy(dtype=float)
        scores = scores[np.isfinite(scores)]
        parsed = parse_reference(references.get(version))
        if parsed is None:
            results.append(Drift(str(version), len(scores), "no_reference", NO_REFERENCE))
            continue
        edges, ref = parsed
        current, _ = np.histogram(np.clip(scores, edges[0], edges[-1]), bins=edges)
        if len(scores) < min_count or ref.sum() < min_count:  # PSI of tiny samples is noise
            results.append(Drift(str(version), len(scores), "not_enough_data", NOT_ENOUGH_DATA,
                                 edges, ref, current))
            continue
        results.append(Drift(str(version), len(scores), "ok", "", edges, ref, current,
                             population_stability_index(ref, current)))
    return results


# ----------------------------------------------------------------------------- model versions


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y.astype(int), p))


def model_comparison(items: pd.DataFrame, reviewed: pd.DataFrame, *,
                     drift: Sequence[Drift] = (), min_count: int = DEFAULT_MIN_REVIEWED,
                     n_bins: int = 10) -> pd.DataFrame:
    """One row per model version: volume, outcomes, dismissal rate, calibration, ranking.

    Returns
    -------
    pandas.DataFrame
        ``model_version``, ``scored`` (items with a score), ``reviewed``, ``confirmed``,
        ``dismissed``, ``dismissal_rate`` with Wilson 95% ``ci_low``/``ci_high`` and
        ``status`` (as in :func:`dismissal_rate`), ``mean_score`` of scored items (in
        [0, 1]), ``ece`` (in [0, 1], lower is better; NaN below ``min_count`` scored
        reviewed items), ``auroc`` of triage score against confirmed among reviewed items
        (in [0, 1], 0.5 = chance, higher is better; NaN unless both outcomes occur and
        ``min_count`` are reviewed) with ``auroc_status``, and ``psi`` from ``drift``.
    """
    min_count = check_min_count(min_count)
    psi = {d.model_version: d.psi for d in drift}
    versions = sorted(set(items["model_version"]) | set(reviewed["model_version"]))
    rows = []
    for version in versions:
        scored = items[items["model_version"] == version]
        rev = reviewed[reviewed["model_version"] == version]
        rate = dismissal_rate(rev, min_count)
        cal = calibration(rev, min_count=min_count, n_bins=n_bins)
        with_score = rev[rev["triage_score"].notna()]
        y = with_score["confirmed"].astype(bool).to_numpy()
        both = 0 < y.sum() < len(y)
        auroc = (_auroc(y, with_score["triage_score"].to_numpy(dtype=float))
                 if both and len(with_score) >= min_count else np.nan)
        rows.append({
            "model_version": version,
            "scored": int(scored["triage_score"].notna().sum()),
            "reviewed": rate.reviewed, "confirmed": rate.confirmed, "dismissed": rate.dismissed,
            "dismissal_rate": np.nan if rate.rate is None else rate.rate,
            "ci_low": np.nan if rate.ci_low is None else rate.ci_low,
            "ci_high": np.nan if rate.ci_high is None else rate.ci_high,
            "status": rate.status,
            "mean_score": float(scored["triage_score"].mean()) if len(scored) else np.nan,
            "ece": np.nan if cal.ece is None else cal.ece,
            "auroc": auroc,
            "auroc_status": "ok" if np.isfinite(auroc) else "not_enough_data",
            "psi": np.nan if psi.get(version) is None else psi[version],
        })
    return pd.DataFrame(rows, columns=[
        "model_version", "scored", "reviewed", "confirmed", "dismissed", "dismissal_rate",
        "ci_low", "ci_high", "status", "mean_score", "ece", "auroc", "auroc_status", "psi"])

