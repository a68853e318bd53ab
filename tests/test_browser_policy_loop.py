"""A real browser walks the policy's whole loop, with a real webhook receiver on loopback.

Notify with a template → the outbox row → the delivery worker posts it, signed, to the
receiver (the signature is checked here with ``hmac``) → the platform posts the member's
reply through the API → the item is back as "reply received", the reply beside the
original → resolved → reopened with a reason → escalated after its confirmation page.
Screenshots at 390 px wide go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest
from sqlalchemy import select

from slopscore.delivery.settings import DeliveryConfig
from slopscore.delivery.worker import DeliveryWorker
from slopscore.review.api_keys import create_api_key
from slopscore.review.schema import Decision, OutboxMessage, QueueItem
from slopscore.web.app import create_app
from tests.test_browser import ARTIFACTS, _serve, _signed_in_page
from tests.test_outbox_delivery import Receiver
from tests.test_web_support import SECRET, make_app

WEBHOOK_SECRET = b"shared-webhook-secret-" + b"s" * 20


@pytest.fixture
def loop_server(tmp_path):
    receiver = Receiver()
    engine, _ = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=4)
    worker = DeliveryWorker(engine, DeliveryConfig(webhook_url=receiver.url, secret=WEBHOOK_SECRET, timeout_s=5),
                            poll_s=0.2).start()
    app = create_app(engine, secret_key=SECRET, delivery_worker=worker)
    key, _ = create_api_key(engine, "platform")
    try:
        for base in _serve(app):
            yield base, engine, receiver, key
    finally:
        worker.stop()
        receiver.close()


def _wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _fits_390(page, name: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / f"loop_{name}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert width <= 390, (name, width)


def _status(engine, item_id: str) -> str:
    with engine.connect() as connection:
        return connection.execute(select(QueueItem.status).where(QueueItem.item_id == item_id)).scalar_one()


@pytest.mark.slow
def test_notify_deliver_reply_resolve_reopen_and_escalate_in_a_browser(loop_server):
    base, engine, receiver, key = loop_server
    with _signed_in_page(base) as (page, problems):
        page.goto(f"{base}/items/1")
        page.select_option("form.template-pick select[name=template]", index=0)
        page.click("form.template-pick button:has-text('Write the message')")
        message = page.input_value("form.notify textarea[name=message]")
        assert "Work 0" in message and "detector" not in message.lower()
        with page.expect_navigation():
            page.click("form.notify button:has-text('Notify member privately')")
        assert "queued in the outbox" in page.locator("p.flash").first.inner_text()

        # the outbox row, then the signed webhook on loopback
        with engine.connect() as connection:
            row = connection.execute(select(OutboxMessage)).one()
        assert row.item_id == "u000"
        request = _wait_for(lambda: receiver.requests and receiver.requests[0])
        timestamp, _, signature = request.headers["Slopscore-Signature"].partition(",v1=")
        timestamp = timestamp.removeprefix("t=")
        expected = hmac.new(WEBHOOK_SECRET, f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected) and abs(time.time() - int(timestamp)) < 60
        delivered = json.loads(request.body)
        assert request.headers["Idempotency-Key"] == delivered["message_id"] == row.message_id
        assert delivered["text"] == message.strip() and delivered["item_id"] == "u000"
        assert page.locator("h1 bdi").inner_text() == "Work 1"  # the next item opened
        _wait_for(lambda: (page.goto(f"{base}/items/1"), "the platform took it" in page.content())[1])
        assert "delivered" in page.locator("ul.outbox").inner_text().lower()

        # the member answers through the platform's API
        answered = httpx.post(f"{base}/api/v1/replies", headers={"Authorization": f"Bearer {key}"}, json={
            "message_id": delivered["message_id"], "kind": "clarification", "reply_id": "reply-1",
            "text": "I painted this over three evenings; here are my layers and sketches.",
            "files": ["https://platform.example/wip/layers.png", "upload:555"]})
        assert answered.status_code == 201, answered.text
        page.goto(f"{base}/queue?status=reply_received")
        assert page.locator("tr.queue-row").count() == 1
        with page.expect_navigation():
            page.click("tr.queue-row a.item-link")
        replies = page.locator("section.member-replies")
        assert "my layers and sketches" in replies.locator(".answered").inner_text()
        assert message.strip()[:40] in replies.locator(".asked").inner_text()
        assert page.locator("h1 .status").inner_text() == "reply_received"
        _fits_390(page, "reply_received")

        # resolved, then reopened with a reason (the earlier decision stays)
        with page.expect_navigation():
            page.click("form.actions button:has-text('Resolved: clarified')")
        assert _status(engine, "u000") == "resolved"
        page.goto(f"{base}/items/1")
        page.fill("form.reopen textarea[name=note]", "the member asked for another look")
        with page.expect_navigation():
            page.click("form.reopen button:has-text('Reopen')")
        assert "pending again" in page.locator("p.flash").first.inner_text()
        assert _status(engine, "u000") == "pending"

        # escalation asks first; nothing is recorded until confirmed
        with page.expect_navigation():
            page.click("form.actions button:has-text('Escalate (repeat violation)')")
        assert "Escalate as a repeat violation?" in page.content()
        assert _status(engine, "u000") == "pending"
        _fits_390(page, "confirm_escalate")
        with page.expect_navigation():
            page.click("button:has-text('Yes, escalate')")
        assert _status(engine, "u000") == "escalated"

        page.goto(f"{base}/decisions")
        _fits_390(page, "audit_log")
        page.goto(f"{base}/moderators")
        _fits_390(page, "accounts")
        page.goto(f"{base}/templates")
        _fits_390(page, "templates")
        page.goto(f"{base}/outbox")
        assert "delivered (1)" in page.content()
        _fits_390(page, "outbox")
        assert not problems, problems
    with engine.connect() as connection:
        actions = connection.execute(select(Decision.action).order_by(Decision.id)).scalars().all()
    assert actions == ["notify", "resolved_clarified", "reopen", "escalate"]
    assert len(receiver.requests) == 1  # delivered once; reopening never re-sends a delivered message
