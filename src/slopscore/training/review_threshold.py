"""Where the review threshold sits: a fixed score, or a target false-positive rate on human work.

With ``triage.review_threshold_rule: human_fpr`` the threshold is the lowest triage score
at which at most ``triage.target_human_fpr`` of the training artists' human works would be
flagged, each scored out of fold (by a detector that never saw its artist), so the rate
holds for new artists rather than for works the model has memorised. It is stored with
the scorer; evaluations report the false-positive rate they observe at it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from slopscore.config import Settings
from slopscore.evaluation.metrics import detection_rate_at_fpr
from slopscore.evaluation.run import targets
from slopscore.model.scorer import Scorer
from slopscore.training.triage_selection import out_of_fold_signals

__all__ = ["MIN_HUMAN_WORKS", "choose_review_threshold"]

#: Fewest human works a false-positive-rate threshold may be placed on.
MIN_HUMAN_WORKS = 20


def choose_review_threshold(train_frame: pd.DataFrame, scorer: Scorer, settings: Settings) -> tuple[float, str]:
    """``(threshold in (0, 1), how it was chosen)``; the fixed setting when the rule cannot apply."""
    config = settings.triage
    fixed = (config.review_threshold, f"fixed at {config.review_threshold:g}")
    if config.review_threshold_rule == "fixed":
        return fixed
    _, y = targets(train_frame)
    signals = out_of_fold_signals(train_frame, scorer.detector)
    scores = scorer.triage.score(signals, scorer.info.base_rate)
    usable = np.isfinite(scorer.detector.oof_probability_)
    n_human = int((usable & (y == 0)).sum())
    if n_human < MIN_HUMAN_WORKS or not (usable & (y == 1)).any():
        return fixed[0], f"{fixed[1]} ({n_human} human works scored out of fold; the FPR rule needs {MIN_HUMAN_WORKS})"
    point = detection_rate_at_fpr(y[usable], scores[usable], config.target_human_fpr)
    threshold = float(np.clip(point.threshold, 1e-6, 1 - 1e-6))
    return threshold, (f"{100 * config.target_human_fpr:g}% false positives on {n_human} human works "
                       f"scored out of fold ({100 * point.false_positive_rate:.1f}% realised)")
