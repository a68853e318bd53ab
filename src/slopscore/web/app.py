"""The moderator review web app: :func:`create_app` wires routes, sessions, CSRF, headers.

Server-rendered pages (Jinja2, autoescaped) that work without JavaScript. Moderators
work the queue, open items (claiming them), and take the policy's steps; there is no
remove, hide or delete action anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from slopscore.review.decisions import DEFAULT_CLAIM_SECONDS, MAX_CLAIM_SECONDS
from slopscore.web import auth, images, routes_admin, routes_item, routes_queue
from slopscore.web.auth import LoginRequired, LoginThrottle, login_redirect
from slopscore.web.queue_query import StatusCounts
from slopscore.web.render import make_environment, render
from slopscore.web.security import SecurityHeadersMiddleware, csrf_guard

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
        How long opening an item holds it for the moderator (1 s to 24 h).
    session_seconds : int
        Longest a sign-in lasts, from login.
    secure_cookies : bool
        Mark the session cookie ``Secure`` (behind HTTPS).
    """

    claim_seconds: int = DEFAULT_CLAIM_SECONDS
    session_seconds: int = 12 * 3600
    secure_cookies: bool = False


def create_app(engine: Engine, *, secret_key: str, claim_seconds: int = DEFAULT_CLAIM_SECONDS,
               session_seconds: int = 12 * 3600, secure_cookies: bool = False,
               thumbnail_cache_items: int = 1024, login_attempts: int = 10) -> FastAPI:
    """Build the app over an open, migrated queue database.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        From :func:`slopscore.review.database.open_queue`.
    secret_key : str
        Signs session cookies; at least 32 characters, kept secret and stable across
        restarts (changing it signs everyone out).
    claim_seconds : int
        Claim duration when a moderator opens an item.
    login_attempts : int
        Failed sign-ins per username or client within 15 minutes before refusing more.
    """
    if not isinstance(secret_key, str) or len(secret_key) < 32:
        raise ValueError("secret_key must be a string of at least 32 characters")
    if not 1 <= claim_seconds <= MAX_CLAIM_SECONDS:
        raise ValueError(f"claim_seconds must be 1 to {MAX_CLAIM_SECONDS}")
    if not 60 <= session_seconds <= 7 * 24 * 3600:
        raise ValueError("session_seconds must be 60 s to 7 days")

    app = FastAPI(title="slopscore review", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(csrf_guard)], max_body_size=MAX_BODY_BYTES)
    app.state.engine = engine
    app.state.settings = WebSettings(claim_seconds, session_seconds, secure_cookies)
    app.state.templates = make_environment()
    app.state.thumbnailer = images.Thumbnailer(cache_items=thumbnail_cache_items)
    app.state.login_throttle = LoginThrottle(limit=login_attempts)
    app.state.status_counts = StatusCounts(engine)

    for module in (auth, routes_queue, routes_item, images, routes_admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(SessionMiddleware, secret_key=secret_key, session_cookie=SESSION_COOKIE,
                       max_age=session_seconds, same_site="lax", https_only=secure_cookies)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: headers on every response
    _error_pages(app)
    return app


def _error_pages(app: FastAPI) -> None:
    """Plain HTML error pages that never echo request data unescaped or leak internals."""

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        return login_redirect(exc.next_path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
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
        return render(request, "error.html", {
            "title": "Invalid request",
            "message": "Check these values: " + ", ".join(f[:60] for f in fields[:10])}, 400)
