"""Benchmark the scoring API (``slopscore api``): latency for one client, throughput for eight.

Backbone: ``effnet-lite0`` (ImageNet EfficientNet-Lite0 from a PyPI wheel; NOT CLIP, the
production default), so that it runs offline. Steps:

1. generate a small synthetic demo platform and train a scorer on it (a minute or two on
   2 cores), fill a SQLite queue's ``artworks`` with the platform's history (so every
   request reads an artist's earlier works for the portfolio signals) and create a key;
2. start ``slopscore api`` in a subprocess on a free loopback port;
3. one client: ``--requests`` sequential ``POST /v1/score`` of distinct 1 MP JPEGs (every
   file new to the embedding cache, so each is decoded and encoded) -> p50/p95 latency
   (target p95 <= 250 ms on a 2-core machine);
4. eight concurrent clients (threads): ``--load-requests`` uploads in all -> uploads/s
   and p50/p95 latency under load (the micro-batcher shares encoder calls).

    python scripts/bench_api.py [--requests 60] [--load-requests 160] [--clients 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
BACKBONE = "effnet-lite0"
SIZE = (1152, 864)  # 0.995 MP


def jpeg(seed: int) -> bytes:
    """A distinct 1 MP JPEG: a gradient with shapes (compresses like an illustration)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    base = np.stack([(x * rng.uniform(0.1, 0.3) + y * rng.uniform(0.05, 0.2) + rng.uniform(0, 255)) % 256
                     for _ in range(3)], axis=-1).astype(np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x0, y0 = rng.integers(0, SIZE[0] - 50), rng.integers(0, SIZE[1] - 50)
        draw.ellipse((x0, y0, x0 + rng.integers(20, 300), y0 + rng.integers(20, 300)),
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(work: Path):
    """Train a scorer on a generated platform; a queue with the history as artworks; a key."""
    from slopscore.config import load_settings
    from slopscore.demo.platform import generate_platform
    from slopscore.review.api_keys import create_api_key
    from slopscore.review.database import open_queue
    from slopscore.review.ingest import upsert_artworks
    from slopscore.training.train import train

    platform = generate_platform(work / "platform", seed=7, scale=0.6)
    settings = load_settings(None, {"embedding.backbone": BACKBONE, "cache.dir": str(work / "cache"),
                                    "tracking.store_dir": str(work / "mlruns"), "training.segment_min_count": 3})
    started = time.perf_counter()
    outcome = train(platform.history, settings, work / "train", log=lambda message: None)
    print(f"trained a scorer on {outcome.n_train + outcome.n_test} generated uploads in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    scorer_dir = outcome.scorer.save(work / "scorer")
    url = f"sqlite:///{work / 'queue.db'}"
    engine = open_queue(url)
    history = pd.read_csv(platform.history)
    history["path"] = [str(platform.root / p) for p in history["path"]]
    upsert_artworks(engine, history)
    key, _ = create_api_key(engine, "bench")
    artist = history["artist_id"].value_counts().index[0]
    works = int((history["artist_id"] == artist).sum())
    engine.dispose()
    return scorer_dir, url, key, artist, works, settings


def start_api(scorer_dir: Path, url: str, cache: str, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "slopscore.cli.main", "api", "--model", str(scorer_dir), "--db", url,
               "--port", str(port), "--cache-dir", cache, "--no-access-log"]
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"slopscore api exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("slopscore api did not start within 180 s")


def post(client: httpx.Client, key: str, data: bytes, item_id: str, artist: str) -> float:
    started = time.perf_counter()
    response = client.post("/v1/score", headers={"Authorization": f"Bearer {key}"},
                           data={"item_id": item_id, "artist_id": artist},
                           files={"file": (f"{item_id}.jpg", data, "image/jpeg")})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--load-requests", type=int, default=160)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args()
    print(f"backbone {BACKBONE}: ImageNet EfficientNet-Lite0, NOT CLIP (the production default); "
          f"{os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        scorer_dir, url, key, artist, works, settings = prepare(work)
        n_files = 5 + args.requests + args.load_requests
        files = [jpeg(seed) for seed in range(n_files)]
        print(f"{n_files} distinct JPEGs of {SIZE[0]}x{SIZE[1]} px, {np.mean([len(f) for f in files]) / 1024:.0f} KiB "
              f"on average; artist with {works} earlier works in the artworks table", flush=True)
        port = free_port()
        server = start_api(scorer_dir, url, settings.cache.dir, port, work / "api.log")
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=60) as client:
                for k in range(5):  # warm-up (first batches settle the runtime)
                    post(client, key, files[k], f"warm-{k}", artist)
                single = [post(client, key, files[5 + k], f"one-{k}", artist) for k in range(args.requests)]
            p50, p95 = percentile(single, 50), percentile(single, 95)
            print(f"one client, {len(single)} sequential requests: p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
                  f"max {max(single) * 1000:.0f} ms  (target p95 <= 250 ms: {'met' if p95 <= 250 else 'NOT met'})")

            queue = list(range(5 + args.requests, n_files))
            lock, latencies, errors = threading.Lock(), [], []

            def client_loop() -> None:
                with httpx.Client(base_url=base, timeout=120) as client:
                    while True:
                        with lock:
                            if not queue:
                                return
                            k = queue.pop()
                        try:
                            elapsed = post(client, key, files[k], f"load-{k}", artist)
                        except Exception as exc:  # noqa: BLE001 - counted and shown
                            with lock:
                                errors.append(str(exc)[:200])
                            continue
                        with lock:
                            latencies.append(elapsed)

            threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            print(f"{args.clients} concurrent clients, {len(latencies)} requests in {wall:.1f} s: "
                  f"{len(latencies) / wall:.1f} uploads/s; latency p50 {percentile(latencies, 50):.0f} ms, "
                  f"p95 {percentile(latencies, 95):.0f} ms; errors {len(errors)}"
                  + (f" (first: {errors[0]})" if errors else ""))
            print(f"single-client rate for comparison: {len(single) / sum(single):.1f} uploads/s "
                  f"(p50 {statistics.median(single) * 1000:.0f} ms)")
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
