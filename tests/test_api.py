"""The scoring API (``slopscore api``) on a real SQLite queue with the tiny test backbone.

Keys (none, wrong, revoked), body and rate limits, hostile uploads, parity with ``slopscore
score`` on the same rows, portfolio signals from the artworks table, the batch form with a
broken item, writing to the queue, and requests that arrive together sharing encoder calls.
"""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import create_engine
from typer.testing import CliRunner

from slopscore.review.api_keys import create_api_key, list_api_keys, revoke_api_keys, verify_api_key
from slopscore.review.database import open_queue
from slopscore.review.ingest import pending_items, upsert_artworks
from slopscore.review.schema import Artwork
from slopscore.web.api_app import create_api_app
from slopscore.web.api_limits import RateLimiter
from slopscore.web.api_scoring import UploadScorer

TODAY = "2026-07-04T12:00:00+00:00"


@pytest.fixture(scope="module")
def platform_frames(trained):
    platform, settings, outcome, root = trained
    new = pd.read_csv(platform.new_uploads)
    new["path"] = [str(platform.root / p) for p in new["path"]]
    history = pd.read_csv(platform.history)
    history["path"] = [str(platform.root / p) for p in history["path"]]
    return new, history


def _png(seed: int = 0, size: int = 96) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class Api:
    """An app over a fresh queue, a key, and helpers to post uploads."""

    def __init__(self, trained, tmp_path, **options):
        platform, settings, outcome, _ = trained
        self.url = f"sqlite:///{tmp_path / 'queue.db'}"
        self.engine = open_queue(self.url)
        self.key, self.info = create_api_key(self.engine, "platform-uploads")
        self.service = UploadScorer(outcome.scorer, settings, self.engine, upload_dir=tmp_path / "uploads")
        self.app = create_api_app(self.service, self.engine, **options)
        self.client = TestClient(self.app)
        self.client.__enter__()

    def headers(self, key=None):
        return {"Authorization": f"Bearer {key or self.key}"}

    def one(self, data: bytes, key=None, **fields):
        fields = {"uploaded_at": TODAY, **fields}
        return self.client.post("/v1/score", headers=self.headers(key), data=fields,
                                files={"file": ("upload.png", data, "image/png")})

    def batch(self, datas, metadata, **form):
        files = [("files", (f"f{k}.png", d, "application/octet-stream")) for k, d in enumerate(datas)]
        return self.client.post("/v1/score/batch", headers=self.headers(), files=files,
                                data={"metadata": json.dumps(metadata), **form})

    def close(self):
        self.client.__exit__(None, None, None)


@pytest.fixture
def api(trained, tmp_path):
    made = Api(trained, tmp_path)
    yield made
    made.close()


