"""The scoring API's routes: ``POST /v1/score`` (one upload) and ``POST /v1/score/batch`` (up to 64).

The key is checked and charged before the body is read; the multipart form is parsed with
bounded parts and file counts, and every upload is checked by
:func:`slopscore.web.api_uploads.parse_upload`. A bad upload costs that upload only: a
single upload gets its typed error with 413 (too large) or 422, a batch gets it in that
upload's entry while the others are scored. Nothing here removes, hides or demotes
anything: results only rank uploads for people.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from slopscore.review.api_keys import ApiKeyInfo
from slopscore.web.api_limits import authenticated_client, charge
from slopscore.web.api_results import BatchResponse, ItemResult, error_result, item_result
from slopscore.web.api_uploads import FIELDS, MAX_BATCH, Upload, UploadError, batch_metadata, parse_upload

__all__ = ["router"]

router = APIRouter()
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}
_FIELD_BYTES = 64 * 1024  # largest text part of a single upload
_METADATA_BYTES = 1024 * 1024  # largest metadata part of a batch
_OPTIONAL = {
    "uploaded_at": {"type": "string", "description": "ISO 8601; default: now (UTC)"},
    "title": {"type": "string", "description": "put on one line and cut to 300 characters"},
    "tags": {"type": "string", "description": "separated by ';' or ','; at most 50 of 64 characters"},
    "declared_ai": {"type": "boolean"},
    "has_process_notes": {"type": "boolean"},
}
_QUEUE = {"write_to_queue": {"type": "boolean", "default": False,
                             "description": "also write the result to the review queue"}}
_SINGLE_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "item_id", "artist_id"],
    "properties": {"file": {"type": "string", "format": "binary"},
                   "item_id": {"type": "string", "maxLength": 200},
                   "artist_id": {"type": "string", "maxLength": 200}, **_OPTIONAL, **_QUEUE}}}}}}
_BATCH_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files", "metadata"],
    "properties": {"files": {"type": "array", "maxItems": MAX_BATCH, "items": {"type": "string", "format": "binary"}},
                   "metadata": {"type": "string", "description": "JSON array, one object per file in order, with "
                                "item_id, artist_id and optionally " + ", ".join(_OPTIONAL)},
                   **_QUEUE}}}}}}


def _flag(value) -> bool:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in _TRUE | _FALSE:
        raise HTTPException(422, "write_to_queue must be true or false")
    return text in _TRUE


async def _file_bytes(part, limit: int) -> bytes | None:
    """At most ``limit + 1`` bytes of a file part (enough to know it is too large)."""
    if not isinstance(part, UploadFile):
        return None
    return await part.read(limit + 1)


def _status(result: ItemResult, error: UploadError | None) -> int:
    if error is not None:
        return error.status
    return 200 if result.status == "scored" else 422


@router.post("/v1/score", response_model=ItemResult, openapi_extra=_SINGLE_DOC,
             summary="Score one upload",
             responses={413: {"description": "body or file too large"}, 422: {"description": "a bad upload"},
                        401: {"description": "no or invalid key"}, 429: {"description": "rate limit"}})
async def score_one(request: Request, client: ApiKeyInfo = Depends(authenticated_client)):
    """Score one upload: ``p_ai`` and ``triage_score`` in [0, 1] (higher = review sooner),
    reasons, provenance findings, portfolio signals from the artist's earlier works."""
    service = request.app.state.service
    form = await request.form(max_files=1, max_fields=len(FIELDS) + 2, max_part_size=_FIELD_BYTES)
    fields: dict = {}
    for name, value in form.multi_items():
        if name in ("file", "write_to_queue"):
            continue
        if name in fields:
            raise HTTPException(422, f"field {name[:40]!r} is given twice")
        fields[name] = value if isinstance(value, str) else None
    queue = _flag(form.get("write_to_queue", "false"))
    data = await _file_bytes(form.get("file"), request.app.state.max_file_bytes)
    parsed = parse_upload(fields, data, number=1, upload_dir=service.upload_dir,
                          max_file_bytes=request.app.state.max_file_bytes)
    if isinstance(parsed, UploadError):
        result = error_result(parsed, service.model_version)
        return JSONResponse(result.model_dump(), status_code=parsed.status)
    rows = await service.score([parsed], write_to_queue=queue)
    result = item_result(rows.iloc[0].to_dict())
    return JSONResponse(result.model_dump(), status_code=_status(result, None))


@router.post("/v1/score/batch", response_model=BatchResponse, openapi_extra=_BATCH_DOC,
             summary=f"Score up to {MAX_BATCH} uploads",
             responses={413: {"description": "body too large"}, 401: {"description": "no or invalid key"},
                        429: {"description": "rate limit (each upload counts)"}})
async def score_batch(request: Request, client: ApiKeyInfo = Depends(authenticated_client)):
    """Score several uploads; one entry per upload in order, a bad one gets its typed error there."""
    service = request.app.state.service
    form = await request.form(max_files=MAX_BATCH, max_fields=4, max_part_size=_METADATA_BYTES)
    files = form.getlist("files")
    if not files:
        raise HTTPException(422, "no files: send them as the repeated multipart field 'files'")
    entries = batch_metadata(form.get("metadata"), len(files))
    if isinstance(entries, UploadError):
        raise HTTPException(422, entries.detail)
    queue = _flag(form.get("write_to_queue", "false"))
    charge(request, client, len(files) - 1)  # one upload was charged with the key check
    outcome: list[Upload | UploadError] = []
    seen: set[str] = set()
    for number, (part, entry) in enumerate(zip(files, entries), start=1):
        data = await _file_bytes(part, request.app.state.max_file_bytes)
        parsed = parse_upload(entry, data, number=number, upload_dir=service.upload_dir,
                              max_file_bytes=request.app.state.max_file_bytes)
        if isinstance(parsed, Upload):
            if parsed.row.item_id in seen:
                parsed = UploadError(parsed.row.item_id, "duplicate_item_id",
                                     "item_id already appeared earlier in this request")
            else:
                seen.add(parsed.row.item_id)
        outcome.append(parsed)
    valid = [u for u in outcome if isinstance(u, Upload)]
    scored = await service.score(valid, write_to_queue=queue)
    by_item = {row["item_id"]: row for row in scored.to_dict("records")} if valid else {}
    items = [item_result(by_item[u.row.item_id]) if isinstance(u, Upload)
             else error_result(u, service.model_version) for u in outcome]
    return JSONResponse(BatchResponse(model_version=service.model_version, items=items).model_dump())
