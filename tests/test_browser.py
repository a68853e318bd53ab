"""A real browser (Playwright driving Debian's chromium) works the queue end to end.

Sign in, sort, filter, open an item, claim it, click "No concern", and see the next item of
the view open; decide with the keyboard alone; fit a 390 px screen with hostile uploader
text. Full-page screenshots are kept in ``test-artifacts/browser/``. Without
chromium or Playwright the test skips, unless ``SLOPSCORE_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select, update

from slopscore.review.ingest import upsert_scores
from slopscore.review.schema import QueueItem
from tests.test_web_support import PASSWORD, make_app, skipped_frame

CHROMIUM = os.environ.get("SLOPSCORE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _unavailable(reason: str):
    if os.environ.get("SLOPSCORE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SLOPSCORE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _serve(app):
    """Run ``app`` on a free loopback port (uvicorn in a thread); yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def live_server(tmp_path):
    """The app over a filled SQLite queue."""
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=8)
    for base in _serve(app):
        yield base, engine


@pytest.fixture
def live_server_with_lanes(tmp_path):
    """The app over a queue of 8 scored items and 3 files that need a look (one a real,
    truncated PNG a browser still draws), plus an unscored missing file."""
    engine, app = make_app(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, n=8)
    media = tmp_path / "media"
    (media / "cut.png").write_bytes((media / "img1.png").read_bytes()[:-40])
    upsert_scores(engine, skipped_frame([media / "cut.png"], ["truncated", "corrupt", "not_an_image"]))
    upsert_scores(engine, skipped_frame([media / "gone.png"], ["missing"], start=50))
    for base in _serve(app):
        yield base, engine