def test_keys_are_required_checked_and_revocable(api):
    for headers in ({}, api.headers("ssk_0123456789ab_" + "A" * 43), {"X-API-Key": "nonsense"}):
        response = api.client.post("/v1/score", headers=headers, files={"file": ("a.png", _png(), "image/png")},
                                   data={"item_id": "a", "artist_id": "b"})
        assert response.status_code == 401, response.text
        assert response.json()["error"]["type"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["x-content-type-options"] == "nosniff"  # the review app's headers
        assert "default-src 'none'" in response.headers["content-security-policy"]
    # a wrong secret with a real key id is refused too
    wrong = api.key[:-4] + ("AAAA" if not api.key.endswith("AAAA") else "BBBB")
    assert api.one(_png(), key=wrong, item_id="a", artist_id="b").status_code == 401
    assert api.one(_png(), item_id="a", artist_id="b").status_code == 200
    revoke_api_keys(api.engine, api.info.key_id)
    assert api.one(_png(), item_id="a", artist_id="b").status_code == 401


def test_keys_are_stored_only_as_hashes(api):
    with api.engine.connect() as connection:
        stored = connection.execute(Artwork.metadata.tables["api_keys"].select()).mappings().all()
    assert len(stored) == 1 and api.key not in json.dumps([dict(r) for r in stored], default=str)
    assert len(stored[0]["key_hash"]) == 64 and stored[0]["key_id"] == api.info.key_id
    assert verify_api_key(api.engine, api.key).name == "platform-uploads"
    assert [k.key_id for k in list_api_keys(api.engine)] == [api.info.key_id]


def test_the_key_commands_show_a_key_once_and_revoke_it(tmp_path):
    from slopscore.cli.main import app

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    runner = CliRunner()
    added = runner.invoke(app, ["api-key", "add", "partner", "--db", url, "--create"])
    assert added.exit_code == 0, added.output
    key = added.output.strip().splitlines()[-1]
    engine = open_queue(url)
    assert verify_api_key(engine, key) is not None
    listed = runner.invoke(app, ["api-key", "list", "--db", url])
    assert "partner" in listed.output and "active" in listed.output and key not in listed.output
    assert runner.invoke(app, ["api-key", "revoke", "partner", "--db", url]).exit_code == 0
    assert verify_api_key(engine, key) is None
    assert runner.invoke(app, ["api-key", "revoke", "partner", "--db", url]).exit_code == 2


def test_body_and_file_limits_answer_413(trained, tmp_path):
    small = Api(trained, tmp_path, max_file_bytes=40_000, max_request_bytes=100_000)
    try:
        big = _png(1, size=160)  # about 77 kB of noise
        assert 40_000 < len(big) < 100_000
        response = small.one(big, item_id="big", artist_id="a")
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "too_large"
        response = small.one(_png(2, size=200), item_id="huge", artist_id="a")  # about 120 kB body
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "request_too_large"
        assert response.headers["x-frame-options"] == "DENY"
        response = small.batch([big, _png(3, size=32)], [{"item_id": "big", "artist_id": "a"},
                                                {"item_id": "ok", "artist_id": "a", "uploaded_at": TODAY}])
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert items[0]["error"]["type"] == "too_large" and items[1]["status"] == "scored"
        boundary = "b0undary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
                "Content-Type: image/png\r\n\r\n").encode()
        chunks = iter([head] + [b"\0" * 20_000] * 8)  # streamed without a Content-Length
        response = small.client.post("/v1/score", headers={**small.headers(),
                                     "Content-Type": f"multipart/form-data; boundary={boundary}"}, content=chunks)
        assert response.status_code == 413 and response.json()["error"]["type"] == "request_too_large"
    finally:
        small.close()


def test_an_unreachable_database_is_a_503_not_a_500(api):
    api.app.state.engine = create_engine("sqlite:////nonexistent-folder/queue.db")  # the key check fails
    response = api.one(_png(), item_id="a", artist_id="b")
    assert response.status_code == 503 and response.json()["error"]["type"] == "unavailable"


def test_rate_limit_per_key_answers_429_with_retry_after(trained, tmp_path):
    now = [1000.0]
    limited = Api(trained, tmp_path, rate_limiter=RateLimiter(per_minute=6, burst=2, clock=lambda: now[0]))
    try:
        other, _ = create_api_key(limited.engine, "other-client")
        assert limited.one(_png(), item_id="r1", artist_id="a").status_code == 200
        assert limited.one(_png(), item_id="r2", artist_id="a").status_code == 200
        refused = limited.one(_png(), item_id="r3", artist_id="a")
        assert refused.status_code == 429 and refused.json()["error"]["type"] == "rate_limited"
        assert int(refused.headers["retry-after"]) == 10  # 6 a minute: one every 10 s
        assert limited.one(_png(), key=other, item_id="r3", artist_id="a").status_code == 200  # per key
        now[0] += 10
        assert limited.one(_png(), item_id="r3", artist_id="a").status_code == 200
    finally:
        limited.close()


