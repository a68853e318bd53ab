"""Message templates (everyone reads them and their history; admins add and edit; no
deletion) and the audit log of decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse

from slopscore.review.decisions import audit_log
from slopscore.review.messages import (
    MAX_TEMPLATE_CHARS,
    MAX_TEMPLATE_NAME_CHARS,
    list_templates,
    save_template,
    template_history,
)
from slopscore.review.validation import InvalidInput, ItemNotFound
from slopscore.web.auth import CurrentAdmin, CurrentModerator
from slopscore.web.item_query import MAX_ROW_ID, row_id
from slopscore.web.render import flash, problem, render

__all__ = ["router"]

router = APIRouter()

AUDIT_PAGE = 100


@router.get("/templates", name="templates")
def templates_page(request: Request, moderator: CurrentModerator):
    engine = request.app.state.engine
    templates = list_templates(engine)
    return render(request, "message_templates.html", {
        "templates": templates, "histories": {t.id: template_history(engine, t.id, limit=20) for t in templates},
        "max_body": MAX_TEMPLATE_CHARS, "max_name": MAX_TEMPLATE_NAME_CHARS})


def _save(request: Request, moderator: str, name: str, body: str, template_id: int | None):
    try:
        saved = save_template(request.app.state.engine, name, body, moderator, template_id)
    except ItemNotFound:
        raise HTTPException(404) from None
    except InvalidInput as exc:
        return problem(request, "Template not saved", str(exc))
    flash(request, f"Saved template “{saved.name}” (version {saved.version}).")
    return RedirectResponse("/templates", status_code=303)


@router.post("/templates", name="add_template")
def add_template(request: Request, moderator: CurrentAdmin,
                 name: Annotated[str, Form()] = "", body: Annotated[str, Form()] = ""):
    return _save(request, moderator, name, body, None)


@router.post("/templates/{template_id:int}", name="edit_template")
def edit_template(request: Request, template_id: int, moderator: CurrentAdmin,
                  name: Annotated[str, Form()] = "", body: Annotated[str, Form()] = ""):
    return _save(request, moderator, name, body, row_id(template_id))


@router.get("/decisions", name="decisions")
def decisions_page(request: Request, moderator: CurrentModerator,
                   before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None):
    """The audit log, newest first, a keyset page (``id < before``) at a time."""
    rows = audit_log(request.app.state.engine, before=before, limit=AUDIT_PAGE + 1)
    older = f"/decisions?before={rows[AUDIT_PAGE - 1].id}" if len(rows) > AUDIT_PAGE else None
    return render(request, "decisions.html", {"rows": rows[:AUDIT_PAGE], "older": older})
