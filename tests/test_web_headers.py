"""Security headers on every response, the framework's own errors included (413 from the body
limit, 404, 405, 400, 500), and HEAD on every GET route."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from slopscore.review.schema import QueueItem
from tests.test_web_security import SECURITY_HEADERS
from tests.test_web_support import all_routes, make_app, signed_in, token


@pytest.fixture
def app_engine(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=2)
    return app, engine


def _assert_headers(response, name):
    for header, value in SECURITY_HEADERS.items():
        assert value in response.headers.get(header, ""), (name, response.status_code, header)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"], name
    assert response.headers.get("cache-control") == "no-store", (name, response.headers.get("cache-control"))


def test_framework_level_errors_carry_the_security_headers(app_engine):
    app, engine = app_engine

    @app.get("/boom-for-test")  # an unexpected bug in a route: the server error middleware answers
    def boom():
        raise RuntimeError("bug")

    anonymous = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    client = signed_in(app)
    client_500 = TestClient(app, raise_server_exceptions=False, cookies=client.cookies)
    form = {"content-type": "application/x-www-form-urlencoded"}
    big = b"csrf_token=" + token(client).encode() + b"&body=" + b"x" * 70_000
    responses = {
        "413 signed in": client.post("/templates", content=big, headers=form),
        "413 anonymous": anonymous.post("/login", content=b"username=" + b"a" * 70_000, headers=form),
        "404": anonymous.get("/nowhere"),
        "405": client.put("/queue"),
        "405 anonymous": anonymous.request("PATCH", "/login"),
        "400": client.get("/decisions?before=abc"),
        "403": anonymous.post("/login", data={"username": "x"}),
        "500": client_500.get("/boom-for-test"),
    }
    expected = {"413 signed in": 413, "413 anonymous": 413, "404": 404, "405": 405, "405 anonymous": 405,
                "400": 400, "403": 403, "500": 500}
    for name, response in responses.items():
        assert response.status_code == expected[name], (name, response.status_code)
        _assert_headers(response, name)
    assert "bug" not in responses["500"].text and "Traceback" not in responses["500"].text


def test_every_get_route_answers_head_with_the_same_status_and_headers(app_engine):
    app, engine = app_engine
    with engine.connect() as connection:
        item = connection.execute(select(QueueItem.id)).scalars().first()
    client = signed_in(app)
    anonymous = TestClient(app, follow_redirects=False)
    checked = 0
    for path, route in all_routes(app.routes):
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        url = re.sub(r"\{[^}]+\}", str(item), path) + ("?key=u000" if path == "/works/image" else "")
        for who in (client, anonymous):
            get, head = who.get(url, follow_redirects=False), who.head(url, follow_redirects=False)
            assert head.status_code == get.status_code != 405, (url, head.status_code, get.status_code)
            assert head.content == b"", url
            assert head.headers.get("content-type") == get.headers.get("content-type"), url
            assert head.headers["content-security-policy"] == get.headers["content-security-policy"], url
        checked += 1
    assert checked >= 8
    assert anonymous.head("/static/slopscore.css").status_code == 200
