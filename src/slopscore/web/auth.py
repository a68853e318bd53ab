"""Moderator sign-in: the login and logout pages, the signed-in dependency, a login throttle.

Sessions live in a signed, HttpOnly, SameSite=Lax cookie (Starlette's
``SessionMiddleware``); a session ends at logout, after the configured lifetime,
or as soon as the account is disabled (checked on every request). Every page except
the login page and static files requires a signed-in moderator; others are
redirected to the login page.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from slopscore.review.accounts import authenticate, is_active
from slopscore.web.render import render
from slopscore.web.security import new_csrf_token

__all__ = ["CurrentModerator", "LoginRequired", "LoginThrottle", "current_moderator", "router",
           "safe_next"]

router = APIRouter()

_MAX_NEXT_CHARS = 1000


class LoginRequired(Exception):
    """Raised by :func:`current_moderator`; answered with a redirect to the login page."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


class LoginThrottle:
    """Refuse logins for a username or client after ``limit`` failures within ``window_s``.

    In memory, per server process: it slows password guessing, it is not an account lock.
    """

    def __init__(self, limit: int = 10, window_s: float = 15 * 60):
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] < now - self.window_s:
            times.popleft()
        return times

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:  # bounded memory under a flood of names
                self._failures.clear()
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def safe_next(value: object, default: str = "/queue") -> str:
    """A local path to go to after login; anything else (other hosts, schemes) is ``default``."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > _MAX_NEXT_CHARS:
        return default
    if value.startswith(("//", "/\\")) or any(ord(c) < 32 for c in value) or "\\" in value:
        return default
    return value


def current_moderator(request: Request) -> str:
    """The signed-in moderator's username, or :class:`LoginRequired`."""
    user = request.session.get("user")
    login_at = request.session.get("login_at")
    lifetime = request.app.state.settings.session_seconds
    fresh = isinstance(login_at, (int, float)) and 0 <= time.time() - login_at <= lifetime
    if not isinstance(user, str) or not fresh or not is_active(request.app.state.engine, user):
        request.session.pop("user", None)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method == "GET" else "/queue")
    return user


CurrentModerator = Annotated[str, Depends(current_moderator)]


def login_redirect(next_path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(safe_next(next_path), safe='/')}", status_code=303)


@router.get("/login", name="login_page")
def login_page(request: Request, next: str = "/queue"):
    if isinstance(request.session.get("user"), str):
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", name="login")
def login(request: Request, username: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/queue"):
    throttle: LoginThrottle = request.app.state.login_throttle
    client = f"ip:{request.client.host if request.client else '?'}"
    account = f"user:{username[:64].lower()}"
    if throttle.blocked(client, account):
        return render(request, "login.html", {
            "next": safe_next(next),
            "error": "Too many failed sign-ins. Wait a few minutes, then try again."}, 429)
    user = authenticate(request.app.state.engine, username, password)
    if user is None:
        throttle.failed(client, account)
        return render(request, "login.html", {"next": safe_next(next),
                                              "error": "Wrong username or password."}, 401)
    throttle.succeeded(account)
    request.session.clear()  # a fresh session (and CSRF token) for the signed-in moderator
    request.session.update(user=user, login_at=int(time.time()), csrf=new_csrf_token())
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", name="logout")
def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
