"""Moderation without HTTP, on real SQLite and PostgreSQL: passwords, claims, the policy's
state machine, concurrent decisions, the audit log, message templates, label export."""

from __future__ import annotations

import threading
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from slopscore.review.accounts import (
    authenticate,
    create_moderator,
    hash_password,
    set_active,
    verify_password,
)
from slopscore.review.database import open_queue
from slopscore.review.decisions import (
    MAX_NOTE_CHARS,
    ClaimConflict,
    InvalidTransition,
    allowed_actions,
    artist_history,
    claim_item,
    decide,
    release_claim,
)
from slopscore.review.export import export_decisions
from slopscore.review.ingest import upsert_scores
from slopscore.review.messages import MAX_MESSAGE_CHARS, list_templates, render_message, save_template
from slopscore.review.schema import Action, Decision, Moderator, QueueItem, Status
from slopscore.review.validation import InvalidInput, ItemNotFound, utcnow
from tests.test_web_support import PASSWORD, scored_frame, write_images


def _queue(url, tmp_path, n=4, scores=None):
    engine = open_queue(url)
    upsert_scores(engine, scored_frame(write_images(tmp_path / "media"), n, scores=scores))
    with engine.connect() as connection:
        ids = connection.execute(select(QueueItem.id).order_by(QueueItem.item_id)).scalars().all()
    return engine, ids


def _decisions(engine, queue_item_id=None):
    query = select(Decision)
    if queue_item_id is not None:
        query = query.where(Decision.queue_item_id == queue_item_id)
    with engine.connect() as connection:
        return connection.execute(query.order_by(Decision.id)).all()


def test_passwords_are_salted_scrypt_hashes_never_the_password(tmp_path):
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert PASSWORD not in first and first != second and first.startswith("scrypt$")
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "!", first)
    assert not verify_password(PASSWORD, "scrypt$garbage") and not verify_password(PASSWORD, "")
    with pytest.raises(InvalidInput):
        hash_password("short")

    engine = open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    create_moderator(engine, "alice", PASSWORD)
    with engine.connect() as connection:
        stored = connection.execute(select(Moderator.password_hash)).scalar_one()
    assert PASSWORD not in stored and verify_password(PASSWORD, stored)
    assert authenticate(engine, "alice", PASSWORD) == "alice"
    assert authenticate(engine, "alice", "wrong password here") is None
    assert authenticate(engine, "mallory", PASSWORD) is None
    with pytest.raises(InvalidInput, match="already exists"):
        create_moderator(engine, "alice", PASSWORD)
    with pytest.raises(InvalidInput, match="username"):
        create_moderator(engine, "<script>", PASSWORD)
    set_active(engine, "alice", False)
    assert authenticate(engine, "alice", PASSWORD) is None


def test_the_policys_state_machine_has_no_removal_and_decided_items_only_reopen():
    assert allowed_actions("pending") == [Action.NO_CONCERN, Action.NOTIFY, Action.ESCALATE]
    assert allowed_actions("notified") == [Action.RESOLVED_REPLACED, Action.RESOLVED_CLARIFIED,
                                           Action.ESCALATE, Action.REOPEN]
    assert allowed_actions("reply_received") == [Action.NOTIFY, Action.RESOLVED_REPLACED,
                                                 Action.RESOLVED_CLARIFIED, Action.ESCALATE, Action.REOPEN]
    for final in ("dismissed", "resolved", "escalated"):
        assert allowed_actions(final) == [Action.REOPEN]
    assert allowed_actions("no-such-status") == []
    assert {a.value for a in Action} == {"no_concern", "notify", "resolved_replaced",
                                         "resolved_clarified", "escalate", "reopen"}


