"""Dismissal (false-positive) rates of reviewed items: overall, per week and per segment.

Pure functions on the frames of :mod:`.data`. The definitions, shared by the whole
analyst report (the report repeats them):

- A **reviewed item** is a queue item (one upload scored by one model version) with at
  least one decision. Its **outcome** is the outcome of its *latest* decision
  (:attr:`slopscore.review.schema.Action.outcome`): ``no_concern`` and
  ``resolved_clarified`` are *dismissed*; ``notify``, ``resolved_replaced`` and
  ``escalate`` are *confirmed*.
- The **false-positive (dismissal) rate** is dismissed / reviewed, in [0, 1]; lower is
  better. Every rate comes with its count and a Wilson 95% interval. Below
  ``min_count`` reviewed items a rate is *not enough data*: the rate and interval are
  None (empty in CSV files, "not enough data" in the HTML), never 0% or 100%.
- A **week** is the ISO week (UTC) of the latest decision's ``decided_at``.

:data:`DEFAULT_MIN_REVIEWED`, :data:`NOT_ENOUGH_DATA` and the minimum-count check live here
for :mod:`.review_thresholds` and :mod:`.model_versions` too. Wilson intervals come from
:func:`slopscore.evaluation.intervals.wilson_interval`; nothing here re-derives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from slopscore.evaluation.intervals import wilson_interval

__all__ = [
    "DEFAULT_MIN_REVIEWED",
    "NOT_ENOUGH_DATA",
    "Rate",
    "check_min_count",
    "dismissal_rate",
    "segment_dismissal_rates",
    "segment_values",
    "top_dismissed",
    "weekly_dismissal_rates",
]

#: Fewest reviewed items for which a rate, calibration or AUROC is reported (configurable
#: with ``min_reviewed`` / ``--min-reviewed``). With 30 items a Wilson 95% interval is at
#: most about ±17 percentage points wide.
DEFAULT_MIN_REVIEWED = 30
NOT_ENOUGH_DATA = "not enough data"
#: (lowest, highest, label) of the portfolio-size bands, in earlier works.
PORTFOLIO_BANDS = ((0, 0, "0"), (1, 4, "1–4"), (5, 19, "5–19"), (20, 99, "20–99"),
                   (100, math.inf, "100+"))
#: Segment columns, in report order.
SEGMENTS = ("style/medium tag", "artist", "portfolio size", "process notes", "file type")

Status = Literal["ok", "not_enough_data"]


@dataclass(frozen=True)
class Rate:
    """Dismissal (false-positive) rate of one group of reviewed items.

    Attributes
    ----------
    reviewed : int
        Reviewed items in the group (always reported).
    dismissed : int
        Of those, dismissed by their latest decision; ``reviewed - dismissed`` were confirmed.
    status : {"ok", "not_enough_data"}
        ``not_enough_data`` when ``reviewed`` is below the minimum asked for.
    rate : float or None
        ``dismissed / reviewed`` in [0, 1]; lower means fewer false positives. None when
        ``status`` is ``not_enough_data``.
    ci_low, ci_high : float or None
        Wilson 95% interval of ``rate``, within [0, 1]; None with ``not_enough_data``.
    """

    reviewed: int
    dismissed: int
    status: Status
    rate: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def confirmed(self) -> int:
        """Reviewed items whose latest decision confirmed a concern."""
        return self.reviewed - self.dismissed


def _rate_columns(dismissed: np.ndarray, reviewed: np.ndarray, min_count: int) -> pd.DataFrame:
    """``dismissal_rate``, ``ci_low``, ``ci_high`` and ``status`` for count arrays.

    Rates below ``min_count`` reviewed items are NaN with status ``not_enough_data``.
    """
    dismissed = np.asarray(dismissed, dtype=np.int64)
    reviewed = np.asarray(reviewed, dtype=np.int64)
    enough = reviewed >= min_count
    low, high = wilson_interval(dismissed, reviewed)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = dismissed / reviewed
    return pd.DataFrame({
        "dismissal_rate": np.where(enough, rate, np.nan),
        "ci_low": np.where(enough, low, np.nan),
        "ci_high": np.where(enough, high, np.nan),
        "status": np.where(enough, "ok", "not_enough_data"),
    })


def dismissal_rate(reviewed: pd.DataFrame, min_count: int = DEFAULT_MIN_REVIEWED) -> Rate:
    """The dismissal (false-positive) rate over all reviewed items.

    Parameters
    ----------
    reviewed : pandas.DataFrame
        One row per reviewed item with a boolean ``confirmed`` column
        (:func:`slopscore.analytics.data.load_queue_data`).
    min_count : int
        Fewest reviewed items for which a rate is given.

    Returns
    -------
    Rate
        Counts always; rate and Wilson 95% interval in [0, 1] (lower = fewer false
        positives) only with at least ``min_count`` reviewed items.
    """
    n = len(reviewed)
    k = int((~reviewed["confirmed"].astype(bool)).sum()) if n else 0
    row = _rate_columns(np.array([k]), np.array([n]), check_min_count(min_count)).iloc[0]
    ok = row["status"] == "ok"
    return Rate(n, k, row["status"], float(row["dismissal_rate"]) if ok else None,
                float(row["ci_low"]) if ok else None, float(row["ci_high"]) if ok else None)


def _grouped_rates(frame: pd.DataFrame, keys: list[str], min_count: int) -> pd.DataFrame:
    """Counts and rates per group of ``keys``: reviewed, dismissed, confirmed, rate, interval."""
    counted = (frame.assign(_dismissed=~frame["confirmed"].astype(bool))
               .groupby(keys, sort=True, dropna=False)
               .agg(reviewed=("_dismissed", "size"), dismissed=("_dismissed", "sum"))
               .reset_index())
    counted["reviewed"] = counted["reviewed"].astype(np.int64)
    counted["dismissed"] = counted["dismissed"].astype(np.int64)
    counted["confirmed"] = counted["reviewed"] - counted["dismissed"]
    rates = _rate_columns(counted["dismissed"].to_numpy(), counted["reviewed"].to_numpy(),
                          min_count)
    return pd.concat([counted, rates], axis=1)


def weekly_dismissal_rates(reviewed: pd.DataFrame,
                           min_count: int = DEFAULT_MIN_REVIEWED) -> pd.DataFrame:
    """Dismissal rate per ISO week (UTC) of the latest decision.

    Returns
    -------
    pandas.DataFrame
        One row per week with reviewed items, oldest first: ``week`` ("2026-W27"),
        ``week_start`` (Monday, a date), ``reviewed``, ``dismissed``, ``confirmed``,
        ``dismissal_rate`` and its Wilson 95% ``ci_low``/``ci_high`` (in [0, 1], lower =
        fewer false positives; NaN below ``min_count``) and ``status``.
    """
    min_count = check_min_count(min_count)
    columns = ["week", "week_start", "reviewed", "dismissed", "confirmed", "dismissal_rate",
               "ci_low", "ci_high", "status"]
    if reviewed.empty:
        return pd.DataFrame(columns=columns)
    return _grouped_rates(reviewed, ["week", "week_start"], min_count)[columns]


def _portfolio_band(size: object) -> str:
    if size is None or pd.isna(size):
        return "unknown"
    for low, high, label in PORTFOLIO_BANDS:
        if low <= size <= high:
            return label
    return "unknown"  # negative sizes are not a band


def _yes_no(value: object, yes: str, no: str) -> str:
    if value is None or pd.isna(value):
        return "unknown"
    return yes if bool(value) else no


def _tags(value: object) -> list[str]:
    """Tags of one item: ``;``-separated, stripped and lower-cased; ``untagged`` when none."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ["untagged"]
    tags = sorted({t.strip().lower() for t in str(value).split(";") if t.strip()})
    return tags or ["untagged"]


