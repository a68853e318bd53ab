"""The benchmark's metric table: every scenario, style and generator family, per processing
and fold kind, for the detector and the triage score, with account-bootstrap intervals.

Targets: the detector is measured against "is AI" (``ai_slop`` and ``ai_assisted``), the
triage score against "is a policy concern" (``ai_slop`` only). A cell whose own uploads lack
a class borrows it from the same folds: positives from ``ai_burst``, negatives from
``established``; the ``positives`` and ``negatives`` columns say where each came from.
Point estimates come from :func:`slopscore.evaluation.metrics.summarise`; intervals from
:mod:`slopscore.evaluation.bootstrap`. Below :data:`MIN_COUNT` positives (or negatives, for
rates on negatives) a value is not given: its status is ``too few``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd

from slopscore.benchmark.timelines import SCENARIOS
from slopscore.evaluation.bootstrap import (
    base_rate_weights,
    cluster_weights,
    interval,
    weighted_auroc,
    weighted_average_precision,
    weighted_ece,
    weighted_rates_at_threshold,
    weighted_tpr_at_fpr,
)
from slopscore.evaluation.metrics import summarise

__all__ = ["BASE_RATE", "METRIC_COLUMNS", "MIN_COUNT", "MODELS", "SCENARIO_ROWS", "measure"]

MIN_COUNT = 20
#: The realistic platform share of AI uploads the base-rate rows subsample to.
BASE_RATE = 0.05
MODELS = {"detector": ("p_ai", "is_ai"), "triage": ("triage_score", "is_concern")}
#: The scenario cells of a fold kind and processing: each scenario, all uploads, and all but the
#: declared AI-assisted ones (where the detector's and triage's targets agree, so the two are paired).
SCENARIO_ROWS = (*SCENARIOS, "all", "all undeclared")
METRIC_COLUMNS = ("fold_kind", "processing", "scenario", "segment", "model", "metric", "value", "low",
                  "high", "n_positive", "n_negative", "accounts", "status", "positives", "negatives")
#: metric -> (needs positives, needs negatives)
_NEEDS = {"auroc": (True, True), "average_precision": (True, True), "tpr_at_fpr_1pct": (True, True),
          "tpr_at_fpr_5pct": (True, True), "tpr_at_threshold": (True, False),
          "fpr_at_threshold": (False, True), "ece": (True, True)}
_BASE_NEEDS = {"ece_at_base_rate": (True, True), "fpr_at_threshold_at_base_rate": (False, True),
               "precision_at_threshold_at_base_rate": (True, True)}
_DIFFERENCES = ("auroc", "tpr_at_fpr_5pct")


def _cells(base: pd.DataFrame) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(scenario, segment, own uploads) for one fold kind and processing."""
    for scenario in SCENARIOS:
        yield scenario, "all", base[base["scenario"] == scenario]
    yield "all", "all", base
    yield "all undeclared", "all", base[base["scenario"] != "ai_assisted_declared"]
    humans = base[~base["is_ai"]]
    for style in sorted(humans["style"].unique()):
        yield "human works", f"style={style}", humans[humans["style"] == style]
    bursts = base[base["scenario"] == "ai_burst"]
    for family in sorted(bursts["family"].unique()):
        yield "ai_burst", f"generator={family}", bursts[bursts["family"] == family]


def _pooled(base: pd.DataFrame, own: pd.DataFrame, target: str) -> tuple[pd.DataFrame, str, str]:
    """Own uploads plus the borrowed class, if one is missing (same folds only)."""
    folds = base["fold"].isin(own["fold"].unique())
    parts, sources = [own], {"positives": "own", "negatives": "own"}
    if not own[target].any():
        parts.append(base[folds & (base["scenario"] == "ai_burst") & base[target]])
        sources["positives"] = "ai_burst (same folds)"
    if own[target].all():
        parts.append(base[folds & (base["scenario"] == "established") & ~base[target]])
        sources["negatives"] = "established (same folds)"
    pooled = pd.concat(parts) if len(parts) > 1 else own
    return pooled, sources["positives"], sources["negatives"]


def _status(needs: tuple[bool, bool], n_pos: int, n_neg: int) -> str:
    if n_pos == 0 or n_neg == 0:
        return "one class"
    if (needs[0] and n_pos < MIN_COUNT) or (needs[1] and n_neg < MIN_COUNT):
        return "too few"
    return "ok"


