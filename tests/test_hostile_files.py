"""Hostile files through `slopscore score --queue` (real SQLite, and PostgreSQL when set) and
`slopscore embed`: each gets its typed outcome, every input row one output row, and the queue
the right lane; nothing hangs, and a skipped row never replaces a scored one."""

from __future__ import annotations

import re

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from slopscore.cli.main import app
from slopscore.review.accounts import create_moderator
from slopscore.review.database import open_queue
from slopscore.review.schema import QueueItem
from slopscore.web.app import create_app
from tests.bad_inputs import tiny_scorer
from tests.hostile_files import build_corpus, growing_file, manifest, oversized_text_png
from tests.test_web_support import PASSWORD, SECRET, signed_in

runner = CliRunner()
_ROW = re.compile(r'id="row-(\d+)"')


@pytest.fixture(scope="module")
def scorer_folder(tmp_path_factory):
    """A small scorer fitted on 32-d vectors (the tiny test backbone's size), saved once."""
    return tiny_scorer(tmp_path_factory.mktemp("scorer") / "s")


def _score(model, source, out, tmp_path, queue_url):
    return runner.invoke(app, ["score", "--model", str(model), "--input", str(source), "--out", str(out),
                               "--cache-dir", str(tmp_path / "cache"), "--queue", queue_url],
                         env={"SLOPSCORE_ALLOW_TEST_BACKBONE": "1"})


def _queue(engine) -> dict[str, object]:
    with engine.connect() as connection:
        rows = connection.execute(select(
            QueueItem.id, QueueItem.item_id, QueueItem.skip_reason, QueueItem.review_lane,
            QueueItem.triage_score, QueueItem.p_ai, QueueItem.artist_id, QueueItem.scored_at)).all()
    return {row.item_id: row for row in rows}


def _outcome(row) -> str:
    return "scored" if row["status"] == "embedded" else row["skip_reason"]


@pytest.mark.timeout(120)
def test_every_hostile_file_gets_its_typed_outcome_row_and_lane(queue_url, tmp_path, scorer_folder):
    paths = build_corpus(tmp_path / "files")
    source, expected = manifest(tmp_path, paths)
    out = tmp_path / "scores.csv"
    with growing_file(paths["growing.png"]):
        result = _score(scorer_folder, source, out, tmp_path, queue_url)
    assert result.exit_code == 0, result.output

    rows = pd.read_csv(out, keep_default_na=False, na_values=[""])
    n_rows = len(expected) + 2  # every file row, the duplicate and the malformed row
    n_scored = sum(case.outcome == "scored" for case in expected.values())
    assert len(rows) == n_rows
    assert int((rows["status"] == "embedded").sum()) == n_scored
    assert f"input {n_rows} = scored {n_scored} + skipped {n_rows - n_scored}" in result.output
    first = rows.drop_duplicates("item_id").set_index("item_id")
    for item_id, case in expected.items():
        row = first.loc[item_id]
        assert _outcome(row) == case.outcome, (case.name, row["skip_reason"], row["skip_detail"])
        if case.detail:
            assert case.detail in str(row["skip_detail"]), (case.name, row["skip_detail"])
    extra = rows.iloc[[i for i in range(len(rows)) if i not in set(rows.drop_duplicates("item_id").index)]]
    assert list(extra["skip_reason"]) == ["duplicate_item_id"]
    assert first.loc["h-malformed", "skip_reason"] == "malformed_row"

    engine = open_queue(queue_url)
    queued = _queue(engine)
    assert set(queued) == set(expected) | {"h-malformed"}
    for item_id, case in expected.items():
        row = queued[item_id]
        assert row.review_lane == case.lane, (case.name, row.review_lane)
        assert row.skip_reason == (None if case.outcome == "scored" else case.outcome), case.name
        assert (row.triage_score is not None) == (case.outcome == "scored"), case.name
    assert queued["h-malformed"].review_lane == "ranked"  # a manifest line is no image to look at
    assert queued["h-photo-jpg"].skip_reason is None  # the duplicate row did not replace it

    # The queue page lists the "needs a look" lane first, with its count; previews never block.
    create_moderator(engine, "alice", PASSWORD)
    client = signed_in(create_app(engine, secret_key=SECRET))
    page = client.get("/queue?size=100").text
    needs_look = {queued[i].id for i, case in expected.items() if case.lane == "needs_look"}
    shown = [int(i) for i in _ROW.findall(page)]
    assert set(shown[:len(needs_look)]) == needs_look and len(shown) == len(queued)
    assert re.search(r'Needs a look <span class="count">' + str(len(needs_look)) + "</span>", page)
    for name in ("h-fifo-png", "h-zero_device-png", "h-proc_status-png", "h-folder-png"):
        preview = client.get(f"/items/{queued[name].id}/image/thumb")
        assert preview.status_code == 200 and preview.headers["x-slopscore-image"] == "unavailable"
    item = client.get(f"/items/{queued['h-truncated-png'].id}").text
    assert "Needs a look" in item and "truncated (the file ends early" in item


