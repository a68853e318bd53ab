"""Benchmark the batch scoring job's parts, side by side in one run.

Prints, for open_clip ViT-B-32 with RANDOM weights (speed does not depend on them),
as medians of interleaved rounds (this machine's speed drifts):
  * the encoder alone on ready tensors (the ceiling; see bench_embed.py),
  * end to end: the batch job (`slopscore score`'s code) over JPEG files, from
    manifest to output file, cold cache,
  * the naive loop of research code: one image at a time, open + torchvision
    preprocess + encode, for the same files, in a fresh process that never imports
    slopscore (so OpenMP runs as plain research code would, threads spinning),
  * scoring alone on ready embeddings (detector + triage + reasons), items/s,
  * peak RSS of the whole batch job at two input sizes (tiny test backbone, small
    PNGs, each size in a fresh process), and their difference.

    python scripts/bench_score.py [--images 256] [--rounds 3] [--score-items 50000]
                                  [--rss-sizes 1000 50000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import slopscore  # noqa: F401  (first: sets slopscore's OpenMP default before torch loads)
import numpy as np
import pandas as pd
import torch

from bench_embed import (
    encoder_alone,
    encoder_alone_spinning,
    make_files,
    overlap_bound,
    peak_rss_mb,
    random_vit_b32,
    worker_cpu_ms,
)
from slopscore.batch.file_analysis import LocalFileAnalyser
from slopscore.batch.score_job import run_batch_job
from slopscore.config import load_settings
from slopscore.embedding.encoder import ImageEncoder
from slopscore.model.detector import AIDetector
from slopscore.model.scorer import Scorer, ScorerInfo
from slopscore.model.triage import TriageModel


def random_scorer(backbone_id: str, dim: int) -> Scorer:
    """A scorer whose detector was fitted on random unit vectors (speed only)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    detector = AIDetector(Cs=(1.0,)).fit(X, (X[:, 0] > 0).astype(int), np.arange(2000) % 50)
    info = ScorerInfo("bench", backbone_id, "bench", dim, "bench", 2000)
    return Scorer(info, detector, TriageModel())


def write_manifest(paths: list[str], folder: Path, artists: int) -> Path:
    start = pd.Timestamp("2026-11-01T00:00:00Z")
    manifest = pd.DataFrame({
        "item_id": [f"item-{i:06d}" for i in range(len(paths))],
        "artist_id": [f"artist-{i % artists:04d}" for i in range(len(paths))],
        "path": paths,
        "uploaded_at": [(start + pd.Timedelta(minutes=7 * i)).isoformat() for i in range(len(paths))],
    })
    path = folder / "manifest.csv"
    manifest.to_csv(path, index=False)
    return path


def end_to_end(encoder: ImageEncoder, manifest: Path, folder: Path, workers: int | None,
               run: str) -> float:
    """The batch job from manifest to output file, cold cache (default settings otherwise)."""
    settings = load_settings(None, {"cache.dir": str(folder / f"cache-{run}"),
                                    "embedding.num_workers": workers})
    scorer = random_scorer(encoder.backbone.backbone_id, encoder.backbone.embed_dim)
    analyser = LocalFileAnalyser(encoder, settings)
    start = time.perf_counter()
    summary = run_batch_job(scorer, manifest, folder / f"scores-{run}.parquet",
                            settings, analyser=analyser)
    elapsed = time.perf_counter() - start
    assert summary.n_scored == summary.n_input, "benchmark images failed to score"
    return summary.n_input / elapsed


