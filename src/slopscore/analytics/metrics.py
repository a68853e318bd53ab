"""The analyst report's numbers: pure functions on the frames of :mod:`.data`.

Definitions (the report repeats them)
-------------------------------------
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
- A **day** of queue volume is the UTC calendar day of ``uploaded_at`` (``scored_at``
  when the upload time is unknown).

Wilson intervals come from :func:`slopscore.evaluation.metrics.wilson_interval`, reliability
and ECE from :func:`slopscore.evaluation.metrics.reliability_curve`; nothing here re-derives them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from slopscore.evaluation.metrics import (
    ReliabilityCurve,
    expected_calibration_error,
    reliability_curve,
    wilson_interval,
)

__all__ = [
    "DEFAULT_MIN_REVIEWED",
    "DEFAULT_THRESHOLDS",
    "Calibration",
    "Drift",
    "NOT_ENOUGH_DATA",
    "NO_REFERENCE",
    "Rate",
    "calibration",
    "choose_threshold",
    "parse_reference",
    "dismissal_rate",
    "model_comparison",
    "population_stability_index",
    "score_drift",
    "segment_dismissal_rates",
    "segment_values",
    "threshold_table",
    "top_dismissed",
    "weekly_dismissal_rates",
]

#: Fewest reviewed items for which a rate, calibration or AUROC is reported (configurable
#: with ``min_reviewed`` / ``--min-reviewed``). With 30 items a Wilson 95% interval is at
#: most about ±17 percentage points wide.
DEFAULT_MIN_REVIEWED = 30
#: Review thresholds of the threshold table: 0.05, 0.10, ..., 0.95.
DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))
NOT_ENOUGH_DATA = "not enough data"
NO_REFERENCE = "no reference distribution recorded for this model version"
#: (lowest, highest, label) of the portfolio-size bands, in earlier works.
PORTFOLIO_BANDS = ((0, 0, "0"), (1, 4, "1–4"), (5, 19, "5–19"), (20, 99, "20–99"),
                   (100, math.inf, "100+"))
#: Segment columns, in report order.
SEGMENTS = ("style/medium tag", "artist", "portfolio size", "process notes", "file type")
_PSI_EPSILON = 1e-4

Status = Literal["ok", "not_enough_data"]


# ----------------------------------------------------------------------------- rates


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
    row = _rate_columns(np.array([k]), np.array([n]), _check_min(min_count)).iloc[0]
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
    min_count = _check_min(min_count)
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
    min_count = _check_min(min_count)
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
        ``item_id``, ``model_version``, ``artist_id``, ``title``, ``tags``,
        ``triage_score`` (in [0, 1], higher = ranked sooner), ``action`` and
        ``decided_at``; highest score first. Titles and tags are untrusted text.
    """
    columns = ["item_id", "model_version", "artist_id", "title", "tags", "triage_score",
               "action", "decided_at"]
    dismissed = reviewed[~reviewed["confirmed"].astype(bool)]
    return (dismissed.sort_values(["triage_score", "item_id"], ascending=[False, True],
                                  na_position="last", kind="stable")
            .head(n)[columns].reset_index(drop=True))


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
    min_count = _check_min(min_count)
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
    min_count = _check_min(min_count)
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
    min_count = _check_min(min_count)
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
    min_count = _check_min(min_count)
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


def _check_min(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"the minimum count must be a positive whole number; got {value!r}")
    return int(value)
