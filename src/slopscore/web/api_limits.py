"""Who may call the API and how often: API-key authentication and per-key rate limits.

A request names its key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the key
is checked against its stored hash (:func:`slopscore.review.api_keys.verify_api_key`) on
every request, so a revoked key stops at once. Each key has a token bucket of uploads:
``per_minute`` uploads refill evenly over a minute, up to ``burst`` at once (at least a
full batch). A request over the limit is answered 429 with ``Retry-After`` (seconds).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slopscore.review.api_keys import ApiKeyInfo, verify_api_key

__all__ = ["BodySizeLimit", "RateLimiter", "api_key_client", "authenticated_client", "charge"]


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with a JSON 413: at once when ``Content-Length``
    says so, else as soon as the streamed body passes the limit (the route's error handler
    answers then, so the answer is the same JSON). FastAPI's own ``max_body_size`` answers a
    streamed body in plain text, outside the API's error shape."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"the request body is larger than the server accepts ({self.max_bytes:,} bytes)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = self._too_large()
            response = JSONResponse({"error": {"type": "request_too_large", "detail": error.detail}}, 413,
                                    headers={"connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, counted, send)


class RateLimiter:
    """Token buckets per key id (thread-safe; in memory, so per server process).

    Parameters
    ----------
    per_minute : float
        Uploads per minute a key may send on average.
    burst : int
        Most uploads at once after a quiet spell.
    clock : callable
        Seconds, monotonic (tests pass their own).
    """

    def __init__(self, per_minute: float = 600, burst: int = 64, clock: Callable[[], float] = time.monotonic):
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str, cost: int = 1) -> float:
        """Spend ``cost`` tokens of ``key_id``'s bucket; returns 0 when allowed, else the
        seconds until they will be there (nothing is spent then)."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if cost > self.burst:  # can never be allowed: say when a full bucket is there
                self._buckets[key_id] = (tokens, now)
                return max((self.burst - tokens) / self.rate, 1.0)
            if tokens >= cost:
                self._buckets[key_id] = (tokens - cost, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (cost - tokens) / self.rate


def _supplied_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


def charge(request: Request, client: ApiKeyInfo, cost: int) -> None:
    """Spend ``cost`` uploads of ``client``'s rate limit, or raise 429 with ``Retry-After``."""
    wait = request.app.state.rate_limiter.take(client.key_id, cost)
    if wait > 0:
        raise HTTPException(429, f"rate limit of key {client.key_id} reached; retry in {math.ceil(wait)} s",
                            headers={"Retry-After": str(math.ceil(wait))})


def api_key_client(request: Request) -> ApiKeyInfo:
    """Dependency: the request's valid, unrevoked API key, or 401. Runs before the body is read."""
    key = _supplied_key(request)
    client = verify_api_key(request.app.state.engine, key) if key else None
    if client is None:
        detail = "an API key is required (Authorization: Bearer <key>)" if not key \
            else "the API key is not valid or was revoked"
        raise HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})
    return client


def authenticated_client(request: Request) -> ApiKeyInfo:
    """Dependency: the request's valid API key (401 otherwise), charged one upload (429 when
    over its limit). Runs before the body is read."""
    client = api_key_client(request)
    charge(request, client, 1)
    return client