def segment_values(reviewed: pd.DataFrame) -> pd.DataFrame:
    """Each reviewed item's value in every segment, one row per (item, segment, value).

    Segments: ``style/medium tag`` (every tag of the item, so an item counts once in each
    of its tags), ``artist`` (``new`` when the scorer was in cold start, else
    ``established``), ``portfolio size`` (band of earlier works: 0, 1–4, 5–19, 20–99,
    100+), ``process notes`` (declared / not declared) and ``file type``. A missing value
    is ``unknown``.

    Returns
    -------
    pandas.DataFrame
        Columns ``segment``, ``value`` and ``confirmed`` (bool).
    """
    confirmed = reviewed["confirmed"].astype(bool).to_numpy()
    tags = [_tags(v) for v in reviewed["tags"].astype(object)]
    parts = [pd.DataFrame({
        "segment": "style/medium tag",
        "value": [t for item in tags for t in item],
        "confirmed": np.repeat(confirmed, [len(item) for item in tags]),
    })]
    per_item = {
        "artist": [_yes_no(v, "new (cold start)", "established") for v in
                   reviewed["cold_start"].astype(object)],
        "portfolio size": [_portfolio_band(v) for v in reviewed["portfolio_size"].astype(object)],
        "process notes": [_yes_no(v, "declared", "not declared") for v in
                          reviewed["has_process_notes"].astype(object)],
        "file type": ["unknown" if v is None or pd.isna(v) or not str(v).strip()
                      else str(v).strip().lower() for v in reviewed["file_type"].astype(object)],
    }
    for name, values in per_item.items():
        parts.append(pd.DataFrame({"segment": name, "value": values, "confirmed": confirmed}))
    frame = pd.concat(parts, ignore_index=True)
    frame["segment"] = frame["segment"].astype(object)
    frame["value"] = frame["value"].astype(object)
    return frame