def test_hostile_uploads_get_typed_errors_never_a_500(api):
    text = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
    cut = _png(4)[:300]
    cases = [
        (api.one(text, item_id="svg", artist_id="a"), 422, "not_an_image"),
        (api.one(cut, item_id="cut", artist_id="a"), 422, None),
        (api.one(b"", item_id="empty", artist_id="a"), 422, "empty"),
        (api.one(_png(), item_id="bad\x07id", artist_id="a"), 422, "invalid_field"),
        (api.one(_png(), item_id="x" * 201, artist_id="a"), 422, "invalid_field"),
        (api.one(_png(), item_id="d", artist_id="a", uploaded_at="yesterday"), 422, "invalid_field"),
        (api.one(_png(), item_id="l", artist_id="a", label="human"), 422, "invalid_field"),
        (api.one(_png(), item_id="b", artist_id="a", declared_ai="perhaps"), 422, "invalid_field"),
    ]
    for response, status, kind in cases:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["type"] == kind if kind else error["type"] in {"truncated", "corrupt"}
    no_file = api.client.post("/v1/score", headers=api.headers(), data={"item_id": "n", "artist_id": "a"})
    assert no_file.status_code == 422 and no_file.json()["error"]["type"] == "missing_file"
    tidy = api.one(_png(), item_id="t", artist_id="a", title="line one\nline two" + "é" * 400,
                   tags=";".join(f"tag{k}" for k in range(80)))
    assert tidy.status_code == 200, tidy.text
    assert {"title put on one line", "title cut to 300 characters", "tags cut to 50"} <= set(tidy.json()["warnings"])
    deep = api.client.post("/v1/score/batch", headers=api.headers(), files=[("files", ("a.png", _png(), "image/png"))],
                           data={"metadata": "[" * 100_000 + "]" * 100_000})
    assert deep.status_code == 422 and deep.json()["error"]["type"] == "invalid_request"
    nested = api.batch([_png()], [{"item_id": "n", "artist_id": "a", "title": {"$gt": ""}}])
    assert nested.json()["items"][0]["error"]["type"] == "invalid_field"


def test_scores_equal_slopscore_score_on_the_same_rows(trained, platform_frames, tmp_path):
    from slopscore.cli.main import app

    platform, settings, outcome, _ = trained
    new, history = platform_frames
    artists = sorted(new["artist_id"].unique())[:4]
    # uploads arrive unlabelled, and artworks hold no labels
    today = new[new["artist_id"].isin(artists)].head(12).drop(columns=["label"])
    earlier = history[history["artist_id"].isin(artists)].drop(columns=["label"])
    today.to_csv(tmp_path / "today.csv", index=False)
    earlier.to_csv(tmp_path / "earlier.csv", index=False)
    scorer_dir = outcome.scorer.save(tmp_path / "scorer")
    result = CliRunner().invoke(app, ["score", "--model", str(scorer_dir), "--input", str(tmp_path / "today.csv"),
                                      "--history", str(tmp_path / "earlier.csv"), "--out", str(tmp_path / "s.parquet"),
                                      "--cache-dir", settings.cache.dir])
    assert result.exit_code == 0, result.output
    expected = pd.read_parquet(tmp_path / "s.parquet").set_index("item_id")

    api = Api(trained, tmp_path)
    try:
        upsert_artworks(api.engine, earlier)
        fields = ("item_id", "artist_id", "uploaded_at", "title", "tags", "declared_ai", "has_process_notes")
        metadata = [{k: (None if pd.isna(row[k]) else str(row[k])) for k in fields} for _, row in today.iterrows()]
        datas = [open(p, "rb").read() for p in today["path"]]
        response = api.batch(datas, metadata)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
    finally:
        api.close()
    assert [i["item_id"] for i in items] == list(today["item_id"])
    for item in items:
        row = expected.loc[item["item_id"]]
        assert item["status"] == "scored"
        assert abs(item["p_ai"] - row["p_ai"]) <= 1e-6
        assert abs(item["triage_score"] - row["triage_score"]) <= 1e-6
        assert item["reasons"] == json.loads(row["reasons"])
        portfolio = item["portfolio"]
        assert (portfolio["portfolio_size"], portfolio["cold_start"]) == (row["portfolio_size"], row["cold_start"])
        assert portfolio["centroid_z"] == pytest.approx(row["centroid_z"], abs=1e-6)
        assert portfolio["cross_account_posters"] == row["cross_account_posters"]
        assert item["model_version"] == row["model_version"]


