"""Benchmark embedding throughput for every encoder runtime side by side, in one run.

Prints, for one backbone (default open_clip ViT-B-32 with RANDOM, seeded weights: speed does
not depend on their values and no weights can be downloaded here; `--backbone effnet-lite0`
for the offline default), as medians of interleaved rounds (this machine's speed drifts):

  * the CPU: model, native bf16 (AVX512-BF16 / AMX-BF16) and int8 dot products
    (AVX512-VNNI / AVX-VNNI), cores, library versions;
  * each runtime's agreement with PyTorch fp32 (bf16 and ONNX Runtime fp32 on the first real
    batch, int8 on its calibration images);
  * one row per runtime: PyTorch eager fp32 *before* this change (glibc's allocator defaults,
    in a fresh process), PyTorch eager fp32 and bf16, ONNX Runtime fp32 and int8, each with
    images/s for the encoder alone (the ceiling: the better of this process, where idle threads
    sleep as in slopscore, and a fresh process where they spin, for every runtime), end to end from JPEG
    files, PNG files and small PNGs (64-128 px) (read, hash, decode, resize in DataLoader
    workers while the model runs), each as a share of the encoder alone and the best share
    the cores allow (from the decoding worker's CPU time per file), and the encoder alone as
    a multiple of the eager rate before;
  * the encoders alone side by side in one process, in interleaved turns, as the median of
    the per-turn ratios to PyTorch (the machine's drift between fresh processes can reach
    10%; turns a few seconds apart share it);
  * the naive loop of research code (one image at a time, fresh process) on the JPEGs;
  * the small-PNG run: `slopscore embed`'s job over the small PNGs, cold cache, in a fresh
    process per runtime (start-up included, as the command runs): wall, user and system
    seconds, and system time as a share of user time;
  * peak RSS.

    python scripts/bench_embed.py [--backbone effnet-lite0] [--images 256] [--small-pngs 400]
                                  [--runtimes torch-fp32,onnxruntime-int8] [--calibration DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import slopscore  # noqa: F401  (first: sets slopscore's OpenMP default before torch loads)
from slopscore.embedding.backbones import LoadedBackbone, load_backbone, parse_backbone
from slopscore.embedding.decode_pipeline import _DecodeDataset
from slopscore.embedding.encoder import RETHREAD_BATCHES, ImageEncoder, cpu_supports_bf16, embed_sources
from slopscore.embedding.onnx_runtime import available_cores, onnxruntime_available
from slopscore.embedding.preprocess import Preprocess
from slopscore.embedding.runtime_choice import cpu_model
from slopscore.media.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from slopscore.signals.file_signals import FileSignalReader

RUNTIMES = ("torch-before", "torch-fp32", "torch-bf16", "onnxruntime-fp32", "onnxruntime-int8")
REALCORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "realcorpus"


def random_vit_b32() -> LoadedBackbone:
    """ViT-B-32 with random weights from a fixed seed (benchmark only; never used for scoring)."""
    import open_clip

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model("ViT-B-32", pretrained=None)
    return LoadedBackbone(
        spec=parse_backbone("open_clip:ViT-B-32/laion2b_s34b_b79k"),
        backbone_id="bench:ViT-B-32-random-seed0",
        is_clip=True,
        description="open_clip ViT-B-32, RANDOM weights (benchmark only)",
        preprocess=Preprocess(224, open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD),
        module=model.visual.eval().requires_grad_(False),
        embed_dim=512,
    )


def bench_backbone(name: str) -> LoadedBackbone:
    return random_vit_b32() if name == "vit-b-32-random" else load_backbone(name)


def cpu_line() -> str:
    """The CPU and the instructions that decide bf16 and int8 speed."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    has = {"AVX512-BF16": "avx512_bf16", "AMX-BF16": "amx_bf16", "AVX512-VNNI": "avx512_vnni",
           "AVX-VNNI": "avx_vnni", "AMX-INT8": "amx_int8"}
    found = ", ".join(f"{label} {'yes' if flag in flags else 'no'}" for label, flag in has.items())
    return f"CPU: {cpu_model()}, {available_cores()} cores; {found}"


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