def naive_loop_fresh(paths: list[str]) -> float:
    """:func:`naive_loop` in a fresh process, OpenMP as plain research code has it (spinning)."""
    command = [sys.executable, __file__, "--naive-loop", *paths]
    env = {**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return float(result.stdout.split()[-1])


def naive_loop(paths: list[str]) -> float:
    """One image at a time, as reference research code does."""
    import open_clip
    from PIL import Image

    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for path in paths:
            image = preprocess(Image.open(path).convert("RGB")).unsqueeze(0)
            model.encode_image(image)
    return len(paths) / (time.perf_counter() - start)


def scoring_alone(n: int, dim: int = 512) -> float:
    rng = np.random.default_rng(0)
    scorer = random_scorer("bench", dim)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    frame = pd.DataFrame({
        "embedding": list(vectors / np.linalg.norm(vectors, axis=1, keepdims=True)),
        "centroid_z": rng.normal(size=n) * 2, "portfolio_size": rng.integers(0, 80, n),
        "near_duplicates": rng.integers(0, 4, n), "uploads_in_window": rng.integers(1, 5, n),
        "burst_ratio": rng.random(n) * 3, "file_says_ai": rng.random(n) < 0.1,
        "file_generator": None, "declared_ai": None, "has_process_notes": None,
        "cross_account_posters": 0,
    })
    start = time.perf_counter()
    scored = scorer.score_frame(frame)
    elapsed = time.perf_counter() - start
    assert len(scored) == n
    return n / elapsed


def _high_water_mb() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it does not carry over from the
    parent across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_run(count: int) -> None:
    """Child process: the batch job over ``count`` small PNGs with the tiny backbone."""
    from PIL import Image

    os.environ["SLOPSCORE_ALLOW_TEST_BACKBONE"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(count)
        paths = []
        for i in range(count):
            path = folder / f"u{i:06d}.png"
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).resize(
                (64, 64), Image.Resampling.BICUBIC).save(path)
            paths.append(str(path))
        manifest = write_manifest(paths, folder, artists=max(1, count // 50))
        settings = load_settings(None, {
            "embedding.backbone": "test:tiny-clip", "embedding.device": "cpu",
            "embedding.precision": "fp32", "cache.dir": str(folder / "cache"),
        })
        analyser = LocalFileAnalyser.open(settings)
        scorer = random_scorer(analyser.backbone_id, analyser.encoder.backbone.embed_dim)
        before = _high_water_mb()
        start = time.perf_counter()
        summary = run_batch_job(scorer, manifest, folder / "scores.parquet", settings,
                                analyser=analyser)
        elapsed = time.perf_counter() - start
        assert summary.n_input == count == summary.n_scored + summary.n_skipped
        own = _high_water_mb()
        worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"{count} {before:.0f} {own:.0f} {worker:.0f} {elapsed:.1f}")


def rss_comparison(sizes: list[int]) -> None:
    peaks = {}
    for count in sizes:
        result = subprocess.run([sys.executable, __file__, "--rss-run", str(count)],
                                capture_output=True, text=True, check=True)
        n, before, own, worker, seconds = result.stdout.split()[-5:]
        peaks[count] = (float(own), float(worker))
        print(f"batch job, {int(n):6d} items (tiny backbone): peak RSS {float(own):6.0f} MB "
              f"(job process; {float(before):.0f} MB before the job), decoding worker "
              f"{float(worker):.0f} MB, {float(seconds):.0f} s")
    if len(sizes) >= 2:
        low, high = min(sizes), max(sizes)
        print(f"peak RSS difference {high} vs {low} items: job {peaks[high][0] - peaks[low][0]:+.0f} MB, "
              f"worker {peaks[high][1] - peaks[low][1]:+.0f} MB (target < 200 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--workers", type=int, help="decoding workers (default: the settings')")
    parser.add_argument("--score-items", type=int, default=50_000)
    parser.add_argument("--rss-sizes", type=int, nargs="*", default=[1000, 50_000])
    parser.add_argument("--rss-run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--naive-loop", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_run:
        rss_run(args.rss_run)
        return
    if args.naive_loop:
        print(naive_loop(args.naive_loop))
        return
    backbone = random_vit_b32()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.images} JPEG files 1600x1200, ViT-B-32 random weights, "
          f"medians of {args.rounds} interleaved rounds")
    encoders = [ImageEncoder(backbone, device="auto", precision=p) for p in ("fp32", "bf16")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_files(folder, args.images, "JPEG", (1600, 1200))
        manifest = write_manifest(paths, folder, artists=8)
        naive_paths = paths[: max(16, args.images // 4)]
        worker = worker_cpu_ms(paths[:64], backbone.preprocess, with_signals=True)
        rounds = []
        for round_index in range(args.rounds):
            measured = {"naive": naive_loop_fresh(naive_paths)}
            for encoder in encoders:
                measured[f"ceiling-{encoder.precision}"] = max(
                    encoder_alone(encoder, args.images, 32),
                    encoder_alone_spinning(encoder.precision, args.images, 32))
                measured[f"job-{encoder.precision}"] = end_to_end(
                    encoder, manifest, folder, args.workers, f"{encoder.precision}-{round_index}")
            rounds.append(measured)
        rate = {key: float(np.median([r[key] for r in rounds])) for key in rounds[0]}
        spread = {key: f"(rounds {min(r[key] for r in rounds):.1f}-{max(r[key] for r in rounds):.1f})"
                  for key in rounds[0]}
    print(f"decoding worker CPU per file (read, hash, decode, resize, provenance, PDQ): "
          f"{worker:.1f} ms")
    bound = {}
    for precision in dict.fromkeys(e.precision for e in encoders):
        ceiling, job = rate[f"ceiling-{precision}"], rate[f"job-{precision}"]
        bound[precision] = overlap_bound(ceiling, worker)
        print(f"encoder alone ({precision}):           {ceiling:8.1f} images/s "
              f"{spread[f'ceiling-{precision}']}")
        print(f"end to end, batch job ({precision}):   {job:8.1f} images/s "
              f"{spread[f'job-{precision}']}: {100 * job / ceiling:.0f}% of the encoder alone; "
              f"best possible with perfect overlap {bound[precision]:.1f}")
    best = max(rate[f"job-{e.precision}"] for e in encoders)
    print(f"naive loop (fp32, 1 at a time):   {rate['naive']:8.1f} images/s {spread['naive']}")
    print(f"batch job vs naive loop: {best / rate['naive']:.1f}x "
          f"(fp32 job: {rate['job-fp32'] / rate['naive']:.1f}x; target 4x; "
          f"best possible with perfect overlap {max(bound.values()) / rate['naive']:.1f}x)")
    print(f"scoring alone on embeddings:      {scoring_alone(args.score_items):8.0f} items/s "
          f"({args.score_items} items)")
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")
    if args.rss_sizes:
        rss_comparison(args.rss_sizes)


if __name__ == "__main__":
    main()
