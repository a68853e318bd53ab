"""The login throttle: back off per client address and account, delay per account.

Three failure logs, each a sliding window (``window_s``) in this server process's memory:

- per address + account: ``limit`` failures, then 429 with ``Retry-After`` for that pair;
- per address (any account): ``address_limit`` failures, then 429 for that address;
- per account (any address): no hard lock, so that no one can lock a moderator out by
  guessing from many addresses; each failure past ``limit`` doubles a delay before the
  next attempt is checked (up to ``max_delay_s``).

An attempt is counted when it starts (:meth:`LoginThrottle.begin`), under one lock, and
forgiven when it succeeds: parallel wrong passwords cannot slip past the limit while
the password hashes are being checked. Memory is bounded (``max_keys`` per log); when a
log is full, expired entries go first, then those with the fewest recent failures, so a
flood of new names or addresses cannot wipe the counters of an attack in progress.

The address is the connection's peer (``request.client``); it is a proxy's client only when
the server trusts that proxy (``slopscore serve --forwarded-allow-ips``), never because a
request says so.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["Attempt", "LoginThrottle"]


class _FailureLog:
    """Recent failure times per key, at most ``max_keys`` keys and ``per_key`` times each."""

    def __init__(self, window_s: float, per_key: int, max_keys: int):
        self.window_s, self.per_key, self.max_keys = window_s, per_key, max_keys
        self._times: dict[Hashable, deque[float]] = {}

    def recent(self, key: Hashable, now: float) -> deque[float] | None:
        """The key's failures within the window (dropping older ones), or None."""
        times = self._times.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        return times

    def count(self, key: Hashable, now: float) -> int:
        times = self.recent(key, now)
        return len(times) if times else 0

    def add(self, key: Hashable, now: float) -> None:
        times = self.recent(key, now)
        if times is None:
            if len(self._times) >= self.max_keys:
                self._make_room(now)
            times = self._times[key] = deque(maxlen=self.per_key)
        times.append(now)

    def discard(self, key: Hashable, stamp: float) -> None:
        """Forget one failure recorded at ``stamp`` (an attempt that succeeded)."""
        times = self._times.get(key)
        if times is not None:
            try:
                times.remove(stamp)
            except ValueError:
                pass
            if not times:
                del self._times[key]

    def clear(self, key: Hashable) -> None:
        self._times.pop(key, None)

    def __len__(self) -> int:
        return len(self._times)

    def _make_room(self, now: float) -> None:
        """Free a tenth of the log: expired keys first, then those with the fewest recent
        failures (the oldest first among equals). Amortised over the inserts it makes room for."""
        for key in list(self._times):
            self.recent(key, now)
        target = self.max_keys - max(1, self.max_keys // 10)
        if len(self._times) <= target:
            return
        by_weight = sorted(self._times.items(), key=lambda item: (len(item[1]), item[1][-1]))
        for key, _ in by_weight[: len(self._times) - target]:
            del self._times[key]


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt: refused (``retry_after`` seconds), or allowed after ``delay_s``."""

    allowed: bool
    retry_after: int = 0
    delay_s: float = 0.0
    address: str = ""
    account: str = ""
    started: float = 0.0


class LoginThrottle:
    """Refuse or slow sign-ins after failures (see the module docstring).

    Parameters
    ----------
    limit : int
        Failures per address + account within ``window_s`` before that pair is refused.
    window_s : float
        The sliding window, seconds.
    address_limit : int, optional
        Failures per address, any account (default ``5 * limit``).
    account_delay_s, max_delay_s : float
        The per-account delay after ``limit`` failures, doubling per further failure, capped.
    max_keys : int
        Most keys kept per log (bounded memory).
    """

    def __init__(self, limit: int = 10, window_s: float = 15 * 60, *, address_limit: int | None = None,
                 account_delay_s: float = 0.5, max_delay_s: float = 8.0, max_keys: int = 100_000):
        if limit < 1 or window_s <= 0 or max_keys < 10:
            raise ValueError("limit >= 1, window_s > 0 and max_keys >= 10")
        self.limit, self.window_s = limit, window_s
        self.address_limit = address_limit or 5 * limit
        self.account_delay_s, self.max_delay_s = account_delay_s, max_delay_s
        self._pairs = _FailureLog(window_s, limit, max_keys)
        self._addresses = _FailureLog(window_s, self.address_limit, max_keys)
        self._accounts = _FailureLog(window_s, limit + 32, max_keys)
        self._lock = threading.Lock()

    def begin(self, address: str, account: str) -> Attempt:
        """Count one attempt now (as a failure until :meth:`succeeded`), or refuse it."""
        now = time.monotonic()
        with self._lock:
            for log, key, cap in ((self._pairs, (address, account), self.limit),
                                  (self._addresses, address, self.address_limit)):
                times = log.recent(key, now)
                if times is not None and len(times) >= cap:
                    return Attempt(False, retry_after=max(1, math.ceil(times[0] + self.window_s - now)))
            earlier = self._accounts.count(account, now)
            self._pairs.add((address, account), now)
            self._addresses.add(address, now)
            self._accounts.add(account, now)
        return Attempt(True, delay_s=self._delay(earlier), address=address, account=account, started=now)

    def succeeded(self, attempt: Attempt) -> None:
        """The attempt signed in: forgive the pair's and the account's failures."""
        with self._lock:
            self._pairs.clear((attempt.address, attempt.account))
            self._accounts.clear(attempt.account)
            self._addresses.discard(attempt.address, attempt.started)

    def tracked_keys(self) -> int:
        """Keys held over all logs (for tests and monitoring)."""
        with self._lock:
            return len(self._pairs) + len(self._addresses) + len(self._accounts)

    def _delay(self, account_failures: int) -> float:
        if account_failures < self.limit:
            return 0.0
        return min(self.max_delay_s, self.account_delay_s * 2.0 ** (account_failures - self.limit))
