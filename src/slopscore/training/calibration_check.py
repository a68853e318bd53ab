"""How well a fitted detector is calibrated, measured on its own out-of-fold probabilities.

Every labelled item was scored by a head and a calibrator that never saw its artist
(:attr:`AIDetector.oof_probability_`), so the expected calibration error here is an honest
estimate for new artists. Its bootstrap interval says how sure that estimate is; reasons
quote the detector's percentage only when the whole interval lies within tolerance.
"""

from __future__ import annotations

import numpy as np

from slopscore.evaluation.calibration import expected_calibration_error
from slopscore.model.detector import AIDetector

__all__ = ["ECE_TOLERANCE", "MIN_CALIBRATION_ITEMS", "calibration_summary"]

#: Largest expected calibration error (upper 95% bound) at which percentages are quoted.
ECE_TOLERANCE = 0.05
#: Fewest out-of-fold items a calibration measurement needs to count at all.
MIN_CALIBRATION_ITEMS = 200
_BINS = 10
_DRAWS = 200


def calibration_summary(detector: AIDetector, y_ai: np.ndarray, *, seed: int = 0) -> dict:
    """``method``, ``n``, ``ece`` (0..1, lower is better) with ``ece_low``/``ece_high``, and
    ``within_tolerance``: at least :data:`MIN_CALIBRATION_ITEMS` items and an upper bound of at
    most :data:`ECE_TOLERANCE`."""
    p = np.asarray(detector.oof_probability_, dtype=np.float64)
    y = np.asarray(y_ai, dtype=int)
    rows = np.isfinite(p)
    p, y = p[rows], y[rows]
    summary = {"method": detector.calibration_method_, "n": int(len(y)), "tolerance": ECE_TOLERANCE,
               "ece": None, "ece_low": None, "ece_high": None, "within_tolerance": False}
    if len(y) == 0 or len(np.unique(y)) < 2:
        return summary
    rng = np.random.default_rng(seed)
    draws = [expected_calibration_error(y[i], p[i], n_bins=_BINS)
             for i in (rng.integers(0, len(y), len(y)) for _ in range(_DRAWS))]
    low, high = (float(v) for v in np.quantile(draws, [0.025, 0.975]))
    summary.update(ece=float(expected_calibration_error(y, p, n_bins=_BINS)), ece_low=low, ece_high=high,
                   within_tolerance=bool(len(y) >= MIN_CALIBRATION_ITEMS and high <= ECE_TOLERANCE))
    return summary
