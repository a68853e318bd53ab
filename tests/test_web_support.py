"""Helpers shared by the web app's tests (no tests here): a filled queue, sign-in, tokens."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import insert

from slopscore.review.accounts import create_moderator
from slopscore.review.database import open_queue
from slopscore.review.ingest import upsert_scores
from slopscore.review.schema import Artwork
from slopscore.web.app import create_app

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-" + "x" * 32
T0 = datetime(2026, 7, 4, 8, 0, tzinfo=timezone.utc)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def write_images(folder: Path, n: int = 4) -> list[Path]:
    """Small real PNG and JPEG files with distinct colours."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        pixels = np.zeros((48, 64, 3), np.uint8)
        pixels[..., k % 3] = 60 + 40 * k
        path = folder / (f"img{k}.png" if k % 2 else f"img{k}.jpg")
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def scored_frame(paths: list[Path], n: int, *, scores=None, artists=None, titles=None,
                 reasons=None, model: str = "m/1") -> pd.DataFrame:
    """A scored frame like :func:`slopscore.batch.score_table.score_uploads` writes, ``n`` rows."""
    scores = scores if scores is not None else [round(1 - k / max(n, 1), 3) for k in range(n)]
    return pd.DataFrame({
        "item_id": [f"u{k:03d}" for k in range(n)],
        "artist_id": artists or [f"artist{k % 3}" for k in range(n)],
        "path": [str(paths[k % len(paths)]) for k in range(n)],
        "uploaded_at": [T0 + timedelta(minutes=k) for k in range(n)],
        "triage_score": scores, "p_ai": [0.5] * n, "centroid_z": [1.5] * n,
        "portfolio_size": [4] * n, "cold_start": [False] * n,
        "reasons": reasons or [json.dumps(["detector: 80% likely AI-generated"])] * n,
        "provenance_reasons": [json.dumps(["file says ComfyUI made it (PNG prompt)"])] * n,
        "breakdown": [json.dumps({"intercept": -3.0, "ai_logit": 1.4, "upload_burst": 0.5})] * n,
        "model_version": model, "backbone_id": "test:b",
        "title": titles or [f"Work {k}" for k in range(n)], "tags": "ink;paper",
    })


def add_artworks(engine, rows: list[dict]) -> None:
    with engine.begin() as connection:
        connection.execute(insert(Artwork), rows)


def make_app(url: str, tmp_path: Path, n: int = 6, *, moderators=("alice", "bob"), admins=("alice",),
             **app_options):
    """An app over a migrated database with ``n`` pending items and signed-up accounts (those
    in ``admins`` are admins, the others moderators)."""
    engine = open_queue(url)
    paths = write_images(tmp_path / "media")
    if n:
        upsert_scores(engine, scored_frame(paths, n))
    for name in moderators:
        create_moderator(engine, name, PASSWORD, role="admin" if name in admins else "moderator")
    return engine, create_app(engine, secret_key=SECRET, **app_options)


def token(client: TestClient, path: str = "/queue") -> str:
    """The CSRF token from a page's forms."""
    response = client.get(path)
    match = _TOKEN.search(response.text)
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def login(client: TestClient, username: str = "alice", password: str = PASSWORD) -> str:
    """Sign in; returns the session's CSRF token."""
    response = client.post("/login", data={"username": username, "password": password,
                                            "csrf_token": token(client, "/login"), "next": "/queue"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return token(client)


def signed_in(app, username: str = "alice") -> TestClient:
    client = TestClient(app)
    login(client, username)
    return client


def all_routes(routes, prefix: str = ""):
    """``(path, route)`` for every route, through included routers (FastAPI keeps them nested)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from all_routes(original.routes, prefix + route.include_context.prefix)
        else:
            yield prefix + route.path, route


def skipped_frame(paths: list[Path], reasons: list[str], *, start: int = 0, model: str = "m/1",
                  artist: str = "artist0") -> pd.DataFrame:
    """Rows the batch job writes for uploads it could not score, one per skip reason."""
    n = len(reasons)
    return pd.DataFrame({
        "item_id": [f"s{start + k:03d}" for k in range(n)], "artist_id": artist,
        "path": [str(paths[k % len(paths)]) for k in range(n)],
        "uploaded_at": [T0 + timedelta(hours=1, minutes=k) for k in range(n)],
        "status": "skipped", "skip_reason": reasons, "triage_score": float("nan"), "p_ai": float("nan"),
        "reasons": "[]", "provenance_reasons": "[]", "model_version": model, "backbone_id": "test:b",
        "title": [f"Unscored {start + k}" for k in range(n)],
    })
