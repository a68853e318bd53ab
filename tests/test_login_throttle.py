"""The login throttle against the audit's attacks: spoofed X-Forwarded-For (through the real
uvicorn server on loopback), parallel guesses, a flood of names, locking a moderator out,
and Retry-After on 429."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from slopscore.web.login_throttle import LoginThrottle
from slopscore.web.server import server_config
from tests.test_web_support import PASSWORD, make_app, token

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextlib.contextmanager
def _serving(app, forwarded_allow_ips=None):
    """The app behind the uvicorn server ``slopscore serve`` runs, on a free loopback port."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = server_config(app, host="127.0.0.1", port=sock.getsockname()[1],
                           forwarded_allow_ips=forwarded_allow_ips, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _post_login(client, password: str, **headers) -> httpx.Response:
    csrf = _TOKEN.search(client.get("/login").text).group(1)
    return client.post("/login", headers=headers, follow_redirects=False,
                       data={"username": "alice", "password": password, "csrf_token": csrf})


def _throttle(**options) -> LoginThrottle:
    return LoginThrottle(**{"limit": 3, "account_delay_s": 0.01, "max_delay_s": 0.05, **options})


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=0, login_throttle=_throttle())
    with _serving(app) as url, httpx.Client(base_url=url) as client:
        # The attack: a new forged address per guess, to dodge the per-address limit.
        codes = [_post_login(client, "wrong password", **{"X-Forwarded-For": f"10.0.0.{k}"}).status_code
                 for k in range(5)]
    assert codes == [401, 401, 401, 429, 429]

    engine, app = make_app(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, n=0, moderators=(),
                           login_throttle=_throttle())
    with _serving(app, forwarded_allow_ips="127.0.0.1") as url, httpx.Client(base_url=url) as client:
        behind = [_post_login(client, "wrong password", **{"X-Forwarded-For": "10.0.0.1"}).status_code
                  for _ in range(4)]
        other_client = _post_login(client, "wrong password", **{"X-Forwarded-For": "10.0.0.2"})
    assert behind == [401, 401, 401, 429]  # the trusted proxy's clients are told apart
    assert other_client.status_code == 401


def test_parallel_wrong_passwords_never_exceed_the_limit(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=0, login_attempts=3)
    clients = [TestClient(app, follow_redirects=False) for _ in range(12)]
    tokens = [token(c, "/login") for c in clients]
    barrier, codes = threading.Barrier(len(clients)), []

    def guess(k):
        barrier.wait()
        codes.append(clients[k].post("/login", data={"username": "alice", "password": f"guess {k:04d}xx",
                                                     "csrf_token": tokens[k]}).status_code)

    threads = [threading.Thread(target=guess, args=(k,)) for k in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(codes) == [401] * 3 + [429] * 9  # only 3 passwords were ever checked


def test_a_flood_of_usernames_cannot_wipe_the_counters_and_memory_stays_bounded():
    throttle = _throttle(max_keys=1000)
    for _ in range(2):
        assert throttle.begin("203.0.113.5", "alice").allowed  # two failures, one left
    for k in range(20_000):  # one guess each for 20,000 names from 20,000 addresses
        throttle.begin(f"198.51.{k // 250}.{k % 250}", f"name{k}")
    assert throttle.tracked_keys() <= 3 * 1000
    assert throttle.begin("203.0.113.5", "alice").allowed
    refused = throttle.begin("203.0.113.5", "alice")
    assert not refused.allowed and 1 <= refused.retry_after <= 15 * 60


def test_an_attacker_cannot_lock_a_moderator_out_and_429_says_when_to_retry(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=0, login_throttle=_throttle())
    for k in range(4):  # wrong passwords for alice from four addresses, until each is refused
        attacker = TestClient(app, follow_redirects=False, client=(f"192.0.2.{k}", 4000))
        codes = [_post_login(attacker, "wrong password").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
    refused = _post_login(attacker, "wrong password")
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 15 * 60
    assert "Try again in about 15 minutes" in refused.text

    alice = TestClient(app, follow_redirects=False, client=("198.51.100.7", 5000))
    started = time.monotonic()
    response = _post_login(alice, PASSWORD)
    assert response.status_code == 303  # slowed, never locked
    assert time.monotonic() - started >= 0.05  # the per-account delay (capped) was applied
    assert alice.get("/queue").status_code == 200


def test_one_address_guessing_many_accounts_is_refused():
    throttle = _throttle(address_limit=5)
    results = [throttle.begin("192.0.2.9", f"user{k}").allowed for k in range(7)]
    assert results == [True] * 5 + [False] * 2
    assert throttle.begin("192.0.2.10", "user0").allowed


@pytest.mark.parametrize("options", [{"limit": 0}, {"window_s": 0}, {"max_keys": 1}])
def test_throttle_settings_are_validated(options):
    with pytest.raises(ValueError):
        LoginThrottle(**options)
