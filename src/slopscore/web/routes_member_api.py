"""The platform's routes: members' replies in, and the outbox as a feed out.

``POST /api/v1/replies`` records a member's answer. ``GET /api/v1/messages`` lists the
messages waiting for delivery and ``POST /api/v1/messages/{message_id}/ack`` marks one
delivered (:mod:`slopscore.review.outbox_feed`), for platforms that pull instead of taking
the webhook.

The platform's integration authenticates with an API key (``Authorization: Bearer
ssk_...``, created with ``slopscore api-key add``; only its hash is stored) and posts
the member's clarification or replacement as JSON, referring to the ``message_id`` it was
delivered, within its key's rate limit. The item returns to the moderators as "reply
received". These routes take no
cookies or forms (so no CSRF token); every answer is JSON, errors in the scoring API's shape
(:func:`~slopscore.web.api_errors.json_error`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from slopscore.review.api_keys import ApiKeyInfo
from slopscore.review.member_replies import (
    MAX_FILE_REFS,
    MAX_REF_CHARS,
    MAX_REPLY_CHARS,
    NotAwaitingReply,
    record_reply,
)
from slopscore.review.outbox_feed import NotDeliverable, acknowledge, queued_messages
from slopscore.review.validation import InvalidInput, ItemNotFound, utcnow
from slopscore.web.api_errors import json_error
from slopscore.web.api_limits import api_key_client, charge

__all__ = ["ReplyIn", "router"]

router = APIRouter(prefix="/api/v1")


class ReplyIn(BaseModel):
    """A member's reply as the platform posts it."""

    model_config = ConfigDict(extra="forbid")

    message_id: Annotated[str, Field(min_length=1, max_length=36, description="The delivered message's id.")]
    kind: Literal["clarification", "replacement"]
    text: Annotated[str | None, Field(max_length=MAX_REPLY_CHARS, description="The member's words.")] = None
    files: Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_REF_CHARS)]],
                     Field(max_length=MAX_FILE_REFS,
                           description="References (URLs or the platform's ids) to process files or the "
                                       "replacement.")] = []
    reply_id: Annotated[str | None, Field(max_length=100, description="The platform's id for this reply; "
                                                                      "posting it again changes nothing.")] = None


@router.post("/replies", name="member_reply", status_code=201)
async def member_reply(request: Request, client: Annotated[ApiKeyInfo, Depends(api_key_client)],
                       reply: Annotated[ReplyIn, Body()]):
    """Record a member's reply: 201 (``status`` ``reply_received``), or 200 when ``reply_id``
    came before (``status`` ``already_recorded``; nothing changes).

    Each key has a rate limit (``reply_rate_limit`` of :func:`~slopscore.web.app.create_app`;
    429 with ``Retry-After`` over it).
    """
    charge(request, client, 1)
    try:
        stored = await run_in_threadpool(
            lambda: record_reply(request.app.state.engine, client=client.name, message_id=reply.message_id,
                                 kind=reply.kind, text=reply.text, file_refs=reply.files,
                                 client_reply_id=reply.reply_id))
    except ItemNotFound:
        return json_error(404, "no message has this message_id")
    except NotAwaitingReply as exc:
        return json_error(409, str(exc))
    except InvalidInput as exc:
        return json_error(422, str(exc))
    request.app.state.queue_counts.invalidate()
    return JSONResponse({"reply": stored.id, "message_id": stored.message_id, "item_id": stored.item_id,
                         "status": "reply_received" if stored.created else "already_recorded",
                         "created": stored.created,
                         "received_at": stored.received_at.isoformat()},
                        status_code=201 if stored.created else 200)


@router.get("/messages", name="message_feed")
async def message_feed(request: Request, client: Annotated[ApiKeyInfo, Depends(api_key_client)],
                       after: Annotated[int, Query(ge=0, le=2**62)] = 0,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50):
    """Messages waiting for delivery, oldest first; page on with ``after=<next_after>``."""
    charge(request, client, 1)
    messages = await run_in_threadpool(queued_messages, request.app.state.engine, after=after, limit=limit)
    return JSONResponse({"messages": [{**m.payload, "cursor": m.cursor} for m in messages],
                         "next_after": messages[-1].cursor if messages else after})


@router.post("/messages/{message_id}/ack", name="message_ack")
async def message_ack(request: Request, message_id: str, client: Annotated[ApiKeyInfo, Depends(api_key_client)]):
    """The platform has taken the message: it is ``delivered`` (200 either way; 409 if withdrawn)."""
    charge(request, client, 1)
    try:
        newly = await run_in_threadpool(acknowledge, request.app.state.engine, message_id[:100], utcnow())
    except ItemNotFound:
        return json_error(404, "no message has this message_id")
    except NotDeliverable as exc:
        return json_error(409, str(exc))
    return JSONResponse({"message_id": message_id, "state": "delivered", "newly_delivered": newly})