def test_portfolio_signals_come_from_the_artworks_table(api, platform_frames):
    new, history = platform_frames
    counts = history["artist_id"].value_counts()
    artist = counts.index[0]
    upload = new[new["artist_id"] == artist].iloc[0] if (new["artist_id"] == artist).any() else history.iloc[0]
    data = open(upload["path"], "rb").read()
    alone = api.one(data, item_id="p1", artist_id=artist).json()
    assert alone["portfolio"]["cold_start"] is True and alone["portfolio"]["portfolio_size"] == 0
    upsert_artworks(api.engine, history[history["artist_id"] == artist])
    known = api.one(data, item_id="p1", artist_id=artist).json()
    assert known["portfolio"]["cold_start"] is False
    assert known["portfolio"]["portfolio_size"] > 5 and known["portfolio"]["centroid_z"] is not None
    assert known["portfolio"]["nearest_works"]
    assert not known["queued"] and pending_items(api.engine) == []


def test_an_artists_earlier_works_are_read_once_not_on_every_request(api, platform_frames):
    new, history = platform_frames
    artist = history["artist_id"].value_counts().index[0]
    works = history[history["artist_id"] == artist]
    upsert_artworks(api.engine, works)
    submitted = []
    embed = api.service.batcher.run
    api.service.batcher.run = lambda sources: submitted.append(len(sources)) or embed(sources)
    data = open(works.iloc[0]["path"], "rb").read()
    first = api.one(data, item_id="m1", artist_id=artist).json()
    again = api.one(data, item_id="m1", artist_id=artist).json()
    assert submitted == [1 + len(works), 1]  # the second request encodes only its upload
    assert again["portfolio"] == first["portfolio"]
    assert abs(again["triage_score"] - first["triage_score"]) <= 1e-9


def test_a_broken_item_in_a_batch_costs_that_item_only(api):
    datas = [_png(5), _png(6)[:200], b"GIF89a not really", _png(7)]
    metadata = [{"item_id": f"b{k}", "artist_id": "artist-b", "uploaded_at": TODAY} for k in range(4)]
    metadata[3]["item_id"] = "b0"  # repeated
    response = api.batch(datas, metadata)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["status"] for i in items] == ["scored", "error", "error", "error"]
    assert items[1]["error"]["type"] in {"truncated", "corrupt"}
    assert items[2]["error"]["type"] in {"not_an_image", "corrupt", "truncated"}
    assert items[3]["error"]["type"] == "duplicate_item_id"
    assert 0 <= items[0]["p_ai"] <= 1 and 0 <= items[0]["triage_score"] <= 1
    too_many = api.batch([_png(k) for k in range(65)], [{"item_id": str(k), "artist_id": "a"} for k in range(65)])
    assert too_many.status_code == 400


def test_write_to_queue_queues_the_result_and_keeps_the_upload_as_history(api):
    first = api.one(_png(8), item_id="q1", artist_id="artist-q", write_to_queue="true")
    assert first.status_code == 200 and first.json()["queued"] is True
    queued = pending_items(api.engine)
    assert [q.item_id for q in queued] == ["q1"]
    assert abs(queued[0].triage_score - first.json()["triage_score"]) < 1e-9
    assert open(queued[0].source, "rb").read() == _png(8)  # kept by the API, named by content
    broken = api.one(_png(9)[:250], item_id="q2", artist_id="artist-q", write_to_queue="true")
    assert broken.status_code == 422 and broken.json()["queued"] is True
    lanes = {q.item_id: q.review_lane for q in pending_items(api.engine)}
    assert lanes == {"q1": "ranked", "q2": "needs_look"}  # a broken upload still reaches a person
    later = api.one(_png(10), item_id="q3", artist_id="artist-q",
                    uploaded_at="2026-07-05T12:00:00+00:00").json()
    assert [w["item_id"] for w in later["portfolio"]["nearest_works"]] == ["q1"]


