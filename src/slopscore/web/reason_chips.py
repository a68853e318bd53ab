"""Which reasons are shown as chips: only those whose signal moved the score.

The batch job stores the reasons as text and, beside them, each signal's contribution to the
score's log-odds (the ``breakdown``). A reason becomes a chip only when the breakdown shows
its signal moved the score by at least :data:`~slopscore.model.triage_reasons.REASON_MIN`
(up or down); everything else (context notes such as "new artist", reasons of signals
that did not move this score, text that names no known signal, provenance findings when
the file's metadata did not count) is listed as context, in plain text, never as a chip.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from slopscore.model.triage_reasons import REASON_MIN

__all__ = ["Chip", "ReasonView", "reason_view", "signal_of"]

#: Phrases of the batch job's reason wording and the breakdown features they describe, most
#: specific first ("from a new account" is also an "uploads in the last hour" reason).
_SIGNALS = (
    ("from a new account", ("new_account_burst",)),
    ("uploads in the last hour", ("upload_burst",)),
    ("near-identical", ("near_duplicates",)),
    ("unlike th", ("portfolio_outlier",)),
    ("detector:", ("ai_evidence", "ai_logit")),
    ("content credentials declare", ("file_says_ai",)),
    ("file metadata declares", ("file_says_ai",)),
    ("file says", ("file_says_ai",)),
    ("declared ai-assisted", ("declared_with_notes",)),
    ("ai use declared", ("declared_with_notes",)),
)


@dataclass(frozen=True)
class Chip:
    """A reason shown as a chip: its text, its signal's contribution (log-odds) and whether
    it is a provenance finding."""

    text: str
    contribution: float
    provenance: bool = False

    @property
    def raises(self) -> bool:
        return self.contribution > 0


@dataclass(frozen=True)
class ReasonView:
    chips: list[Chip]
    context: list[str]


def signal_of(text: str) -> tuple[str, ...]:
    """The breakdown features a reason's text describes (empty when it names none)."""
    lowered = text.lower()
    return next((features for phrase, features in _SIGNALS if phrase in lowered), ())


def _contributions(raw: str | None) -> dict[str, float]:
    try:
        values = json.loads(raw or "{}")
    except (ValueError, TypeError):
        return {}
    if not isinstance(values, dict):
        return {}
    return {str(k): float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def reason_view(reasons: list[str], provenance: list[str], breakdown: str | None) -> ReasonView:
    """Split an item's reasons into chips (the signal moved the score) and context."""
    contributions = _contributions(breakdown)
    chips, context = [], []
    for text, is_provenance in [(r, False) for r in reasons] + [(p, True) for p in provenance]:
        features = ("file_says_ai",) if is_provenance else signal_of(text)
        moved = [contributions[f] for f in features if f in contributions]
        value = max(moved, key=abs) if moved else 0.0
        if abs(value) >= REASON_MIN:
            chips.append(Chip(text, value, is_provenance))
        else:
            context.append(text)
    return ReasonView(chips, context)