def make_small_pngs(folder: Path, count: int) -> list[str]:
    """Small PNGs, 64-128 px a side (the upload size where per-file overhead shows)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(count):
        width, height = (int(v) for v in rng.integers(64, 129, 2))
        base = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        path = folder / f"small{i:05d}.png"
        Image.fromarray(base).resize((width, height), Image.Resampling.BICUBIC).save(path)
        paths.append(str(path))
    return paths


def make_encoder(backbone: LoadedBackbone, runtime: str, cache_dir: Path, calibration) -> ImageEncoder:
    """The encoder a row of the table measures (``torch-before`` only in a fresh process)."""
    if runtime == "torch-before":  # today's code path had glibc's defaults: freed activations unmapped
        import slopscore.embedding.decode_pipeline as pipeline
        import slopscore.embedding.torch_runtime as torch_runtime

        torch_runtime.keep_freed_memory = pipeline.keep_freed_memory = lambda: False
        runtime = "torch-fp32"
    engine, precision = runtime.split("-")
    if engine == "torch":
        return ImageEncoder(backbone, "auto", precision, "torch", cache_dir=cache_dir)
    return ImageEncoder(backbone, "cpu", "fp32", "onnxruntime", cache_dir=cache_dir, int8=precision == "int8",
                        int8_calibration=calibration if precision == "int8" else None)


def all_cores(encoder: ImageEncoder) -> None:
    """Give an ONNX Runtime session every core again (the encoder alone has no workers)."""
    for _ in range(RETHREAD_BATCHES):
        encoder.use_free_cores(float(available_cores()))


def encoder_alone(encoder: ImageEncoder, count: int, batch_size: int) -> float:
    size = encoder.backbone.preprocess.image_size
    batch = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8)
    all_cores(encoder)
    encoder.encode(batch)  # warm-up
    batches = max(1, count // batch_size)
    start = time.perf_counter()
    for _ in range(batches):
        encoder.encode(batch)
    return batches * batch_size / (time.perf_counter() - start)


def interleaved_alone(encoders: dict[str, ImageEncoder], rounds: int, count: int, batch_size: int) -> dict:
    """Each encoder alone, in turns within one process (order reversed every other round), so
    that the machine's drift hits every runtime alike: images/s per runtime and round
    (:func:`encoder_alone` warms each up first)."""
    rates: dict[str, list[float]] = {name: [] for name in encoders}
    for turn in range(rounds):
        for name in (list(encoders) if turn % 2 == 0 else list(encoders)[::-1]):
            rates[name].append(encoder_alone(encoders[name], count, batch_size))
    return rates


def print_interleaved(rates: dict[str, list[float]], labels: dict, rounds: int, count: int) -> None:
    """Median images/s and, against each PyTorch row, the median of the per-round ratios."""
    print(f"encoder alone, side by side: one process, {rounds} interleaved turns of {count} images per runtime "
          "(idle threads sleep); ratio = median of per-turn ratios [interquartile range]")
    bases = [name for name in ("torch-bf16", "torch-fp32") if name in rates]
    for name, values in rates.items():
        cells = []
        for base in bases:
            if base != name:
                ratio = np.asarray(values) / np.asarray(rates[base])
                cells.append(f"{np.median(ratio):.2f}x {labels[base]} [{np.percentile(ratio, 25):.2f}, "
                             f"{np.percentile(ratio, 75):.2f}]")
        print(f"  {labels[name]:<24}{np.median(values):>7.1f} i/s   " + "; ".join(cells))


def worker_cpu_ms(paths: list[str], preprocess: Preprocess, with_signals: bool = False) -> float:
    """CPU milliseconds a decoding worker spends per file (read, hash, decode, resize and,
    ``with_signals``, provenance and PDQ), measured here in one thread."""
    signals = FileSignalReader(DEFAULT_MAX_PIXELS) if with_signals else None
    dataset = _DecodeDataset(paths, preprocess, None, DEFAULT_MAX_PIXELS, DEFAULT_MAX_BYTES, signals)
    start = time.process_time()
    for index in range(len(paths)):
        dataset.load(index, use_cache=False)
    return 1000 * (time.process_time() - start) / len(paths)


def overlap_bound(ceiling: float, worker_ms: float) -> float:
    """Best end-to-end images/s possible when the encoder alone runs at ``ceiling`` on all
    cores and each file costs ``worker_ms`` more CPU: perfect overlap, nothing else running."""
    cores = available_cores()
    return 1000 * cores / (1000 * cores / ceiling + worker_ms)


def end_to_end(encoder: ImageEncoder, paths: list[str], batch_size: int, workers: int) -> float:
    list(embed_sources(paths[:batch_size], encoder, batch_size=batch_size, num_workers=workers))
    start = time.perf_counter()
    results = list(embed_sources(paths, encoder, batch_size=batch_size, num_workers=workers))
    elapsed = time.perf_counter() - start
    assert all(r.vector is not None for r in results), "benchmark images failed to decode"
    return len(paths) / elapsed


def child(args: list[str], env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True,
                            env={**os.environ, **(env or {})})
    return result.stdout.strip().splitlines()[-1]


def naive_loop(backbone_name: str, paths: list[str]) -> float:
    """One image at a time, as reference research code does (run in a fresh process)."""
    import torchvision.transforms as T

    backbone = bench_backbone(backbone_name)
    pre = backbone.preprocess
    transform = T.Compose([T.Resize(pre.image_size, T.InterpolationMode.BICUBIC), T.CenterCrop(pre.image_size),
                           T.ToTensor(), T.Normalize(pre.mean, pre.std)])
    start = time.perf_counter()
    with torch.no_grad():
        for path in paths:
            backbone.module(transform(Image.open(path).convert("RGB")).unsqueeze(0))
    return len(paths) / (time.perf_counter() - start)


def small_png_job(backbone_name: str, runtime: str, folder: str, cache_dir: str, calibration: str | None,
                  workers: int, batch_size: int) -> dict:
    """Child process: ``slopscore embed``'s job over ``folder``, cold embedding cache."""
    from slopscore.batch.embed_job import run_embedding_job
    from slopscore.config import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, {"cache.dir": tmp, "embedding.num_workers": workers,
                                        "embedding.batch_size": batch_size})
        encoder = make_encoder(bench_backbone(backbone_name), runtime, Path(cache_dir), calibration)
        start = time.perf_counter()
        summary = run_embedding_job(folder, Path(tmp) / "out.parquet", settings, encoder=encoder)
        assert summary.n_embedded == summary.n_input
        return {"job_seconds": time.perf_counter() - start, "runtime": encoder.runtime,
                "precision": encoder.precision, "images": summary.n_input}


