"""Escalate (repeat violation) asks for confirmation and warns when there is nothing to repeat."""

from __future__ import annotations

from slopscore.review.decisions import claim_item, decide
from slopscore.review.schema import Action
from tests.test_web_items import _decide, _decisions, _ids, _status
from tests.test_web_support import make_app, signed_in


def test_escalating_asks_first_and_records_nothing_until_confirmed(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=6)
    ids = _ids(engine)
    first = ids[0]  # artist0, no earlier decisions
    client = signed_in(app)
    client.get(f"/items/{first}")
    asked = _decide(client, first, "escalate", note="looks like <b>the same</b> series", back="/queue?sort=newest")
    assert asked.status_code == 200 and "Escalate as a repeat violation?" in asked.text
    assert "no earlier confirmed concern" in asked.text
    assert "&lt;b&gt;the same&lt;/b&gt;" in asked.text and "<b>the same</b>" not in asked.text  # the note, escaped
    assert _decisions(engine, first) == [] and _status(engine, first) == "pending"
    assert 'name="confirm" value="yes"' in asked.text
    done = _decide(client, first, "escalate", confirm="yes", note="looks like the same series")
    assert done.status_code == 303 and [r.action for r in _decisions(engine, first)] == ["escalate"]


def test_an_artist_with_a_confirmed_concern_is_not_warned(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=6)
    ids = _ids(engine)
    earlier, current = ids[3], ids[0]  # both by artist0
    claim_item(engine, earlier, "bob")
    decide(engine, earlier, Action.NOTIFY, "bob", message="Please show us your process.")
    client = signed_in(app)
    asked = _decide(client, current, "escalate")
    assert asked.status_code == 200 and "no earlier confirmed concern" not in asked.text
    assert "1 earlier upload with a confirmed concern" in asked.text
    assert _decisions(engine, current) == []
