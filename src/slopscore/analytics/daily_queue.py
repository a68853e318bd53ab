"""Queue size per day: how many scored items each UTC day would send to moderators.

A **day** is the UTC calendar day of ``uploaded_at`` (``scored_at`` when the upload time
is unknown), the ``day`` column of :func:`slopscore.analytics.data.load_queue_data`. The
days observed run from ``since`` (or the first day) to the last day, days without uploads
included (they count as a queue of 0). Queue sizes are summarised over those days as the
median, 10th and 90th percentiles (linear interpolation) and maximum, never as one mean
over the whole period: a slop burst on one day must show as a bad day, not as a slightly
larger average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["DailyQueue", "daily_queue"]


@dataclass(frozen=True, eq=False)
class DailyQueue:
    """Scored items by day, ready for per-day queue sizes at any threshold.

    Attributes
    ----------
    scores : ndarray of float
        Triage scores (finite only), in [0, 1].
    day_index : ndarray of int
        For each score, its day as an offset from the first day observed.
    n_days : int
        Days observed (0 when there are no scored items).
    """

    scores: np.ndarray
    day_index: np.ndarray
    n_days: int

    def counts(self, threshold: float) -> np.ndarray:
        """Items with ``triage_score >= threshold`` on each day observed (length ``n_days``)."""
        return np.bincount(self.day_index[self.scores >= threshold], minlength=self.n_days)

    def stats(self, threshold: float) -> dict[str, float]:
        """Per-day queue size at ``threshold``: ``queue_per_day_median``, ``_p10``, ``_p90``, ``_max``.

        Items per day, >= 0; all 0.0 when no day is observed.
        """
        counts = self.counts(threshold)
        if counts.size == 0:
            return {"queue_per_day_median": 0.0, "queue_per_day_p10": 0.0,
                    "queue_per_day_p90": 0.0, "queue_per_day_max": 0.0}
        p10, median, p90 = np.percentile(counts, [10, 50, 90])
        return {"queue_per_day_median": float(median), "queue_per_day_p10": float(p10),
                "queue_per_day_p90": float(p90), "queue_per_day_max": float(counts.max())}


def daily_queue(items: pd.DataFrame, since: pd.Timestamp | None = None) -> DailyQueue:
    """Index ``items`` (``triage_score`` and ``day``) by day observed.

    Parameters
    ----------
    items : pandas.DataFrame
        Scored items with ``triage_score`` and ``day`` (UTC midnight).
    since : pandas.Timestamp, optional
        First day observed when earlier than the first upload day.
    """
    finite = np.isfinite(items["triage_score"].to_numpy(dtype=float)) if len(items) else np.array([], bool)
    if not finite.any():
        return DailyQueue(np.array([], float), np.array([], np.int64), 0)
    scored = items[finite]
    days = pd.to_datetime(scored["day"], utc=True)
    first = days.min() if since is None else min(since.normalize(), days.min())
    index = ((days - first).dt.days).to_numpy(dtype=np.int64)
    return DailyQueue(scored["triage_score"].to_numpy(dtype=float), index, int(index.max()) + 1)
