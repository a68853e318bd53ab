"""Security headers on every response, and CSRF tokens checked on every POST.

The token is random per session (kept in the signed session cookie, renewed at
login), written into every form as ``csrf_token`` and compared in constant time.
A POST without it, with a wrong one, or with a body that is not an HTML form is
answered 403 before any route runs.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_PATH_PREFIX", "SecurityHeadersMiddleware", "csrf_guard", "csrf_token", "new_csrf_token"]

#: Scripts, styles and images only from this server's own files (no inline script, no
#: eval: the one script is the keyboard shortcuts); forms post only here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; img-src 'self'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPE = "application/x-www-form-urlencoded"


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response. Pages get ``Cache-Control: no-store``;
    static files may be cached; routes that set their own caching (images) keep it.

    ``page_policies`` maps exact paths to their own Content-Security-Policy (the API's
    ``/docs`` page loads Swagger UI); every other path gets :data:`CONTENT_SECURITY_POLICY`.
    """

    def __init__(self, app: ASGIApp, page_policies: dict[str, str] | None = None) -> None:
        self.app = app
        self.page_policies = dict(page_policies or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers[name] = value
                policy = self.page_policies.get(scope.get("path", ""))
                if policy is not None:
                    headers["content-security-policy"] = policy
                if "cache-control" not in headers:
                    static = scope.get("path", "").startswith("/static/")
                    headers["cache-control"] = "public, max-age=3600" if static else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = new_csrf_token()
        request.session["csrf"] = token
    return token


#: Routes under this prefix authenticate with an API key header and never read the session
#: cookie, so a cross-site request cannot act with a moderator's rights there: no CSRF token.
API_PATH_PREFIX = "/api/"


async def csrf_guard(request: Request) -> None:
    """App-wide dependency: every POST carries this session's token, as a form field
    (except the API key routes under :data:`API_PATH_PREFIX`)."""
    if request.method in _SAFE_METHODS or request.url.path.startswith(API_PATH_PREFIX):
        return
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise HTTPException(403, "forms are posted as application/x-www-form-urlencoded")
    expected = request.session.get("csrf")
    form = await request.form(max_fields=20)
    supplied = form.get("csrf_token")
    if not isinstance(expected, str) or not isinstance(supplied, str) \
            or not hmac.compare_digest(expected.encode(), supplied.encode()):
        raise HTTPException(403, "the form's security token is missing or out of date; "
                                 "reload the page and try again")
