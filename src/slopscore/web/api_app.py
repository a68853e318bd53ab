"""The scoring API (``slopscore api``): :func:`create_api_app` wires keys, limits, headers and routes.

JSON over HTTP for the platform's own services, documented at ``/docs`` (OpenAPI at
``/openapi.json``). Every response carries the review app's security headers
(:class:`~slopscore.web.security.SecurityHeadersMiddleware`; ``/docs`` alone may load Swagger
UI), and every error is JSON ``{"error": {"type", "detail"}}`` that never echoes internals:
401 without a valid key, 413 over the body or file limit, 422 for a bad upload, 429 over the
key's rate limit (with ``Retry-After``), 503 while the queue database is unreachable.
"""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from slopscore.review.database import QueueUnavailableError
from slopscore.web import api_routes
from slopscore.web.api_errors import json_error
from slopscore.web.api_limits import BodySizeLimit, RateLimiter
from slopscore.web.api_scoring import UploadScorer
from slopscore.web.api_uploads import MAX_BATCH
from slopscore.web.security import SecurityHeadersMiddleware

__all__ = ["DEFAULT_MAX_FILE_BYTES", "DEFAULT_MAX_REQUEST_BYTES", "create_api_app"]

DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024
#: Swagger UI's page: its script and styles from jsDelivr, one inline start-up script.
DOCS_POLICY = ("default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
               "style-src https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
_log = logging.getLogger(__name__)


class _ScoringApi(FastAPI):
    """FastAPI with the security headers outside everything, its own error responses included."""

    def build_middleware_stack(self):
        return SecurityHeadersMiddleware(super().build_middleware_stack(), page_policies={"/docs": DOCS_POLICY})


def create_api_app(service: UploadScorer, engine: Engine, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                   max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                   rate_limiter: RateLimiter | None = None) -> FastAPI:
    """Build the API over a loaded :class:`UploadScorer` and the migrated queue database.

    Parameters
    ----------
    service : UploadScorer
        The model, loaded once, and its micro-batched encoder.
    engine : sqlalchemy.engine.Engine
        Holds the API keys (``slopscore api-key add``), ``artworks`` and the queue.
    max_file_bytes : int
        Largest upload (a larger one is that upload's ``too_large`` error, 413 alone).
    max_request_bytes : int
        Largest request body, files and form included (413).
    rate_limiter : RateLimiter, optional
        Uploads per minute per key; by default 600 a minute with bursts of a full batch.
    """
    if not 1 <= max_file_bytes <= max_request_bytes:
        raise ValueError("max_file_bytes must be positive and at most max_request_bytes")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await service.close()

    app = _ScoringApi(title="slopscore scoring API", version="1",
                      description="Scores art uploads for human review of likely low-effort AI imagery. "
                                  "Scores rank work for people; nothing is removed, hidden or demoted.",
                      lifespan=lifespan)
    app.state.service = service
    app.state.engine = engine
    app.state.max_file_bytes = max_file_bytes
    app.state.rate_limiter = rate_limiter or RateLimiter(per_minute=600, burst=MAX_BATCH)
    app.include_router(api_routes.router)
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)
    _json_errors(app)
    return app


def _json_errors(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else "request failed"
        return json_error(exc.status_code, detail[:500], exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) or "request" for e in exc.errors()})
        return json_error(422, "check these values: " + ", ".join(f[:60] for f in fields[:10]))

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(QueueUnavailableError)
    async def _database(request: Request, exc: Exception):
        _log.error("queue database failed on %s: %s", request.url.path, str(exc).splitlines()[0][:300])
        return json_error(503, "the queue database is unavailable; retry later")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        _log.exception("unexpected error on %s", request.url.path)
        return json_error(500, "internal error; the upload was not scored")
