"""Upload-rate kernels of the portfolio features: what one artist uploaded in the
trailing window ``(t - W, t]`` before each upload.

* Recent near-duplicates: uploads in the window (the upload itself excluded) with cosine
  similarity at or above a threshold; an integer >= 0, **higher suggests mass
  production**.
* Uploads in window: the upload included; an integer >= 1.
* Burst ratio: uploads in window over the artist's usual count; positive, about 1 is
  the artist's usual pace, **higher = a burst**. NaN for an account with no upload
  before the window: it has no usual rate (judge it against the platform's instead).

Inputs are one artist's uploads in time order; times are int64 nanoseconds. The
similarities are products of fixed :data:`~slopscore.signals.portfolio_distances.BLOCK`
sized tiles (pass embeddings zero-padded to a multiple of ``BLOCK`` rows), so each is
computed the same way however many uploads there are.
"""

from __future__ import annotations

import numpy as np

from slopscore.signals.portfolio_distances import BLOCK

__all__ = ["bursts", "recent_near_duplicates"]


def _trailing_window(times: np.ndarray, window_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Index bounds [lo, hi) of the uploads in ``(t - window, t]`` for each upload."""
    return (
        np.searchsorted(times, times - window_ns, side="right"),
        np.searchsorted(times, times, side="right"),
    )


def recent_near_duplicates(
    items: np.ndarray, times: np.ndarray, window_ns: int, threshold: float
) -> np.ndarray:
    """Uploads in each upload's trailing window (itself excluded) at or above ``threshold``."""
    n = len(times)
    lo, hi = _trailing_window(times, window_ns)
    counts = np.zeros(n, np.int64)
    for start in range(0, n, BLOCK):
        rows = np.arange(start, min(start + BLOCK, n))
        first = lo[rows[0]] // BLOCK * BLOCK
        last = hi[rows[-1]]
        block = items[start : start + BLOCK]
        tiles = [block @ items[c : c + BLOCK].T for c in range(first, last, BLOCK)]
        sims = np.hstack(tiles)[: len(rows)]
        columns = np.arange(first, first + sims.shape[1])[None, :]
        in_window = (columns >= lo[rows, None]) & (columns < hi[rows, None])
        inside = in_window & (columns != rows[:, None])
        counts[rows] = (inside & (sims >= threshold)).sum(axis=1)
    return counts


def bursts(times: np.ndarray, window_ns: int, prior_windows: float) -> tuple[np.ndarray, np.ndarray]:
    """Uploads in each trailing window, and that count over the artist's usual count.

    The usual count is the mean window count of the uploads at or before ``t - window``
    (windows wholly before this one), plus ``prior_windows`` pseudo-windows of 1. Without
    any such upload there is no usual count, and the ratio is NaN.
    """
    lo, hi = _trailing_window(times, window_ns)
    in_window = hi - lo
    history_total = np.concatenate([[0], np.cumsum(in_window)])[lo]
    usual = (history_total + prior_windows) / (lo + prior_windows)
    return in_window.astype(np.int64), np.where(lo > 0, in_window / usual, np.nan)
