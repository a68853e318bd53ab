""""Given a daily review budget of N, use threshold T": the operating threshold and its cost.

The answer is the **lowest** threshold whose queue fits the budget on at least 9 days in
10 (the 90th percentile day's queue, :mod:`.daily_queue`, is at most N): the most items
reviewed without a standing backlog. Every distinct triage score is a candidate (the queue
only changes at a score), found by bisection since the p90 queue never grows with the
threshold; T is then rounded *up* to 3 decimals, which can only shrink the queue.

Its expected confirmations and false positives per day, and their bands, are those of
:func:`slopscore.analytics.review_thresholds.threshold_row` at T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from slopscore.analytics.daily_queue import daily_queue
from slopscore.analytics.dismissals import DEFAULT_MIN_REVIEWED, check_min_count
from slopscore.analytics.review_thresholds import NO_ITEMS, threshold_row
from slopscore.config import TrainingSettings

__all__ = ["BudgetAnswer", "budget_answer", "check_budget", "default_daily_budget"]

#: The configured budget (``training.review_budget_per_day``) when the queue has no decisions.
CONFIG_BUDGET = TrainingSettings.model_fields["review_budget_per_day"].default


@dataclass(frozen=True)
class BudgetAnswer:
    """The operating threshold for a daily review budget.

    Attributes
    ----------
    budget : float
        Items moderators can review per day, > 0.
    budget_source : str
        Where the budget came from (option, decisions per day, configuration).
    threshold : float or None
        T in [0, 1]: queue items with ``triage_score >= T``; None when even the single
        highest score's queue exceeds the budget on more than 1 day in 10, or nothing is
        scored.
    row : dict or None
        :func:`~slopscore.analytics.review_thresholds.threshold_row` at T (per-day queue
        median/p90/max, observed and estimated rates, expected confirmations and false
        positives per day with bands).
    days_over_budget : int
        Days observed whose queue at T exceeds the budget (0 to ``days``).
    days : int
        Days observed.
    """

    budget: float
    budget_source: str
    threshold: float | None
    row: dict | None
    days_over_budget: int
    days: int

    def sentence(self) -> str:
        """The answer in one sentence, naming the rate source and the bands."""
        if self.threshold is None:
            return (f"Given a daily review budget of {_n(self.budget)}, no threshold fits: "
                    + ("nothing is scored." if not self.days else
                       "even the highest-scoring items alone exceed it on more than 1 day in 10."))
        r = self.row
        return (f"Given a daily review budget of {_n(self.budget)}, use threshold {self.threshold:.3f}: "
                f"{_n(r['queue_per_day_median'])} items on a median day (90th percentile "
                f"{_n(r['queue_per_day_p90'])}, max {_n(r['queue_per_day_max'])}; "
                f"{self.days_over_budget} of {self.days} days over budget), with about "
                f"{_n(r['expected_confirmations_per_day'])} confirmations "
                f"({_n(r['expected_confirmations_band_low'])}–{_n(r['expected_confirmations_band_high'])}) "
                f"and {_n(r['expected_false_positives_per_day'])} false positives "
                f"({_n(r['expected_false_positives_band_low'])}–{_n(r['expected_false_positives_band_high'])}) "
                f"a day (rate: {r['rate_source']}). Bands: {r['band']}.")


def _n(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def check_budget(budget: object) -> float:
    """``budget`` as a float when it is a finite number > 0 (items per day); else ValueError."""
    try:
        value = float(budget)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(budget, bool) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"the daily review budget must be a positive number; got {budget!r}")
    return value


def default_daily_budget(reviewed: pd.DataFrame) -> tuple[float, str]:
    """The budget the data shows: median reviewed items per day with decisions.

    A day is the UTC day of an item's latest decision; days without decisions (weekends,
    say) do not count. Without any decision, the configured
    ``training.review_budget_per_day`` (:data:`CONFIG_BUDGET`).

    Returns
    -------
    (float, str)
        The budget (> 0, items per day) and where it came from.
    """
    if reviewed.empty:
        return float(CONFIG_BUDGET), "configured training.review_budget_per_day (no decisions yet)"
    per_day = reviewed["decided_at"].dt.floor("D").value_counts()
    return (float(np.median(per_day.to_numpy())),
            f"median reviewed items per day over {len(per_day)} days with decisions")


def budget_answer(items: pd.DataFrame, reviewed: pd.DataFrame, budget: float, *,
                  budget_source: str = "--daily-budget", min_count: int = DEFAULT_MIN_REVIEWED,
                  since: pd.Timestamp | None = None) -> BudgetAnswer:
    """The lowest threshold whose queue fits ``budget`` on 9 days in 10, and what it costs.

    Parameters
    ----------
    items, reviewed : pandas.DataFrame
        From :func:`slopscore.analytics.data.load_queue_data`.
    budget : float
        Items moderators can review per day, > 0.
    min_count : int
        Fewest reviewed items at or above T for observed rates (else the model estimate).
    since : pandas.Timestamp, optional
        First day observed.
    """
    budget = check_budget(budget)
    min_count = check_min_count(min_count)
    queue = daily_queue(items, since)
    candidates = np.unique(queue.scores)
    fits = [queue.stats(t)["queue_per_day_p90"] <= budget for t in candidates[-1:]]
    if not candidates.size or not fits[0]:
        return BudgetAnswer(float(budget), budget_source, None, None, 0, queue.n_days)
    low, high = 0, candidates.size - 1  # candidates[high] fits; find the lowest that does
    while low < high:
        middle = (low + high) // 2
        if queue.stats(candidates[middle])["queue_per_day_p90"] <= budget:
            high = middle
        else:
            low = middle + 1
    threshold = math.ceil(round(candidates[low] * 1000, 6)) / 1000  # up: the queue can only shrink
    row = threshold_row(queue, reviewed, threshold, min_count)
    if row["rate_source"] == NO_ITEMS:  # rounding up passed the top score: keep the exact one
        threshold = float(candidates[low])
        row = threshold_row(queue, reviewed, threshold, min_count)
    over = int((queue.counts(threshold) > budget).sum())
    return BudgetAnswer(float(budget), budget_source, threshold, row, over, queue.n_days)