def test_decisions_follow_the_state_machine_and_validate_their_text(tmp_path):
    engine, (a, b, *_) = _queue(f"sqlite:///{tmp_path / 'q.db'}", tmp_path)
    claim_item(engine, a, "alice")
    with pytest.raises(InvalidTransition):
        decide(engine, a, Action.RESOLVED_REPLACED, "alice")
    with pytest.raises(InvalidInput, match="message is empty"):
        decide(engine, a, Action.NOTIFY, "alice", message="  ")
    with pytest.raises(InvalidInput, match="limit"):
        decide(engine, a, Action.NOTIFY, "alice", message="x" * (MAX_MESSAGE_CHARS + 1))
    with pytest.raises(InvalidInput, match="limit"):
        decide(engine, a, Action.NO_CONCERN, "alice", note="x" * (MAX_NOTE_CHARS + 1))
    with pytest.raises(InvalidInput, match="control"):
        decide(engine, a, Action.NO_CONCERN, "alice", note="bell \x07")
    with pytest.raises(InvalidInput, match="sends no message"):
        decide(engine, a, Action.NO_CONCERN, "alice", message="hello")
    with pytest.raises(InvalidInput, match="unknown action"):
        decide(engine, a, "remove", "alice")
    with pytest.raises(ItemNotFound):
        decide(engine, 999_999, Action.NO_CONCERN, "alice")
    assert _decisions(engine) == []  # nothing written by any refused decision

    decide(engine, a, Action.NOTIFY, "alice", message="Please tell us about your process.")
    claim_item(engine, a, "alice")  # the member replied: the item is open again for its resolution
    decide(engine, a, Action.RESOLVED_CLARIFIED, "alice", note="sent sketches")
    with pytest.raises(InvalidTransition):
        claim_item(engine, a, "alice")  # resolved: final
    claim_item(engine, b, "alice")
    decide(engine, b, Action.NO_CONCERN, "alice")
    with pytest.raises(InvalidTransition):
        decide(engine, b, Action.ESCALATE, "alice")
    with engine.connect() as connection:
        statuses = dict(connection.execute(select(QueueItem.id, QueueItem.status)).all())
    assert statuses[a] == Status.RESOLVED.value and statuses[b] == Status.DISMISSED.value
    assert [d.action for d in _decisions(engine)] == ["notify", "resolved_clarified", "no_concern"]


def test_claims_are_exclusive_and_expire_after_the_configured_time(queue_url, tmp_path):
    engine, (item, *_) = _queue(queue_url, tmp_path)
    now = utcnow()
    claim = claim_item(engine, item, "alice", 60, now=now)
    assert claim.until == now + timedelta(seconds=60)
    with pytest.raises(ClaimConflict, match="claimed by alice"):
        claim_item(engine, item, "bob", 60, now=now + timedelta(seconds=59))
    claim_item(engine, item, "alice", 60, now=now + timedelta(seconds=30))  # renewing one's own
    with pytest.raises(ClaimConflict):
        decide(engine, item, Action.NO_CONCERN, "bob", now=now + timedelta(seconds=31))

    later = now + timedelta(seconds=91)  # alice's renewed claim ran out at +90 s
    claim_item(engine, item, "bob", 60, now=later)
    with pytest.raises(ClaimConflict, match="claimed by bob"):
        decide(engine, item, Action.NO_CONCERN, "alice", now=later)
    assert not release_claim(engine, item, "alice")
    decide(engine, item, Action.NO_CONCERN, "bob", now=later + timedelta(seconds=1))
    assert [d.moderator for d in _decisions(engine)] == ["bob"]
    with pytest.raises(InvalidInput):
        claim_item(engine, item, "bob", 0)


def _race(n_threads, work):
    """Run ``work(k)`` in ``n_threads`` threads released together; returns results/exceptions."""
    barrier = threading.Barrier(n_threads)
    results = [None] * n_threads

    def run(k):
        barrier.wait()
        try:
            results[k] = work(k)
        except Exception as exc:  # collected and asserted on by the caller
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_moderators_can_never_both_decide_one_item(queue_url, tmp_path):
    engine, (contested, double, *_) = _queue(queue_url, tmp_path)
    moderators = [f"mod{k}" for k in range(6)]

    # Everyone opens the same item and decides at once: exactly one claim and one decision.
    def open_and_decide(k):
        claim_item(engine, contested, moderators[k], 600)
        return decide(engine, contested, Action.NO_CONCERN if k % 2 else Action.ESCALATE,
                      moderators[k])

    results = _race(len(moderators), open_and_decide)
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert all(isinstance(r, (ClaimConflict, InvalidTransition)) for r in results if r not in winners)
    rows = _decisions(engine, contested)
    assert len(rows) == 1 and rows[0].moderator == winners[0].moderator

    # One moderator's double submission (two tabs, a double click) is recorded once.
    claim_item(engine, double, "alice", 600)
    results = _race(4, lambda k: decide(engine, double, Action.NO_CONCERN, "alice"))
    assert sum(not isinstance(r, Exception) for r in results) == 1, results
    assert len(_decisions(engine, double)) == 1