def test_requests_arriving_together_share_encoder_calls_and_get_their_own_results(api):
    alone = [api.one(_png(20 + k), item_id=f"c{k}", artist_id=f"artist-c{k}").json() for k in range(6)]
    before = api.service.batcher.calls

    async def together():
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await asyncio.gather(*[
                client.post("/v1/score", headers=api.headers(), data={"item_id": f"c{k}", "artist_id": f"artist-c{k}",
                                                                      "uploaded_at": TODAY},
                            files={"file": ("u.png", _png(20 + k), "image/png")}) for k in range(6)])

    responses = asyncio.run(together())
    assert api.service.batcher.calls - before < 6
    for response, single in zip(responses, alone):
        assert response.status_code == 200
        assert abs(response.json()["triage_score"] - single["triage_score"]) <= 1e-6


def test_the_openapi_docs_describe_both_routes(api):
    schema = api.client.get("/openapi.json").json()
    # scoring only: no route that could remove, hide or demote anything
    assert {path: set(methods) for path, methods in schema["paths"].items()} == {
        "/v1/score": {"post"}, "/v1/score/batch": {"post"}}
    form = schema["paths"]["/v1/score"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"file", "item_id", "artist_id", "write_to_queue"} <= set(form["properties"])
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_keys_and_history_work_on_sqlite_and_postgresql(queue_url):
    from datetime import datetime, timedelta, timezone

    from slopscore.review.decisions import decide
    from slopscore.review.ingest import upsert_scores
    from slopscore.review.portfolio_history import earlier_works
    from slopscore.review.schema import Action

    engine = open_queue(queue_url)
    key, info = create_api_key(engine, "client.a")
    assert verify_api_key(engine, key).key_id == info.key_id
    assert verify_api_key(engine, key.replace(info.key_id, "f" * 12)) is None
    assert revoke_api_keys(engine, "client.a") == 1 and verify_api_key(engine, key) is None
    with pytest.raises(Exception, match="no active API key"):
        revoke_api_keys(engine, info.key_id)

    start = datetime(2026, 6, 1, tzinfo=timezone.utc)
    works = pd.DataFrame({"item_id": [f"w{k}" for k in range(6)], "artist_id": ["a"] * 5 + ["b"],
                          "uploaded_at": [start + timedelta(days=k) for k in range(6)],
                          "path": [f"/media/w{k}.png" for k in range(6)], "title": [None] * 6})
    upsert_artworks(engine, works)
    upsert_scores(engine, pd.DataFrame({"item_id": ["w3"], "model_version": ["v1"], "artist_id": ["a"],
                                        "status": ["embedded"], "triage_score": [0.9], "p_ai": [0.9]}))
    decide(engine, pending_items(engine)[0].id, Action.ESCALATE, "alice")
    rows = earlier_works(engine, {"a"}, exclude_item_ids={"w4"}, max_per_artist=4)
    assert [r.item_id for r in rows] == ["w1", "w2", "w3"]  # newest 4 of a (w1-w4), w4 excluded
    assert [r.label.value if r.label else None for r in rows] == [None, None, "ai_slop"]  # confirmed
    assert rows[0].uploaded_at == start + timedelta(days=1) and rows[0].path == "/media/w1.png"


def test_the_api_command_never_creates_a_database_by_accident(tmp_path):
    from slopscore.cli.main import app

    result = CliRunner().invoke(app, ["api", "--model", str(tmp_path), "--db", f"sqlite:///{tmp_path / 'no.db'}"])
    assert result.exit_code == 2 and "--create" in result.output
    assert not (tmp_path / "no.db").exists()
