"""The moderator review web app: :func:`create_app` wires routes, sessions, CSRF, headers.

Server-rendered pages (Jinja2, autoescaped) that work without JavaScript. Moderators
work the queue, open items, claim them (a button, or the first decision) and take the
policy's steps; there is no remove, hide or delete action anywhere. Admins also manage
templates and accounts. The platform posts members' replies to ``/api/v1/replies``
with an API key (JSON in, JSON out). Every response, the
framework's own errors included, carries the security headers, and every GET route
answers HEAD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from slopscore.review.decisions import DEFAULT_CLAIM_SECONDS, DEFAULT_MAX_OPEN_CLAIMS, MAX_CLAIM_SECONDS
from slopscore.web import (
    auth,
    images,
    routes_accounts,
    routes_admin,
    routes_item,
    routes_member_api,
    routes_outbox,
    routes_queue,
)
from slopscore.web.api_errors import json_error
from slopscore.web.api_limits import BodySizeLimit, RateLimiter
from slopscore.web.auth import LoginRequired, login_redirect
from slopscore.web.login_throttle import LoginThrottle
from slopscore.web.queue_counts import QueueCounts
from slopscore.web.render import make_environment, render
from slopscore.web.security import API_PATH_PREFIX, SecurityHeadersMiddleware, csrf_guard

__all__ = ["WebSettings", "create_app"]

STATIC = Path(__file__).resolve().with_name("static")
#: Largest request body accepted (forms only; the longest field is a 5,000-character message).
MAX_BODY_BYTES = 64 * 1024
SESSION_COOKIE = "slopscore_session"


@dataclass(frozen=True)
class WebSettings:
    """Settings of one running app.

    Attributes
    ----------
    claim_seconds : int
        How long a claim holds an item for the moderator (1 s to 24 h).
    session_seconds : int
        Longest a sign-in lasts, from login.
    secure_cookies : bool
        Mark the session cookie ``Secure`` (behind HTTPS).
    idle_seconds : int
        A sign-in ends after this long without a request.
    max_open_claims : int
        Unexpired claims one moderator may hold at once.
    """

    claim_seconds: int = DEFAULT_CLAIM_SECONDS
    session_seconds: int = 12 * 3600
    secure_cookies: bool = False
    idle_seconds: int = 30 * 60
    max_open_claims: int = DEFAULT_MAX_OPEN_CLAIMS


class _ReviewApp(FastAPI):
    """FastAPI with the security headers outside everything, the framework's own error
    responses (413 from the body limit, 500 from the error middleware) included."""

    def build_middleware_stack(self):
        return SecurityHeadersMiddleware(_ApiBodyLimit(super().build_middleware_stack(), MAX_BODY_BYTES))


class _ApiBodyLimit:
    """Over-limit bodies on the platform's ``/api/`` routes get the APIs' JSON 413
    (:class:`~slopscore.web.api_limits.BodySizeLimit`); pages keep the app's own limit."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.limited = app, BodySizeLimit(app, max_bytes)

    async def __call__(self, scope, receive, send) -> None:
        api = scope["type"] == "http" and scope.get("path", "").startswith(API_PATH_PREFIX)
        await (self.limited if api else self.app)(scope, receive, send)


