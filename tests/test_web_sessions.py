"""Sessions end when they should, on every device and for replayed cookies: logout, a
password change, disabling or enabling the account, idle time and the absolute lifetime
(real app and SQLite/PostgreSQL database, real signed cookies)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from slopscore.review.accounts import set_active, set_password
from slopscore.web.app import SESSION_COOKIE
from tests.test_web_support import PASSWORD, login, make_app, signed_in, token


def _signed_in(client: TestClient) -> bool:
    response = client.get("/queue", follow_redirects=False)
    assert response.status_code in (200, 303), response.status_code
    return response.status_code == 200


def _replay(app, cookie: str) -> TestClient:
    """A new client (an attacker's) presenting a copied session cookie."""
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(SESSION_COOKIE, cookie)
    return client


@pytest.fixture
def clock(monkeypatch):
    """Moves the wall clock forward (``clock(seconds)``) for the app and its cookie signer."""
    real, offset = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance


def test_logout_ends_every_session_of_the_account_and_a_copied_cookie(queue_url, tmp_path):
    engine, app = make_app(queue_url, tmp_path, n=1)
    laptop, phone, bob = signed_in(app, "alice"), signed_in(app, "alice"), signed_in(app, "bob")
    stolen = laptop.cookies[SESSION_COOKIE]
    assert _signed_in(_replay(app, stolen))  # the attack: a copied cookie works while signed in
    assert laptop.post("/logout", data={"csrf_token": token(laptop)}, follow_redirects=False).status_code == 303
    assert not _signed_in(_replay(app, stolen))  # ...and no longer after logout
    assert not _signed_in(laptop) and not _signed_in(phone)  # every device of alice
    assert _signed_in(bob)  # other accounts keep theirs
    login(laptop)
    assert _signed_in(laptop) and not _signed_in(_replay(app, stolen))


@pytest.mark.parametrize("change", ["password", "disable-enable"])
def test_a_password_change_or_disable_enable_ends_existing_sessions(tmp_path, change):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=1, admins=("alice", "bob"))
    client = signed_in(app, "alice")
    stolen = client.cookies[SESSION_COOKIE]
    if change == "password":
        set_password(engine, "alice", "a new long password")
    else:
        set_active(engine, "alice", False)
        set_active(engine, "alice", True)  # re-enabling does not revive the old sessions
    assert not _signed_in(_replay(app, stolen)) and not _signed_in(client)
    new_password = "a new long password" if change == "password" else PASSWORD
    login(client, "alice", new_password)
    assert _signed_in(client)


def test_a_session_ends_after_idle_time_but_activity_keeps_it(tmp_path, clock):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=1, idle_seconds=600,
                           session_seconds=3600)
    active, idle = signed_in(app, "alice"), signed_in(app, "bob")
    for _ in range(5):  # alice works on; bob leaves his tab
        clock(400)
        assert _signed_in(active)
    assert not _signed_in(idle)  # 2,000 s without a request: signed out
    for _ in range(3):
        clock(400)
        assert _signed_in(active)
    clock(500)  # 3,700 s from login: past the absolute lifetime, however active
    assert not _signed_in(active)


def test_idle_timeout_is_validated(tmp_path):
    with pytest.raises(ValueError):
        make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=0, idle_seconds=30)
    with pytest.raises(ValueError):
        make_app(f"sqlite:///{tmp_path / 'r.db'}", tmp_path, n=0, idle_seconds=7200, session_seconds=3600)