def segment_dismissal_rates(reviewed: pd.DataFrame,
                            min_count: int = DEFAULT_MIN_REVIEWED) -> pd.DataFrame:
    """Dismissal rate per value of each segment (see :func:`segment_values`).

    Returns
    -------
    pandas.DataFrame
        ``segment``, ``value``, ``reviewed``, ``dismissed``, ``confirmed``,
        ``dismissal_rate`` with Wilson 95% ``ci_low``/``ci_high`` (in [0, 1], lower = fewer
        false positives; NaN when fewer than ``min_count`` items were reviewed) and
        ``status``. Ordered by segment (report order), then most reviewed first.
    """
    min_count = check_min_count(min_count)
    columns = ["segment", "value", "reviewed", "dismissed", "confirmed", "dismissal_rate",
               "ci_low", "ci_high", "status"]
    if reviewed.empty:
        return pd.DataFrame(columns=columns)
    rates = _grouped_rates(segment_values(reviewed), ["segment", "value"], min_count)
    rates["_order"] = rates["segment"].map({name: i for i, name in enumerate(SEGMENTS)})
    rates = rates.sort_values(["_order", "reviewed", "value"], ascending=[True, False, True],
                              kind="stable")
    return rates[columns].reset_index(drop=True)


def top_dismissed(reviewed: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The ``n`` highest-scoring dismissed items: the false positives worth a second look.

    Returns
    -------
    pandas.DataFrame
        ``queue_item_id`` (the queue row, whose page the review app shows), ``item_id``,
        ``model_version``, ``artist_id``, ``title``, ``tags``, ``triage_score`` (in [0, 1], higher = ranked sooner), ``action`` and
        ``decided_at``; highest score first. Titles and tags are untrusted text.
    """
    columns = ["queue_item_id", "item_id", "model_version", "artist_id", "title", "tags", "triage_score",
               "action", "decided_at"]
    dismissed = reviewed[~reviewed["confirmed"].astype(bool)]
    if "id" in dismissed:  # the queue row's id: the review app's item page
        dismissed = dismissed.rename(columns={"id": "queue_item_id"})
    else:
        dismissed = dismissed.assign(queue_item_id=None)
    return (dismissed.sort_values(["triage_score", "item_id"], ascending=[False, True],
                                  na_position="last", kind="stable")
            .head(n)[columns].reset_index(drop=True))


def check_min_count(value: int) -> int:
    """``value`` as an int when it is a positive whole number (a minimum group size)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"the minimum count must be a positive whole number; got {value!r}")
    return int(value)