@contextlib.contextmanager
def _signed_in_page(base: str):
    """A chromium page signed in as alice on ``base``'s queue, and the list of script errors
    and CSP violations it collects; skips when Playwright or chromium is missing."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"no chromium at {CHROMIUM}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        except PlaywrightError as exc:
            _unavailable(f"chromium did not start: {str(exc)[:300]}")
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{base}/queue")
            assert "/login" in page.url
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("button:has-text('Sign in')")
            page.wait_for_url(f"{base}/queue")
            yield page, problems
        finally:
            browser.close()


@pytest.mark.slow
def test_a_moderator_signs_in_sorts_filters_and_dismisses_an_item(live_server):
    base, engine = live_server
    with _signed_in_page(base) as (page, problems):
        rows = page.locator("tr.queue-row")
        assert rows.count() == 8
        assert "estimated 100% chance a reviewer confirms a concern" in rows.first.inner_text()

        page.click("nav.sorts >> text=Newest")  # sort
        page.wait_for_url("**sort=newest**")
        assert rows.first.get_attribute("data-item") == "u007"

        page.fill("input[name=artist]", "artist1")  # filter (the form keeps the sort)
        page.fill("input[name=min_score]", "0.5")
        page.click("button:has-text('Apply filters')")
        page.wait_for_url("**artist=artist1**")
        shown = [rows.nth(k).get_attribute("data-item") for k in range(rows.count())]
        assert shown == ["u004", "u001"]  # artist1's items scoring >= 0.5, newest first

        target = shown[0]
        page.click(f"tr[data-item={target}] a.item-link")  # opening the item claims nothing
        page.wait_for_url("**/items/**")
        assert page.locator("text=You hold this item").count() == 0
        page.click("button:has-text('Claim')")  # claiming is a button (a POST)
        page.wait_for_url("**/items/**")
        assert page.locator("text=You hold this item").count() == 1
        assert page.evaluate("document.querySelector('figure.upload img').naturalWidth") > 0
        page.screenshot(path=str(ARTIFACTS / "item.png"), full_page=True)
        page.click("button:has-text('No concern')")
        page.wait_for_url("**/items/**artist1**")  # the next item of this view opens
        assert page.locator("p.flash").first.inner_text().startswith("Recorded “No concern”")
        assert page.locator("h1 bdi").inner_text() == "Work 1"
        page.click("text=Back to the queue")
        page.wait_for_url("**/queue?**artist=artist1**")
        assert [rows.nth(k).get_attribute("data-item") for k in range(rows.count())] == ["u001"]

        page.goto(f"{base}/queue")
        assert page.locator(f"tr[data-item={target}]").count() == 0
        assert rows.count() == 7
        page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)
        assert not problems, problems  # no CSP violations, no script errors

    with engine.connect() as connection:
        status = connection.execute(select(QueueItem.status).where(QueueItem.item_id == target)).scalar_one()
    assert status == "dismissed"
    assert (ARTIFACTS / "queue.png").stat().st_size > 10_000


@pytest.mark.slow
def test_files_that_need_a_look_are_shown_first_in_their_own_lane(live_server_with_lanes):
    base, _ = live_server_with_lanes
    with _signed_in_page(base) as (page, problems):
        section = page.locator("section#needs-look")
        assert section.is_visible() and "Needs a look 3" in section.locator("h2").inner_text()
        lane_rows = section.locator("tr.queue-row")
        assert [lane_rows.nth(k).get_attribute("data-item") for k in range(3)] == ["s002", "s001", "s000"]
        first_ranked = page.locator("h2.ranked-h ~ table tr.queue-row").first
        assert first_ranked.get_attribute("data-item") == "u000"
        assert section.bounding_box()["y"] + section.bounding_box()["height"] <= first_ranked.bounding_box()["y"]
        last_ranked = page.locator("h2.ranked-h ~ table tr.queue-row").last
        assert last_ranked.get_attribute("data-item") == "s050"  # missing: no image, ranked last
        assert "truncated (the file ends early" in lane_rows.nth(2).inner_text()
        page.screenshot(path=str(ARTIFACTS / "needs_look.png"), full_page=True)

        page.select_option("select[name=lane]", "needs_look")  # the lane's filter
        page.click("button:has-text('Apply filters')")
        page.wait_for_url("**lane=needs_look**")
        rows = page.locator("tr.queue-row")
        assert [rows.nth(k).get_attribute("data-item") for k in range(rows.count())] == ["s002", "s001", "s000"]
        page.click("tr[data-item=s000] a.item-link")
        page.wait_for_url("**/items/**")
        assert page.locator("section.needs-look-note").is_visible()
        assert "truncated" in page.locator("section.needs-look-note").inner_text()
        assert not problems, problems


@pytest.mark.slow
def test_a_keyboard_only_decision_flow_opens_the_next_item(live_server):
    base, engine = live_server
    with _signed_in_page(base) as (page, problems):
        page.keyboard.press("j")  # the first row's link has the focus
        assert page.evaluate("document.activeElement.closest('tr').dataset.item") == "u000"
        page.keyboard.press("Enter")
        page.wait_for_url("**/items/**")
        first_url = page.url
        page.focus("form.actions textarea[name=note]")
        page.keyboard.type("d m e")  # typing in a text field never decides
        assert page.input_value("form.actions textarea[name=note]") == "d m e" and page.url == first_url
        page.keyboard.press("Tab")  # out of the field
        with page.expect_navigation():
            page.keyboard.press("d")  # No concern
        assert "This is the next one in your view" in page.locator("p.flash").first.inner_text()
        assert page.locator("h1 bdi").inner_text() == "Work 1"  # the next pending, in score order
        with page.expect_navigation():
            page.keyboard.press("j")
        assert page.locator("h1 bdi").inner_text() == "Work 2"
        with page.expect_navigation():
            page.keyboard.press("k")
        assert page.locator("h1 bdi").inner_text() == "Work 1"
        with page.expect_navigation():
            page.keyboard.press("f")  # the full-size view: a re-encoded JPEG
        assert "/full?back=" in page.url
        assert page.evaluate("document.querySelector('figure.full-view img').naturalWidth") > 0
        with page.expect_navigation():
            page.keyboard.press("f")  # and back to the item
        with page.expect_navigation():
            page.keyboard.press("m")  # notify, with the template's message as written
        assert page.locator("h1 bdi").inner_text() == "Work 2"
        page.screenshot(path=str(ARTIFACTS / "keyboard_next_item.png"), full_page=True)
        assert not problems, problems
    with engine.connect() as connection:
        status = dict(connection.execute(select(QueueItem.item_id, QueueItem.status)).all())
    assert status["u000"] == "dismissed" and status["u001"] == "notified" and status["u002"] == "pending"


@pytest.mark.slow
def test_pages_fit_a_390_px_screen_with_hostile_uploader_text(live_server):
    base, engine = live_server
    with engine.begin() as connection:
        connection.execute(update(QueueItem).where(QueueItem.item_id == "u000").values(
            title="\u202e" + "unbroken" * 40, artist_id="\u202e" + "a" * 150, tags=";".join(["t" * 90] * 5)))
    with _signed_in_page(base) as (page, problems):
        page.set_viewport_size({"width": 390, "height": 844})
        for name, url in (("queue", "/queue"), ("queue_filtered", "/queue?mine=1&reason=detector"),
                          ("item", "/items/1"), ("item_notified", "/items/2")):
            page.goto(base + url)
            page.screenshot(path=str(ARTIFACTS / f"phone_{name}.png"), full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (name, width)
        title = page.goto(base + "/items/1") and page.locator("h1 bdi")
        assert title.evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
        assert not problems, problems
