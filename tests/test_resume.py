"""`slopscore score` killed with SIGKILL mid-run, then rerun: every item exactly once, nothing redone."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from PIL import Image

from slopscore.model.detector import AIDetector
from slopscore.model.scorer import Scorer, ScorerInfo
from slopscore.model.triage import TriageModel


def _effnet_scorer(folder):
    """A scorer over effnet-lite0's 1280-d embeddings (weights fitted on random vectors)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1280))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    detector = AIDetector(Cs=(1.0,)).fit(X, (X[:, 0] > 0).astype(int), np.arange(200) % 20)
    info = ScorerInfo(backbone="effnet-lite0", backbone_id="effnet-lite0/imagenet",
                      preprocess_id="", embed_dim=1280, training_digest="test", n_training_items=200)
    return Scorer(info, detector, TriageModel()).save(folder)


def _cached(cache_dir) -> int:
    try:
        with sqlite3.connect(cache_dir / "embeddings.sqlite3", timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_kill_and_resume(tmp_path):
    images = tmp_path / "uploads"
    images.mkdir()
    rng = np.random.default_rng(1)
    n = 240
    for i in range(n):
        pixels = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize((320, 240), Image.Resampling.BICUBIC).save(images / f"u{i:03d}.png")
    scorer = _effnet_scorer(tmp_path / "scorer")
    cache = tmp_path / "cache"
    out = tmp_path / "scores.csv"
    command = [sys.executable, "-m", "slopscore.cli.main", "score", "--model", str(scorer),
               "--input", str(images), "--out", str(out), "--cache-dir", str(cache)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 120
    while _cached(cache) < 32 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the job and its decoding worker, no clean-up
    first.wait()
    done_before = _cached(cache)
    assert 32 <= done_before < n, "the kill must land mid-run"
    assert not out.exists()

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    output = " ".join(rerun.stdout.split())
    from_cache = int(output.split("embeddings: ")[1].split(" from cache")[0])
    encoded = int(output.split("from cache, ")[1].split(" encoded")[0])
    assert from_cache >= done_before and from_cache + encoded == n  # nothing finished was redone
    scores = pd.read_csv(out)
    assert len(scores) == n and scores["item_id"].is_unique
    assert f"input {n} = scored {n} + skipped 0" in output