def create_app(engine: Engine, *, secret_key: str, claim_seconds: int = DEFAULT_CLAIM_SECONDS,
               session_seconds: int = 12 * 3600, secure_cookies: bool = False,
               thumbnail_cache_items: int = 1024, login_attempts: int = 10,
               idle_seconds: int = 30 * 60, max_open_claims: int = DEFAULT_MAX_OPEN_CLAIMS,
               login_throttle: LoginThrottle | None = None, delivery_worker=None,
               reply_rate_limit: float = 120.0) -> FastAPI:
    """Build the app over an open, migrated queue database.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        From :func:`slopscore.review.database.open_queue`.
    secret_key : str
        Signs session cookies; at least 32 characters, kept secret and stable across
        restarts (changing it signs everyone out).
    claim_seconds : int
        Claim duration when a moderator claims an item.
    login_attempts : int
        Failed sign-ins per client address and username within 15 minutes before that pair
        is refused (see :class:`~slopscore.web.login_throttle.LoginThrottle`).
    idle_seconds : int
        A sign-in ends after this long without a request (60 s to ``session_seconds``).
    max_open_claims : int
        Unexpired claims one moderator may hold at once (1 to 1000).
    login_throttle : LoginThrottle, optional
        Replaces the default throttle built from ``login_attempts``.
    delivery_worker : slopscore.delivery.worker.DeliveryWorker, optional
        Woken after each notify decision, so the message leaves at once instead of at its
        next poll (the caller starts and stops it).
    reply_rate_limit : float
        Members' replies per minute one API key may post to ``/api/v1/replies`` (bursts of
        up to 20); over it, 429 with ``Retry-After``.
    """
    if not isinstance(secret_key, str) or len(secret_key) < 32:
        raise ValueError("secret_key must be a string of at least 32 characters")
    if not 1 <= claim_seconds <= MAX_CLAIM_SECONDS:
        raise ValueError(f"claim_seconds must be 1 to {MAX_CLAIM_SECONDS}")
    if not 60 <= session_seconds <= 7 * 24 * 3600:
        raise ValueError("session_seconds must be 60 s to 7 days")
    if not 60 <= idle_seconds <= session_seconds:
        raise ValueError("idle_seconds must be 60 s to session_seconds")
    if not 1 <= max_open_claims <= 1000:
        raise ValueError("max_open_claims must be 1 to 1000")

    app = _ReviewApp(title="slopscore review", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(csrf_guard)], max_body_size=MAX_BODY_BYTES)
    app.state.engine = engine
    app.state.settings = WebSettings(claim_seconds, session_seconds, secure_cookies, idle_seconds,
                                     max_open_claims)
    app.state.templates = make_environment()
    app.state.thumbnailer = images.Thumbnailer(cache_items=thumbnail_cache_items)
    app.state.login_throttle = login_throttle or LoginThrottle(limit=login_attempts)
    app.state.queue_counts = QueueCounts(engine)
    app.state.delivery_worker = delivery_worker
    app.state.rate_limiter = RateLimiter(per_minute=reply_rate_limit, burst=20)

    for module in (auth, routes_queue, routes_item, images, routes_admin, routes_accounts, routes_outbox,
                   routes_member_api):
        app.include_router(module.router)
    _answer_head(app.routes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(SessionMiddleware, secret_key=secret_key, session_cookie=SESSION_COOKIE,
                       max_age=session_seconds, same_site="lax", https_only=secure_cookies)
    _error_pages(app)
    return app


def _answer_head(routes) -> None:
    """Every GET route also answers HEAD (the server sends the headers, not the body)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # FastAPI keeps included routers nested
            _answer_head(original.routes)
        elif isinstance(route, APIRoute) and "GET" in route.methods:
            route.methods.add("HEAD")


def _error_pages(app: FastAPI) -> None:
    """Plain HTML error pages that never echo request data unescaped or leak internals."""

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        return login_redirect(exc.next_path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith(API_PATH_PREFIX):
            detail = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else "request failed"
            return json_error(exc.status_code, "not found" if exc.status_code == 404 else detail[:500], exc.headers)
        titles = {403: "Not allowed", 404: "Not found", 405: "Method not allowed",
                  413: "Request too large", 409: "Conflict"}
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code in (403, 409) \
            else "There is nothing here."
        if exc.status_code == 413:
            message = "The form was larger than the server accepts."
        response = render(request, "error.html", {
            "title": titles.get(exc.status_code, "Error"), "message": message}, exc.status_code)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
                         for e in exc.errors()})
        if request.url.path.startswith(API_PATH_PREFIX):
            return json_error(422, "check these values: " + ", ".join(f[:60] for f in fields[:10]))
        return render(request, "error.html", {
            "title": "Invalid request",
            "message": "Check these values: " + ", ".join(f[:60] for f in fields[:10])}, 400)
