"""The web app's safety: no remove/hide/delete anywhere, sign-in on every page, CSRF on every
POST, escaping of user-supplied text, images by id only, security headers, passwords."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select, update
from starlette.routing import Mount

from slopscore.review.accounts import set_active, set_role
from slopscore.review.decisions import claim_item, decide
from slopscore.review.messages import list_templates, save_template
from slopscore.review.schema import Action, Decision, QueueItem
from slopscore.web import images as web_images
from slopscore.web.app import create_app
from tests.test_web_support import (
    PASSWORD,
    SECRET,
    add_artworks,
    all_routes,
    login,
    make_app,
    signed_in,
    token,
)

FORBIDDEN = re.compile(r"\b(remov\w*|hide|hidden|hiding|delet\w*|take\s*down|takedown|ban|bann\w*|demot\w*)\b",
                       re.IGNORECASE)
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def app_engine(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=6, login_attempts=3)
    return app, engine


def _item_ids(engine):
    with engine.connect() as connection:
        return connection.execute(select(QueueItem.id).order_by(QueueItem.id)).scalars().all()


def _path(path: str, item_id: int) -> str:
    return re.sub(r"\{[^}]+\}", str(item_id), path)


class _Controls(HTMLParser):
    """Every form, button, input, option and link, with the words a person or a robot sees.

    Text typed into a textarea (a message or template body) is content, not a control.
    """

    def __init__(self):
        super().__init__()
        self.words: list[str] = []
        self._in_control = 0
        self._in_textarea = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.words += [attrs.get("action") or "", attrs.get("method") or "", attrs.get("class") or ""]
        if tag in {"button", "input", "select", "option", "textarea", "a"}:
            self.words += [attrs.get(k) or "" for k in ("name", "value", "href", "class", "id",
                                                       "formaction", "accesskey", "title", "aria-label")]
        if tag in {"button", "a", "option", "label"}:
            self._in_control += 1
        self._in_textarea = self._in_textarea or tag == "textarea"

    def handle_endtag(self, tag):
        if tag in {"button", "a", "option", "label"} and self._in_control:
            self._in_control -= 1
        if tag == "textarea":
            self._in_textarea = False

    def handle_data(self, data):
        if self._in_control and not self._in_textarea:
            self.words.append(data)


def _controls(page: str) -> list[str]:
    parser = _Controls()
    parser.feed(page)
    return [w for w in parser.words if w]


def test_there_is_no_remove_hide_or_delete_route_or_control(app_engine):
    app, engine = app_engine
    routes = list(all_routes(app.routes))
    assert len(routes) >= 12
    for path, route in routes:
        names = [path, route.name or ""]
        if isinstance(route, APIRoute):
            assert route.methods <= {"GET", "HEAD", "POST"}, path
            names.append(route.endpoint.__name__)
        else:
            assert isinstance(route, Mount) and path == "/static", route
        assert not [n for n in names if FORBIDDEN.search(n)], names

    anonymous = TestClient(app)
    pages = [anonymous.get("/login").text]
    client = signed_in(app)
    pending, notified, decided, *_ = _item_ids(engine)
    claim_item(engine, notified, "alice")
    decide(engine, notified, Action.NOTIFY, "alice", message="Please tell us how you made it.")
    claim_item(engine, decided, "alice")
    decide(engine, decided, Action.NO_CONCERN, "alice")
    for path in ("/queue", "/queue?status=notified", "/queue?status=dismissed", f"/items/{pending}",
                 f"/items/{notified}", f"/items/{decided}", "/templates", "/decisions", "/nowhere",
                 "/queue?min_score=9"):
        pages.append(client.get(path).text)
    controls = [w for page in pages for w in _controls(page)]
    assert any("No concern" in w for w in controls) and any("Resolved: replaced" in w for w in controls)
    assert not [w for w in controls if FORBIDDEN.search(w)]
    for page in pages:
        assert not re.search(r'method="(delete|put|patch)"', page, re.I)
    assert client.request("DELETE", f"/items/{pending}").status_code == 405


def test_every_page_except_login_and_static_files_requires_sign_in(app_engine):
    app, engine = app_engine
    item = _item_ids(engine)[0]
    anonymous = TestClient(app, follow_redirects=False)
    checked = 0
    for path, route in all_routes(app.routes):
        if not isinstance(route, APIRoute) or path == "/login":
            continue
        if path.startswith("/api/"):  # the platform's API: an API key, never a sign-in
            url = path.replace("{message_id}", "x")
            response = anonymous.get(url) if "GET" in route.methods else \
                anonymous.post(url, json={"message_id": "x", "kind": "clarification", "text": "t"})
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer", path
            continue
        url = _path(path, item) + ("?key=u000" if path == "/works/image" else "")
        if "GET" in route.methods:
            response = anonymous.get(url)
        else:
            response = anonymous.post(url, data={"csrf_token": token(anonymous, "/login"),
                                                 "action": "no_concern", "name": "n", "body": "b"})
        assert response.status_code == 303, (url, response.status_code)
        assert response.headers["location"].startswith("/login"), url
        checked += 1
    assert checked >= 10
    assert anonymous.get("/login").status_code == 200
    assert anonymous.get("/static/slopscore.css").status_code == 200
    assert anonymous.get("/queue").headers["location"] == "/login?next=/queue"
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Decision)).scalar_one() == 0


def test_every_post_needs_this_sessions_csrf_token_and_changes_nothing_without_it(app_engine):
    app, engine = app_engine
    item = _item_ids(engine)[0]
    client = signed_in(app)
    client.post(f"/items/{item}/claim", data={"csrf_token": token(client)})  # only the token is missing below
    other = signed_in(app, "bob")
    foreign = token(other)
    posts = [p for p, r in all_routes(app.routes) if isinstance(r, APIRoute) and "POST" in r.methods]
    assert set(posts) >= {"/login", "/logout", "/items/{queue_item_id:int}/decide",
                          "/items/{queue_item_id:int}/release", "/items/{queue_item_id:int}/claim",
                          "/templates", "/templates/{template_id:int}"}
    for path in posts:
        if path.startswith("/api/"):  # an API key, never the session: a signed-in browser gets 401
            assert client.post(path, json={"message_id": "x", "kind": "clarification", "text": "t"}).status_code == 401
            continue
        url = _path(path, item if "item" in path else 1)
        fields = {"action": "no_concern", "name": "New", "body": "text", "username": "alice",
                  "password": PASSWORD}
        for bad in ({}, {"csrf_token": "wrong"}, {"csrf_token": foreign}, {"csrf_token": ""}):
            response = client.post(url, data={**fields, **bad}, follow_redirects=False)
            assert response.status_code == 403, (url, bad, response.status_code)
        as_json = client.post(url, json={**fields, "csrf_token": token(client)}, follow_redirects=False)
        assert as_json.status_code == 403, url
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Decision)).scalar_one() == 0
        assert connection.execute(select(QueueItem.status).where(QueueItem.id == item)).scalar() == "pending"
    assert "New" not in {t.name for t in list_templates(engine)}
    assert client.get("/queue", follow_redirects=False).status_code == 200  # still signed in


def test_user_supplied_text_is_escaped_on_every_page(tmp_path):
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=3)
    evil = '<script>alert("x")</script>'
    first, second, _ = _item_ids(engine)
    with engine.begin() as connection:
        connection.execute(update(QueueItem).values(
            title=evil, tags=f"{evil};<img src=x onerror=alert(1)>", artist_id=evil,
            reasons=json.dumps([evil]), provenance_reasons=json.dumps([evil]),
            breakdown=json.dumps({evil: 1.0, "intercept": -2}), skip_reason=evil,
            nearest_works=json.dumps([{"item_id": evil, "similarity": 0.9}]),
            provenance_findings=json.dumps([evil, f"{evil}: x {evil}", {"kind": evil, "detail": f"y {evil}",
                                                                         "source": evil}]),
            warnings=json.dumps([evil, {"field": evil, "message": evil}])))
        connection.execute(update(QueueItem).where(QueueItem.id == first).values(
            triage_score=None, p_ai=None, review_lane="needs_look"))  # shown in the "needs a look" lane
    add_artworks(engine, [{"item_id": evil, "artist_id": evil, "title": evil, "source": None}])
    templates = save_template(engine, evil, f"{evil} {{title}} {{concern}}", "alice")
    claim_item(engine, second, "alice")
    decide(engine, second, Action.NOTIFY, "alice", message=f"{evil} message", note=f"{evil} note")
    client = signed_in(app)
    pages = {
        "queue": client.get("/queue"),
        "queue-notified": client.get("/queue?status=notified"),
        "filters": client.get("/queue", params={"reason": evil, "artist": evil}),
        "item": client.get(f"/items/{first}", params={"template": templates.id}),
        "item-decided": client.get(f"/items/{second}"),
        "decisions": client.get("/decisions"),
        "templates": client.get("/templates"),
        "bad-filter": client.get("/queue", params={"reason": evil * 10}),
        "login-next": TestClient(app).get("/login", params={"next": f"/queue?{evil}"}),
    }
    for name, page in pages.items():
        assert page.status_code in (200, 400), name
        ours = '<script src="/static/shortcuts.js" defer></script>'  # the one script: a static file
        assert "<script" not in page.text.replace(ours, "").lower() and "<img src=x" not in page.text, name
    for name in ("queue", "item", "item-decided", "decisions", "templates", "queue-notified"):
        assert "&lt;script&gt;" in pages[name].text, name
    assert 'value="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"' in pages["filters"].text
    assert 'id="needs-look"' in pages["queue"].text and 'class="needs-look-note"' in pages["item"].text
    problems = pages["item"].text.split("Problems in the file's metadata")[1].split("</section>")[0]
    assert problems.count("&lt;script&gt;") == 6  # every finding, detail and source, escaped
    assert "Warnings about the upload" in pages["item"].text


@pytest.mark.parametrize("url", [
    "/items/..%2F..%2Fetc%2Fpasswd/image/thumb",
    "/items/1/image/..%2F..%2Fetc%2Fpasswd",
    "/items/%2e%2e/image/thumb",
    "/items/-1/image/thumb",
    "/items/999999/image/thumb",
    "/works/image?key=../../etc/passwd",
    "/works/image?key=%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/works/image?key=/etc/passwd",
    "/works/image?key=file:///etc/passwd",
    "/works/image?key=u000&size=..%2F..%2Fetc%2Fpasswd",
    "/static/../app.py",  # web/app.py sits beside web/static/
    "/static/%2e%2e/app.py",
    "/static/..%2Fapp.py",
    "/static/..%2F..%2Freview%2Fdecisions.py",
    "/etc/passwd",
])
def test_images_are_served_by_id_only_and_traversal_reads_no_file(app_engine, monkeypatch, url):
    app, engine = app_engine
    reads = []
    real = web_images.load_image
    monkeypatch.setattr(web_images, "load_image", lambda *a, **k: reads.append(a) or real(*a, **k))
    response = signed_in(app).get(url)
    assert response.status_code in (400, 404), (url, response.status_code)
    assert reads == [] and "root:" not in response.text and "def " not in response.text


def test_previews_are_fresh_jpegs_without_the_uploads_metadata(app_engine, tmp_path, monkeypatch):
    app, engine = app_engine
    source = tmp_path / "with-metadata.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat, Steps: 20, Sampler: Euler, Seed: 1234")
    Image.new("RGB", (640, 480), (200, 30, 30)).save(source, pnginfo=info)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    ids = _item_ids(engine)
    sources = {ids[0]: str(source), ids[1]: str(broken), ids[2]: str(tmp_path / "missing.png"),
               ids[3]: str(tmp_path), ids[4]: "https://example.invalid/x.png", ids[5]: None}
    with engine.begin() as connection:
        for item, path in sources.items():
            connection.execute(update(QueueItem).where(QueueItem.id == item).values(source=path))
    add_artworks(engine, [{"item_id": "w1", "artist_id": "artist0", "source": str(source), "title": "w"}])
    reads = []
    real = web_images.load_image
    monkeypatch.setattr(web_images, "load_image", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    client = signed_in(app)
    for size, longest in (("thumb", 200), ("medium", 640)):
        response = client.get(f"/items/{ids[0]}/image/{size}")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert response.headers["x-slopscore-image"] == "original"
        assert response.content[:3] == b"\xff\xd8\xff" and b"Sampler" not in response.content
        preview = Image.open(io.BytesIO(response.content))
        assert preview.format == "JPEG" and max(preview.size) == longest and not preview.info.get("parameters")
    work = client.get("/works/image", params={"key": "w1"})
    assert work.status_code == 200 and work.headers["x-slopscore-image"] == "original"
    for item in ids[1:]:
        response = client.get(f"/items/{item}/image/thumb")
        assert response.status_code == 200 and response.headers["x-slopscore-image"] == "unavailable"
        assert str(tmp_path).encode() not in response.content
    assert set(reads) <= {str(source), str(broken)}  # only paths from the database were read
    assert client.get("/works/image", params={"key": "nope"}).status_code == 404


def test_responses_carry_security_headers_and_pages_are_not_cached(app_engine):
    app, engine = app_engine
    item = _item_ids(engine)[0]
    anonymous = TestClient(app, follow_redirects=False)
    client = signed_in(app)
    responses = {
        "login": anonymous.get("/login"), "redirect": anonymous.get("/queue"),
        "queue": client.get("/queue"), "item": client.get(f"/items/{item}"),
        "404": client.get("/nowhere"), "403": client.post("/logout"),
        "image": client.get(f"/items/{item}/image/thumb"), "static": anonymous.get("/static/slopscore.css"),
    }
    for name, response in responses.items():
        for header, value in SECURITY_HEADERS.items():
            assert value in response.headers.get(header, ""), (name, header)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe" not in policy  # only our own file, no inline
    for name in ("login", "redirect", "queue", "item", "404", "403"):
        assert responses[name].headers["cache-control"] == "no-store", name
    assert responses["image"].headers["cache-control"].startswith("private")


def test_sign_in_with_wrong_passwords_fails_and_is_throttled(app_engine):
    app, engine = app_engine
    client = TestClient(app, follow_redirects=False)
    wrong = client.post("/login", data={"username": "alice", "password": "not the password",
                                        "csrf_token": token(client, "/login")})
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    assert client.get("/queue").status_code == 303
    for _ in range(2):
        client.post("/login", data={"username": "alice", "password": "nope nope nope",
                                    "csrf_token": token(client, "/login")})
    blocked = client.post("/login", data={"username": "alice", "password": PASSWORD,
                                          "csrf_token": token(client, "/login")})
    assert blocked.status_code == 429
    assert client.get("/queue").status_code == 303


def test_sessions_use_hardened_cookies_and_end_at_logout_or_when_disabled(app_engine):
    app, engine = app_engine
    client = TestClient(app, follow_redirects=False)
    response = client.post("/login", data={"username": "alice", "password": PASSWORD, "next": "//evil.example/x",
                                           "csrf_token": token(client, "/login")})
    assert response.headers["location"] == "/queue"  # no open redirect
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert PASSWORD not in response.headers["set-cookie"]
    assert client.get("/queue").status_code == 200
    assert client.post("/logout", data={"csrf_token": token(client)}).status_code == 303
    assert client.get("/queue").status_code == 303

    login(client)
    set_role(engine, "bob", "admin")  # the last active admin cannot be disabled
    set_active(engine, "alice", False)
    assert client.get("/queue").status_code == 303

    secure = create_app(engine, secret_key=SECRET, secure_cookies=True)
    client = TestClient(secure, base_url="https://testserver", follow_redirects=False)
    response = client.post("/login", data={"username": "bob", "password": PASSWORD,
                                           "csrf_token": token(client, "/login")})
    assert "secure" in response.headers["set-cookie"].lower()
