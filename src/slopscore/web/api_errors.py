"""The APIs' one error shape: JSON ``{"error": {"type", "detail"}}``, never internals.

Used by the scoring API (``slopscore api``) and by the review app's platform routes
(``/api/v1/...`` of ``slopscore serve``), so an integration handles one shape.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

__all__ = ["ERROR_TYPES", "json_error"]

ERROR_TYPES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "request_too_large", 415: "unsupported_media_type", 422: "invalid_request",
               429: "rate_limited", 503: "unavailable"}


def json_error(status: int, detail: str, headers=None) -> JSONResponse:
    """A JSON error answer with the status's type (``error`` for others)."""
    return JSONResponse({"error": {"type": ERROR_TYPES.get(status, "error"), "detail": detail}}, status_code=status,
                        headers=headers)
