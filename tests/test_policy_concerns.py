"""Member-facing concerns: the policy's words, suggested by the signals that raised the score."""

from __future__ import annotations

import pytest

from slopscore.review.messages import render_message
from slopscore.review.policy_concerns import POLICY_CONCERNS, concern_keys, concern_text, suggested_concerns
from slopscore.review.validation import InvalidInput


def test_signals_that_raised_the_score_suggest_their_concern():
    parts = [("near_duplicates", 1.2), ("portfolio_outlier", 0.6), ("ai_evidence", 0.1), ("intercept", -2.9)]
    assert suggested_concerns(parts) == ["mass_produced", "unlike_portfolio"]  # ai_evidence barely moved it
    assert suggested_concerns([("file_says_ai", 3.0), ("upload_burst", 0.9)]) == ["mass_produced", "file_metadata"]


def test_signals_that_lowered_the_score_or_none_suggest_only_the_plain_concern():
    assert suggested_concerns([("declared_with_notes", -1.5), ("ai_evidence", -2.0)]) == ["little_input"]
    assert suggested_concerns([]) == ["little_input"]


def test_member_text_never_carries_model_internals():
    text = concern_text(["mass_produced", "little_input", "mass_produced"])
    assert text.splitlines() == [f"- {POLICY_CONCERNS['little_input'][1]}", f"- {POLICY_CONCERNS['mass_produced'][1]}"]
    every = concern_text(POLICY_CONCERNS)
    for internal in ("detector", "%", "×", "usual rate", "log-odds", "declared AI-assisted"):
        assert internal not in every


def test_unknown_concerns_are_refused():
    with pytest.raises(InvalidInput):
        concern_keys(["little_input", "detector: 99% likely AI"])
    assert concern_keys([]) == []


def test_placeholders_in_the_uploaders_title_are_never_expanded():
    body = "About {title}:\n{concern}\nThanks"
    text = render_message(body, title="My {concern} and {title} {0} {__class__}", concern="- it looks mass-produced")
    assert text == "About My {concern} and {title} {0} {__class__}:\n- it looks mass-produced\nThanks"
