"""Roles: moderators decide; admins also manage templates (with their version history) and
accounts; the last admin cannot lock everyone out; accounts made before roles are admins."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from slopscore.review.accounts import LastAdmin, authenticate, list_moderators, set_active, set_role
from slopscore.review.database import open_queue, upgrade
from slopscore.review.messages import list_templates, save_template, template_history
from slopscore.review.schema import MessageTemplate, Role
from slopscore.review.validation import utcnow
from tests.test_web_support import make_app, signed_in, token


def _post(client, path, **fields):
    return client.post(path, data={"csrf_token": token(client), **fields}, follow_redirects=False)


def test_moderators_decide_but_only_admins_edit_templates_and_accounts(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=2)
    bob, alice = signed_in(app, "bob"), signed_in(app, "alice")
    template = list_templates(engine)[0]
    assert _post(bob, f"/templates/{template.id}", name="Hijacked", body="x").status_code == 403
    assert _post(bob, "/templates", name="Mine", body="y").status_code == 403
    assert bob.get("/moderators").status_code == 403
    assert _post(bob, "/moderators", username="eve", password="a long password!", role="admin").status_code == 403
    assert _post(bob, "/moderators/update", username="bob", change="role:admin").status_code == 403
    assert not {"Hijacked", "Mine"} & {t.name for t in list_templates(engine)}
    assert [a.role for a in list_moderators(engine) if a.username == "bob"] == [Role.MODERATOR]
    templates_page = bob.get("/templates").text
    assert "Only admins edit templates" in templates_page and 'action="/templates"' not in templates_page
    assert 'href="/moderators"' not in bob.get("/queue").text
    assert _post(bob, "/items/1/decide", action="no_concern").status_code == 303  # moderators decide

    assert _post(alice, "/moderators", username="carol", password="a long password!",
                 role="moderator").status_code == 303
    assert 'href="/moderators"' in alice.get("/queue").text and "carol" in alice.get("/moderators").text
    assert _post(alice, "/moderators/update", username="bob", change="role:admin").status_code == 303
    assert _post(bob, "/templates", name="Now allowed", body="z").status_code == 303  # at bob's next request
    assert authenticate(engine, "carol", "a long password!") == "carol"
    assert _post(alice, "/moderators/update", username="carol", change="disable").status_code == 303
    assert authenticate(engine, "carol", "a long password!") is None


def test_the_last_active_admin_can_be_neither_disabled_nor_demoted(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=1)
    with pytest.raises(LastAdmin):
        set_active(engine, "alice", False)
    with pytest.raises(LastAdmin):
        set_role(engine, "alice", "moderator")
    alice = signed_in(app, "alice")
    refused = _post(alice, "/moderators/update", username="alice", change="role:moderator")
    assert refused.status_code == 400 and "last active admin" in refused.text
    set_role(engine, "bob", "admin")
    set_role(engine, "alice", "moderator")  # now there is another admin
    with pytest.raises(LastAdmin):
        set_active(engine, "bob", False)
    assert {a.username: a.role for a in list_moderators(engine)} == {"alice": Role.MODERATOR, "bob": Role.ADMIN}


def test_every_saved_template_text_is_kept_as_a_numbered_version(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=1)
    template = list_templates(engine)[0]
    assert template.version == 1 and len(template_history(engine, template.id)) == 1
    alice = signed_in(app, "alice")
    assert _post(alice, f"/templates/{template.id}", name=template.name, body="Second text {title}").status_code == 303
    saved = save_template(engine, template.name, "Third <b>text</b>", "bob", template.id)
    assert saved.version == 3
    history = template_history(engine, template.id)
    assert [(v.version, v.saved_by) for v in history] == [(3, "bob"), (2, "alice"), (1, template.updated_by)]
    assert history[2].body == template.body and history[1].body == "Second text {title}"
    page = alice.get("/templates").text
    assert "Version 3" in page and "Earlier versions (2)" in page and "Second text {title}" in page
    assert "Third &lt;b&gt;text&lt;/b&gt;" in page and "<b>text</b>" not in page


def test_accounts_and_templates_from_before_roles_become_admins_and_version_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    engine = open_queue(url, migrate=False)
    upgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO moderators (username, password_hash, created_at, active, "
                                "session_version) VALUES ('old', 'x', :now, 1, 0)"), {"now": utcnow()})
    upgrade(engine)
    assert [(a.username, a.role) for a in list_moderators(engine)] == [("old", Role.ADMIN)]
    with engine.connect() as connection:
        templates = connection.execute(select(MessageTemplate.id, MessageTemplate.version)).all()
    assert templates and all(version == 1 for _, version in templates)
    assert all(len(template_history(engine, template_id)) == 1 for template_id, _ in templates)


def test_two_admins_demoting_each_other_at_once_leave_one_admin(queue_url, tmp_path):
    import threading

    engine, _ = make_app(queue_url, tmp_path, n=0, moderators=("alice", "bob"), admins=("alice", "bob"))
    start, outcomes = threading.Barrier(2), []

    def demote(name):
        start.wait()
        try:
            set_role(engine, name, "moderator")
            outcomes.append("ok")
        except LastAdmin:
            outcomes.append("refused")

    for _ in range(5):
        set_role(engine, "alice", "admin")
        set_role(engine, "bob", "admin")
        threads = [threading.Thread(target=demote, args=(name,)) for name in ("alice", "bob")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        admins = [a.username for a in list_moderators(engine) if a.role is Role.ADMIN and a.active]
        assert len(admins) == 1, admins
    assert sorted(outcomes) == ["ok"] * 5 + ["refused"] * 5
