"""The outbox page, for admins: members' messages by delivery state, and queueing a failed one again.

Delivery itself runs beside the app (``slopscore serve --webhook-url``, or ``slopscore
outbox deliver``); this page only reads the outbox and re-queues failed messages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse

from slopscore.review.outbox import list_outbox, outbox_counts, requeue_failed
from slopscore.review.schema import DeliveryState
from slopscore.review.validation import InvalidInput, ItemNotFound, utcnow
from slopscore.web.auth import CurrentAdmin
from slopscore.web.render import flash, problem, render

__all__ = ["router"]

router = APIRouter()

OUTBOX_PAGE = 100


@router.get("/outbox", name="outbox")
def outbox_page(request: Request, admin: CurrentAdmin,
                state: Annotated[DeliveryState | None, Query()] = None):
    engine = request.app.state.engine
    return render(request, "outbox.html", {
        "messages": list_outbox(engine, state=state, limit=OUTBOX_PAGE), "counts": outbox_counts(engine),
        "state": state, "states": list(DeliveryState), "delivering": request.app.state.delivery_worker is not None})


@router.post("/outbox/retry", name="outbox_retry")
def outbox_retry(request: Request, admin: CurrentAdmin, message_id: Annotated[str, Form()] = ""):
    try:
        requeue_failed(request.app.state.engine, message_id[:36], now=utcnow())
    except (ItemNotFound, InvalidInput) as exc:
        return problem(request, "Not queued", str(exc))
    worker = request.app.state.delivery_worker
    if worker is not None:
        worker.wake()
    flash(request, f"Queued message {message_id[:36]} again: it gets a fresh series of delivery attempts.")
    return RedirectResponse("/outbox?state=queued", status_code=303)