def test_the_audit_log_keeps_the_score_and_model_at_decision_time(queue_url, tmp_path):
    engine, (item, *_) = _queue(queue_url, tmp_path, scores=[0.83, 0.5, 0.4, 0.1])
    claim_item(engine, item, "alice")
    before = utcnow()
    record = decide(engine, item, Action.NOTIFY, "alice", message="Could you share your process?",
                    note="<b>careful</b>")
    upsert_scores(engine, scored_frame(write_images(tmp_path / "media"), 4,
                                       scores=[0.2, 0.5, 0.4, 0.1]))  # a later re-score
    (row,) = _decisions(engine, item)
    assert row.moderator == "alice" and row.action == "notify" and row.outcome == "confirmed"
    assert row.model_version == "m/1" and row.triage_score == pytest.approx(0.83)
    assert row.p_ai == pytest.approx(0.5) and row.item_id == "u000" and row.artist_id == "artist0"
    assert row.message == "Could you share your process?" and row.note == "<b>careful</b>"
    decided = row.decided_at if row.decided_at.tzinfo else row.decided_at.replace(tzinfo=before.tzinfo)
    assert before <= decided <= utcnow() and record.id == row.id
    with engine.connect() as connection:
        item_row = connection.execute(select(QueueItem).where(QueueItem.id == item)).one()
    assert item_row.status == "notified" and item_row.triage_score == pytest.approx(0.2)
    assert item_row.claimed_by is None  # the decision released the claim


def test_export_gives_each_items_latest_outcome_as_a_training_label(queue_url, tmp_path):
    engine, ids = _queue(queue_url, tmp_path, n=6)
    steps = {0: [Action.NO_CONCERN], 1: [Action.NOTIFY], 2: [Action.NOTIFY, Action.RESOLVED_CLARIFIED],
             3: [Action.NOTIFY, Action.RESOLVED_REPLACED], 4: [Action.ESCALATE]}
    for k, actions in steps.items():
        for action in actions:
            claim_item(engine, ids[k], "alice")
            decide(engine, ids[k], action, "alice",
                   message="Please explain." if action is Action.NOTIFY else None)
    history = artist_history(engine, "artist0")  # u000 dismissed, u003 replaced
    assert (history.confirmed_items, history.dismissed_items) == (1, 1)

    expected = {"u000": ("dismissed", "no_concern"), "u001": ("confirmed", "notify"),
                "u002": ("dismissed", "resolved_clarified"), "u003": ("confirmed", "resolved_replaced"),
                "u004": ("confirmed", "escalate")}  # u005 was never decided: no label
    for name in ("labels.csv", "labels.parquet"):
        assert export_decisions(engine, tmp_path / name) == 5
        frame = pd.read_csv(tmp_path / name) if name.endswith("csv") else pd.read_parquet(tmp_path / name)
        assert list(frame.columns) == ["item_id", "artist_id", "path", "uploaded_at", "review_outcome",
                                       "action", "decided_at", "model_version", "title", "tags",
                                       "declared_ai", "has_process_notes"]
        got = {r.item_id: (r.review_outcome, r.action) for r in frame.itertuples()}
        assert got == expected
        assert frame["path"].str.endswith((".png", ".jpg")).all()
        assert set(frame["model_version"]) == {"m/1"}
    with pytest.raises(InvalidInput):
        export_decisions(engine, tmp_path / "labels.xlsx")


def test_message_templates_are_seeded_editable_and_render_plain_bounded_text(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    defaults = list_templates(engine)
    assert len(defaults) >= 2
    assert all("{concern}" in t.body and "replace" in t.body for t in defaults)
    edited = save_template(engine, defaults[0].name, "Hi, about {title}: {concern} {0.__class__} {x}",
                           "alice", defaults[0].id)
    assert edited.updated_by == "alice"
    text = render_message(edited.body, title="<Cat>", concern="- reason")
    assert text == "Hi, about <Cat>: - reason {0.__class__} {x}"  # no format-string evaluation
    assert len(render_message("{concern}" * 10, title="t", concern="y" * 4000)) == MAX_MESSAGE_CHARS
    with pytest.raises(InvalidInput, match="already exists"):
        save_template(engine, defaults[1].name, "text", "alice", defaults[0].id)
    with pytest.raises(InvalidInput, match="limit"):
        save_template(engine, "long", "x" * 5000, "alice")
    with pytest.raises(InvalidInput, match="empty"):
        save_template(engine, "blank", "   ", "alice")
    with pytest.raises(ItemNotFound):
        save_template(engine, "ghost", "text", "alice", 9999)
    save_template(engine, "Extra", "Hello {title}", "bob")
    assert len(list_templates(engine)) == len(defaults) + 1
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Decision)).scalar_one() == 0
