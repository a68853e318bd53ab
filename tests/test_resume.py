"""`slopscore score` and `slopscore embed` killed with SIGKILL mid-run, then rerun: every item
exactly once, nothing redone, and an earlier complete output never replaced by a partial one."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
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


def _uploads(folder, n, seed=1):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize((320, 240), Image.Resampling.BICUBIC).save(folder / f"u{i:03d}.png")
    return folder


def _kill_when_cached(command, cache, at_least: int) -> int:
    """Start ``command``, SIGKILL it (and its decoding workers) once the cache holds
    ``at_least`` embeddings; returns how many it held then."""
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    deadline = time.monotonic() + 120
    while _cached(cache) < at_least and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)  # no clean-up of any kind
    run.wait()
    return _cached(cache)


def test_kill_and_resume(tmp_path):
    n = 240
    images = _uploads(tmp_path / "uploads", n)
    scorer = _effnet_scorer(tmp_path / "scorer")
    cache = tmp_path / "cache"
    out = tmp_path / "scores.csv"
    command = [sys.executable, "-m", "slopscore.cli.main", "score", "--model", str(scorer),
               "--input", str(images), "--out", str(out), "--cache-dir", str(cache)]
    done_before = _kill_when_cached(command, cache, 32)
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


def test_embed_killed_mid_run_leaves_the_earlier_complete_output_as_it_was(tmp_path):
    from typer.testing import CliRunner

    from slopscore.cli.main import app

    cache = tmp_path / "cache"
    out = tmp_path / "emb.parquet"
    report = tmp_path / "emb.skips.csv"

    def arguments(folder):
        return ["embed", str(folder), "--out", str(out), "--backbone", "test:tiny-clip",
                "--cache-dir", str(cache), "--device", "cpu", "--batch-size", "8", "--workers", "1"]

    earlier = CliRunner().invoke(app, arguments(_uploads(tmp_path / "few", 8, seed=2)))
    assert earlier.exit_code == 0, earlier.output
    complete, complete_report = out.read_bytes(), report.read_bytes()
    n = 240
    killed = [sys.executable, "-m", "slopscore.cli.main", *arguments(_uploads(tmp_path / "many", n))]
    done_before = _kill_when_cached(killed, cache, 8 + 8)
    assert 8 + 8 <= done_before < 8 + n, "the kill must land mid-run"
    assert out.read_bytes() == complete and report.read_bytes() == complete_report
    assert len(pq.read_table(out)) == 8

    rerun = CliRunner().invoke(app, arguments(tmp_path / "many"))
    assert rerun.exit_code == 0, rerun.output
    assert len(pq.read_table(out)) == n and not list(tmp_path.glob(".emb.*partial"))
