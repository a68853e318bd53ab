"""Delivery passes over the outbox, once (``slopscore outbox deliver``) or in a background thread.

A pass leases due messages in small batches (:func:`~slopscore.review.outbox.lease_due`),
posts each (:func:`~slopscore.delivery.webhook.post_message`) and records the outcome:
delivered, a retry at a backoff time, or failed (a permanent refusal, or the last attempt).
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine

from slopscore.delivery.backoff import retry_delay
from slopscore.delivery.settings import DeliveryConfig
from slopscore.delivery.webhook import Attempt, Verdict, make_client, post_message
from slopscore.review.outbox import OutboxRecord, lease_due, record_delivered, record_failure, release_leases
from slopscore.review.validation import utcnow

__all__ = ["DEFAULT_POLL_S", "DeliveryReport", "DeliveryWorker", "deliver_due"]

log = logging.getLogger(__name__)

#: How often the background worker looks for due messages.
DEFAULT_POLL_S = 5.0


@dataclass(frozen=True)
class DeliveryReport:
    """One pass: messages delivered, scheduled for another attempt, and given up on."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed

    def __str__(self) -> str:
        return f"delivered {self.delivered}, retrying {self.retrying}, failed {self.failed}"


def _attempt(client: httpx.Client, config: DeliveryConfig, message_id: str, payload: str) -> Attempt:
    try:
        return post_message(client, config, message_id, payload)
    except Exception as exc:  # a bug or an odd client error must not leave the row leased
        log.exception("delivering message %s failed unexpectedly", message_id)
        return Attempt(Verdict.RETRY, f"internal error ({type(exc).__name__})")


def deliver_due(engine: Engine, config: DeliveryConfig, *, now: datetime | None = None,
                client: httpx.Client | None = None, rng: random.Random | None = None,
                stop: threading.Event | None = None) -> DeliveryReport:
    """Attempt every due message once (at most ``config.max_per_pass``), and report.

    Parameters
    ----------
    now : datetime, optional
        Fixes the clock (tests): due times, leases and recorded times all use it. By
        default each batch and each outcome uses the current time.
    client : httpx.Client, optional
        Reused as given (its own timeout applies); by default one is made and closed.
    stop : threading.Event, optional
        Once set, no further attempt starts; leased messages not yet attempted are released.
    """
    own_client = client is None
    client = client or make_client(config)
    counts = {Verdict.DELIVERED: 0, Verdict.RETRY: 0, Verdict.PERMANENT: 0}
    attempted = 0
    try:
        while attempted < config.max_per_pass and not (stop is not None and stop.is_set()):
            limit = min(config.batch_size, config.max_per_pass - attempted)
            batch = lease_due(engine, now=now or utcnow(), limit=limit, lease_seconds=config.lease_seconds)
            if not batch:
                break
            for position, (record, payload) in enumerate(batch):
                if stop is not None and stop.is_set():
                    release_leases(engine, [r.id for r, _ in batch[position:]])
                    break
                attempted += 1
                counts[_deliver_one(engine, client, config, record, payload, now=now, rng=rng)] += 1
    finally:
        if own_client:
            client.close()
    return DeliveryReport(delivered=counts[Verdict.DELIVERED], retrying=counts[Verdict.RETRY],
                          failed=counts[Verdict.PERMANENT])


def _deliver_one(engine: Engine, client: httpx.Client, config: DeliveryConfig, record: OutboxRecord, payload: str,
                 *, now: datetime | None, rng: random.Random | None) -> Verdict:
    """Post one leased message and record the outcome; PERMANENT here means "now failed"."""
    outcome = _attempt(client, config, record.message_id, payload)
    at = now or utcnow()
    if outcome.verdict is Verdict.DELIVERED:
        record_delivered(engine, record.id, at)
        return Verdict.DELIVERED
    number = record.attempts + 1
    if outcome.verdict is Verdict.PERMANENT or number >= config.max_attempts:
        record_failure(engine, record.id, at, outcome.error, None)
        log.warning("message %s failed after %d attempt(s): %s", record.message_id, number, outcome.error)
        return Verdict.PERMANENT
    delay = retry_delay(number, base_s=config.backoff_base_s, factor=config.backoff_factor,
                        cap_s=config.backoff_cap_s, retry_after_s=outcome.retry_after_s, rng=rng)
    record_failure(engine, record.id, at, outcome.error, at + timedelta(seconds=delay))
    log.info("message %s attempt %d: %s; retry in %.0f s", record.message_id, number, outcome.error, delay)
    return Verdict.RETRY


class DeliveryWorker:
    """Delivery passes in a background (daemon) thread, every ``poll_s`` seconds, until :meth:`stop`.

    A pass that raises (the database away for a moment) is logged and the next one runs on
    schedule. :meth:`wake` starts a pass at once (e.g. right after a notify decision).
    """

    def __init__(self, engine: Engine, config: DeliveryConfig, *, poll_s: float = DEFAULT_POLL_S) -> None:
        if not 0 < poll_s <= 3600:
            raise ValueError("poll_s must be in (0, 3600]")
        self.engine, self.config, self.poll_s = engine, config, float(poll_s)
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._thread: threading.Thread | None = None
        #: The last pass's report (None before the first one ends).
        self.last_report: DeliveryReport | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> DeliveryWorker:
        """Start the thread (once); returns self."""
        if self._thread is not None:
            raise RuntimeError("this delivery worker was already started")
        self._thread = threading.Thread(target=self._run, name="slopscore-delivery", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Run the next pass now instead of at the end of the poll interval."""
        self._woken.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the attempt in flight, if any; wait up to ``timeout`` seconds (default: one
        attempt's worst case). Returns whether the thread has ended."""
        self._stopping.set()
        self._woken.set()
        if self._thread is None:
            return True
        self._thread.join(self.config.timeout_s * 3 + 5 if timeout is None else timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        client = make_client(self.config)
        try:
            while not self._stopping.is_set():
                try:
                    self.last_report = deliver_due(self.engine, self.config, client=client, stop=self._stopping)
                    if self.last_report.attempted:
                        log.info("delivery pass: %s", self.last_report)
                except Exception:
                    log.exception("delivery pass failed; trying again in %.0f s", self.poll_s)
                self._woken.wait(self.poll_s)
                self._woken.clear()
        finally:
            client.close()
