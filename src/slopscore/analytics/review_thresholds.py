"""Review thresholds and the calibration behind them: which cut fits a daily review budget.

Pure functions on the frames of :mod:`.data`, with the definitions of :mod:`.dismissals`
(reviewed item, outcome, minimum count). :func:`calibration` asks whether ``triage_score``
matches how often reviewers confirm a concern; :func:`threshold_table` what each threshold
would send to moderators per day and what they would find; :func:`choose_threshold` the
lowest threshold within a budget.

A **day** of queue volume is the UTC calendar day of ``uploaded_at`` (``scored_at`` when
the upload time is unknown).

Wilson intervals come from :func:`slopscore.evaluation.intervals.wilson_interval`,
reliability and ECE from :func:`slopscore.evaluation.calibration.reliability_curve`;
nothing here re-derives them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from slopscore.analytics.dismissals import DEFAULT_MIN_REVIEWED, Status, check_min_count
from slopscore.evaluation.calibration import (
    ReliabilityCurve,
    expected_calibration_error,
    reliability_curve,
)
from slopscore.evaluation.intervals import wilson_interval

__all__ = [
    "Calibration",
    "DEFAULT_THRESHOLDS",
    "calibration",
    "choose_threshold",
    "threshold_table",
]

#: Review thresholds of the threshold table: 0.05, 0.10, ..., 0.95.
DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


# ----------------------------------------------------------------------------- calibration


@dataclass(frozen=True, eq=False)
class Calibration:
    """Calibration of ``triage_score`` against reviewers' outcomes.

    Attributes
    ----------
    n : int
        Reviewed items with a triage score (always reported).
    n_confirmed : int
        Of those, confirmed.
    status : {"ok", "not_enough_data"}
    curve : ReliabilityCurve or None
        Mean score vs observed confirmation rate per bin; None with ``not_enough_data``.
    ece : float or None
        Expected calibration error, count-weighted mean |observed - predicted| over the
        bins, in [0, 1]; lower is better.
    brier : float or None
        Mean squared difference between score and outcome (1 = confirmed), in [0, 1];
        lower is better.
    n_bins : int
    strategy : {"uniform", "quantile"}
        ``uniform``: equal-width bins over [0, 1].
    """

    n: int
    n_confirmed: int
    status: Status
    curve: ReliabilityCurve | None
    ece: float | None
    brier: float | None
    n_bins: int
    strategy: str

    def table(self) -> pd.DataFrame:
        """The reliability curve as rows: bin edges, items, mean score, observed rate."""
        columns = ["bin_low", "bin_high", "items", "mean_score", "observed_confirmed_rate"]
        if self.curve is None:
            return pd.DataFrame(columns=columns)
        edges = self.curve.bin_edges
        return pd.DataFrame({
            "bin_low": edges[:-1], "bin_high": edges[1:], "items": self.curve.counts,
            "mean_score": self.curve.mean_predicted,
            "observed_confirmed_rate": self.curve.observed_frequency,
        })


def calibration(reviewed: pd.DataFrame, *, min_count: int = DEFAULT_MIN_REVIEWED,
                n_bins: int = 10, strategy: Literal["uniform", "quantile"] = "uniform"
                ) -> Calibration:
    """Reliability, ECE and Brier score of ``triage_score`` against confirmed outcomes.

    Only reviewed items count, and only the ones the queue showed to people are reviewed,
    so this is calibration *among reviewed items* (mostly high scores).

    Parameters
    ----------
    reviewed : pandas.DataFrame
        ``triage_score`` (in [0, 1], NaN when unscored) and ``confirmed`` (bool).
    min_count : int
        Fewest scored, reviewed items for which calibration is reported.
    n_bins : int
        Bins of the reliability diagram.
    strategy : {"uniform", "quantile"}
        Equal-width bins over [0, 1] (default) or equally filled bins.
    """
    min_count = check_min_count(min_count)
    scored = reviewed[reviewed["triage_score"].notna()]
    y = scored["confirmed"].astype(bool).to_numpy()
    p = scored["triage_score"].to_numpy(dtype=float)
    if len(scored) < min_count:
        return Calibration(len(scored), int(y.sum()), "not_enough_data", None, None, None,
                           n_bins, strategy)
    curve = reliability_curve(y, p, n_bins=n_bins, strategy=strategy)
    ece = expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy)
    brier = float(np.mean((p - y) ** 2))
    return Calibration(len(scored), int(y.sum()), "ok", curve, ece, brier, n_bins, strategy)


# ----------------------------------------------------------------------------- thresholds


def _days_observed(items: pd.DataFrame, since: pd.Timestamp | None) -> int:
    """Calendar days (UTC) from ``since`` (or the first upload day) to the last upload day."""
    if items.empty:
        return 0
    days = items["day"]
    first = since.normalize() if since is not None else days.min()
    return int((days.max() - min(first, days.min())).days) + 1


def threshold_table(items: pd.DataFrame, reviewed: pd.DataFrame, *,
                    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                    min_count: int = DEFAULT_MIN_REVIEWED,
                    since: pd.Timestamp | None = None) -> pd.DataFrame:
    """What each review threshold would send to moderators per day, and what they would find.

    For a threshold ``t`` (an item is queued when ``triage_score >= t``):

    - ``queue_per_day``: scored items with score >= t divided by the days observed (UTC
      calendar days of ``uploaded_at``, ``scored_at`` when unknown, from the first day, or
      ``since``, to the last, days without uploads included); >= 0.
    - ``confirm_rate``: among *reviewed* items with score >= t, the fraction confirmed,
      with a Wilson 95% interval (``estimate`` = ``reviewed outcomes``). With fewer than
      ``min_count`` such reviewed items it falls back to the mean triage score of all
      scored items >= t, the model's own calibrated estimate, without an interval
      (``estimate`` = ``mean triage score``). No items at all: ``estimate`` = ``no items``.
    - ``expected_confirmations_per_day`` = queue_per_day × confirm_rate, and
      ``expected_false_positives_per_day`` = queue_per_day × (1 - confirm_rate), each with
      the interval scaled the same way (NaN with the fallback estimate).

    Returns
    -------
    pandas.DataFrame
        One row per threshold, ascending, with ``scored_at_or_above`` and
        ``reviewed_at_or_above`` / ``confirmed_at_or_above`` counts and ``days``.
    """
    min_count = check_min_count(min_count)
    scores = items["triage_score"].to_numpy(dtype=float)
    scores = scores[np.isfinite(scores)]
    rev = reviewed[reviewed["triage_score"].notna()]
    rev_scores = rev["triage_score"].to_numpy(dtype=float)
    rev_confirmed = rev["confirmed"].astype(bool).to_numpy()
    days = _days_observed(items, since)
    rows = []
    for t in thresholds:
        above = scores >= t
        n_items = int(above.sum())
        queue = n_items / days if days else 0.0
        r_above = rev_scores >= t
        n_rev, n_conf = int(r_above.sum()), int(rev_confirmed[r_above].sum())
        low = high = np.nan
        if n_rev >= min_count:
            estimate, rate = "reviewed outcomes", n_conf / n_rev
            low, high = wilson_interval(n_conf, n_rev)
        elif n_items:
            estimate, rate = "mean triage score", float(scores[above].mean())
        else:
            estimate, rate = "no items", np.nan
        rows.append({
            "threshold": float(t), "days": days, "scored_at_or_above": n_items,
            "queue_per_day": queue, "reviewed_at_or_above": n_rev,
            "confirmed_at_or_above": n_conf, "estimate": estimate, "confirm_rate": rate,
            "confirm_rate_ci_low": low, "confirm_rate_ci_high": high,
            "expected_confirmations_per_day": queue * rate if n_items else 0.0,
            "expected_confirmations_ci_low": queue * low,
            "expected_confirmations_ci_high": queue * high,
            "expected_false_positives_per_day": queue * (1 - rate) if n_items else 0.0,
            "expected_false_positives_ci_low": queue * (1 - high),
            "expected_false_positives_ci_high": queue * (1 - low),
        })
    return pd.DataFrame(rows)


def choose_threshold(table: pd.DataFrame, budget_per_day: float) -> pd.Series | None:
    """The lowest threshold whose queue fits a daily review budget.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`threshold_table`.
    budget_per_day : float
        Items moderators can review per day, > 0.

    Returns
    -------
    pandas.Series or None
        The row of the lowest threshold with ``queue_per_day <= budget_per_day`` (the most
        items reviewed within budget); None when even the highest threshold exceeds it.
    """
    if not budget_per_day > 0:
        raise ValueError(f"budget_per_day must be positive; got {budget_per_day}")
    fits = table[table["queue_per_day"] <= budget_per_day].sort_values("threshold")
    return None if fits.empty else fits.iloc[0]

