"""Benchmark :func:`slopscore.provenance.reader.read_provenance` throughput (files/s, one process).

Generates typical uploads in a temporary folder:
  * 1024x1024 PNG, half of them carrying ComfyUI/WebUI text chunks,
  * 1024x1024 RGBA PNG (the low-bit "stealth" check looks at RGB and alpha),
  * 1600x1200 JPEG with EXIF (Software, UserComment) and XMP (IPTC DigitalSourceType),
  * a few 6000x6000 RGBA PNGs (smooth, so they stay small on disk): the stealth check
    must not decode them whole,
then reads each set from disk and prints files/s. The real-data corpus
(``../shared/realdata`` or ``$SLOPSCORE_REALDATA``) is measured too when present.
Target: at least 200 files/s per set on a 2-core machine (the large set excepted).

    python scripts/bench_provenance.py [--files 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from slopscore.provenance.reader import read_provenance

REALDATA = Path(os.environ.get("SLOPSCORE_REALDATA", Path(__file__).resolve().parents[2] / "shared" / "realdata"))
TARGET = 200.0
_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"/>'
    "</rdf:RDF></x:xmpmeta>"
)
_PARAMETERS = ("a fox\nNegative prompt: blurry\nSteps: 28, Sampler: Euler a, CFG scale: 7, Seed: 1, "
               "Size: 1024x1024, Model: sd_xl_base_1.0")
_PROMPT = json.dumps({str(i): {"class_type": "KSampler", "inputs": {"seed": i}} for i in range(40)})


def photo_like(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Smooth random structure plus grain, so compressed sizes are realistic."""
    base = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    noisy = np.asarray(base, np.int16) + rng.integers(-12, 12, (size[1], size[0], 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def make_pngs(folder: Path, count: int, rng: np.random.Generator) -> list[Path]:
    """1024x1024 PNGs; every other one carries generator text chunks."""
    image = photo_like(rng, (1024, 1024))
    paths = []
    for i in range(count):
        info = PngInfo()
        if i % 2:
            info.add_text("parameters", _PARAMETERS)
            info.add_text("prompt", _PROMPT)
        path = folder / f"{i:04d}.png"
        image.save(path, "PNG", pnginfo=info, compress_level=1)
        paths.append(path)
    return paths


def make_rgba_pngs(folder: Path, count: int, rng: np.random.Generator) -> list[Path]:
    """1024x1024 RGBA PNGs with a noisy alpha channel."""
    rgb = np.asarray(photo_like(rng, (1024, 1024)))
    alpha = rng.integers(200, 256, (1024, 1024, 1), dtype=np.uint8)
    return save_copies(Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA"), folder, count,
                       "PNG", compress_level=1)


def make_large_pngs(folder: Path, count: int) -> list[Path]:
    """6000x6000 RGBA PNGs of a smooth gradient (36 MP each, small on disk)."""
    ramp = np.linspace(0, 255, 6000, dtype=np.float32)
    rgba = np.empty((6000, 6000, 4), np.uint8)
    rgba[..., 0] = ramp[None, :]
    rgba[..., 1] = ramp[:, None]
    rgba[..., 2] = 128
    rgba[..., 3] = 255
    return save_copies(Image.fromarray(rgba, "RGBA"), folder, count, "PNG", compress_level=6)


def save_copies(image: Image.Image, folder: Path, count: int, fmt: str, **options) -> list[Path]:
    """``count`` files of ``image`` in ``folder`` (each read from disk separately by the benchmark)."""
    paths = [folder / f"{i:04d}.{fmt.lower()}" for i in range(count)]
    for path in paths:
        image.save(path, fmt, **options)
    return paths


def make_jpegs(folder: Path, count: int, rng: np.random.Generator) -> list[Path]:
    """1600x1200 JPEGs with EXIF (Software, UserComment) and XMP."""
    image = photo_like(rng, (1600, 1200))
    exif = Image.Exif()
    exif[0x0131] = "Camera Firmware 1.0"
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + "holiday snap".encode("utf-16-be")
    return save_copies(image, folder, count, "JPEG", quality=90, exif=exif, xmp=_XMP.encode())


def files_per_second(paths: list[Path], repeats: int) -> float:
    """Best of ``repeats`` passes over ``paths`` (reads from disk each time)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for path in paths:
            read_provenance(path)
        best = min(best, time.perf_counter() - start)
    return len(paths) / best


def realdata_files() -> Iterator[Path]:
    for folder in ("ai", "human", "provenance"):
        yield from sorted((REALDATA / folder).glob("*"))


def report(label: str, paths: list[Path], repeats: int, target: float | None = TARGET) -> None:
    rate = files_per_second(paths, repeats)
    size = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
    verdict = "" if target is None else "ok" if rate >= target else f"BELOW target {target:.0f}"
    print(f"{label:<34} {len(paths):>4} files  {size:5.2f} MB/file  {rate:8.1f} files/s  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    read_provenance(b"\x89PNG\r\n\x1a\n")  # import and first-call costs out of the timings
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in ("png", "rgba", "jpeg", "large"):
            (folder / name).mkdir()
        report("PNG 1024x1024 (half with text)", make_pngs(folder / "png", args.files, rng), args.repeats)
        report("PNG 1024x1024 RGBA", make_rgba_pngs(folder / "rgba", args.files, rng), args.repeats)
        report("JPEG 1600x1200 EXIF+XMP", make_jpegs(folder / "jpeg", args.files, rng), args.repeats)
        report("PNG 6000x6000 RGBA (no target)", make_large_pngs(folder / "large", 4), args.repeats, None)
    if (REALDATA / "manifest.csv").is_file():
        report("realdata corpus (all files)", list(realdata_files()), args.repeats)
    else:
        print(f"realdata corpus not found at {REALDATA}; skipped")


if __name__ == "__main__":
    main()
