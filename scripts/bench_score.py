"""Benchmark the scoring job's parts, side by side in one run.

Prints, for open_clip ViT-B-32 with RANDOM weights (speed does not depend on them):
  * end to end images/s from files (decoding workers + batched encoder),
  * the naive loop of research code: one image at a time, open + torchvision
    preprocess + encode, for the same files,
  * scoring alone on ready embeddings (detector + triage + reasons), items/s.

    python scripts/bench_score.py [--images 128] [--score-items 50000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench_embed import make_files, peak_rss_mb, random_vit_b32
from slopscore.classifier import AIDetector
from slopscore.embed import ImageEncoder, embed_sources
from slopscore.scorer import Scorer, ScorerInfo
from slopscore.triage import TriageModel


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
    X = rng.normal(size=(2000, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    detector = AIDetector(Cs=(1.0,)).fit(X, (X[:, 0] > 0).astype(int), np.arange(2000) % 50)
    info = ScorerInfo("bench", "bench", "bench", dim, "bench", 2000)
    scorer = Scorer(info, detector, TriageModel())
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--score-items", type=int, default=50_000)
    args = parser.parse_args()
    backbone = random_vit_b32()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.images} JPEG files 1600x1200")
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_files(Path(tmp), args.images, "JPEG", (1600, 1200))
        for precision in ("fp32", "bf16"):
            encoder = ImageEncoder(backbone, device="auto", precision=precision)
            list(embed_sources(paths[:32], encoder, num_workers=1))  # warm-up
            start = time.perf_counter()
            list(embed_sources(paths, encoder, num_workers=1))
            rate = len(paths) / (time.perf_counter() - start)
            print(f"end to end ({encoder.precision}):        {rate:8.1f} images/s")
        naive = naive_loop(paths[: max(16, args.images // 4)])
        print(f"naive loop (fp32, 1 at a time): {naive:8.1f} images/s   -> end to end is "
              f"{rate / naive:.1f}x")
    print(f"scoring alone on embeddings:    {scoring_alone(args.score_items):8.0f} items/s "
          f"({args.score_items} items)")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
