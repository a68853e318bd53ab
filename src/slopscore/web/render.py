"""Server-side HTML: the Jinja2 environment (autoescape always on), display filters, flash
messages.

Every value from the database or a request reaches a page through Jinja's escaping;
no template marks anything ``|safe``.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from slopscore.review.schema import Role
from slopscore.review.validation import as_utc
from slopscore.web.reason_chips import reason_view
from slopscore.web.security import csrf_token
from slopscore.web.wording import skip_reason_text

__all__ = ["flash", "make_environment", "problem", "relative_age", "render", "score_meaning"]

TEMPLATES = Path(__file__).resolve().with_name("templates")
_MAX_FLASH = 5

#: Plain names of the triage model's features (the score breakdown).
FEATURE_LABELS = {
    "intercept": "baseline (every item, at the platform's base rate)",
    "ai_evidence": "detector: how AI-like the image looks",
    "ai_logit": "detector: looks AI-generated",  # scorers saved before base rates
    "portfolio_outlier": "unlike the artist's earlier works",
    "near_duplicates": "near-identical uploads by the same artist",
    "upload_burst": "upload burst against the artist's usual rate",
    "new_account_burst": "a new account's uploads against what new accounts usually post",
    "file_says_ai": "file metadata says an AI tool made it",
    "declared_with_notes": "AI use declared, with process notes",
}


def score_meaning(score: float | None, base_rate: float | None = None) -> str:
    """The triage score in words, with the base rate it assumes:
    ``0.82 — estimated 82% chance a reviewer confirms a concern (for a 5% base rate)``."""
    if score is None or not math.isfinite(score):
        return "not scored"
    assumes = ("base rate not recorded" if base_rate is None or not math.isfinite(base_rate)
               else f"for a {100 * base_rate:g}% base rate")
    return f"{score:.2f} — estimated {round(score * 100)}% chance a reviewer confirms a concern ({assumes})"


def _percent(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{round(value * 100)}%"


def _number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:+.2f}"


def _when(value: datetime | None) -> str:
    value = as_utc(value)
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def relative_age(value: datetime | None, now: datetime) -> str:
    """How long ago ``value`` was, in a few characters: ``"45 min old"``, ``"3 h old"``,
    ``"2 d old"`` (``"just now"`` under a minute, ``"in the future"`` past ``now``)."""
    value = as_utc(value)
    if value is None:
        return "—"
    seconds = (as_utc(now) - value).total_seconds()
    if seconds < -60:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} old"
    return "just now"


def _iso(value: datetime | None) -> str:
    value = as_utc(value)
    return "" if value is None else value.isoformat(timespec="seconds")


def _isolated(text: object) -> str:
    """Text from an uploader for plain-text places (the window title): wrapped in FIRST STRONG
    ISOLATE ... POP DIRECTIONAL ISOLATE, so its bidirectional controls reorder nothing else."""
    return "\u2068" + str(text) + "\u2069"


def _feature(name: str) -> str:
    return FEATURE_LABELS.get(name, name)


def make_environment() -> Environment:
    """The page environment: autoescape on for every template, undefined names are errors."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(percent=_percent, number=_number, signed=_signed, when=_when,
                       feature=_feature, score_meaning=score_meaning, skip_reason=skip_reason_text,
                       iso=_iso, isolated=_isolated)
    env.globals.update(score_meaning=score_meaning, relative_age=relative_age, reason_view=reason_view)
    return env


def flash(request: Request, text: str, kind: str = "info") -> None:
    """Show ``text`` on the next page this session renders (kept in the signed session)."""
    messages = list(request.session.get("flash", []))[-(_MAX_FLASH - 1):]
    messages.append([kind if kind in {"info", "error"} else "info", str(text)[:300]])
    request.session["flash"] = messages


def problem(request: Request, title: str, message: str, status_code: int = 400,
            item_url: str | None = None) -> HTMLResponse:
    """The error page: ``title``, a message safe to show, and a link back to an item if given."""
    return render(request, "error.html", {"title": title, "message": message, "item_url": item_url}, status_code)


def render(request: Request, name: str, context: dict, status_code: int = 200) -> HTMLResponse:
    """Render a page with the CSRF token, signed-in moderator and pending flash messages."""
    env: Environment = request.app.state.templates
    base = {"request": request, "csrf_token": csrf_token(request),
            "moderator": request.session.get("user"),
            "is_admin": getattr(request.state, "role", None) is Role.ADMIN,
            "flashes": request.session.pop("flash", [])}
    html = env.get_template(name).render({**base, **context})
    return HTMLResponse(html, status_code=status_code)
