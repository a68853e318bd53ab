"""The item page and the policy's steps over HTTP, on real SQLite and PostgreSQL: portfolio
beside the item, claims, concurrent decisions, the audit log, editable message templates; the
next item of the moderator's view after a decision, keyboard shortcuts, the full-size view,
isolated uploader text and relative ages."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin
from sqlalchemy import select, update

from slopscore.review.decisions import claim_item, decide
from slopscore.review.ingest import register_model_version, upsert_scores
from slopscore.review.policy_concerns import POLICY_CONCERNS
from slopscore.review.schema import Action, Decision, QueueItem
from slopscore.review.validation import utcnow
from slopscore.web.queue_query import Cursor, SortKey
from slopscore.web.render import relative_age
from tests.test_web_support import T0, add_artworks, make_app, scored_frame, signed_in, skipped_frame, token

_ROW = re.compile(r'id="row-(\d+)"')


def _ids(engine):
    with engine.connect() as connection:
        return connection.execute(select(QueueItem.id).order_by(QueueItem.id)).scalars().all()


def _decisions(engine, item):
    with engine.connect() as connection:
        return connection.execute(select(Decision).where(Decision.queue_item_id == item)).all()


def _status(engine, item):
    with engine.connect() as connection:
        return connection.execute(select(QueueItem.status).where(QueueItem.id == item)).scalar_one()


def _decide(client, item, action, **fields):
    return client.post(f"/items/{item}/decide", follow_redirects=False,
                       data={"csrf_token": token(client), "action": action, **fields})


def test_item_page_shows_score_breakdown_provenance_portfolio_and_past_decisions(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=6)
    ids = _ids(engine)
    first, other_by_artist0 = ids[0], ids[3]  # u000 and u003: both by artist0
    media = sorted((tmp_path / "media").iterdir())
    add_artworks(engine, [
        {"item_id": f"old{k}", "artist_id": "artist0", "source": str(media[k % len(media)]),
         "title": f"Old piece {k}", "uploaded_at": T0.replace(day=k + 1)} for k in range(5)
    ] + [{"item_id": "stranger", "artist_id": "artist1", "source": str(media[0]), "title": "Not theirs",
          "uploaded_at": T0}])
    with engine.begin() as connection:
        connection.execute(update(QueueItem).where(QueueItem.id == first).values(nearest_works=json.dumps(
            [{"item_id": "old3", "similarity": 0.91}, {"item_id": "old1", "similarity": 0.42},
             {"item_id": "stranger", "similarity": 0.99}, {"item_id": "gone", "similarity": 0.5}])))
    claim_item(engine, other_by_artist0, "bob")
    decide(engine, other_by_artist0, Action.ESCALATE, "bob", note="third time")

    client = signed_in(app)
    page = client.get(f"/items/{first}").text
    assert "1.00 — estimated 100% chance a reviewer confirms a concern (base rate not recorded)" in page
    register_model_version(engine, "m/1", "test:b", {}, base_rate=0.05)
    assert "(for a 5% base rate)" in client.get(f"/items/{first}").text
    page = client.get(f"/items/{first}").text
    assert "detector: looks AI-generated" in page and "+1.40" in page  # the breakdown
    assert "file says ComfyUI made it (PNG prompt)" in page  # provenance
    nearest = page.split("Most similar own works")[1].split("Recent works")[0]
    assert nearest.index("old3") < nearest.index("old1") and "similarity 0.91" in nearest
    assert "stranger" not in nearest and "gone" not in nearest  # only the artist's own, existing works
    recent = page.split("Recent works")[1]
    assert [m for m in re.findall(r"Old piece (\d)", recent)] == ["4", "3", "2", "1", "0"]
    past = page.split("Past decisions")[1]
    assert "Escalate (repeat violation)" in past and "1 earlier upload(s) with a confirmed concern" in past
    assert ">Claim</button>" in page and "You hold this item" not in page  # opening claims nothing
    for label in ("No concern", "Notify member privately", "Escalate (repeat violation)"):
        assert f">{label}</button>" in page
    assert "Resolved: replaced" not in page  # only after notifying
    assert client.get("/works/image", params={"key": "old3"}).headers["x-slopscore-image"] == "original"
    assert client.get("/items/999999").status_code == 404


def test_the_policys_steps_over_http_and_the_audit_log(queue_url, tmp_path):
    engine, app = make_app(queue_url, tmp_path, n=4)
    first, second, third, _ = _ids(engine)
    client = signed_in(app)
    back = "/queue?sort=newest"
    client.get(f"/items/{first}")
    done = _decide(client, first, "no_concern", note="looks hand-drawn", back=back)
    assert done.status_code == 303 and done.headers["location"] == back  # the oldest: last in this view
    queue = client.get(back)
    assert str(first) not in _ROW.findall(queue.text) and "Recorded “No concern”" in queue.text
    assert str(first) in _ROW.findall(client.get("/queue?status=dismissed").text)

    item = client.get(f"/items/{second}").text
    message = re.search(r'<textarea name="message"[^>]*>(.*?)</textarea>', item, re.S).group(1)
    # The member reads the concern in the policy's words, never the detector's figures.
    assert "Work 1" in message and POLICY_CONCERNS["little_input"][1] in message
    assert "detector" not in message and "%" not in message
    chosen = client.get(f"/items/{second}", params=[("concern", "mass_produced"), ("concern", "process_notes")]).text
    chosen_message = re.search(r'<textarea name="message"[^>]*>(.*?)</textarea>', chosen, re.S).group(1)
    assert POLICY_CONCERNS["mass_produced"][1] in chosen_message and POLICY_CONCERNS["little_input"][1] not in chosen_message
    assert 'value="mass_produced" checked' in chosen and 'value="little_input" checked' not in chosen
    unknown = client.get(f"/items/{second}", params={"concern": "detector: 99%"})
    assert unknown.status_code == 200 and "detector: 99%" not in unknown.text  # back to the suggestion
    assert _decide(client, second, "notify", message="").status_code == 400  # a message is required
    assert _decide(client, second, "notify", message="Please show us your sketches.").status_code == 303
    assert _status(engine, second) == "notified"
    client.get(f"/items/{second}")
    assert _decide(client, second, "no_concern").status_code == 409  # not allowed once notified
    elsewhere = _decide(client, second, "resolved_replaced", back="https://evil.example/")
    assert elsewhere.headers["location"] == f"/items/{third}?back=/queue"  # the next in the default view
    rows = _decisions(engine, second)
    assert [r.action for r in rows] == ["notify", "resolved_replaced"]
    assert rows[0].message == "Please show us your sketches." and rows[0].moderator == "alice"
    assert rows[0].triage_score is not None and rows[0].model_version == "m/1"
    audit = client.get("/decisions").text
    for text in ("Resolved: replaced", "Notify member privately", "No concern", "looks hand-drawn", "m/1"):
        assert text in audit
    assert _decide(client, second, "delete").status_code == 400
    huge = "9" * 20  # no database integer: a 404, never a server error
    assert client.get(f"/items/{huge}").status_code == 404
    assert client.post(f"/items/{huge}/decide", data={"csrf_token": token(client), "action": "no_concern"}).status_code == 404
    assert client.get(f"/items/{huge}/image/thumb").status_code == 404
    assert client.get(f"/decisions?before={huge}").status_code == 400
    forged = Cursor(SortKey.SCORE, True, 0.5, 2**40).encode()
    assert client.get(f"/queue?after={forged}").status_code == 400


def _claim(client, item, back="/queue"):
    return client.post(f"/items/{item}/claim", follow_redirects=False,
                       data={"csrf_token": token(client), "back": back})


def _claimed_by(engine, item):
    with engine.connect() as connection:
        return connection.execute(select(QueueItem.claimed_by).where(QueueItem.id == item)).scalar_one()


def test_opening_an_item_claims_nothing_claiming_is_a_post_and_the_claim_expires(queue_url, tmp_path):
    engine, app = make_app(queue_url, tmp_path, n=2, claim_seconds=1)
    item = _ids(engine)[0]
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    for method in (alice.get, alice.head, bob.get):  # a link preview or prefetch must not claim
        assert method(f"/items/{item}").status_code == 200
    assert _claimed_by(engine, item) is None
    assert ">Claim</button>" in alice.get(f"/items/{item}").text
    claimed = _claim(alice, item, back="/queue?sort=newest")
    assert claimed.status_code == 303 and claimed.headers["location"] == f"/items/{item}?back=/queue%3Fsort%3Dnewest"
    assert "You hold this item" in alice.get(f"/items/{item}").text and _claimed_by(engine, item) == "alice"
    seen_by_bob = bob.get(f"/items/{item}").text
    assert "claimed by alice" in seen_by_bob and ">No concern</button>" not in seen_by_bob
    assert ">Claim</button>" not in seen_by_bob
    assert _claim(bob, item).status_code == 409
    assert _decide(bob, item, "no_concern").status_code == 409
    time.sleep(1.2)
    assert _claim(bob, item).status_code == 303  # alice's claim ran out
    refused = _decide(alice, item, "no_concern")
    assert refused.status_code == 409 and "claimed by bob" in refused.text
    assert _decide(bob, item, "escalate", confirm="yes").status_code == 303
    assert [r.moderator for r in _decisions(engine, item)] == ["bob"]


def test_the_first_decision_claims_an_unclaimed_item(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=2)
    item = _ids(engine)[0]
    client = signed_in(app)
    assert _decide(client, item, "no_concern").status_code == 303  # no claim beforehand
    assert _status(engine, item) == "dismissed" and _claimed_by(engine, item) is None


def test_a_moderator_holds_at_most_the_configured_number_of_claims(queue_url, tmp_path):
    engine, app = make_app(queue_url, tmp_path, n=4, max_open_claims=2)
    first, second, third, fourth = _ids(engine)
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    assert _claim(alice, first).status_code == 303 and _claim(alice, second).status_code == 303
    assert _claim(alice, second).status_code == 303  # renewing one's own claim is not another
    refused = _claim(alice, third)
    assert refused.status_code == 409
    assert "you already hold 2 open claims, the most allowed; decide or release one of them first" in refused.text
    assert _claimed_by(engine, third) is None
    assert _claim(bob, third).status_code == 303  # the limit is per moderator
    assert _decide(alice, first, "no_concern").status_code == 303  # a decision frees its claim
    assert _claim(alice, fourth).status_code == 303
    alice.post(f"/items/{second}/release", data={"csrf_token": token(alice)})
    assert _claimed_by(engine, second) is None
    with pytest.raises(ValueError):
        make_app(f"sqlite:///{tmp_path / 'other.db'}", tmp_path, n=0, max_open_claims=0)


def test_concurrent_http_decisions_record_exactly_one(queue_url, tmp_path):
    engine, app = make_app(queue_url, tmp_path, n=2, moderators=("alice", "bob", "carol", "dave"))
    contested, doubled = _ids(engine)
    clients = {name: signed_in(app, name) for name in ("alice", "bob", "carol", "dave")}
    tokens = {name: token(client) for name, client in clients.items()}
    barrier = threading.Barrier(len(clients))
    statuses = {}

    def open_and_decide(name):
        client = clients[name]
        barrier.wait()
        client.get(f"/items/{contested}")
        statuses[name] = client.post(f"/items/{contested}/decide", follow_redirects=False,
                                     data={"csrf_token": tokens[name], "action": "no_concern"}).status_code

    threads = [threading.Thread(target=open_and_decide, args=(n,)) for n in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses.values()) == [303, 409, 409, 409], statuses
    (row,) = _decisions(engine, contested)
    assert statuses[row.moderator] == 303

    alice = clients["alice"]
    alice.get(f"/items/{doubled}")
    barrier = threading.Barrier(3)
    codes = []

    def submit():
        barrier.wait()
        codes.append(alice.post(f"/items/{doubled}/decide", follow_redirects=False,
                                data={"csrf_token": tokens["alice"], "action": "escalate",
                                      "confirm": "yes"}).status_code)

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(codes) == [303, 409, 409] and len(_decisions(engine, doubled)) == 1


def test_message_templates_are_edited_in_the_app_and_used_on_items(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=1)
    client = signed_in(app)
    page = client.get("/templates").text
    first_id = re.search(r'action="/templates/(\d+)"', page).group(1)
    saved = client.post(f"/templates/{first_id}", follow_redirects=False, data={
        "csrf_token": token(client), "name": "Gentle ask", "body": "Hi! About {title}:\n{concern}\nCould you clarify?"})
    assert saved.status_code == 303
    added = client.post("/templates", follow_redirects=False, data={
        "csrf_token": token(client), "name": "Second", "body": "Replacement please, {title}."})
    assert added.status_code == 303
    too_long = client.post("/templates", data={"csrf_token": token(client), "name": "Long", "body": "x" * 4001})
    assert too_long.status_code == 400
    listing = client.get("/templates").text
    assert "Gentle ask" in listing and "Second" in listing and "Long" not in listing
    item = _ids(engine)[0]
    page = client.get(f"/items/{item}", params={"template": first_id}).text
    message = re.search(r"<textarea name=\"message\"[^>]*>(.*?)</textarea>", page, re.S).group(1)
    assert message.startswith("Hi! About Work 0:\n- ") and message.endswith("\nCould you clarify?")
    assert "detector" not in message and POLICY_CONCERNS["little_input"][1] in message
    assert TestClient(app).get("/templates", follow_redirects=False).status_code == 303


def test_item_page_shows_every_finding_warning_and_the_reason_a_file_needs_a_look(queue_url, tmp_path):
    engine, app = make_app(queue_url, tmp_path, n=2)
    scored, other = _ids(engine)
    frame = skipped_frame(sorted((tmp_path / "media").iterdir()), ["truncated", "missing"])
    frame["provenance_findings"] = json.dumps(["xmp_unsafe_xml", "c2pa_hash_mismatch: claim hash differs"])
    frame["warnings"] = json.dumps(["title cut to 300 characters", {"field": "uploaded_at",
                                                                     "message": "more than a day in the future"}])
    upsert_scores(engine, frame)
    with engine.begin() as connection:
        connection.execute(update(QueueItem).where(QueueItem.id == scored).values(
            provenance_findings=json.dumps([{"kind": "text_chunk_too_large", "detail": "2097152 bytes",
                                             "source": "png:zTXt"}, "a new kind"]),
            warnings="not json"))
        lanes = {r.item_id: r for r in connection.execute(select(QueueItem.id, QueueItem.item_id,
                                                                 QueueItem.review_lane))}
    client = signed_in(app)

    page = client.get(f"/items/{lanes['s000'].id}").text
    assert lanes["s000"].review_lane == "needs_look"
    notice = page.split('class="needs-look-note"')[1].split("</section>")[0]
    assert "truncated (the file ends early; a browser may still display the part that is there)" in notice
    problems = page.split("Problems in the file's metadata")[1].split("</section>")[0]
    assert "XMP with unsafe XML (entity or DTD declarations), not parsed [xmp_unsafe_xml]" in problems
    assert "changed after signing) [c2pa_hash_mismatch]: claim hash differs" in problems
    warnings = page.split("Warnings about the upload's manifest line")[1].split("</section>")[0]
    assert "title cut to 300 characters" in warnings and "uploaded_at: more than a day in the future" in warnings

    missing = client.get(f"/items/{lanes['s001'].id}").text
    assert lanes["s001"].review_lane == "ranked" and 'class="needs-look-note"' not in missing
    assert "missing (no file at the manifest&#39;s path)" in missing
    assert "Warnings about the upload's manifest line" in missing

    page = client.get(f"/items/{scored}").text
    assert 'class="needs-look-note"' not in page and "Warnings about the upload" not in page  # damaged JSON
    assert "a text metadata block over the size limit (not read) [text_chunk_too_large]: 2097152 bytes " \
           "(in png:zTXt)" in page and "<li>a new kind</li>" in page
    assert "None recorded." in client.get(f"/items/{other}").text


def test_a_decision_opens_the_next_item_of_the_moderators_view_not_the_queue_top(queue_url, tmp_path):
    engine, app = make_app(queue_url, tmp_path, n=9)
    ids = _ids(engine)  # u000..u008: scores fall, upload times rise; artist k % 3
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    back = "/queue?sort=newest&artist=artist1"  # artist1 newest first: u007, u004, u001
    done = _decide(alice, ids[7], "no_concern", back=back)
    assert done.headers["location"] == f"/items/{ids[4]}?back=/queue%3Fsort%3Dnewest%26artist%3Dartist1"
    assert "This is the next one in your view" in alice.get(done.headers["location"]).text
    claim_item(engine, ids[4], "bob")  # held by another moderator: passed over
    done = _decide(alice, ids[8], "no_concern", back="/queue?sort=newest")
    assert done.headers["location"] == f"/items/{ids[6]}?back=/queue%3Fsort%3Dnewest"  # u008 was the newest
    assert _decide(alice, ids[1], "no_concern", back=back).headers["location"] == back  # the last one in view
    assert "That was the last item in this view" in alice.get(back).text
    page = alice.get(f"/items/{ids[3]}", params={"back": "/queue?min_score=0.2"}).text  # scores 1 - k/9
    assert f'href="/items/{ids[5]}?back=/queue%3Fmin_score%3D0.2" data-key="j">Next item' in page
    assert f'href="/items/{ids[2]}?back=/queue%3Fmin_score%3D0.2" data-key="k">Previous item' in page
    bob_view = bob.get(f"/items/{ids[3]}").text  # bob may open his own claim
    assert f'href="/items/{ids[4]}?back=/queue" data-key="j">Next item' in bob_view
    top = alice.get(f"/items/{ids[0]}").text  # the queue's top: no previous item
    assert 'data-key="k"' not in top and f'href="/items/{ids[2]}?back=/queue" data-key="j"' in top


def test_keyboard_shortcuts_are_on_the_page_and_in_the_readme(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=3)
    first, second, _ = _ids(engine)
    client = signed_in(app)
    decide(engine, second, Action.NOTIFY, "bob", message="Please clarify.")
    keys = {"d": "No concern", "m": "Notify member privately", "e": "Escalate (repeat violation)"}
    page = client.get(f"/items/{first}").text
    for key, label in keys.items():
        assert f'data-key="{key}">{label}</button> <kbd>{key}</kbd>' in page
        assert f"<dt><kbd>{key}</kbd></dt><dd>{label}" in page.split('id="shortcuts"')[1]
    for key in "cjfu":
        assert f'data-key="{key}"' in page and f"<kbd>{key}</kbd>" in page
    notified = client.get(f"/items/{second}").text
    assert 'data-key="r">Resolved: replaced</button>' in notified and 'data-key="l">Resolved: clarified' in notified
    script = client.get("/static/shortcuts.js")
    assert script.status_code == 200 and "textarea" in script.text and "ctrlKey" in script.text
    assert '<script src="/static/shortcuts.js" defer></script>' in page and "<script>" not in page
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("**Keyboard shortcuts**")[1][:1500]
    for key, label in {**keys, "r": "Resolved: replaced", "l": "Resolved: clarified", "j": "next",
                       "k": "previous", "f": "full-size"}.items():
        assert re.search(rf"`{key}`[^\n]*{re.escape(label)}", section, re.I), key


def test_the_full_size_view_is_a_bounded_re_encoded_image(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=1)
    big = tmp_path / "media" / "big.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a prompt, Steps: 20")
    Image.new("RGB", (3000, 1200), (200, 30, 30)).save(big, pnginfo=info)
    item = _ids(engine)[0]
    with engine.begin() as connection:
        connection.execute(update(QueueItem).where(QueueItem.id == item).values(source=str(big)))
    client = signed_in(app)
    assert f'href="/items/{item}/full?back=/queue" data-key="f"' in client.get(f"/items/{item}").text
    view = client.get(f"/items/{item}/full", params={"back": "/queue?sort=newest"}).text
    assert f'<img src="/items/{item}/image/full"' in view
    assert f'href="/items/{item}?back=/queue%3Fsort%3Dnewest" data-key="f">Back to the item' in view
    sizes = {}
    for size in ("medium", "full"):
        response = client.get(f"/items/{item}/image/{size}")
        assert response.headers["content-type"] == "image/jpeg" and response.headers["x-slopscore-image"] == "original"
        assert response.content != big.read_bytes() and b"Steps: 20" not in response.content
        with Image.open(io.BytesIO(response.content)) as image:
            sizes[size] = image.size
            assert image.format == "JPEG" and not image.info.get("parameters")
    assert sizes == {"medium": (1024, 410), "full": (2048, 819)}
    assert client.get(f"/items/{item}/image/original").status_code in (400, 404, 422)


def test_uploader_text_is_isolated_and_ages_are_relative(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=0)
    frame = scored_frame(sorted((tmp_path / "media").iterdir()), 2, titles=["evil \u202eabc.exe", "x" * 300],
                         artists=["\u202eartist", "artist1"])
    frame["uploaded_at"] = [utcnow() - timedelta(hours=3, minutes=5), utcnow() - timedelta(days=2)]
    upsert_scores(engine, frame)
    client = signed_in(app)
    page = client.get("/queue").text
    assert "<bdi>evil \u202eabc.exe</bdi>" in page and "<bdi>\u202eartist</bdi>" in page
    assert "\u202e" not in re.sub(r"<bdi>[^<]*</bdi>", "", page)  # never outside an isolate
    assert re.search(r'<time datetime="[\d-]+T[\d:]+\+00:00" title="[\d-]+ [\d:]+ UTC">3 h old</time>', page)
    assert ">2 d old</time>" in page
    item = client.get(f"/items/{_ROW.findall(page)[0]}").text
    assert "<title>\u2068evil \u202eabc.exe\u2069 · slopscore</title>" in item
    assert "\u202e" not in re.sub(r"<bdi>[^<]*</bdi>|<title>.*</title>|<textarea.*?</textarea>", "", item, flags=re.S)
    css = client.get("/static/slopscore.css").text
    assert "bdi { unicode-bidi: isolate; }" in css and "overflow-wrap: anywhere" in css
    now = utcnow()
    assert [relative_age(now - d, now) for d in (timedelta(seconds=5), timedelta(minutes=45), timedelta(hours=3),
                                                 timedelta(days=2, hours=5), -timedelta(hours=1))] == [
        "just now", "45 min old", "3 h old", "2 d old", "in the future"]
