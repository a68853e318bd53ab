"""Moderator sign-in: the login and logout pages, the signed-in dependency.

Sessions live in a signed, HttpOnly, SameSite=Lax cookie (Starlette's
``SessionMiddleware``) that holds the account's session version
(:func:`slopscore.review.accounts.session_version`), checked on every request. A session
ends after the configured lifetime from login, after ``idle_seconds`` without a request,
and for every device at once when the moderator logs out, their password changes, or
the account is disabled or enabled. Every page except the login page and static files
requires a signed-in moderator; others are redirected to the login page. Failed
sign-ins are throttled (:mod:`slopscore.web.login_throttle`).

The account's role is read on every request too (:class:`CurrentAdmin` pages answer 403
to moderators), so a role change takes effect at the account's next request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from slopscore.review.accounts import authenticate, end_sessions, session_account, session_version
from slopscore.review.schema import Role
from slopscore.web.login_throttle import LoginThrottle
from slopscore.web.render import render
from slopscore.web.security import new_csrf_token

__all__ = ["CurrentAdmin", "CurrentModerator", "LoginRequired", "current_admin", "current_moderator", "router",
           "safe_next"]

router = APIRouter()

_MAX_NEXT_CHARS = 1000


class LoginRequired(Exception):
    """Raised by :func:`current_moderator`; answered with a redirect to the login page."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


def safe_next(value: object, default: str = "/queue") -> str:
    """A local path to go to after login; anything else (other hosts, schemes) is ``default``."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > _MAX_NEXT_CHARS:
        return default
    if value.startswith(("//", "/\\")) or any(ord(c) < 32 for c in value) or "\\" in value:
        return default
    return value


def _within(since: object, now: float, seconds: int) -> bool:
    return isinstance(since, (int, float)) and 0 <= now - since <= seconds


def _valid_session(request: Request, now: float) -> str | None:
    """The session's moderator when it is fresh, not idle and of the account's current version."""
    session, settings = request.session, request.app.state.settings
    user, version = session.get("user"), session.get("sv")
    if not isinstance(user, str) or not isinstance(version, int) or isinstance(version, bool):
        return None
    if not _within(session.get("login_at"), now, settings.session_seconds) \
            or not _within(session.get("seen_at"), now, settings.idle_seconds):
        return None
    account = session_account(request.app.state.engine, user)
    if account is None or account.session_version != version:
        return None
    request.state.role = account.role
    return user


def current_moderator(request: Request) -> str:
    """The signed-in moderator's username (and the session's idle clock restarts), or
    :class:`LoginRequired`."""
    now = time.time()
    user = _valid_session(request, now)
    if user is None:
        for key in ("user", "sv", "login_at", "seen_at"):
            request.session.pop(key, None)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method in ("GET", "HEAD") else "/queue")
    request.session["seen_at"] = int(now)
    return user


CurrentModerator = Annotated[str, Depends(current_moderator)]


def current_admin(moderator: CurrentModerator, request: Request) -> str:
    """The signed-in account's username when it is an admin; 403 for moderators."""
    if getattr(request.state, "role", None) is not Role.ADMIN:
        raise HTTPException(403, "only an admin can do this (admins manage templates and accounts)")
    return moderator


CurrentAdmin = Annotated[str, Depends(current_admin)]


def login_redirect(next_path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(safe_next(next_path), safe='/')}", status_code=303)


@router.get("/login", name="login_page")
def login_page(request: Request, next: str = "/queue"):
    if isinstance(request.session.get("user"), str):
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", name="login")
async def login(request: Request, username: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/queue"):
    throttle: LoginThrottle = request.app.state.login_throttle
    engine = request.app.state.engine
    attempt = throttle.begin(request.client.host if request.client else "?", username[:64].lower())
    if not attempt.allowed:
        minutes = max(1, round(attempt.retry_after / 60))
        response = render(request, "login.html", {
            "next": safe_next(next),
            "error": f"Too many failed sign-ins. Try again in about {minutes} minute{'s' * (minutes > 1)}."},
            429)
        response.headers["Retry-After"] = str(attempt.retry_after)
        return response
    if attempt.delay_s:  # the account is under attack from elsewhere: slower, never locked
        await asyncio.sleep(attempt.delay_s)
    user = await run_in_threadpool(authenticate, engine, username, password)
    version = None if user is None else await run_in_threadpool(session_version, engine, user)
    if version is None:
        return render(request, "login.html", {"next": safe_next(next),
                                              "error": "Wrong username or password."}, 401)
    throttle.succeeded(attempt)
    now = int(time.time())
    request.session.clear()  # a fresh session (and CSRF token) for the signed-in moderator
    request.session.update(user=user, sv=version, login_at=now, seen_at=now, csrf=new_csrf_token())
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", name="logout")
def logout(request: Request):
    """Sign out everywhere: every session of this account ends, not only this one."""
    user = _valid_session(request, time.time())
    if user is not None:
        end_sessions(request.app.state.engine, user)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
