"""The policy's loop in the review app: notify writes to the outbox, the member's reply comes
back through the API (authenticated, bounded, idempotent), and a decision can be reopened."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from slopscore.review.api_keys import create_api_key, revoke_api_keys
from slopscore.review.decisions import artist_history, decide
from slopscore.review.export import latest_decisions
from slopscore.review.member_replies import MAX_FILE_REFS, MAX_REPLY_CHARS
from slopscore.review.outbox import item_messages
from slopscore.review.schema import DeliveryState, MemberReply, OutboxMessage, QueueItem
from tests.test_web_items import _decide, _decisions, _ids, _status
from tests.test_web_support import make_app, signed_in, token

HOSTILE = "I drew it <script>alert(1)</script> \u202eevil\u202c {concern}"


@pytest.fixture
def loop(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=6)
    key, _ = create_api_key(engine, "platform")
    return engine, app, key


def _notify(client, item, text="Please share process notes for {title}."):
    response = _decide(client, item, "notify", message=text)
    assert response.status_code == 303, response.text
    return item_messages(client.app.state.engine, item)[0]


def _reply(app, key, **body):
    api = TestClient(app)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return api.post("/api/v1/replies", json=body, headers=headers)


def test_notify_queues_the_message_in_the_outbox_and_never_says_sent(loop):
    engine, app, _ = loop
    item = _ids(engine)[0]
    client = signed_in(app)
    message = _notify(client, item)
    assert message.state is DeliveryState.QUEUED and message.attempts == 0
    with engine.connect() as connection:
        row = connection.execute(select(OutboxMessage)).one()
    assert row.decision_id == _decisions(engine, item)[0].id and '"text": "Please share process notes' in row.payload
    page = client.get(f"/items/{item}").text
    assert "waiting for the platform to take it" in page and message.message_id in page
    assert "sent" not in page.lower().replace("consent", "")


def test_a_member_reply_through_the_api_brings_the_item_back_beside_the_original(loop):
    engine, app, key = loop
    item = _ids(engine)[0]
    client = signed_in(app)
    message = _notify(client, item, "Could you share work-in-progress images?")
    answered = _reply(app, key, message_id=message.message_id, kind="clarification", text=HOSTILE,
                      files=["https://platform.example/wip/1.png", "upload:98765"], reply_id="r-1")
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "reply_received" and answered.json()["created"] is True
    assert _status(engine, item) == "reply_received"
    queue = client.get("/queue?status=reply_received").text
    assert 'id="row-%d"' % item in queue
    page = client.get(f"/items/{item}").text
    assert "Reply received from the member" in page and "Could you share work-in-progress images?" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "{concern}" in page  # placeholders in the member's text are never expanded
    assert 'href="https://platform.example/wip/1.png" rel="noopener noreferrer nofollow"' in page
    assert "<code><bdi>upload:98765</bdi></code>" in page  # not a URL: shown, never linked
    again = _reply(app, key, message_id=message.message_id, kind="clarification", text="other", reply_id="r-1")
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["status"] == "already_recorded"
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(MemberReply)).scalar_one() == 1
    # the moderator resolves it from "reply received"
    resolved = _decide(client, item, "resolved_clarified", note="process notes convincing")
    assert resolved.status_code == 303 and _status(engine, item) == "resolved"


@pytest.mark.parametrize("key_kind", ["none", "wrong", "revoked", "not-bearer"])
def test_the_reply_api_refuses_requests_without_a_valid_key(loop, key_kind):
    engine, app, key = loop
    item = _ids(engine)[0]
    message = _notify(signed_in(app), item)
    if key_kind == "revoked":
        revoke_api_keys(engine, "platform")
    api = TestClient(app)
    headers = {"none": {}, "wrong": {"Authorization": "Bearer " + key[:-4] + "AAAA"},
               "revoked": {"Authorization": f"Bearer {key}"}, "not-bearer": {"Authorization": f"Basic {key}"}}
    response = api.post("/api/v1/replies", headers=headers[key_kind],
                        json={"message_id": message.message_id, "kind": "clarification", "text": "hi"})
    assert response.status_code == 401 and response.json()["error"]["type"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["x-frame-options"] == "DENY"  # security headers on API answers too
    assert _status(engine, item) == "notified"


def test_the_reply_api_validates_and_bounds_what_the_platform_posts(loop):
    engine, app, key = loop
    item = _ids(engine)[0]
    message = _notify(signed_in(app), item)
    good = {"message_id": message.message_id, "kind": "clarification", "text": "fine"}
    for bad in ({**good, "kind": "delete"}, {**good, "text": "x" * (MAX_REPLY_CHARS + 1)},
                {**good, "files": ["f"] * (MAX_FILE_REFS + 1)}, {**good, "admin": True},
                {**good, "text": "bell \x07 char"}, {**good, "text": None}, {**good, "files": ["a\nb"]}):
        response = _reply(app, key, **bad)
        assert response.status_code == 422 and "error" in response.json(), bad
    unknown = _reply(app, key, **{**good, "message_id": "not-a-message"})
    assert unknown.status_code == 404
    raw = TestClient(app).post("/api/v1/replies", content=b"not json", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert raw.status_code == 422 and "error" in raw.json()
    huge = TestClient(app).post("/api/v1/replies", content=b"{" + b" " * 70_000 + b"}", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.json()["error"]["type"] == "request_too_large"
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(MemberReply)).scalar_one() == 0
    assert _status(engine, item) == "notified"


def test_a_reply_to_a_decided_or_withdrawn_message_is_refused_and_stores_nothing(loop):
    engine, app, key = loop
    first, second = _ids(engine)[:2]
    client = signed_in(app)
    delivered, withdrawn = _notify(client, first), _notify(client, second)
    with engine.begin() as connection:  # the platform took the first message
        connection.execute(update(OutboxMessage).where(OutboxMessage.message_id == delivered.message_id)
                           .values(state="delivered"))
    decide(engine, first, "resolved_replaced", "alice")
    late = _reply(app, key, message_id=delivered.message_id, kind="replacement", files=["upload:2"])
    assert late.status_code == 409 and "resolved" in late.json()["error"]["detail"]
    assert _decide(client, second, "reopen", note="notified the wrong member by mistake").status_code == 303
    assert item_messages(engine, second)[0].state is DeliveryState.WITHDRAWN
    gone = _reply(app, key, message_id=withdrawn.message_id, kind="clarification", text="hello")
    assert gone.status_code == 409 and "withdrawn" in gone.json()["error"]["detail"]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(MemberReply)).scalar_one() == 0
    assert _status(engine, first) == "resolved" and _status(engine, second) == "pending"


def test_reopening_needs_a_reason_keeps_the_earlier_decision_and_clears_the_label(loop):
    engine, app, _ = loop
    item = _ids(engine)[0]
    client = signed_in(app)
    assert _decide(client, item, "no_concern").status_code == 303
    assert list(latest_decisions(engine)["review_outcome"]) == ["dismissed"]
    page = client.get(f"/items/{item}").text
    assert 'value="reopen"' in page and "Reason for reopening" in page
    assert 'value="no_concern"' not in page  # decided: only reopening is offered
    refused = _decide(client, item, "reopen", note="   ")
    assert refused.status_code == 400 and "reason for reopening is empty" in refused.text
    assert _status(engine, item) == "dismissed"
    done = _decide(client, item, "reopen", note="the member appealed with process videos")
    assert done.status_code == 303 and done.headers["location"].startswith(f"/items/{item}?")
    assert _status(engine, item) == "pending"
    rows = _decisions(engine, item)
    assert [r.action for r in rows] == ["no_concern", "reopen"] and rows[1].outcome == "reopened"
    assert rows[1].note == "the member appealed with process videos" and rows[0].outcome == "dismissed"
    assert len(latest_decisions(engine)) == 0  # no label until it is decided again
    with engine.connect() as connection:
        artist = connection.execute(select(QueueItem.artist_id).where(QueueItem.id == item)).scalar_one()
    history = artist_history(engine, artist)
    assert (history.confirmed_items, history.dismissed_items) == (0, 0)
    assert _decide(client, item, "notify", message="Please share process notes.").status_code == 303
    assert list(latest_decisions(engine)["review_outcome"]) == ["confirmed"]
    audit = client.get("/decisions").text
    assert "Reopen" in audit and "the member appealed with process videos" in audit


def test_a_delivered_message_stays_delivered_when_its_decision_is_reopened(loop):
    engine, app, _ = loop
    item = _ids(engine)[0]
    client = signed_in(app)
    message = _notify(client, item)
    with engine.begin() as connection:
        connection.execute(update(OutboxMessage).where(OutboxMessage.message_id == message.message_id)
                           .values(state="delivered"))
    assert _decide(client, item, "reopen", note="asked too early").status_code == 303
    assert item_messages(engine, item)[0].state is DeliveryState.DELIVERED
    assert "the platform took it" in client.get(f"/items/{item}").text


def test_each_platform_key_has_a_reply_rate_limit(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=2, reply_rate_limit=1)
    key, _ = create_api_key(engine, "platform")
    other, _ = create_api_key(engine, "other-platform")
    answers = [_reply(app, key, message_id="none", kind="clarification", text="t") for _ in range(21)]
    assert [a.status_code for a in answers] == [404] * 20 + [429]  # a burst of 20, then the limit
    assert int(answers[-1].headers["retry-after"]) >= 1 and answers[-1].json()["error"]["type"] == "rate_limited"
    assert _reply(app, other, message_id="none", kind="clarification", text="t").status_code == 404  # per key


def test_admins_see_the_outbox_and_queue_a_failed_message_again(loop):
    engine, app, _ = loop
    first, second = _ids(engine)[:2]
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    failed, queued = _notify(alice, first), _notify(alice, second)
    with engine.begin() as connection:
        connection.execute(update(OutboxMessage).where(OutboxMessage.message_id == failed.message_id)
                           .values(state="failed", attempts=8, last_error="HTTP 410"))
    assert bob.get("/outbox").status_code == 403
    page = alice.get("/outbox?state=failed").text
    assert failed.message_id in page and queued.message_id not in page and "HTTP 410" in page
    assert "failed (1)" in page and "queued (1)" in page and "does not deliver them itself" in page
    assert alice.get("/outbox?state=sent").status_code == 400
    refused = alice.post("/outbox/retry", data={"csrf_token": token(alice), "message_id": queued.message_id},
                         follow_redirects=False)
    assert refused.status_code == 400 and "not failed" in refused.text
    assert bob.post("/outbox/retry", data={"csrf_token": token(bob), "message_id": failed.message_id},
                    follow_redirects=False).status_code == 403
    assert item_messages(engine, first)[0].state is DeliveryState.FAILED
    again = alice.post("/outbox/retry", data={"csrf_token": token(alice), "message_id": failed.message_id},
                       follow_redirects=False)
    assert again.status_code == 303
    record = item_messages(engine, first)[0]
    assert record.state is DeliveryState.QUEUED and record.attempts == 0


def test_a_platform_can_pull_the_outbox_as_a_feed_and_acknowledge_each_message(loop):
    engine, app, key = loop
    first, second, third = _ids(engine)[:3]
    client = signed_in(app)
    one, two, three = _notify(client, first, "First"), _notify(client, second, "Second"), _notify(client, third, "Third")
    assert _decide(client, third, "reopen", note="written to the wrong member").status_code == 303  # withdrawn
    api, headers = TestClient(app), {"Authorization": f"Bearer {key}"}
    assert api.get("/api/v1/messages").status_code == 401
    page = api.get("/api/v1/messages?limit=1", headers=headers).json()
    assert [m["message_id"] for m in page["messages"]] == [one.message_id]
    assert page["messages"][0]["text"] == "First" and page["messages"][0]["type"] == "slopscore.member_message"
    rest = api.get(f"/api/v1/messages?after={page['next_after']}", headers=headers).json()
    assert [m["message_id"] for m in rest["messages"]] == [two.message_id]  # the withdrawn one is not offered
    acked = api.post(f"/api/v1/messages/{one.message_id}/ack", headers=headers)
    assert acked.status_code == 200 and acked.json()["newly_delivered"] is True
    assert item_messages(engine, first)[0].state is DeliveryState.DELIVERED
    again = api.post(f"/api/v1/messages/{one.message_id}/ack", headers=headers)
    assert again.status_code == 200 and again.json()["newly_delivered"] is False
    withdrawn = api.post(f"/api/v1/messages/{three.message_id}/ack", headers=headers)
    assert withdrawn.status_code == 409 and "withdrawn" in withdrawn.json()["error"]["detail"]
    assert api.post("/api/v1/messages/nope/ack", headers=headers).status_code == 404
    assert [m["message_id"] for m in api.get("/api/v1/messages", headers=headers).json()["messages"]] \
        == [two.message_id]
    assert "the platform took it" in client.get(f"/items/{first}").text
