"""Which triage combination a scorer ships with: the defaults, or weights learned from labels.

Learned weights replace the documented defaults only when there are enough decisions of
both kinds **and** artist-grouped cross-validation shows them better: lower held-out log
loss (a proper score, so calibration counts as well as ranking) without ranking worse.
Otherwise the defaults stay, and :attr:`TriageModel.selection` says why. A training set's
own share of AI (often near half) is never learned as everyone's prior: scores are moved to
the platform's base rate when they are made.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

from slopscore.config import Settings
from slopscore.evaluation.run import targets
from slopscore.model.base_rate import logit
from slopscore.model.detector import AIDetector
from slopscore.model.scorer import signals_from_frame
from slopscore.model.triage import TriageModel, TriageSignals

__all__ = ["MIN_LOG_LOSS_GAIN", "choose_triage", "out_of_fold_signals"]

#: Relative held-out log-loss improvement learned weights need to replace the defaults.
MIN_LOG_LOSS_GAIN = 0.01
#: How much lower a learned combination's held-out AUROC may be and still count as "not worse".
AUROC_TOLERANCE = 0.005


def out_of_fold_signals(frame: pd.DataFrame, detector: AIDetector) -> TriageSignals:
    """Triage inputs of the detector's own training items, with its out-of-fold evidence."""
    p = detector.oof_probability_
    evidence = logit(p) - logit(detector.train_prevalence_)
    return signals_from_frame(frame, p, np.where(np.isfinite(p), evidence, np.nan))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _subset(signals: TriageSignals, rows: np.ndarray) -> TriageSignals:
    return TriageSignals(**{name: None if value is None else np.asarray(value)[rows]
                            for name, value in vars(signals).items()})


def choose_triage(frame: pd.DataFrame, detector: AIDetector, settings: Settings, *,
                  n_splits: int = 5) -> TriageModel:
    """The configured defaults, or weights learned from ``frame`` when they proved better.

    Parameters
    ----------
    frame : pandas.DataFrame
        The detector's labelled training rows (the same rows, in the same order).
    detector : AIDetector
        Fitted on ``frame``; its out-of-fold probabilities stand in for P(AI).
    settings : Settings
        ``triage.weights`` (the defaults), ``triage.min_decisions``, ``triage.min_per_class``.
    """
    config = settings.triage
    defaults = TriageModel.from_config(config.weights, config.new_account_usual_uploads)
    _, y = targets(frame)
    n, concerns = len(y), int(y.sum())
    if n < config.min_decisions or min(concerns, n - concerns) < config.min_per_class:
        defaults.selection = (f"defaults: {n} labelled decisions ({concerns} concerns); learning needs "
                              f"{config.min_decisions} with {config.min_per_class} of each kind")
        return defaults
    signals = out_of_fold_signals(frame, detector)
    groups = frame["artist_id"].to_numpy()
    share = float(y.mean())
    learned_p, default_p = np.full(n, np.nan), defaults.score(signals, share)
    folds = GroupKFold(n_splits=min(n_splits, len(np.unique(groups)))).split(y, y, groups)
    for fit_rows, held_rows in folds:
        if len(np.unique(y[fit_rows])) < 2:
            continue
        model = TriageModel.fit(_subset(signals, fit_rows), y[fit_rows].astype(bool),
                                new_account_usual_uploads=config.new_account_usual_uploads)
        learned_p[held_rows] = model.score(_subset(signals, held_rows), share)
    rows = np.isfinite(learned_p)
    if len(np.unique(y[rows])) < 2:
        defaults.selection = "defaults: no artist-grouped fold could compare learned weights"
        return defaults
    loss_learned, loss_default = _log_loss(y[rows], learned_p[rows]), _log_loss(y[rows], default_p[rows])
    auc_learned, auc_default = roc_auc_score(y[rows], learned_p[rows]), roc_auc_score(y[rows], default_p[rows])
    comparison = (f"grouped CV over {int(rows.sum())} decisions: log loss {loss_learned:.3f} learned vs "
                  f"{loss_default:.3f} default, AUROC {auc_learned:.3f} vs {auc_default:.3f}")
    better = (loss_learned <= loss_default * (1 - MIN_LOG_LOSS_GAIN)
              and auc_learned >= auc_default - AUROC_TOLERANCE)
    if not better:
        defaults.selection = f"defaults kept; {comparison}"
        return defaults
    learned = TriageModel.fit(signals, y.astype(bool), new_account_usual_uploads=config.new_account_usual_uploads)
    learned.selection = f"learned; {comparison}"
    return learned
