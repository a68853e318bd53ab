"""When to try a message again: exponential backoff with jitter, honouring ``Retry-After``."""

from __future__ import annotations

import random

__all__ = ["parse_retry_after", "retry_delay"]

_MAX_RETRY_AFTER_DIGITS = 9


def retry_delay(attempt: int, *, base_s: float, factor: float, cap_s: float,
                retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first).

    Drawn uniformly from ``[d/2, d]`` with ``d = min(cap_s, base_s * factor**(attempt - 1))``, so
    workers that failed together do not retry together. A receiver's ``Retry-After`` makes
    the wait at least that long, but never longer than ``cap_s``.
    """
    exponent = min(max(attempt, 1) - 1, 64)  # factor**64 is far past any cap
    ceiling = min(cap_s, base_s * factor ** exponent)
    delay = (rng or random).uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, cap_s))
    return delay


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds, or None (absent, an HTTP date, or not a number)."""
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_RETRY_AFTER_DIGITS:
        return None
    return float(text)
