"""Benchmark embedding throughput: encoder alone vs end to end from files, fp32 and bf16.

Prints images/s for
  * the encoder alone on ready uint8 tensors (the ceiling: the better of this process,
    where idle OpenMP threads sleep as in slopscore, and a fresh process where they spin),
  * end to end from JPEG files and from PNG files (read, hash, decode, resize in
    DataLoader workers while the model runs),
the ratio end-to-end / encoder-alone, the best ratio the cores allow (from the
decoding worker's CPU time per file), plus peak RSS.

The default backbone is open_clip ViT-B-32 with RANDOM weights: speed does not
depend on the weight values, and no weights can be downloaded here.

    python scripts/bench_embed.py [--images 256] [--batch-size 32] [--workers 2]
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
import torch
from PIL import Image

from slopscore.embedding.backbones import LoadedBackbone, load_backbone, parse_backbone
from slopscore.embedding.encoder import ImageEncoder, _DecodeDataset, cpu_supports_bf16, embed_sources
from slopscore.embedding.preprocess import Preprocess
from slopscore.media.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from slopscore.signals.file_signals import FileSignalReader


def random_vit_b32() -> LoadedBackbone:
    """ViT-B-32 with random weights (benchmark only; never used for scoring)."""
    import open_clip

    model = open_clip.create_model("ViT-B-32", pretrained=None)
    return LoadedBackbone(
        spec=parse_backbone("open_clip:ViT-B-32/laion2b_s34b_b79k"),
        backbone_id="bench:ViT-B-32-random",
        is_clip=True,
        description="open_clip ViT-B-32, RANDOM weights (benchmark only)",
        preprocess=Preprocess(224, open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD),
        module=model.visual.eval().requires_grad_(False),
        embed_dim=512,
    )


def make_files(folder: Path, count: int, fmt: str, size: tuple[int, int]) -> list[str]:
    """Photo-like test images: smooth structure plus grain (realistic compression cost)."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        base = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize(size, Image.Resampling.BICUBIC)
        noisy = np.asarray(image, np.int16) + rng.integers(-12, 12, (size[1], size[0], 3))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        path = folder / f"{i:04d}.{fmt.lower()}"
        image.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 6}))
        paths.append(str(path))
    return paths


