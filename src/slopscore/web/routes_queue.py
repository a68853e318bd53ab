"""The queue page: items of one status in a chosen order, filtered, a keyset page at a time.

Above the ranked list, the "needs a look" lane: files that could not be scored but may still
display, with their count and reason. They never sink to the end of the ranked order.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from slopscore.review.schema import Status
from slopscore.review.validation import InvalidInput, as_utc, utcnow
from slopscore.web.auth import CurrentModerator
from slopscore.web.queue_query import (
    PAGE_SIZES,
    Cursor,
    Lane,
    QueueFilter,
    SortKey,
    count_needs_look,
    fetch_page,
)
from slopscore.web.render import render

__all__ = ["router"]

router = APIRouter()

#: "Needs a look" items shown above the ranked list (all of them: the lane's own filter).
NEEDS_LOOK_SHOWN = 10

#: Phrases the reason filter suggests (the batch job's reason wording).
REASON_SUGGESTIONS = ("likely AI-generated", "near-identical", "uploads in the last hour",
                      "unlike the artist's earlier works", "file says", "new artist", "earlier accepted works",
                      "posted by", "declared")


def queue_url(flt: QueueFilter, **changes) -> str:
    """The queue page's URL for ``flt`` (with ``changes``), first page."""
    params = flt.params(**changes)
    return "/queue" + (f"?{urlencode(params)}" if params else "")


def claimed_now(until: datetime | None, now: datetime) -> bool:
    until = as_utc(until)
    return until is not None and until > now


@router.get("/", name="home")
def home(moderator: CurrentModerator):
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue", name="queue")
def queue_page(request: Request, moderator: CurrentModerator):
    engine = request.app.state.engine
    params = request.query_params
    try:
        flt = QueueFilter.from_params(params)
        after = Cursor.decode(params.get("after"), flt.sort)
    except InvalidInput as exc:
        return render(request, "error.html", {"title": "Invalid filter", "message": str(exc)}, 400)
    page = fetch_page(engine, flt, after)
    needs_look, needs_look_count = [], 0
    if flt.lane is None:
        needs_look_count = count_needs_look(engine, flt)
        if needs_look_count and after is None:
            needs_look = fetch_page(engine, replace(flt, lane=Lane.NEEDS_LOOK, page_size=NEEDS_LOOK_SHOWN)).rows
    elif flt.lane is Lane.NEEDS_LOOK:
        needs_look_count = count_needs_look(engine, flt)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    next_url = None
    if page.next_cursor:
        next_url = "/queue?" + urlencode({**flt.params(), "after": page.next_cursor})
    return render(request, "queue.html", {
        "flt": flt, "rows": page.rows, "next_url": next_url, "is_first_page": after is None,
        "first_url": queue_url(flt), "here": here, "now": utcnow(), "claimed_now": claimed_now,
        "total": request.app.state.status_counts(flt.status), "sorts": list(SortKey),
        "sort_urls": {s: queue_url(flt, sort=s) for s in SortKey},
        "statuses": list(Status), "page_sizes": PAGE_SIZES,
        "reason_suggestions": REASON_SUGGESTIONS, "queue_url": queue_url,
        "lanes": list(Lane), "Lane": Lane, "needs_look": needs_look, "needs_look_count": needs_look_count,
        "needs_look_url": queue_url(flt, lane=Lane.NEEDS_LOOK),
    })
