"""Review thresholds and the calibration behind them: which cut fits a daily review budget.

Pure functions on the frames of :mod:`.data`, with the definitions of :mod:`.dismissals`
(reviewed item, outcome, minimum count). :func:`calibration` asks whether ``triage_score``
matches how often reviewers confirm a concern; :func:`threshold_table` what each threshold
would send to moderators per day (median, p90 and max over days, :mod:`.daily_queue`) and
what they would find, observed among reviewed items beside the model's own estimate;
:func:`choose_threshold` the lowest threshold of a table within a budget. Calibration bins
with fewer than :data:`slopscore.evaluation.estimates.MIN_COUNT` items say "too few".

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

from slopscore.analytics.daily_queue import DailyQueue, daily_queue
from slopscore.analytics.dismissals import DEFAULT_MIN_REVIEWED, Status, check_min_count
from slopscore.evaluation.calibration import (
    ReliabilityCurve,
    expected_calibration_error,
    reliability_curve,
)
from slopscore.evaluation.estimates import MIN_COUNT, TOO_FEW
from slopscore.evaluation.intervals import wilson_interval

__all__ = [
    "BAND_ESTIMATE",
    "BAND_OBSERVED",
    "Calibration",
    "DEFAULT_THRESHOLDS",
    "calibration",
    "choose_threshold",
    "threshold_row",
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
        """The reliability curve as rows: bin edges, items, mean score, observed rate, status.

        A bin with fewer than :data:`~slopscore.evaluation.estimates.MIN_COUNT` reviewed
        items has ``status`` "too few" and no observed rate (NaN): its share would be noise.
        ``observed_confirmed_rate`` is in [0, 1]; on the diagonal (= ``mean_score``) is
        calibrated, below it the score over-states the chance of a confirmation.
        """
        columns = ["bin_low", "bin_high", "items", "mean_score", "observed_confirmed_rate", "bin_status"]
        if self.curve is None:
            return pd.DataFrame(columns=columns)
        edges, enough = self.curve.bin_edges, self.curve.counts >= MIN_COUNT
        return pd.DataFrame({
            "bin_low": edges[:-1], "bin_high": edges[1:], "items": self.curve.counts,
            "mean_score": self.curve.mean_predicted,
            "observed_confirmed_rate": np.where(enough, self.curve.observed_frequency, np.nan),
            "bin_status": np.where(enough, "ok", TOO_FEW),
        })

    def shown_curve(self) -> ReliabilityCurve | None:
        """The curve with the observed rate of "too few" bins removed (NaN), for plotting."""
        if self.curve is None:
            return None
        enough = self.curve.counts >= MIN_COUNT
        return ReliabilityCurve(self.curve.bin_edges, self.curve.mean_predicted,
                                np.where(enough, self.curve.observed_frequency, np.nan),
                                self.curve.counts)


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


#: How the expected-per-day bands are made, by rate source (the report quotes these).
BAND_OBSERVED = ("10th–90th percentile of the days' queues × the Wilson 95% interval of the "
                 "observed confirmed share (per-day variation and the rate's uncertainty)")
BAND_ESTIMATE = ("10th–90th percentile of the days' queues × the model's estimate (per-day "
                 "variation only; the estimate's own uncertainty is unknown)")
OBSERVED, MODEL_ESTIMATE, NO_ITEMS = "observed (reviewed items)", "model estimate (mean triage score)", "no items"


def threshold_row(queue: DailyQueue, reviewed: pd.DataFrame, threshold: float,
                  min_count: int) -> dict:
    """One row of :func:`threshold_table` (the definitions are there)."""
    t = float(threshold)
    days = queue.stats(t)
    above = queue.scores >= t
    n_items = int(above.sum())
    rev = reviewed[reviewed["triage_score"].notna()]
    r_above = rev["triage_score"].to_numpy(dtype=float) >= t
    n_rev = int(r_above.sum())
    n_conf = int(rev["confirmed"].astype(bool).to_numpy()[r_above].sum())
    enough = n_rev >= min_count
    conf_low, conf_high = wilson_interval(n_conf, n_rev) if enough else (np.nan, np.nan)
    estimated = float(queue.scores[above].mean()) if n_items else np.nan
    if enough:
        source, rate, rate_low, rate_high, band = OBSERVED, n_conf / n_rev, conf_low, conf_high, BAND_OBSERVED
    elif n_items:
        source, rate, rate_low, rate_high, band = MODEL_ESTIMATE, estimated, estimated, estimated, BAND_ESTIMATE
    else:
        source, rate, rate_low, rate_high, band = NO_ITEMS, np.nan, np.nan, np.nan, ""
    median, p10, p90 = days["queue_per_day_median"], days["queue_per_day_p10"], days["queue_per_day_p90"]
    zero = not n_items
    return {
        "threshold": t, "days": queue.n_days, "scored_at_or_above": n_items, **days,
        "reviewed_at_or_above": n_rev, "confirmed_at_or_above": n_conf,
        "dismissed_at_or_above": n_rev - n_conf,
        "observed_status": "ok" if enough else "not_enough_data",
        "observed_confirmed_share": n_conf / n_rev if enough else np.nan,
        "observed_confirmed_ci_low": conf_low, "observed_confirmed_ci_high": conf_high,
        "observed_dismissal_share": (n_rev - n_conf) / n_rev if enough else np.nan,
        "observed_dismissal_ci_low": 1 - conf_high, "observed_dismissal_ci_high": 1 - conf_low,
        "estimated_confirm_rate": estimated,
        "estimated_dismissal_rate": 1 - estimated,
        "rate_source": source, "confirm_rate": rate,
        "expected_confirmations_per_day": 0.0 if zero else median * rate,
        "expected_confirmations_band_low": 0.0 if zero else p10 * rate_low,
        "expected_confirmations_band_high": 0.0 if zero else p90 * rate_high,
        "expected_false_positives_per_day": 0.0 if zero else median * (1 - rate),
        "expected_false_positives_band_low": 0.0 if zero else p10 * (1 - rate_high),
        "expected_false_positives_band_high": 0.0 if zero else p90 * (1 - rate_low),
        "band": band,
    }


def threshold_table(items: pd.DataFrame, reviewed: pd.DataFrame, *,
                    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                    min_count: int = DEFAULT_MIN_REVIEWED,
                    since: pd.Timestamp | None = None) -> pd.DataFrame:
    """What each review threshold would send to moderators per day, observed and estimated.

    For a threshold ``t`` (an item is queued when ``triage_score >= t``):

    - ``queue_per_day_median`` / ``_p10`` / ``_p90`` / ``_max``: items scoring >= t per
      day observed (:mod:`.daily_queue`), summarised over the days; >= 0.
    - **Observed**, from *reviewed* items scoring >= t: ``reviewed_at_or_above``,
      ``confirmed_at_or_above``, ``dismissed_at_or_above`` (always), and with at least
      ``min_count`` of them (``observed_status`` ``ok``) ``observed_confirmed_share`` and
      ``observed_dismissal_share`` in [0, 1] (they sum to 1; a lower dismissal share means
      fewer false positives) with Wilson 95% ``_ci_low``/``_ci_high``; NaN otherwise
      (``not_enough_data``).
    - **Model estimate**: ``estimated_confirm_rate``, the mean triage score of all scored
      items >= t (the model's calibrated chance of a confirmation, in [0, 1], higher =
      more confirmations), and ``estimated_dismissal_rate`` = 1 - it; NaN without items.
    - ``rate_source``: which rate the expectations use, the observed confirmed share when
      it exists, else the model estimate (or ``no items``); ``confirm_rate`` is that rate.
    - ``expected_confirmations_per_day`` = median day's queue × rate, and
      ``expected_false_positives_per_day`` = median day's queue × (1 - rate), with a band
      ``_band_low``/``_band_high``: the 10th and 90th percentile days' queues times the
      rate's Wilson 95% bounds (observed), or times the estimate itself (model estimate:
      per-day variation only). ``band`` says which in words.

    Returns
    -------
    pandas.DataFrame
        One row per threshold, in the order given, with ``days`` and ``scored_at_or_above``.
    """
    min_count = check_min_count(min_count)
    queue = daily_queue(items, since)
    return pd.DataFrame([threshold_row(queue, reviewed, t, min_count) for t in thresholds])


def choose_threshold(table: pd.DataFrame, budget_per_day: float) -> pd.Series | None:
    """The lowest threshold of ``table`` whose queue fits a daily review budget on 9 days in 10.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`threshold_table`.
    budget_per_day : float
        Items moderators can review per day, > 0.

    Returns
    -------
    pandas.Series or None
        The row of the lowest threshold with ``queue_per_day_p90 <= budget_per_day`` (the
        most items reviewed while 90% of days fit); None when even the highest exceeds it.
        :func:`slopscore.analytics.budget.budget_answer` searches every score, not a table.
    """
    if not budget_per_day > 0:
        raise ValueError(f"budget_per_day must be positive; got {budget_per_day}")
    fits = table[table["queue_per_day_p90"] <= budget_per_day].sort_values("threshold")
    return None if fits.empty else fits.iloc[0]