def encoder_alone(encoder: ImageEncoder, count: int, batch_size: int) -> float:
    size = encoder.backbone.preprocess.image_size
    batch = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8)
    encoder.encode(batch)  # warm-up (and the bf16 check)
    batches = max(1, count // batch_size)
    start = time.perf_counter()
    for _ in range(batches):
        encoder.encode(batch)
    return batches * batch_size / (time.perf_counter() - start)


def encoder_alone_spinning(precision: str, count: int, batch_size: int) -> float:
    """The encoder alone in a fresh process whose OpenMP threads spin between operations
    (``OMP_WAIT_POLICY=ACTIVE``), its fastest setting when nothing else needs the cores.

    slopscore makes idle threads sleep instead, which helps when decoding workers share
    the cores; ratios are reported against the better of the two ceilings.
    """
    command = [sys.executable, __file__, "--encoder-only", "--precision", precision,
               "--images", str(count), "--batch-size", str(batch_size)]
    result = subprocess.run(command, capture_output=True, text=True, check=True,
                            env={**os.environ, "OMP_WAIT_POLICY": "ACTIVE"})
    return float(result.stdout.split()[-1])


def worker_cpu_ms(paths: list[str], preprocess: Preprocess, with_signals: bool = False) -> float:
    """CPU milliseconds a decoding worker spends per file (read, hash, decode, resize and,
    ``with_signals``, provenance and PDQ), measured here in one thread."""
    signals = FileSignalReader(DEFAULT_MAX_PIXELS) if with_signals else None
    dataset = _DecodeDataset(paths, preprocess, None, DEFAULT_MAX_PIXELS, DEFAULT_MAX_BYTES,
                             signals)
    start = time.process_time()
    for index in range(len(paths)):
        dataset.load(index, use_cache=False)
    return 1000 * (time.process_time() - start) / len(paths)


def overlap_bound(ceiling: float, worker_ms: float) -> float:
    """Best end-to-end images/s possible when the encoder alone runs at ``ceiling`` on all
    of this process's threads and each file costs ``worker_ms`` more CPU: perfect overlap,
    nothing else running."""
    cores = torch.get_num_threads()
    return 1000 * cores / (1000 * cores / ceiling + worker_ms)


def end_to_end(encoder: ImageEncoder, paths: list[str], batch_size: int, workers: int) -> float:
    list(embed_sources(paths[:batch_size], encoder, batch_size=batch_size, num_workers=workers))
    start = time.perf_counter()
    results = list(embed_sources(paths, encoder, batch_size=batch_size, num_workers=workers))
    elapsed = time.perf_counter() - start
    assert all(r.vector is not None for r in results), "benchmark images failed to decode"
    return len(paths) / elapsed


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backbone", default="vit-b-32-random",
                        help="'vit-b-32-random' (default) or any backbone string, e.g. effnet-lite0")
    parser.add_argument("--jpeg-size", default="1600x1200")
    parser.add_argument("--png-size", default="1024x1024")
    parser.add_argument("--precision", choices=["fp32", "bf16"], action="append",
                        help="repeatable; default: fp32 and, where supported, bf16")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved repetitions; medians are reported (shared machines drift)")
    parser.add_argument("--encoder-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.encoder_only:
        encoder = ImageEncoder(random_vit_b32(), device="auto", precision=args.precision[0])
        print(encoder_alone(encoder, args.images, args.batch_size))
        return

    backbone = random_vit_b32() if args.backbone == "vit-b-32-random" else load_backbone(args.backbone)
    precisions = args.precision or (
        ["fp32", "bf16"] if (torch.cuda.is_available() or cpu_supports_bf16()) else ["fp32"]
    )
    print(f"backbone: {backbone.description}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, workers {args.workers}, "
          f"batch {args.batch_size}, images {args.images}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jpeg = make_files(folder, args.images, "JPEG", tuple(map(int, args.jpeg_size.split("x"))))
        png = make_files(folder, args.images, "PNG", tuple(map(int, args.png_size.split("x"))))
        print(f"medians of {args.rounds} interleaved rounds; JPEG {args.jpeg_size}, PNG {args.png_size}")
        worker = {name: worker_cpu_ms(files[:64], backbone.preprocess)
                  for name, files in (("JPEG", jpeg), ("PNG", png))}
        print("decoding worker CPU per file: " + ", ".join(f"{k} {v:.1f} ms" for k, v in worker.items()))
        print(f"{'precision':<10}{'encoder alone':>16}{'JPEG e2e':>12}{'ratio':>8}{'PNG e2e':>12}{'ratio':>8}"
              f"{'best possible (JPEG, PNG)':>28}")
        for precision in precisions:
            encoder = ImageEncoder(backbone, device="auto", precision=precision)
            spinning = args.backbone == "vit-b-32-random" and encoder.device.type == "cpu"
            rounds = [(max(encoder_alone(encoder, args.images, args.batch_size),
                           encoder_alone_spinning(encoder.precision, args.images, args.batch_size)
                           if spinning else 0.0),
                       end_to_end(encoder, jpeg, args.batch_size, args.workers),
                       end_to_end(encoder, png, args.batch_size, args.workers))
                      for _ in range(args.rounds)]
            ceiling, jpeg_rate, png_rate = (float(np.median(column)) for column in zip(*rounds))
            check = encoder.precision_check
            note = f"  (bf16 vs fp32 min cosine {check.min_cosine:.5f})" if check else ""
            bounds = [overlap_bound(ceiling, worker[name]) / ceiling for name in ("JPEG", "PNG")]
            print(f"{encoder.precision:<10}{ceiling:>12.1f} i/s{jpeg_rate:>8.1f} i/s{jpeg_rate / ceiling:>8.0%}"
                  f"{png_rate:>8.1f} i/s{png_rate / ceiling:>8.0%}"
                  f"{bounds[0]:>17.0%}, {bounds[1]:.0%}{note}")
    print("best possible: the ratio if decoding overlapped the model perfectly, "
          "from the encoder's rate and the worker's CPU per file")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (this process + largest worker)")


if __name__ == "__main__":
    main()
