"""One delivery attempt: POST a message's frozen payload, signed, and classify the answer.

Only the status line and headers are read; the receiver's body is never read or stored.
Redirects are never followed (a 3xx is a failure to retry: the URL needs fixing).
"""

from __future__ import annotations

import errno
import functools
import time
from dataclasses import dataclass
from enum import Enum
from http.cookiejar import CookieJar, DefaultCookiePolicy
from importlib import metadata

import httpx

from slopscore.delivery.backoff import parse_retry_after
from slopscore.delivery.settings import DeliveryConfig
from slopscore.delivery.signing import SIGNATURE_HEADER, sign

__all__ = ["Attempt", "Verdict", "classify_status", "make_client", "post_message", "user_agent"]

#: 4xx answers that say "later", not "never": timeout, conflict (the same idempotency key still
#: being processed), too early, too many requests.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


class Verdict(str, Enum):
    """What an attempt's outcome means for the message."""

    DELIVERED = "delivered"  # 2xx: the platform has it
    RETRY = "retry"  # try again later (5xx, 408/409/425/429, 3xx, timeouts, connection errors)
    PERMANENT = "permanent"  # another 4xx: the platform refuses this message; retrying will not help


@dataclass(frozen=True)
class Attempt:
    """One attempt's outcome. ``error`` is short ("HTTP 503", "timed out"); None when delivered."""

    verdict: Verdict
    error: str | None = None
    status: int | None = None
    retry_after_s: float | None = None


@functools.cache
def user_agent() -> str:
    """``slopscore/<version>`` (read from the installed metadata once)."""
    try:
        return f"slopscore/{metadata.version('slopscore')}"
    except metadata.PackageNotFoundError:
        return "slopscore/unknown"


def make_client(config: DeliveryConfig) -> httpx.Client:
    """An HTTP client for ``config``: its timeout, no redirects, no cookies kept between posts."""
    no_cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))  # a receiver's Set-Cookie is dropped
    return httpx.Client(timeout=httpx.Timeout(config.timeout_s), follow_redirects=False, cookies=no_cookies,
                        headers={"User-Agent": user_agent()})


def classify_status(status: int) -> Verdict:
    """2xx delivered; 4xx permanent except :data:`RETRYABLE_4XX`; everything else retried."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        return Verdict.PERMANENT
    return Verdict.RETRY


def _transport_error(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
            return "connection refused"
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
            return "host not found"
        if "certificate" in text or "ssl" in text:
            return "TLS error"
        return "connection failed"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError)):
        return "protocol error"
    return f"transport error ({type(exc).__name__})"


def post_message(client: httpx.Client, config: DeliveryConfig, message_id: str, payload: str, *,
                 timestamp: int | None = None) -> Attempt:
    """POST one message to the webhook and classify the outcome (never raises for HTTP or network trouble).

    Headers: ``Content-Type: application/json``, ``Slopscore-Signature`` (see
    :mod:`~slopscore.delivery.signing`), ``Idempotency-Key`` and ``Slopscore-Message-Id``
    (both the message id), ``User-Agent: slopscore/<version>``.
    """
    body = payload.encode("utf-8")
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(config.secret, body, stamp),
               "Idempotency-Key": message_id, "Slopscore-Message-Id": message_id, "User-Agent": user_agent()}
    try:
        request = client.build_request("POST", config.webhook_url, content=body, headers=headers)
        response = client.send(request, stream=True, follow_redirects=False)
    except httpx.TransportError as exc:
        return Attempt(Verdict.RETRY, _transport_error(exc))
    try:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    finally:
        response.close()  # the body is never read
    verdict = classify_status(status)
    if verdict is Verdict.DELIVERED:
        return Attempt(verdict, None, status)
    suffix = " (redirects are not followed)" if 300 <= status < 400 else ""
    return Attempt(verdict, f"HTTP {status}{suffix}", status, retry_after)