def timed_child(args: list[str]) -> dict:
    """Run a child, returning its JSON line plus its wall, user and system seconds (workers included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = json.loads(child(args))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {**result, "wall": time.perf_counter() - start, "user": after.ru_utime - before.ru_utime,
            "system": after.ru_stime - before.ru_stime}


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def wanted_runtimes(requested: str | None) -> list[str]:
    if requested:
        return [name for name in requested.split(",") if name]
    names = ["torch-before", "torch-fp32"]
    names += ["torch-bf16"] if (torch.cuda.is_available() or cpu_supports_bf16()) else []
    names += ["onnxruntime-fp32", "onnxruntime-int8"] if onnxruntime_available() else []
    return names


def calibration_set(requested: str | None, fallback: Path) -> tuple[str, str]:
    if requested:
        return requested, requested
    if (REALCORPUS / "manifest.csv").is_file():
        return str(REALCORPUS), f"{REALCORPUS} (real images)"
    return str(fallback), "the generated JPEGs (SYNTHETIC: no real images found)"


def child_mode(args) -> bool:
    """The hidden subcommands run in fresh processes; True when one ran."""
    if args.child_rates:  # one runtime's encoder alone and end to end, in this fresh process
        runtime, folder, calibration = args.child_rates
        backbone = bench_backbone(args.backbone)
        encoder = make_encoder(backbone, runtime, Path(args.cache_dir), calibration)
        encoder.encode(first_real_batch(backbone, calibration, args.batch_size))  # checks on real images
        rates = {"alone": encoder_alone(encoder, args.images, args.batch_size)}
        for kind in ("JPEG", "PNG", "small"):
            paths = sorted(str(p) for p in Path(folder, kind).iterdir())
            rates[kind] = end_to_end(encoder, paths, args.batch_size, args.workers)
        print(json.dumps(rates))
    elif args.child_alone:
        runtime, calibration = args.child_alone
        if os.environ.get("OMP_WAIT_POLICY") == "ACTIVE":  # ONNX Runtime's own threads spin too
            from slopscore.embedding.onnx_runtime import OnnxSession

            OnnxSession.spin_while_waiting = True
        backbone = bench_backbone(args.backbone)
        encoder = make_encoder(backbone, runtime, Path(args.cache_dir), calibration)
        encoder.encode(first_real_batch(backbone, calibration, args.batch_size))
        print(json.dumps(encoder_alone(encoder, args.images, args.batch_size)))
    elif args.child_interleaved:
        names, calibration = args.child_interleaved[:-1], args.child_interleaved[-1]
        backbone = bench_backbone(args.backbone)
        encoders = {}
        for name in names:
            encoders[name] = make_encoder(backbone, name, Path(args.cache_dir), calibration)
            encoders[name].encode(first_real_batch(backbone, calibration, args.batch_size))
        print(json.dumps(interleaved_alone(encoders, args.rounds * 3, 2 * args.batch_size, args.batch_size)))
    elif args.child_naive:
        print(json.dumps(naive_loop(args.backbone, args.child_naive)))
    elif args.child_small:
        runtime, folder, calibration = args.child_small
        print(json.dumps(small_png_job(args.backbone, runtime, folder, args.cache_dir, calibration or None,
                                       args.workers, args.batch_size)))
    else:
        return False
    return True


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--small-pngs", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backbone", default="vit-b-32-random",
                        help="'vit-b-32-random' (default) or any backbone string, e.g. effnet-lite0")
    parser.add_argument("--runtimes", help=f"comma-separated, from {', '.join(RUNTIMES)} (default: all available)")
    parser.add_argument("--calibration", help="int8 calibration images (default ../shared/realcorpus when present)")
    parser.add_argument("--cache-dir", help="where exported models are kept (default: a temporary folder)")
    parser.add_argument("--jpeg-size", default="1600x1200")
    parser.add_argument("--png-size", default="1024x1024")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved repetitions; medians are reported (shared machines drift)")
    parser.add_argument("--child-alone", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-rates", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-naive", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--child-interleaved", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--child-small", nargs=3, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def first_real_batch(backbone: LoadedBackbone, calibration: str, size: int) -> torch.Tensor:
    """Up to ``size`` real images (the calibration set), preprocessed: the runtimes' first batch."""
    from slopscore.embedding.int8 import calibration_pixels, calibration_sources

    return torch.from_numpy(calibration_pixels(calibration_sources(calibration, limit=size), backbone.preprocess))


