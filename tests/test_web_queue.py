"""The queue page on real SQLite and PostgreSQL: keyset pages in every order (ties and NULLs
included), filters, validation, the score's plain meaning, index use; counts that follow the
filter and per reason, page positions, "claimed by me", chips only for signals that moved the score."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from slopscore.review.accounts import create_moderator
from slopscore.review.database import open_queue
from slopscore.review.decisions import claim_item
from slopscore.review.ingest import upsert_scores
from slopscore.review.schema import QueueItem, Status
from slopscore.review.validation import utcnow
from slopscore.web.app import create_app
from slopscore.web.queue_query import Cursor, Lane, QueueFilter, SortKey, count_needs_look, fetch_page
from tests.test_web_support import PASSWORD, SECRET, T0, scored_frame, signed_in, skipped_frame, token, write_images

N = 60
_ROW = re.compile(r'id="row-(\d+)"')
_NEXT = re.compile(r'<a class="next" rel="next" href="([^"]+)"')


def _frame(paths):
    frame = scored_frame(paths, N)
    frame["triage_score"] = [None if k % 7 == 3 else (k * 37 % 10) / 10 for k in range(N)]
    frame["p_ai"] = [None if k % 5 == 0 else (k * 13 % 4) / 4 for k in range(N)]
    frame["centroid_z"] = [None if k % 4 == 1 else float(k * 7 % 5) for k in range(N)]
    frame["uploaded_at"] = [None if k % 9 == 2 else T0 + timedelta(minutes=k % 6) for k in range(N)]
    frame["artist_id"] = [f"artist{k % 4}" for k in range(N)]
    reasons = []
    for k in range(N):
        texts = ["detector: 80% likely AI-generated"]
        if k % 6 == 0:
            texts.append("14 uploads in the last hour (14× this artist's usual rate)")
        if k % 10 == 5:
            texts.append("odd 100% _literal_ text")
        reasons.append(json.dumps(texts))
    frame["reasons"] = reasons
    return frame


@pytest.fixture
def filled(queue_url, tmp_path):
    """A queue of 60 items with ties and NULLs in every sort column; 8 already decided."""
    engine = open_queue(queue_url)
    upsert_scores(engine, _frame(write_images(tmp_path / "media")))
    with engine.begin() as connection:
        connection.execute(update(QueueItem).where(QueueItem.id % 8 == 0)
                           .values(status=Status.DISMISSED.value))
        rows = [dict(r._mapping) for r in connection.execute(select(
            QueueItem.id, QueueItem.status, QueueItem.triage_score, QueueItem.p_ai,
            QueueItem.portfolio_outlier, QueueItem.uploaded_at, QueueItem.artist_id, QueueItem.reasons))]
    create_moderator(engine, "alice", PASSWORD)
    return engine, rows


_COLUMN = {SortKey.SCORE: "triage_score", SortKey.NEWEST: "uploaded_at", SortKey.P_AI: "p_ai",
           SortKey.OUTLIER: "portfolio_outlier"}


def _expected(rows, sort, status="pending", keep=lambda r: True):
    """Highest first, ties by id descending, NULLs last."""
    column = _COLUMN[sort]

    def key(row):
        value = row[column]
        if value is None:
            return (1, 0, -row["id"])
        number = value.timestamp() if hasattr(value, "timestamp") else value
        return (0, -number, -row["id"])

    return [r["id"] for r in sorted((r for r in rows if r["status"] == status and keep(r)), key=key)]


def _walk(engine, flt):
    seen, cursor, pages = [], None, 0
    while True:
        page = fetch_page(engine, flt, Cursor.decode(cursor, flt.sort))
        seen += [r.id for r in page.rows]
        pages += 1
        assert pages <= N + 2, "pagination does not end"
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@pytest.mark.parametrize("page_size", [4, 7])
def test_keyset_pages_give_every_pending_item_once_in_order(filled, page_size):
    engine, rows = filled
    for sort in SortKey:
        expected = _expected(rows, sort)
        got = _walk(engine, QueueFilter(sort=sort, page_size=page_size))
        assert got == expected, sort
        assert len(got) == len(set(got)) == sum(r["status"] == "pending" for r in rows)


def test_the_page_walks_by_next_links_and_shows_the_scores_meaning(filled):
    engine, rows = filled
    client = signed_in(create_app(engine, secret_key=SECRET))
    for sort in SortKey:
        url, seen = f"/queue?sort={sort.value}&size=25", []
        while url:
            page = client.get(url)
            assert page.status_code == 200
            seen += [int(i) for i in _ROW.findall(page.text)]
            match = _NEXT.search(page.text)
            url = html.unescape(match.group(1)) if match else None
        assert seen == _expected(rows, sort), sort
    first = client.get("/queue").text
    best = max(r["triage_score"] for r in rows if r["status"] == "pending" and r["triage_score"] is not None)
    assert f"{best:.2f}</span>" in first
    assert f"estimated {round(best * 100)}% chance a reviewer confirms a concern" in first
    assert "not scored" in client.get("/queue?sort=score&size=100").text


def test_filters_by_status_score_range_reason_and_artist(filled):
    engine, rows = filled
    client = signed_in(create_app(engine, secret_key=SECRET))

    def ids(query, sort=SortKey.SCORE):
        page = client.get(f"/queue?size=100&{query}")
        assert page.status_code == 200, page.text
        return [int(i) for i in _ROW.findall(page.text)]

    assert ids("status=dismissed") == _expected(rows, SortKey.SCORE, "dismissed")
    assert ids("min_score=0.3&max_score=0.7") == _expected(
        rows, SortKey.SCORE, keep=lambda r: r["triage_score"] is not None and 0.3 <= r["triage_score"] <= 0.7)
    assert ids("artist=artist2&sort=newest") == _expected(
        rows, SortKey.NEWEST, keep=lambda r: r["artist_id"] == "artist2")
    assert ids("artist=artist") == []  # exact artist id, not a prefix
    burst = _expected(rows, SortKey.SCORE, keep=lambda r: "14\\u00d7" in r["reasons"])
    assert burst and ids("reason=%C3%97+THIS+ARTIST") == burst  # case-insensitive, non-ASCII
    literal = _expected(rows, SortKey.SCORE, keep=lambda r: "_literal_" in r["reasons"])
    assert literal and ids("reason=100%25+_literal_") == literal  # % and _ match themselves
    assert ids("reason=%25") == _expected(rows, SortKey.SCORE)  # every item says "80%"
    assert ids("reason=x_y") == []


@pytest.mark.parametrize("query", [
    "min_score=2", "max_score=-0.1", "min_score=nan", "min_score=abc", "min_score=0.8&max_score=0.2",
    "sort=random", "status=removed", "size=1000", "size=x", "after=garbage", "reason=" + "x" * 101,
    "artist=%07bell",
])
def test_invalid_filters_are_a_plain_400_page(tmp_path, query):
    engine = open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    create_moderator(engine, "alice", PASSWORD)
    client = signed_in(create_app(engine, secret_key=SECRET))
    page = client.get(f"/queue?{query}")
    assert page.status_code == 400 and "Invalid filter" in page.text


def test_a_cursor_for_another_sort_or_forged_is_refused(filled):
    engine, _ = filled
    cursor = fetch_page(engine, QueueFilter(page_size=4)).next_cursor
    assert Cursor.decode(cursor, SortKey.SCORE) is not None
    for sort in (SortKey.NEWEST, SortKey.P_AI):
        with pytest.raises(ValueError):
            Cursor.decode(cursor, sort)
    client = signed_in(create_app(engine, secret_key=SECRET))
    assert client.get(f"/queue?sort=newest&after={cursor}").status_code == 400


def test_sqlite_pages_are_index_range_scans_without_sorting(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    upsert_scores(engine, _frame(write_images(tmp_path / "media")))
    statements = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "queue_items" in statement:
            statements.append((statement, parameters))

    for sort in SortKey:
        first = fetch_page(engine, QueueFilter(sort=sort, page_size=5))
        fetch_page(engine, QueueFilter(sort=sort, page_size=5), Cursor.decode(first.next_cursor, sort))
        fetch_page(engine, QueueFilter(sort=sort, page_size=5),
                   Cursor(sort, False, None, 10 ** 6))  # the NULL phase
    event.remove(engine, "before_cursor_execute", _record)
    assert len(statements) >= 8
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        for statement, parameters in statements:
            plan = " | ".join(str(r[-1]) for r in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters))
            assert "USING INDEX ix_queue_status_" in plan, plan
            assert "TEMP B-TREE" not in plan, plan


def _lanes(queue_url, tmp_path, needs_look=3):
    """Ten scored items, ``needs_look`` files that need a look, and three unscored non-images."""
    engine = open_queue(queue_url)
    paths = write_images(tmp_path / "media")
    upsert_scores(engine, scored_frame(paths, 10))
    kinds = ["corrupt", "truncated", "not_an_image", "too_large"]
    upsert_scores(engine, skipped_frame(paths, [kinds[k % 4] for k in range(needs_look)]))
    upsert_scores(engine, skipped_frame(paths, ["missing", "malformed_row", "unreadable"], start=100))
    create_moderator(engine, "alice", PASSWORD)
    with engine.connect() as connection:
        rows = {r.item_id: r for r in connection.execute(select(
            QueueItem.id, QueueItem.item_id, QueueItem.review_lane, QueueItem.triage_score))}
    return engine, rows


def test_files_that_need_a_look_come_first_in_their_own_lane_never_last(queue_url, tmp_path):
    engine, rows = _lanes(queue_url, tmp_path)
    needs = sorted((r.id for r in rows.values() if r.review_lane == "needs_look"), reverse=True)
    assert {i for i, r in rows.items() if r.review_lane == "needs_look"} == {"s000", "s001", "s002"}
    client = signed_in(create_app(engine, secret_key=SECRET))

    page = client.get("/queue?size=100").text
    shown = [int(i) for i in _ROW.findall(page)]
    assert shown[:3] == needs  # the lane's section, most recently queued first, above the ranked list
    assert 'Needs a look <span class="count">3</span>' in page
    assert page.index('id="needs-look"') < page.index("Ranked by triage score")
    ranked = shown[3:]
    assert not set(ranked) & set(needs) and len(ranked) == 13
    assert ranked[-3:] == sorted((rows[i].id for i in ("s100", "s101", "s102")), reverse=True)  # no image: last
    assert "corrupt (the file is damaged; a browser may still display it)" in page

    only = client.get("/queue?lane=needs_look&size=100").text
    assert [int(i) for i in _ROW.findall(only)] == needs and "Showing only the" in only
    assert not set(int(i) for i in _ROW.findall(client.get("/queue?lane=ranked&size=100").text)) & set(needs)
    # A score range cannot apply to files without a score: the lane stays in view.
    by_id = {r.id: r for r in rows.values()}
    ranged = [int(i) for i in _ROW.findall(client.get("/queue?min_score=0.5&size=100").text)]
    assert ranged[:3] == needs and ranged[3:] and all(by_id[i].triage_score >= 0.5 for i in ranged[3:])
    # The artist filter applies to both lanes (the files needing a look are artist0's).
    other = client.get("/queue?artist=artist1&size=100").text
    assert 'id="needs-look"' not in other and not {int(i) for i in _ROW.findall(other)} & set(needs)
    own = client.get("/queue?artist=artist0&size=100").text
    assert [int(i) for i in _ROW.findall(own)][:3] == needs
    # Decided items leave the pending lane; an unknown lane is a plain 400.
    with engine.begin() as connection:
        connection.execute(update(QueueItem).where(QueueItem.id == needs[0])
                           .values(status=Status.DISMISSED.value))
    page = client.get("/queue?size=100").text
    assert 'Needs a look <span class="count">2</span>' in page
    assert [int(i) for i in _ROW.findall(page)][:2] == needs[1:]
    assert client.get("/queue?lane=hidden").status_code == 400


def test_a_long_needs_a_look_lane_shows_ten_and_links_to_all_of_them_page_by_page(queue_url, tmp_path):
    engine, rows = _lanes(queue_url, tmp_path, needs_look=13)
    needs = sorted((r.id for r in rows.values() if r.review_lane == "needs_look"), reverse=True)
    client = signed_in(create_app(engine, secret_key=SECRET))
    page = client.get("/queue?size=25").text
    assert [int(i) for i in _ROW.findall(page)][:10] == needs[:10]
    assert 'Needs a look <span class="count">13</span>' in page
    link = re.search(r'<a class="needs-look-all" href="([^"]+)">Show all 13', page)
    assert link and html.unescape(link.group(1)) == "/queue?size=25&lane=needs_look"
    later = client.get(f"/queue?size=25&after={Cursor(SortKey.SCORE, False, None, 10 ** 6).encode()}").text
    assert not set(int(i) for i in _ROW.findall(later)) & set(needs) and "Show all 13" in later
    assert _walk(engine, QueueFilter(lane=Lane.NEEDS_LOOK, page_size=4)) == needs
    assert _walk(engine, QueueFilter(lane=Lane.NEEDS_LOOK, sort=SortKey.NEWEST, page_size=5)) == needs
    assert count_needs_look(engine, QueueFilter()) == 13


def test_sqlite_needs_a_look_queries_walk_the_score_index_without_sorting(tmp_path):
    engine, _ = _lanes(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, needs_look=6)
    statements = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "queue_items" in statement:
            statements.append((statement, parameters))

    first = fetch_page(engine, QueueFilter(lane=Lane.NEEDS_LOOK, page_size=2))
    fetch_page(engine, QueueFilter(lane=Lane.NEEDS_LOOK, page_size=2), Cursor.decode(first.next_cursor, SortKey.SCORE))
    count_needs_look(engine, QueueFilter())
    event.remove(engine, "before_cursor_execute", _record)
    assert len(statements) == 3
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        for statement, parameters in statements:
            plan = " | ".join(str(r[-1]) for r in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters))
            assert "USING INDEX ix_queue_status_score" in plan or "USING COVERING INDEX ix_queue_status_score" \
                in plan, plan
            assert "TEMP B-TREE" not in plan, plan


def _count_text(page):
    return re.search(r'<span class="count" id="match-count">([^<]+)</span>', page).group(1)


def _reason_counts(page):
    return {k: int(n) for k, n in re.findall(r'class="chip[^"]*" href="[^"]+">([^<]+?) <span class="n">(\d+)', page)}


def _positions(client, url):
    spans = []
    while url:
        page = client.get(url).text
        spans.append(re.search(r'<span class="position" id="position">([^<]+)</span>', page).group(1))
        url = html.unescape(_NEXT.search(page).group(1)) if _NEXT.search(page) else None
    return spans


def test_header_counts_follow_the_filter_per_reason_counts_and_page_positions(filled, monkeypatch):
    engine, rows = filled
    client = signed_in(create_app(engine, secret_key=SECRET))
    pending = [r for r in rows if r["status"] == "pending"]
    assert _count_text(client.get("/queue").text) == f"{len(pending)} pending"
    artist2 = [r for r in pending if r["artist_id"] == "artist2"]
    assert _count_text(client.get("/queue?artist=artist2").text) == f"{len(artist2)} pending matching these filters"
    ranged = [r for r in pending if r["triage_score"] is not None and 0.3 <= r["triage_score"] <= 0.7]
    assert _count_text(client.get("/queue?min_score=0.3&max_score=0.7").text).startswith(f"{len(ranged)} pending")
    burst = [r for r in pending if "last hour" in r["reasons"]]
    assert _count_text(client.get("/queue?reason=last+hour").text).startswith(f"{len(burst)} pending")
    dismissed = sum(r["status"] == "dismissed" for r in rows)
    assert _count_text(client.get("/queue?status=dismissed").text) == f"{dismissed} dismissed"

    counts = _reason_counts(client.get("/queue").text)  # among the items in view, per kind of reason
    assert counts["detector"] == len(pending) and counts["upload burst"] == len(burst)
    assert "near-identical uploads" not in counts  # no item says so: not listed
    counts = _reason_counts(client.get("/queue?artist=artist2").text)
    assert counts["upload burst"] == sum("last hour" in r["reasons"] for r in artist2)
    assert 'href="/queue?reason=uploads+in+the+last+hour">upload burst <span' in client.get("/queue").text

    n = len(pending)
    assert _positions(client, "/queue?size=25") == [f"1–25 of {n}", f"26–50 of {n}", f"51–{n} of {n}"]
    url = "/queue?size=25&sort=p_ai&after=" + fetch_page(engine, QueueFilter(sort=SortKey.P_AI, page_size=25)).next_cursor
    assert f"26–50 of {n}" in client.get(url).text  # the NULL phase's position counts too
    monkeypatch.setattr("slopscore.web.queue_counts.POSITION_EXACT", 30)  # deeper: the links carry it
    assert _positions(client, "/queue?size=25&sort=p_ai") == [f"1–25 of {n}", f"26–50 of {n}", f"51–{n} of {n}"]
    second = fetch_page(engine, QueueFilter(page_size=25)).next_cursor
    deep = fetch_page(engine, QueueFilter(page_size=25), Cursor.decode(second, SortKey.SCORE)).next_cursor
    assert f"{n - 50} items past the first 30 of {n}" in client.get(f"/queue?size=25&after={deep}").text  # no at
    decided = _ROW.findall(client.get("/queue").text)[0]  # a decision through the app updates the counts
    client.post(f"/items/{decided}/decide", data={"csrf_token": token(client), "action": "no_concern"})
    assert _count_text(client.get("/queue").text) == f"{n - 1} pending"
    assert _reason_counts(client.get("/queue").text)["detector"] == n - 1


def test_claimed_by_me_shows_only_my_unexpired_claims(filled):
    engine, rows = filled
    create_moderator(engine, "bob", PASSWORD)
    pending = sorted(r["id"] for r in rows if r["status"] == "pending")
    (*mine, expired), bobs = pending[:3], pending[3:4]
    for item, name in [(mine[0], "alice"), (mine[1], "alice"), (bobs[0], "bob"), (expired, "alice")]:
        claim_item(engine, item, name)
    with engine.begin() as connection:
        connection.execute(update(QueueItem).where(QueueItem.id == expired)
                           .values(claimed_until=utcnow() - timedelta(minutes=1)))
    app = create_app(engine, secret_key=SECRET)
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    page = alice.get("/queue?mine=1").text
    assert sorted(int(i) for i in _ROW.findall(page)) == mine
    assert _count_text(page) == "2 pending matching these filters" and 'name="mine" value="1" checked' in page
    assert [int(i) for i in _ROW.findall(bob.get("/queue?mine=1&sort=newest").text)] == bobs
    assert 'href="/queue?mine=1"' in alice.get("/queue").text  # in the header's navigation
    assert alice.get("/queue?mine=yes").status_code == 400
    assert alice.get("/queue?mine=1&viewer=bob").text.count('id="row-') == 2  # the viewer is never a parameter


def test_reason_chips_only_for_signals_that_moved_the_score(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    frame = scored_frame(write_images(tmp_path / "media"), 3)
    frame["reasons"] = json.dumps(["detector: 80% likely AI-generated",
                                   "14 uploads in the last hour (14× this artist's usual rate)",
                                   "new artist: 2 earlier works, too few to compare", "declared AI-assisted, with process notes"])
    frame["breakdown"] = [json.dumps({"intercept": -3.0, "ai_evidence": 1.4, "upload_burst": 0.1,
                                      "declared_with_notes": -0.8}),
                          json.dumps({"intercept": -3.0, "ai_evidence": 0.2, "upload_burst": 2.0, "file_says_ai": 1.5}),
                          "not json"]
    upsert_scores(engine, frame)
    create_moderator(engine, "alice", PASSWORD)
    client = signed_in(create_app(engine, secret_key=SECRET))
    page = client.get("/queue").text
    ids = [int(i) for i in _ROW.findall(page)]

    def chips(item):
        row = page.split(f'id="row-{item}"')[1].split("</tr>")[0]
        return re.findall(r'<li class="chip([^"]*)"[^>]*><bdi>([^<]+)</bdi>', row), row

    found, row = chips(ids[0])
    assert [(c.strip(), t[:9]) for c, t in found] == [("chip-up", "detector:"), ("chip-down", "declared ")]
    assert "new artist: 2 earlier works" in row and "14 uploads in the last hour" in row  # as context, not chips
    found, row = chips(ids[1])
    assert [t[:9] for _, t in found] == ["14 upload", "file says"]  # provenance counted: file_says_ai moved it
    assert "chip-provenance" in row
    found, row = chips(ids[2])
    assert found == [] and "detector: 80% likely AI-generated" in row  # no breakdown: nothing is a chip
    item = client.get(f"/items/{ids[0]}").text.split('id="score-h"')[1].split("</section>")[0]
    assert re.findall(r'<li class="chip[^"]*"[^>]*><bdi>([^<]{9})', item) == ["detector:", "declared "]


def test_positions_leave_the_needs_a_look_lane_out_in_every_order(queue_url, tmp_path):
    engine, _ = _lanes(queue_url, tmp_path, needs_look=3)  # the lane's files have upload times
    upsert_scores(engine, scored_frame(write_images(tmp_path / "media"), 40))
    client = signed_in(create_app(engine, secret_key=SECRET))
    for sort, lane in [(s, lane) for s in SortKey for lane in ("", "ranked")]:
        first = client.get(f"/queue?size=25&sort={sort.value}&lane={lane}").text  # 40 scored + 3 unscored
        second = client.get(html.unescape(_NEXT.search(first).group(1))).text
        assert '<span class="position" id="position">26–43 of 43</span>' in second, (sort, lane)
