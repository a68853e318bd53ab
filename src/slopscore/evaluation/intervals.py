"""Wilson score intervals for binomial proportions: how certain a rate is.

:func:`wilson_interval` validates its counts; the kernel ``wilson_bounds`` takes trusted counts
and is shared with :mod:`slopscore.evaluation.verdicts`, whose rates all carry a Wilson
95% interval (``Z_95``).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Z_95", "wilson_bounds", "wilson_interval"]

Z_95 = NormalDist().inv_cdf(0.975)


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95
) -> tuple[float, float] | tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval for a binomial proportion, vectorised.

    Parameters
    ----------
    successes, trials : int or array-like of int
        Non-negative whole numbers with ``successes <= trials``; broadcast together.
    confidence : float, default=0.95
        Coverage, strictly between 0 and 1.

    Returns
    -------
    low, high : float or ndarray
        Bounds within [0, 1] with ``low <= successes / trials <= high``; wider means
        less certain. NaN where ``trials == 0``. Floats for scalar inputs, arrays of
        the broadcast shape otherwise.
    """
    k, n = np.broadcast_arrays(
        np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    )
    _check_counts(k, n)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    low, high = wilson_bounds(k, n, NormalDist().inv_cdf(0.5 + confidence / 2))
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def wilson_bounds(
    k: NDArray[np.float64], n: NDArray[np.float64], z: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson bounds for trusted counts; NaN where ``n == 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        spread = z * z / n
        centre = (p + spread / 2) / (1 + spread)
        half = z * np.sqrt(p * (1 - p) / n + spread / (4 * n)) / (1 + spread)
    # At k = 0 and k = n a bound equals p exactly; pin it there rather than keep rounding error.
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return np.where(n == 0, np.nan, low), np.where(n == 0, np.nan, high)


def _check_counts(k: NDArray[np.float64], n: NDArray[np.float64]) -> None:
    for name, counts in (("successes", k), ("trials", n)):
        bad = ~np.isfinite(counts) | (counts < 0) | (counts != np.round(counts))
        if bad.any():
            raise ValueError(f"{name} must be non-negative whole numbers; got {counts[bad][0]}")
    over = k > n
    if over.any():
        raise ValueError(
            f"successes must not exceed trials; got {k[over][0]:g} successes "
            f"out of {n[over][0]:g} trials"
        )
