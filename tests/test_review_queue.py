"""The review queue database (real SQLite and PostgreSQL): migrations, upserts by item and
model version, nothing deleted."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from slopscore.review.database import current_revision, head_revision
from slopscore.review.ingest import (
    QueueItem,
    QueueUnavailableError,
    open_queue,
    pending_items,
    register_model_version,
    upsert_scores,
)
from slopscore.review.schema import Base, ModelVersion


def _scored(scores, model="m/1"):
    return pd.DataFrame({
        "item_id": [f"i{n}" for n in range(len(scores))], "artist_id": "a",
        "uploaded_at": pd.Timestamp("2026-07-04T10:00:00Z"), "status": "embedded",
        "skip_reason": None, "triage_score": scores, "p_ai": scores,
        "reasons": [json.dumps([f"reason {n}"]) for n in range(len(scores))],
        "provenance_reasons": "[]", "model_version": model, "backbone_id": "b",
        "title": "<script>alert(1)</script>", "tags": "ink",
    })


def test_migrations_build_exactly_the_models_schema(queue_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = open_queue(queue_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    open_queue(queue_url)  # upgrading an up-to-date database is a no-op
    assert current_revision(engine) == head_revision()


def test_rescoring_updates_scores_but_never_a_moderators_decision(queue_url):
    engine = open_queue(queue_url)
    assert upsert_scores(engine, _scored([0.2, 0.9, float("nan")])) == 3
    with Session(engine) as session:
        session.execute(update(QueueItem).where(QueueItem.item_id == "i1").values(status="dismissed"))
        session.commit()
    upsert_scores(engine, _scored([0.7, 0.95, 0.1]))
    with Session(engine) as session:
        rows = {r.item_id: r for r in session.scalars(select(QueueItem))}
    assert len(rows) == 3
    assert rows["i1"].status == "dismissed" and rows["i1"].triage_score == 0.95
    assert rows["i0"].triage_score == 0.7 and rows["i0"].status == "pending"
    assert rows["i0"].title == "<script>alert(1)</script>"  # stored as given; pages escape it


def test_another_model_version_adds_rows_and_nothing_is_deleted(queue_url):
    engine = open_queue(queue_url)
    upsert_scores(engine, _scored([0.2, 0.9]))
    upsert_scores(engine, _scored([0.5], model="m/2"))
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(QueueItem)) == 3
    assert [(r.item_id, r.model_version) for r in pending_items(engine)] == [
        ("i1", "m/1"), ("i0", "m/2"), ("i0", "m/1")]


def test_a_model_versions_reference_distribution_is_kept_from_its_first_registration(queue_url):
    engine = open_queue(queue_url)
    register_model_version(engine, "m/1", "b", {"edges": [0, 0.5, 1], "counts": [3, 1]})
    register_model_version(engine, "m/1", "b", {"edges": [0, 1], "counts": [9]})
    with Session(engine) as session:
        stored = session.get(ModelVersion, "m/1")
    assert json.loads(stored.reference_histogram) == {"edges": [0, 0.5, 1], "counts": [3, 1]}


def test_unreachable_databases_fail_clearly_without_the_password(tmp_path):
    with pytest.raises(QueueUnavailableError, match="unavailable"):
        open_queue(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'q.db'}")
    with pytest.raises(QueueUnavailableError) as info:
        open_queue("postgresql+psycopg://moderator:s3cret@127.0.0.1:1/queue")
    assert "s3cret" not in str(info.value)


def test_score_command_exits_non_zero_when_the_queue_is_unreachable(tmp_path):
    from typer.testing import CliRunner

    from slopscore.cli.main import app

    (tmp_path / "in").mkdir()
    result = CliRunner().invoke(app, [
        "score", "--model", str(tmp_path), "--input", str(tmp_path / "in"),
        "--out", str(tmp_path / "s.csv"), "--queue", f"sqlite:///{tmp_path / 'x' / 'y' / 'q.db'}",
    ])
    assert result.exit_code == 2 and "unavailable" in result.output
    assert not (tmp_path / "s.csv").exists()


def _skipped(reasons: dict[str, str], model="m/1"):
    return pd.DataFrame({"item_id": list(reasons), "status": "skipped", "skip_reason": list(reasons.values()),
                         "triage_score": float("nan"), "p_ai": float("nan"), "artist_id": None,
                         "model_version": model, "reasons": "[]"})


def _rows(engine):
    with Session(engine) as session:
        return {r.item_id: r for r in session.scalars(select(QueueItem))}


def test_a_skipped_row_never_replaces_a_scored_one_and_is_not_counted(queue_url):
    engine = open_queue(queue_url)
    assert upsert_scores(engine, _scored([0.2, 0.9, 0.4])) == 3
    before = _rows(engine)
    # i0's file broke since; i1 appears again as a duplicate; i2's line is malformed now.
    assert upsert_scores(engine, _skipped({"i0": "corrupt", "i1": "duplicate_item_id",
                                           "i2": "malformed_row"})) == 0
    after = _rows(engine)
    for item_id in ("i0", "i1", "i2"):
        assert (after[item_id].triage_score, after[item_id].p_ai, after[item_id].artist_id,
                after[item_id].skip_reason, after[item_id].review_lane, after[item_id].scored_at) == (
            before[item_id].triage_score, before[item_id].p_ai, "a", None, "ranked", before[item_id].scored_at)
    # In one frame the scored row wins over a skip row for the same item, whatever the order.
    both = pd.concat([_skipped({"i9": "malformed_row"}), _scored([0.3] * 10).iloc[[9]]], ignore_index=True)
    assert upsert_scores(engine, both) == 1 and _rows(engine)["i9"].triage_score == 0.3
    # A new item skipped for its manifest line is queued (ranked), but never replaced by another such line.
    assert upsert_scores(engine, _skipped({"m1": "malformed_row", "m2": "malformed_row"})) == 2
    assert upsert_scores(engine, _skipped({"m1": "duplicate_item_id"})) == 0
    assert _rows(engine)["m1"].skip_reason == "malformed_row"


def test_the_lane_follows_the_skip_reason_and_a_later_score_ranks_the_item(queue_url):
    from slopscore.media.decode import SkipReason
    from slopscore.review.ingest import NEEDS_LOOK_REASONS, Lane, review_lane

    reasons = {r.value: r.value for r in SkipReason} | {"malformed_row": "malformed_row",
                                                        "duplicate_item_id": "duplicate_item_id",
                                                        "cache_lost": "cache_lost"}
    engine = open_queue(queue_url)
    assert upsert_scores(engine, _skipped(reasons)) == len(reasons)
    lanes = {item_id: row.review_lane for item_id, row in _rows(engine).items()}
    assert {i for i, lane in lanes.items() if lane == "needs_look"} == set(NEEDS_LOOK_REASONS) == {
        "corrupt", "truncated", "too_large", "not_an_image"}
    assert review_lane(None) is Lane.RANKED and review_lane("missing") is Lane.RANKED
    assert [r.item_id for r in pending_items(engine)][:4] == sorted(
        (i for i in lanes if lanes[i] == "needs_look"), key=lambda i: _rows(engine)[i].id)
    # A file skip updates an earlier skip (the lane with it); a score later ranks the item.
    assert upsert_scores(engine, _skipped({"missing": "truncated", "corrupt": "unreadable"})) == 2
    rows = _rows(engine)
    assert (rows["missing"].skip_reason, rows["missing"].review_lane) == ("truncated", "needs_look")
    assert (rows["corrupt"].skip_reason, rows["corrupt"].review_lane) == ("unreadable", "ranked")
    scored = _scored([0.8]).assign(item_id="truncated")
    assert upsert_scores(engine, scored) == 1
    row = _rows(engine)["truncated"]
    assert (row.triage_score, row.skip_reason, row.review_lane) == (0.8, None, "ranked")