def versions_line() -> str:
    from slopscore.embedding.onnx_export import runtime_versions

    return ", ".join(f"{name} {version}" for name, version in runtime_versions().items())


def measure_round(name: str, args, folder: Path, calibration: str) -> dict:
    """One round of one runtime, in a fresh process (runtimes never share an allocator or the
    cores' threads): encoder alone, then end to end per kind of file. On the CPU, every
    runtime's encoder alone is the better of that and a fresh process where idle threads spin
    (OpenMP's for PyTorch, the session's for ONNX Runtime), so no runtime gets two tries
    where another gets one."""
    base = ["--backbone", args.backbone, "--cache-dir", str(args.cache_dir), "--images", str(args.images),
            "--batch-size", str(args.batch_size), "--workers", str(args.workers)]
    rates = json.loads(child([*base, "--child-rates", name, str(folder), calibration]))
    if not torch.cuda.is_available():
        spinning = json.loads(child([*base, "--child-alone", name, calibration], {"OMP_WAIT_POLICY": "ACTIVE"}))
        rates["alone"] = max(rates["alone"], spinning)
    return rates


def print_table(names: list[str], labels: dict, rate: dict, worker: dict) -> None:
    before = rate.get("torch-before", {}).get("alone")
    kinds = ("JPEG", "PNG", "small")
    print(f"{'runtime':<26}{'encoder alone':>14}{'x before':>9}" + "".join(f"{k + ' e2e (share)':>20}" for k in kinds)
          + "   best possible share (JPEG, PNG, small)")
    for name in names:
        r = rate[name]
        times = f"{r['alone'] / before:.1f}x" if before else ""
        cells = "".join(f"{_share(r[k], r['alone']):>20}" for k in kinds)
        bounds = ", ".join(f"{overlap_bound(r['alone'], worker[k]) / r['alone']:.0%}" for k in kinds)
        print(f"{labels[name]:<26}{r['alone']:>10.1f} i/s{times:>9}{cells}   {bounds}")


def _share(rate: float, ceiling: float) -> str:
    return f"{rate:.1f} ({rate / ceiling:.0%})"


