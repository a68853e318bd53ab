"""Accounts, for admins: list them, add one, change a role, disable or enable (no deletion).

Moderators decide; admins also manage templates and accounts. The last active admin can
be neither disabled nor made a moderator (:class:`~slopscore.review.accounts.LastAdmin`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from slopscore.review.accounts import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    LastAdmin,
    create_moderator,
    list_moderators,
    set_active,
    set_role,
)
from slopscore.review.schema import Role
from slopscore.review.validation import InvalidInput, ItemNotFound
from slopscore.web.auth import CurrentAdmin
from slopscore.web.render import flash, problem, render

__all__ = ["router"]

router = APIRouter()


@router.get("/moderators", name="moderators")
def moderators_page(request: Request, admin: CurrentAdmin):
    return render(request, "moderators.html", {
        "accounts": list_moderators(request.app.state.engine), "roles": list(Role),
        "min_password": MIN_PASSWORD_CHARS, "max_password": MAX_PASSWORD_CHARS})


def _not_changed(request: Request, message: str):
    return problem(request, "Not changed", message)


@router.post("/moderators", name="add_moderator")
def add_moderator(request: Request, admin: CurrentAdmin, username: Annotated[str, Form()] = "",
                  password: Annotated[str, Form()] = "", role: Annotated[str, Form()] = Role.MODERATOR.value):
    try:
        create_moderator(request.app.state.engine, username, password, role=role)
    except InvalidInput as exc:
        return _not_changed(request, str(exc))
    flash(request, f"Added {role} {username}. Give them their password privately.")
    return RedirectResponse("/moderators", status_code=303)


@router.post("/moderators/update", name="update_moderator")
def update_moderator(request: Request, admin: CurrentAdmin, username: Annotated[str, Form()] = "",
                     change: Annotated[str, Form()] = ""):
    """``change`` is ``role:<role>``, ``disable`` or ``enable``."""
    engine = request.app.state.engine
    try:
        if change.startswith("role:"):
            set_role(engine, username, change.removeprefix("role:"))
        elif change in ("disable", "enable"):
            set_active(engine, username, change == "enable")
        else:
            return _not_changed(request, "Choose one of the buttons.")
    except ItemNotFound:
        raise HTTPException(404) from None
    except (InvalidInput, LastAdmin) as exc:
        return _not_changed(request, str(exc))
    flash(request, f"Changed {username[:64]}: {change.replace('role:', 'now ')[:40]}.")
    return RedirectResponse("/moderators", status_code=303)
