"""The queue page's counts: scanned counts refresh in the background, decisions reset them."""

from __future__ import annotations

import json
import threading
import time

from sqlalchemy import update

from slopscore.review.database import open_queue
from slopscore.review.ingest import upsert_scores
from slopscore.review.schema import QueueItem
from slopscore.web.queue_counts import QueueCounts
from slopscore.web.queue_query import QueueFilter
from tests.test_web_support import scored_frame, write_images


def _burst_count(counts, flt=QueueFilter()):
    return dict((label, n) for label, _, n in counts(flt).reasons).get("upload burst", 0)


def test_stale_scans_refresh_in_the_background_and_decisions_reset_them(tmp_path):
    engine = open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    upsert_scores(engine, scored_frame(write_images(tmp_path / "media"), 6))
    counts = QueueCounts(engine, ttl_s=0.2, index_ttl_s=0.0)
    assert _burst_count(counts) == 0 and counts(QueueFilter(reason="burst")).ranked == 0
    with engine.begin() as connection:  # another writer (the batch job) changes the reasons
        connection.execute(update(QueueItem).where(QueueItem.id <= 2).values(
            reasons=json.dumps(["9 uploads in the last hour (9× this artist's usual rate)"])))
    assert _burst_count(counts) == 0  # fresh enough: kept
    time.sleep(0.3)
    assert _burst_count(counts) == 0  # stale: shown while one thread reads it again
    deadline = time.monotonic() + 10
    while _burst_count(counts) != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _burst_count(counts) == 2 and threading.active_count() < 20
    with engine.begin() as connection:
        connection.execute(update(QueueItem).where(QueueItem.id == 3).values(
            reasons=json.dumps(["4 uploads in the last hour"])))
    counts.invalidate()  # a decision recorded by the app: the next page counts afresh
    assert _burst_count(counts) == 3 and counts(QueueFilter(reason="last hour")).ranked == 3
    assert counts(QueueFilter()).total == 6