def run_embed_benchmark(args) -> None:
    backbone = bench_backbone(args.backbone)
    names = wanted_runtimes(args.runtimes)
    print(cpu_line())
    print(f"{versions_line()}; threads {torch.get_num_threads()}, workers {args.workers}, batch {args.batch_size}")
    print(f"backbone: {backbone.description}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        args.cache_dir = Path(args.cache_dir or folder / "cache")
        files = {"JPEG": make_files(_mkdir(folder / "JPEG"), args.images, "JPEG", _size(args.jpeg_size)),
                 "PNG": make_files(_mkdir(folder / "PNG"), args.images, "PNG", _size(args.png_size)),
                 "small": make_small_pngs(folder / "small", args.small_pngs)}
        calibration, calibration_note = calibration_set(args.calibration, folder / "JPEG")
        print(f"images: {args.images} JPEG {args.jpeg_size}, {args.images} PNG {args.png_size}, "
              f"{args.small_pngs} small PNG 64-128 px; int8 calibration and first batches: {calibration_note}")
        real = first_real_batch(backbone, calibration, args.batch_size)
        labels = {}
        for name in names:  # made here once: exports, int8 calibration, the checks
            if name == "torch-before":
                labels[name] = "torch eager fp32 BEFORE"
                continue
            encoder = make_encoder(backbone, name, args.cache_dir, calibration)
            encoder.encode(real)  # bf16 and ONNX Runtime fp32 are checked on this first real batch
            labels[name] = f"{encoder.runtime} {encoder.precision}" + (" (eager)" if encoder.runtime == "torch" else "")
            if name.endswith("bf16") and encoder.precision != "bf16":  # refused: say so, not a second fp32 row
                labels[name] = f"torch bf16 refused→{encoder.precision}"
            check = encoder.agreement or encoder.precision_check
            if check is not None:
                text = check.describe() if hasattr(check, "describe") else \
                    f"bf16 vs fp32 on {check.n_images} images: min cosine {check.min_cosine:.5f} " \
                    f"({'kept' if check.kept_bf16 else 'REFUSED: runs fp32'})"
                print(f"  check, {name}: {text}")
        worker = {kind: worker_cpu_ms(paths[:64], backbone.preprocess) for kind, paths in files.items()}
        print("decoding worker CPU per file: " + ", ".join(f"{k} {v:.1f} ms" for k, v in worker.items()))
        naive_paths = files["JPEG"][: max(16, args.images // 8)]
        rounds: dict[str, list[dict]] = {name: [] for name in names}
        naive = []
        for _ in range(args.rounds):
            naive.append(float(child(["--backbone", args.backbone, "--child-naive", *naive_paths],
                                     {"OMP_WAIT_POLICY": "ACTIVE"})))
            for name in names:
                rounds[name].append(measure_round(name, args, folder, calibration))
        rate = {name: {k: float(np.median([r[k] for r in rs])) for k in rs[0]} for name, rs in rounds.items()}
        print(f"images/s, medians of {args.rounds} interleaved rounds (share: end to end / encoder alone)")
        print_table(names, labels, rate, worker)
        print(f"{'naive loop (1 at a time)':<24}{np.median(naive):>11.1f} i/s  (JPEG, fp32 eager, fresh process)")
        best = {kind: max(r[kind] for r in rate.values()) for kind in files}
        print("best end to end vs naive loop: " + ", ".join(f"{k} {v / np.median(naive):.1f}x" for k, v in best.items()))
        if "torch-before" in rate:
            for name in names[1:]:
                print(f"  {labels[name]} vs eager BEFORE: encoder {rate[name]['alone'] / rate['torch-before']['alone']:.1f}x, "
                      f"small-PNG end to end {rate[name]['small'] / rate['torch-before']['small']:.1f}x")
        print("best possible share: end to end / encoder alone if decoding overlapped the model perfectly "
              "(from the encoder's rate and the worker's CPU per file)")
        paired = [name for name in names if name != "torch-before"]  # BEFORE needs a process of its own
        if len(paired) > 1:
            turns = json.loads(child(["--backbone", args.backbone, "--cache-dir", str(args.cache_dir),
                                      "--batch-size", str(args.batch_size), "--rounds", str(args.rounds),
                                      "--child-interleaved", *paired, calibration]))
            print_interleaved(turns, labels, args.rounds * 3, 2 * args.batch_size)
        print(f"small-PNG run: slopscore embed's job over {args.small_pngs} small PNGs, cold cache, fresh process "
              "per runtime (start-up and model load included)")
        print(f"{'runtime':<24}{'wall s':>8}{'job s':>8}{'user s':>8}{'system s':>10}{'system/user':>13}")
        for name in names:
            run = timed_child(["--backbone", args.backbone, "--cache-dir", str(args.cache_dir),
                               "--batch-size", str(args.batch_size), "--workers", str(args.workers),
                               "--child-small", name, str(folder / "small"), calibration])
            print(f"{labels[name]:<24}{run['wall']:>8.1f}{run['job_seconds']:>8.1f}{run['user']:>8.1f}"
                  f"{run['system']:>10.1f}{run['system'] / max(run['user'], 1e-9):>13.0%}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (this process + largest child)")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _size(text: str) -> tuple[int, int]:
    width, height = text.split("x")
    return int(width), int(height)


def main() -> None:
    args = parse_args()
    if not child_mode(args):
        run_embed_benchmark(args)


if __name__ == "__main__":
    main()
