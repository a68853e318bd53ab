"""Benchmark the moderator web app's queue page at 100,000 items.

Fills a queue database (a temporary SQLite file, or ``--db URL``, e.g. PostgreSQL)
with realistic items: varied scores (about 10% unscored), thousands of artists,
reasons, about 5% already decided with audit-log rows, a portfolio of artworks.
Starts ``slopscore serve`` in a subprocess on a free loopback port, signs in, then:

1. sequential: ``--requests`` queue pages across sorts, filters and deep keyset
   pages, one at a time -> median and p95 response time (target < 200 ms);
2. load: ``--clients`` concurrent clients (threads, each signed in) requesting queue
   pages and item pages for ``--seconds`` -> requests, req/s, median/p95 latency
   and the error count (non-2xx answers or exceptions; target 0).

Prints its figures plainly; exits non-zero only when something crashes.

    python scripts/bench_queue.py [--items 100000] [--clients 50] [--seconds 30] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from sqlalchemy import func, insert, select, text

from slopscore.review.accounts import create_moderator
from slopscore.review.database import open_queue, redacted
from slopscore.review.schema import Action, Artwork, Decision, QueueItem, Status
from slopscore.web.queue_query import Cursor, SortKey

PASSWORD = "bench password 123"
MODERATORS = [f"bench{k}" for k in range(5)]
REASONS = [
    "detector: {p}% likely AI-generated",
    "{n} uploads in the last hour ({n}\u00d7 this artist's usual rate)",
    "{d} near-identical uploads by the same artist recently",
    "unlike the artist's earlier works (z = {z})",
    "new artist: {w} earlier works, too few to compare",
    "same image posted by {c} other accounts",
    "AI use declared, with process notes",
]
PROVENANCE = ["file says Stable Diffusion WebUI made it (PNG parameters)",
              "file says ComfyUI made it (PNG prompt)",
              "IPTC DigitalSourceType: trainedAlgorithmicMedia",
              "Content Credentials say a generator made it"]
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_CHUNK = 5000


def fill(engine, n_items: int, media: Path, seed: int = 0) -> list[int]:
    """Bulk-insert ``n_items`` queue items (+ artworks, + ~5% decided); returns their ids."""
    rng = np.random.default_rng(seed)
    media.mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(16):
        path = media / f"m{k}.png"
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(path)
        files.append(str(path))
    n_artists = max(10, n_items // 20)
    artists = rng.zipf(1.6, n_items) % n_artists
    start = datetime(2026, 6, 1, tzinfo=timezone.utc)
    minutes = np.sort(rng.integers(0, 30 * 24 * 60, n_items))
    scores = rng.beta(0.7, 2.5, n_items)
    unscored = rng.random(n_items) < 0.10
    p_ai = np.clip(scores + rng.normal(0, 0.15, n_items), 0, 1)
    outlier = rng.gamma(2.0, 1.0, n_items)
    cold = rng.random(n_items) < 0.15
    now = datetime.now(timezone.utc)
    items, works = [], []
    for k in range(n_items):
        picked = rng.choice(len(REASONS), size=int(rng.integers(1, 4)), replace=False)
        reasons = [REASONS[r].format(p=int(p_ai[k] * 100), n=int(rng.integers(5, 20)),
                                     d=int(rng.integers(2, 6)), z=round(float(outlier[k]), 1),
                                     w=int(rng.integers(0, 3)), c=int(rng.integers(2, 40)))
                   for r in picked]
        provenance = [PROVENANCE[int(rng.integers(0, len(PROVENANCE)))]] if rng.random() < 0.2 else []
        item_id = f"up{k:07d}"
        artist = f"artist{int(artists[k]):05d}"
        uploaded = start + timedelta(minutes=int(minutes[k]))
        items.append({
            "item_id": item_id, "model_version": "slopscore-scorer/bench", "artist_id": artist,
            "uploaded_at": uploaded, "source": files[k % len(files)], "file_type": "png",
            "triage_score": None if unscored[k] else float(scores[k]),
            "p_ai": None if unscored[k] else float(p_ai[k]),
            "portfolio_outlier": None if unscored[k] or cold[k] else float(outlier[k]),
            "portfolio_size": 0 if cold[k] else int(rng.integers(3, 200)), "cold_start": bool(cold[k]),
            "near_duplicates": float(rng.integers(0, 4)), "cross_account_posters": int(rng.integers(0, 3)),
            "declared_ai": bool(rng.random() < 0.1), "has_process_notes": bool(rng.random() < 0.1),
            "reasons": json.dumps(reasons), "provenance_reasons": json.dumps(provenance),
            "breakdown": json.dumps({"intercept": -3.0, "ai_logit": round(float(rng.normal(1, 1)), 3),
                                     "upload_burst": round(float(rng.random()), 3)}),
            "nearest_works": "[]", "skip_reason": "corrupt" if unscored[k] else None,
            "backbone_id": "open_clip:ViT-B-32", "title": f"Untitled {k}", "tags": "digital;fantasy",
            "status": Status.PENDING.value, "scored_at": now,
        })
        works.append({"item_id": item_id, "artist_id": artist, "uploaded_at": uploaded,
                      "source": files[k % len(files)], "title": f"Untitled {k}"})
    with engine.begin() as connection:
        for begin in range(0, n_items, _CHUNK):
            connection.execute(insert(QueueItem), items[begin:begin + _CHUNK])
            connection.execute(insert(Artwork), works[begin:begin + _CHUNK])
        ids = connection.execute(select(QueueItem.id).order_by(QueueItem.id)).scalars().all()
    decide_some(engine, ids, items, rng)
    return ids


def decide_some(engine, ids, items, rng) -> None:
    """Mark ~5% of items decided, with their audit-log rows (as the app would write them)."""
    actions = [Action.NO_CONCERN, Action.NOTIFY, Action.ESCALATE]
    chosen = rng.choice(len(ids), size=len(ids) // 20, replace=False)
    now = datetime.now(timezone.utc)
    decisions, updates = [], {}
    for index in chosen:
        action = actions[int(rng.integers(0, 3))]
        item = items[index]
        decisions.append({"queue_item_id": ids[index], "item_id": item["item_id"],
                          "artist_id": item["artist_id"], "action": action.value,
                          "outcome": action.outcome.value, "moderator": MODERATORS[0], "decided_at": now,
                          "model_version": item["model_version"], "triage_score": item["triage_score"],
                          "p_ai": item["p_ai"], "message": "Please tell us about your process."
                          if action is Action.NOTIFY else None, "note": None})
        updates.setdefault(action.status.value, []).append(ids[index])
    with engine.begin() as connection:
        for begin in range(0, len(decisions), _CHUNK):
            connection.execute(insert(Decision), decisions[begin:begin + _CHUNK])
        for status, group in updates.items():
            for begin in range(0, len(group), _CHUNK):
                connection.execute(QueueItem.__table__.update()
                                   .where(QueueItem.id.in_(group[begin:begin + _CHUNK]))
                                   .values(status=status, decided_at=now))


def deep_cursor(engine, sort: SortKey, position: int) -> str:
    """The cursor of the pending row at ``position`` in ``sort`` order (setup only: OFFSET)."""
    column = {SortKey.SCORE: QueueItem.triage_score, SortKey.NEWEST: QueueItem.uploaded_at,
              SortKey.P_AI: QueueItem.p_ai, SortKey.OUTLIER: QueueItem.portfolio_outlier}[sort]
    query = (select(column, QueueItem.id).where(QueueItem.status == "pending")
             .order_by(column.desc().nulls_last(), QueueItem.id.desc()).offset(position).limit(1))
    with engine.connect() as connection:
        value, last_id = connection.execute(query).one()
    return Cursor(sort, value is not None, value, last_id).encode()


def queue_urls(engine, n_pending: int) -> list[str]:
    """Queue pages across sorts, filters and page depths."""
    urls = []
    for sort in SortKey:
        urls += [f"/queue?sort={sort.value}", f"/queue?sort={sort.value}&size=100"]
        for fraction in (0.1, 0.5, 0.95):
            cursor = deep_cursor(engine, sort, int(n_pending * fraction))
            urls.append(f"/queue?sort={sort.value}&after={cursor}")
    urls += ["/queue?min_score=0.5&max_score=0.9", "/queue?min_score=0.8", "/queue?max_score=0.1",
             "/queue?reason=near-identical", "/queue?reason=ComfyUI", "/queue?reason=other+accounts&sort=newest",
             "/queue?artist=artist00001", "/queue?artist=artist00123&sort=newest",
             "/queue?status=notified", "/queue?status=dismissed&sort=p_ai",
             "/queue?reason=detector&min_score=0.3&sort=outlier",
             "/queue?reason=no+item+says+this"]  # the worst case: every pending row is read
    return urls


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(db: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "SLOPSCORE_SECRET_KEY": "bench-" + "k" * 40}
    server = subprocess.Popen([sys.executable, "-m", "slopscore.cli.main", "serve", "--db", db,
                               "--port", str(port), "--no-access-log"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            if server.poll() is not None:
                raise RuntimeError(f"server exited: {server.stderr.read()[-2000:]}")
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("server did not start within 60 s")


def signed_in_client(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    token = _TOKEN.search(client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": token, "next": "/queue"})
    if response.status_code != 303 or response.headers.get("location") != "/queue":
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    return client


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def sequential(client: httpx.Client, urls: list[str], n_requests: int) -> tuple[list[float], int]:
    times, errors = [], 0
    for k in range(n_requests):
        url = urls[k % len(urls)]
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        errors += response.status_code != 200 or "Review queue" not in response.text
    return times, errors


def load(base: str, urls: list[str], item_ids: list[int], n_clients: int, seconds: float):
    """``n_clients`` threads, each signed in as one of five moderators, for ``seconds``."""
    clients = [signed_in_client(base, MODERATORS[k % len(MODERATORS)]) for k in range(n_clients)]
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_clients + 1)
    deadline = [0.0]  # set just before the barrier releases every thread at once

    def work(k: int) -> None:
        rng = random.Random(k)
        client = clients[k]
        barrier.wait()
        local_times, local_errors = [], []
        while time.monotonic() < deadline[0]:
            url = rng.choice(urls) if rng.random() < 0.7 else f"/items/{rng.choice(item_ids)}"
            began = time.perf_counter()
            try:
                response = client.get(url)
                if not 200 <= response.status_code < 300:
                    local_errors.append(f"{response.status_code} {url}")
            except httpx.HTTPError as exc:
                local_errors.append(f"{type(exc).__name__} {url}")
            local_times.append((time.perf_counter() - began) * 1000)
        with lock:
            times.extend(local_times)
            errors.extend(local_errors)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_clients)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline[0] = began + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    for client in clients:
        client.close()
    return times, errors, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="queue database URL (default: a new temporary SQLite file)")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="sequential queue-page requests")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-queue-") as folder:
        db = args.db or f"sqlite:///{Path(folder) / 'queue.db'}"
        engine = open_queue(db)
        with engine.connect() as connection:
            existing = connection.execute(select(func.count()).select_from(QueueItem)).scalar_one()
        if existing:
            print(f"error: {redacted(db)} already holds {existing} items; use an empty database")
            return 2
        began = time.perf_counter()
        ids = fill(engine, args.items, Path(folder) / "media")
        for name in MODERATORS:
            create_moderator(engine, name, PASSWORD)
        if engine.dialect.name == "postgresql":  # what autovacuum does shortly after a bulk load
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE"))
        with engine.connect() as connection:
            n_pending = connection.execute(select(func.count()).select_from(QueueItem)
                                           .where(QueueItem.status == "pending")).scalar_one()
        print(f"database: {redacted(db)} ({engine.dialect.name})")
        print(f"filled {len(ids)} items ({n_pending} pending) in {time.perf_counter() - began:.1f} s")
        urls = queue_urls(engine, n_pending)
        engine.dispose()

        port = free_port()
        server = start_server(db, port)
        base = f"http://127.0.0.1:{port}"
        try:
            client = signed_in_client(base, MODERATORS[0])
            sequential(client, urls, len(urls))  # warm-up: one of each
            times, errors = sequential(client, urls, args.requests)
            client.close()
            print(f"sequential: {len(times)} queue pages ({len(urls)} distinct: 4 sorts x first/100-per-page/"
                  f"deep pages at 10%, 50%, 95%, and filters, one matching nothing)")
            print(f"  median {statistics.median(times):.1f} ms   p95 {percentile(times, 95):.1f} ms   "
                  f"max {max(times):.1f} ms   errors {errors}   (target: median and p95 < 200 ms)")

            times, failures, elapsed = load(base, urls, ids, args.clients, args.seconds)
            print(f"load: {args.clients} concurrent clients for {elapsed:.1f} s "
                  f"(70% queue pages, 30% item pages; opening an item claims nothing)")
            print(f"  {len(times)} requests   {len(times) / elapsed:.1f} req/s   median "
                  f"{statistics.median(times):.1f} ms   p95 {percentile(times, 95):.1f} ms   "
                  f"errors {len(failures)}   (target: 0 errors)")
            for failure in sorted(set(failures))[:10]:
                print(f"  error: {failure}")
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
