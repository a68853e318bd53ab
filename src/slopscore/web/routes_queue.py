"""The queue page: items of one status in a chosen order, filtered, a keyset page at a time.

Above the ranked list, the "needs a look" lane: files that could not be scored but may still
display, with their count and reason. They never sink to the end of the ranked order.

The header counts what the active filter matches, the reasons among those items per kind
(:mod:`slopscore.web.queue_counts`), and the page's position ("26–39 of 39").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from slopscore.review.schema import Status
from slopscore.review.validation import InvalidInput, as_utc, utcnow
from slopscore.web import queue_counts
from slopscore.web.auth import CurrentModerator
from slopscore.web.queue_query import (
    PAGE_SIZES,
    Cursor,
    Lane,
    QueueFilter,
    SortKey,
    fetch_page,
)
from slopscore.web.render import problem, render

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


def _carried(raw: str | None) -> int | None:
    """The ``at`` of a page link: a page's position, shown only past the exact counts."""
    return int(raw) if raw and raw.isdigit() and len(raw) <= 9 else None


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
        flt = replace(QueueFilter.from_params(params), viewer=moderator)
        after = Cursor.decode(params.get("after"), flt.sort)
    except InvalidInput as exc:
        return problem(request, "Invalid filter", str(exc))
    page = fetch_page(engine, flt, after)
    counts = request.app.state.queue_counts(flt)
    position = request.app.state.queue_counts.position(flt, after, counts.needs_look, _carried(params.get("at")))
    if flt.lane is Lane.RANKED:  # the header counts what the page lists
        counts = replace(counts, needs_look=0)
    elif flt.lane is Lane.NEEDS_LOOK:
        counts = replace(counts, ranked=0, reasons=())
    needs_look, needs_look_count = [], counts.needs_look
    if flt.lane is None and needs_look_count and after is None:
        needs_look = fetch_page(engine, replace(flt, lane=Lane.NEEDS_LOOK, page_size=NEEDS_LOOK_SHOWN)).rows
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    next_url = None
    if page.next_cursor:
        at = {} if position is None else {"at": str(position + len(page.rows))}
        next_url = "/queue?" + urlencode({**flt.params(), "after": page.next_cursor, **at})
    return render(request, "queue.html", {
        "flt": flt, "rows": page.rows, "next_url": next_url, "is_first_page": after is None,
        "first_url": queue_url(flt), "here": here, "now": utcnow(), "claimed_now": claimed_now,
        "counts": counts, "filtered": flt.mine or any(v is not None for v in (
            flt.min_score, flt.max_score, flt.reason, flt.artist, flt.lane)),
        "position": position, "position_exact": f"{queue_counts.POSITION_EXACT:,}",
        "list_total": counts.needs_look if flt.lane is Lane.NEEDS_LOOK else counts.ranked,
        "sorts": list(SortKey),
        "sort_urls": {s: queue_url(flt, sort=s) for s in SortKey},
        "statuses": list(Status), "page_sizes": PAGE_SIZES,
        "reason_suggestions": REASON_SUGGESTIONS, "queue_url": queue_url,
        "lanes": list(Lane), "Lane": Lane, "needs_look": needs_look, "needs_look_count": needs_look_count,
        "needs_look_url": queue_url(flt, lane=Lane.NEEDS_LOOK),
    })
