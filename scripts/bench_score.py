"""Benchmark the batch scoring job's parts for every encoder runtime, side by side in one run.

Prints, for one backbone (default open_clip ViT-B-32 with RANDOM weights: speed does not
depend on them; `--backbone effnet-lite0` for the offline default), as medians of
interleaved rounds (this machine's speed drifts), one row per runtime (PyTorch eager fp32
and bf16 where the CPU has it, ONNX Runtime fp32 and int8 where installed):
  * the encoder alone on ready tensors (the ceiling; see bench_embed.py),
  * end to end: the batch job (`slopscore score`'s code) over JPEG files, from
    manifest to output file, cold cache, as a share of the encoder alone, the best
    possible rate with perfect overlap, and a multiple of the naive loop;
  * the naive loop of research code: one image at a time, torchvision preprocess +
    encode, for the same files, in a fresh process (OpenMP threads spinning),
  * scoring alone on ready embeddings (detector + triage + reasons), items/s,
  * peak RSS of the whole batch job at two input sizes (tiny test backbone, small
    PNGs, each size in a fresh process), and their difference.

    python scripts/bench_score.py [--backbone effnet-lite0] [--runtimes torch-fp32,onnxruntime-fp32]
                                  [--images 256] [--rounds 3] [--score-items 50000] [--rss-sizes 1000 50000]
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
    RUNTIMES,
    bench_backbone,
    calibration_set,
    child,
    cpu_line,
    encoder_alone,
    first_real_batch,
    make_encoder,
    make_files,
    overlap_bound,
    peak_rss_mb,
    wanted_runtimes,
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


def score_runtimes(requested: str | None) -> list[str]:
    """The runtimes to compare: every available one (PyTorch's pre-change path only in bench_embed.py)."""
    return [name for name in wanted_runtimes(requested) if name != "torch-before"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--workers", type=int, help="decoding workers (default: the settings')")
    parser.add_argument("--backbone", default="vit-b-32-random",
                        help="vit-b-32-random (open_clip ViT-B-32, random weights) or a backbone name, e.g. effnet-lite0")
    parser.add_argument("--runtimes", help=f"comma-separated, from {', '.join(RUNTIMES[1:])} (default: all available)")
    parser.add_argument("--score-items", type=int, default=50_000)
    parser.add_argument("--rss-sizes", type=int, nargs="*", default=[1000, 50_000])
    parser.add_argument("--rss-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_run:
        rss_run(args.rss_run)
        return
    backbone = bench_backbone(args.backbone)
    print(cpu_line())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.images} JPEG files 1600x1200, "
          f"{backbone.description}, medians of {args.rounds} interleaved rounds")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_files(folder, args.images, "JPEG", (1600, 1200))
        manifest = write_manifest(paths, folder, artists=8)
        calibration, note = calibration_set(None, folder)
        real = first_real_batch(backbone, calibration, 32)
        print(f"first batch (ONNX Runtime's check against PyTorch) and int8 calibration: {note}")
        encoders = {}
        for name in score_runtimes(args.runtimes):
            encoders[name] = make_encoder(backbone, name, folder / "runtimes", calibration)
            encoders[name].encode(real)
        naive_paths = paths[: max(16, args.images // 4)]
        worker = worker_cpu_ms(paths[:64], backbone.preprocess, with_signals=True)
        rounds = []
        for round_index in range(args.rounds):
            measured = {"naive": float(child(["--backbone", args.backbone, "--child-naive", *naive_paths],
                                             {"OMP_WAIT_POLICY": "ACTIVE"}))}
            for name, encoder in encoders.items():
                measured[f"ceiling-{name}"] = encoder_alone(encoder, args.images, 32)
                measured[f"job-{name}"] = end_to_end(encoder, manifest, folder, args.workers,
                                                     f"{name}-{round_index}")
            rounds.append(measured)
        rate = {key: float(np.median([r[key] for r in rounds])) for key in rounds[0]}
        spread = {key: f"(rounds {min(r[key] for r in rounds):.1f}-{max(r[key] for r in rounds):.1f})"
                  for key in rounds[0]}
    print(f"decoding worker CPU per file (read, hash, decode, resize, provenance, PDQ): {worker:.1f} ms")
    print(f"{'runtime':<28}{'encoder alone':>16}{'batch job':>14}{'share':>8}{'best possible':>15}{'x naive':>9}")
    bound = {}
    for name, encoder in encoders.items():
        ceiling, job = rate[f"ceiling-{name}"], rate[f"job-{name}"]
        bound[name] = overlap_bound(ceiling, worker)
        asked = name.split("-")[1]
        label = f"{encoder.runtime} {encoder.precision}" + (f" (asked {asked}: refused)" if asked != encoder.precision else "")
        print(f"{label:<28}{ceiling:>12.1f} i/s{job:>10.1f} i/s{job / ceiling:>8.0%}{bound[name]:>11.1f} i/s"
              f"{job / rate['naive']:>8.1f}x   {spread[f'job-{name}']}")
    print(f"{'naive loop (1 at a time)':<28}{'':>16}{rate['naive']:>10.1f} i/s   {spread['naive']} "
          "(fp32 eager, fresh process, OpenMP spinning)")
    best = max(encoders, key=lambda name: rate[f"job-{name}"])
    print(f"batch job vs naive loop: {rate[f'job-{best}'] / rate['naive']:.1f}x with {best} "
          f"(target 4x; best possible with perfect overlap {max(bound.values()) / rate['naive']:.1f}x)")
    print("encoder alone: this process, idle OpenMP threads sleeping (bench_embed.py also measures them spinning)")
    print(f"scoring alone on embeddings:      {scoring_alone(args.score_items):8.0f} items/s "
          f"({args.score_items} items)")
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")
    if args.rss_sizes:
        rss_comparison(args.rss_sizes)


if __name__ == "__main__":
    main()
