"""The item page, claiming and releasing an item, and the policy's decisions on it.

The page links the previous and next item of the moderator's queue view (the filter and
order of the queue page it came from, kept in ``back``); after a decision the next one opens.

Opening the page (GET) changes nothing. A moderator claims an item with the page's
"Claim" button (a POST, at most ``max_open_claims`` at a time) or by deciding it.

The decision buttons are exactly the policy's steps: "No concern", "Notify member
privately" (with an editable message from a template, written to the outbox), "Resolved:
replaced", "Resolved: clarified" and "Escalate (repeat violation)", plus "Reopen" (with a
reason) on a decided or notified item. The page shows each message's delivery state and the
member's replies beside the original upload and message.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from slopscore.review.decisions import (
    MAX_NOTE_CHARS,
    OPEN_STATUSES,
    Claim,
    ClaimConflict,
    ClaimLimitReached,
    InvalidTransition,
    allowed_actions,
    artist_history,
    claim_item,
    decide,
    item_history,
    release_claim,
)
from slopscore.review.ingest import Lane
from slopscore.review.member_replies import item_replies
from slopscore.review.messages import MAX_MESSAGE_CHARS, list_templates, render_message
from slopscore.review.outbox import item_messages
from slopscore.review.policy_concerns import POLICY_CONCERNS, concern_keys, concern_text, suggested_concerns
from slopscore.review.schema import Action, Status
from slopscore.review.validation import InvalidInput, ItemNotFound, as_utc, utcnow
from slopscore.web.auth import CurrentModerator, safe_next
from slopscore.web.item_query import breakdown, load_item, model_base_rate, nearest_works, recent_works, row_id
from slopscore.web.queue_nav import filter_of, neighbour, place_of
from slopscore.web.queue_query import json_texts
from slopscore.web.render import flash, problem, render
from slopscore.web.wording import finding_lines, warning_lines

__all__ = ["router"]

router = APIRouter()

#: The decision keys shown on the item page (shortcuts.js presses the button with that ``data-key``).
DECISION_KEYS = {Action.NO_CONCERN: "d", Action.NOTIFY: "m", Action.RESOLVED_REPLACED: "r",
                 Action.RESOLVED_CLARIFIED: "l", Action.ESCALATE: "e", Action.REOPEN: "o"}


def safe_back(value: object) -> str:
    """Where to return after a decision: a queue page URL, else the queue."""
    back = safe_next(value)
    return back if back == "/queue" or back.startswith("/queue?") else "/queue"


@router.get("/items/{queue_item_id:int}", name="item")
def item_page(request: Request, queue_item_id: int, moderator: CurrentModerator,
              back: str = "/queue", template: int | None = None):
    engine = request.app.state.engine
    item = load_item(engine, row_id(queue_item_id))
    if item is None:
        raise HTTPException(404)
    is_open = item.status in {s.value for s in OPEN_STATUSES}
    claim, claim_error = _claim_state(item, moderator) if is_open else (None, None)
    reasons, provenance = json_texts(item.reasons), json_texts(item.provenance_reasons)
    templates = list_templates(engine)
    chosen = next((t for t in templates if t.id == template), templates[0] if templates else None)
    parts, logit = breakdown(item.breakdown)
    try:  # the moderator's choice (the form), else what the signals that raised the score suggest
        concerns = concern_keys(request.query_params.getlist("concern")) or suggested_concerns(parts)
    except InvalidInput:
        concerns = suggested_concerns(parts)
    message = ""
    if chosen is not None:
        message = render_message(chosen.body, title=item.title, concern=concern_text(concerns))
    back = safe_back(back)
    flt, place = filter_of(back, moderator), place_of(item)
    following, preceding = (neighbour(engine, flt, place, forward=f) for f in (True, False))
    history, messages = item_history(engine, queue_item_id), item_messages(engine, queue_item_id)
    written = {d.id: d.message for d in history if d.message}
    actions = allowed_actions(item.status) if claim_error is None else []  # decided: only "Reopen"
    return render(request, "item.html", {
        "item": item, "reasons": reasons, "provenance": provenance, "tags": _tags(item.tags),
        "findings": finding_lines(item.provenance_findings), "warnings": warning_lines(item.warnings),
        "needs_look": item.review_lane == Lane.NEEDS_LOOK.value,
        "base_rate": model_base_rate(engine, item.model_version),
        "breakdown": parts, "logit": logit, "claim": claim, "claim_error": claim_error,
        "can_claim": is_open and claim is None and claim_error is None,
        "actions": actions, "Action": Action,
        "keys": DECISION_KEYS,
        "templates": templates, "chosen": chosen, "message": message,
        "concerns": concerns, "policy_concerns": POLICY_CONCERNS,
        "max_message": MAX_MESSAGE_CHARS, "max_note": MAX_NOTE_CHARS,
        "history": history, "messages": messages, "replies": item_replies(engine, queue_item_id),
        "asked": {o.message_id: written.get(o.decision_id) for o in messages},
        "artist": artist_history(engine, item.artist_id, exclude_queue_item=queue_item_id),
        "nearest": nearest_works(engine, item.nearest_works, item.artist_id),
        "recent": recent_works(engine, item.artist_id, item.item_id),
        "back": back, "Status": Status, "now": utcnow(),
        "full_url": f"/items/{queue_item_id}/full?back={quote(back, safe='/')}",
        "next_url": _item_url(following, back) if following else None,
        "previous_url": _item_url(preceding, back) if preceding else None,
        "artist_url": "/queue?" + urlencode({"artist": item.artist_id or ""}),
    })


@router.get("/items/{queue_item_id:int}/full", name="item_full")
def item_full_view(request: Request, queue_item_id: int, moderator: CurrentModerator, back: str = "/queue"):
    """The upload at full size (re-encoded and bounded, see :class:`~slopscore.web.images.ImageSize`)."""
    item = load_item(request.app.state.engine, row_id(queue_item_id))
    if item is None:
        raise HTTPException(404)
    return render(request, "full.html", {"item": item, "item_url": _item_url(queue_item_id, back)})


def _claim_state(item, moderator: str) -> tuple[Claim | None, str | None]:
    """The viewer's own unexpired claim, or why they cannot decide (another's claim)."""
    until, now = as_utc(item.claimed_until), utcnow()
    if not item.claimed_by or until is None or until <= now:
        return None, None
    if item.claimed_by == moderator:
        return Claim(item.id, moderator, until), None
    return None, str(ClaimConflict(item.claimed_by, until))


def _item_url(queue_item_id: int, back: str) -> str:
    return f"/items/{queue_item_id}?back={quote(safe_back(back), safe='/')}"


def _tags(raw: str | None) -> list[str]:
    return [t.strip()[:100] for t in (raw or "").split(";") if t.strip()][:30]


@router.post("/items/{queue_item_id:int}/decide", name="decide")
def decide_item(request: Request, queue_item_id: int, moderator: CurrentModerator,
                action: Annotated[str, Form()] = "", message: Annotated[str, Form()] = "",
                note: Annotated[str, Form()] = "", back: Annotated[str, Form()] = "/queue",
                confirm: Annotated[str, Form()] = ""):
    engine = request.app.state.engine
    row_id(queue_item_id)
    try:
        chosen = Action(action)
    except ValueError:
        return _problem(request, 400, "Unknown action", "Choose one of the buttons on the item page.",
                        queue_item_id)
    if chosen is Action.ESCALATE and confirm != "yes":
        return _confirm_escalation(request, queue_item_id, note, back)
    try:
        record = decide(engine, queue_item_id, chosen, moderator,
                        message=message if chosen is Action.NOTIFY else None, note=note)
    except ItemNotFound:
        raise HTTPException(404) from None
    except InvalidInput as exc:
        return _problem(request, 400, "Not recorded", str(exc), queue_item_id)
    except (ClaimConflict, InvalidTransition) as exc:
        return _problem(request, 409, "Not recorded", f"Nothing was recorded: {exc}.", queue_item_id)
    request.app.state.queue_counts.invalidate()
    back = safe_back(back)
    if chosen is Action.REOPEN:
        flash(request, f"Reopened item {record.item_id}: it is pending again, and the earlier decisions stay "
                       "in the log. Messages not yet delivered were withdrawn.")
        return RedirectResponse(_item_url(queue_item_id, back), status_code=303)
    item = load_item(engine, queue_item_id)
    following = neighbour(engine, filter_of(back, moderator), place_of(item)) if item is not None else None
    done = f"Recorded “{chosen.label}” for item {record.item_id} (queue #{queue_item_id})."
    if chosen is Action.NOTIFY:
        done += " The message is queued in the outbox until the platform takes it."
        if request.app.state.delivery_worker is not None:
            request.app.state.delivery_worker.wake()
    if following is None:
        flash(request, done + " That was the last item in this view.")
        return RedirectResponse(back, status_code=303)
    flash(request, done + " This is the next one in your view.")
    return RedirectResponse(_item_url(following, back), status_code=303)


@router.post("/items/{queue_item_id:int}/claim", name="claim")
def claim(request: Request, queue_item_id: int, moderator: CurrentModerator,
          back: Annotated[str, Form()] = "/queue"):
    settings = request.app.state.settings
    try:
        held = claim_item(request.app.state.engine, row_id(queue_item_id), moderator, settings.claim_seconds,
                          max_open=settings.max_open_claims)
    except ItemNotFound:
        raise HTTPException(404) from None
    except (ClaimConflict, ClaimLimitReached, InvalidTransition) as exc:
        return _problem(request, 409, "Not claimed", f"Not claimed: {exc}.", queue_item_id)
    request.app.state.queue_counts.invalidate()
    flash(request, f"You hold queue #{queue_item_id} until {held.until.strftime('%H:%M UTC')}.")
    return RedirectResponse(_item_url(queue_item_id, back), status_code=303)


@router.post("/items/{queue_item_id:int}/release", name="release")
def release_item(request: Request, queue_item_id: int, moderator: CurrentModerator,
                 back: Annotated[str, Form()] = "/queue"):
    if release_claim(request.app.state.engine, row_id(queue_item_id), moderator):
        request.app.state.queue_counts.invalidate()
        flash(request, f"Released queue #{queue_item_id} for other moderators.")
    return RedirectResponse(safe_back(back), status_code=303)


def _confirm_escalation(request: Request, queue_item_id: int, note: str, back: str):
    """Escalating (a repeat violation) asks first, and warns when the artist has no earlier
    confirmed concern; nothing is recorded until the moderator confirms."""
    engine = request.app.state.engine
    item = load_item(engine, queue_item_id)
    if item is None:
        raise HTTPException(404)
    history = artist_history(engine, item.artist_id, exclude_queue_item=queue_item_id)
    return render(request, "confirm_escalate.html", {
        "item": item, "queue_item_id": queue_item_id, "action": Action.ESCALATE.value,
        "confirmed": history.confirmed_items, "dismissed": history.dismissed_items,
        "note": note[:MAX_NOTE_CHARS], "back": safe_back(back), "item_url": _item_url(queue_item_id, back)})


def _problem(request: Request, status: int, title: str, message: str, queue_item_id: int):
    return problem(request, title, message, status, item_url=f"/items/{queue_item_id}")