@pytest.mark.timeout(120)
def test_embed_gives_every_hostile_file_its_typed_reason_without_hanging(tmp_path):
    paths = build_corpus(tmp_path / "files")
    source, expected = manifest(tmp_path, paths)
    out = tmp_path / "emb.parquet"
    with growing_file(paths["growing.png"]):
        result = runner.invoke(app, ["embed", str(source), "--out", str(out), "--backbone", "test:tiny-clip",
                                     "--cache-dir", str(tmp_path / "c"), "--workers", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pandas()
    assert len(rows) == len(expected) + 2
    first = rows.drop_duplicates("item_id").set_index("item_id")
    for item_id, case in expected.items():
        assert _outcome(first.loc[item_id]) == case.outcome, (case.name, first.loc[item_id, "detail"])
        if case.detail:
            assert case.detail in first.loc[item_id, "detail"], case.name


@pytest.mark.timeout(120)
def test_a_skipped_row_never_replaces_a_scored_one_in_the_queue(queue_url, tmp_path, scorer_folder):
    files = tmp_path / "files"
    files.mkdir()
    for k in range(3):
        (files / f"w{k}.png").write_bytes(oversized_text_png(seed=10 + k))
    header = "item_id,artist_id,path,uploaded_at"
    first_run = tmp_path / "first.csv"
    first_run.write_text("\n".join([header] + [f"w{k},artist-a,{files / f'w{k}.png'},2026-07-04T10:0{k}:00+00:00"
                                               for k in range(3)]) + "\n")
    result = _score(scorer_folder, first_run, tmp_path / "s1.csv", tmp_path, queue_url)
    assert result.exit_code == 0, result.output
    assert "review queue: 3 rows inserted or updated" in result.output
    engine = open_queue(queue_url)
    before = _queue(engine)
    assert all(row.triage_score is not None and row.artist_id == "artist-a" for row in before.values())

    # Since then w0's file broke, and the new manifest repeats w0 and has a broken line for w1.
    (files / "w0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    second_run = tmp_path / "second.csv"
    second_run.write_text("\n".join([
        header,
        f"w0,artist-a,{files / 'w0.png'},2026-07-04T10:00:00+00:00",
        f"w0,artist-a,{files / 'w2.png'},2026-07-04T10:00:00+00:00",  # duplicate item id
        f"w1,artist-a,{files / 'w1.png'},not a date",  # malformed line
        f"w3,artist-b,{files / 'missing.png'},2026-07-04T11:00:00+00:00",  # a new item, skipped
    ]) + "\n")
    result = _score(scorer_folder, second_run, tmp_path / "s2.csv", tmp_path, queue_url)
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "s2.csv")
    assert len(rows) == 4
    assert sorted(rows["skip_reason"]) == ["duplicate_item_id", "malformed_row", "missing", "truncated"]
    assert "review queue: 1 rows inserted or updated" in result.output  # only w3 was written
    after = _queue(engine)
    for item_id in ("w0", "w1", "w2"):
        old, new = before[item_id], after[item_id]
        assert (new.triage_score, new.p_ai, new.artist_id, new.skip_reason, new.review_lane, new.scored_at) \
            == (old.triage_score, old.p_ai, old.artist_id, None, "ranked", old.scored_at), item_id
    assert after["w3"].skip_reason == "missing" and after["w3"].review_lane == "ranked"


def test_png_text_limits_are_pillows_own(tmp_path):
    """The loader decodes past oversized metadata without raising Pillow's limits."""
    from PIL import PngImagePlugin

    from slopscore.media.decode import load_image

    limit = PngImagePlugin.MAX_TEXT_CHUNK
    path = tmp_path / "big_text.png"
    path.write_bytes(oversized_text_png())
    assert load_image(path).image.size == (96, 72)
    assert PngImagePlugin.MAX_TEXT_CHUNK == limit == 1024 * 1024