def _draws(y: np.ndarray, s: np.ndarray, weights: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    rates = weighted_rates_at_threshold(y, s, weights, threshold)
    return {"auroc": weighted_auroc(y, s, weights), "average_precision": weighted_average_precision(y, s, weights),
            "tpr_at_fpr_1pct": weighted_tpr_at_fpr(y, s, weights, 0.01),
            "tpr_at_fpr_5pct": weighted_tpr_at_fpr(y, s, weights, 0.05),
            "tpr_at_threshold": rates["tpr"], "fpr_at_threshold": rates["fpr"],
            "ece": weighted_ece(y, s, weights)}


def _points(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = s >= threshold
    points = {"tpr_at_threshold": float(flagged[y].mean()) if y.any() else np.nan,
              "fpr_at_threshold": float(flagged[~y].mean()) if (~y).any() else np.nan}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = summarise(y, s, fprs=(0.01, 0.05))
    points.update({k: summary[k] for k in ("auroc", "average_precision", "tpr_at_fpr_1pct",
                                          "tpr_at_fpr_5pct", "ece")})
    return points


def _base_rate(y: np.ndarray, s: np.ndarray, weights: np.ndarray, threshold: float,
               rng: np.random.Generator) -> tuple[dict[str, float], dict[str, np.ndarray], int]:
    """Points (mean over subsamples of the data as it is) and draws (subsamples of bootstrap draws)."""
    def metrics(w: np.ndarray) -> dict[str, np.ndarray]:
        rates = weighted_rates_at_threshold(y, s, w, threshold)
        return {"ece_at_base_rate": weighted_ece(y, s, w), "fpr_at_threshold_at_base_rate": rates["fpr"],
                "precision_at_threshold_at_base_rate": rates["precision"]}

    ones = np.ones((len(weights), len(y)))
    points = {k: float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
              for k, v in metrics(base_rate_weights(y, ones, BASE_RATE, rng)).items()}
    n_positive = int(round(BASE_RATE / (1 - BASE_RATE) * (~y).sum())) if y.any() else 0
    return points, metrics(base_rate_weights(y, weights, BASE_RATE, rng)), n_positive


def _rows_for(pooled: pd.DataFrame, score: str, target: str, threshold: float, n_bootstrap: int,
              rng_seed: list[int]) -> tuple[list[dict], dict[str, np.ndarray], dict[str, float]]:
    y = pooled[target].to_numpy(dtype=bool)
    s = pooled[score].to_numpy(dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    clusters = (pooled["fold"] + "|" + pooled["scenario"] + "|" + pooled["account"]).to_numpy()
    base = {"n_positive": n_pos, "n_negative": n_neg, "accounts": len(set(clusters))}
    if n_pos + n_neg == 0:
        return [], {}, {}
    rng = np.random.default_rng(rng_seed)
    weights = cluster_weights(clusters, y, n_bootstrap, rng)
    rows, draws, points = [], {}, {}
    if n_pos and n_neg:
        points, draws = _points(y, s, threshold), _draws(y, s, weights, threshold)
    for metric, needs in _NEEDS.items():
        status = _status(needs, n_pos, n_neg)
        value = points.get(metric, np.nan) if status == "ok" else np.nan
        low, high = interval(draws[metric], value) if status == "ok" else (np.nan, np.nan)
        rows.append({"metric": metric, "value": value, "low": low, "high": high, "status": status, **base})
    if n_pos and n_neg:
        base_points, base_draws, n_pos_rate = _base_rate(y, s, weights, threshold, rng)
        for metric, needs in _BASE_NEEDS.items():
            status = _status(needs, n_pos_rate, n_neg)
            value = base_points[metric] if status == "ok" else np.nan
            low, high = interval(base_draws[metric], value) if status == "ok" else (np.nan, np.nan)
            rows.append({"metric": metric, "value": value, "low": low, "high": high, "status": status,
                         **base, "n_positive": n_pos_rate})
    return rows, draws, points


def _difference_rows(per_model: dict, pooled: dict) -> list[dict]:
    """Triage minus detector on the same uploads and bootstrap draws (paired), where targets agree."""
    same = pooled["detector"].index.equals(pooled["triage"].index) and \
        (pooled["detector"]["is_ai"] == pooled["triage"]["is_concern"]).all()
    rows = []
    for metric in _DIFFERENCES:
        statuses = {m: next((r for r in per_model[m][0] if r["metric"] == metric), {}) for m in MODELS}
        detector, triage = statuses["detector"], statuses["triage"]
        row = {"model": "triage - detector", "metric": f"{metric}_difference",
               **{k: detector.get(k, 0) for k in ("n_positive", "n_negative", "accounts")}}
        if not same:
            rows.append({**row, "value": np.nan, "low": np.nan, "high": np.nan, "status": "targets differ"})
            continue
        if detector.get("status") != "ok" or triage.get("status") != "ok":
            rows.append({**row, "value": np.nan, "low": np.nan, "high": np.nan,
                         "status": detector.get("status", "one class")})
            continue
        value = triage["value"] - detector["value"]
        low, high = interval(per_model["triage"][1][metric] - per_model["detector"][1][metric], value)
        rows.append({**row, "value": value, "low": low, "high": high, "status": "ok"})
    return rows


def measure(items: pd.DataFrame, threshold: float, n_bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The metric table of scored benchmark uploads.

    Parameters
    ----------
    items : pandas.DataFrame
        One row per scored upload: ``fold``, ``fold_kind``, ``processing``, ``scenario``,
        ``account``, ``style``, ``family``, ``is_ai``, ``is_concern``, ``p_ai``, ``triage_score``.
        Uploads without scores (no embedding) are left out.
    threshold : float
        The review threshold; an upload is flagged when its score is at or above it.
    n_bootstrap : int
        Account-bootstrap draws per cell.
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns :data:`METRIC_COLUMNS`: one row per fold kind x processing x scenario x
        segment x model x metric. ``value`` is NaN unless ``status`` is ``ok``. Every metric is
        in [0, 1]: AUROC, average precision, detection rates and precision higher is better;
        false-positive rates and ECE lower is better. ``*_difference`` rows (triage minus
        detector) lie in [-1, 1], above 0 meaning triage does better.
    """
    scored = items[np.isfinite(items["p_ai"]) & np.isfinite(items["triage_score"])]
    rows = []
    cell_number = 0
    for (kind, processing), base in scored.groupby(["fold_kind", "processing"], sort=True):
        for scenario, segment, own in _cells(base):
            if own.empty:
                continue
            cell_number += 1
            context = {"fold_kind": kind, "processing": processing, "scenario": scenario, "segment": segment}
            per_model, pooled = {}, {}
            for model, (score, target) in MODELS.items():
                pooled[model], positives, negatives = _pooled(base, own, target)
                per_model[model] = _rows_for(pooled[model], score, target, threshold, n_bootstrap,
                                             [seed, 7919, cell_number])
                rows += [{**context, "model": model, "positives": positives, "negatives": negatives, **r}
                         for r in per_model[model][0]]
            rows += [{**context, "positives": "", "negatives": "", **r}
                     for r in _difference_rows(per_model, pooled)]
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
