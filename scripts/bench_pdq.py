"""Benchmark PDQ near-duplicate search and hashing.

Builds an index of random hashes (1,000,000 by default) with planted near-duplicates,
checks that queries find exactly the planted rows within the threshold, and prints

  * queries/s for single queries and for ``query_many`` at that index size,
  * the index memory in MB,
  * hashes/s for 1024x1024 RGB images with ``pdq_hash`` (downscaled to 512 first)
    and, for comparison, ``pdqhash.compute`` on the full-size pixels.

Runs in well under a minute on two cores.

    python scripts/bench_pdq.py [--rows 1000000] [--queries 1000] [--images 40]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pdqhash
from PIL import Image

from slopscore.signals.pdq import MATCH_DISTANCE, PdqHash, pdq_hash
from slopscore.signals.pdq_index import PdqIndex

PLANTED_BASES = 100
NEAR_PER_BASE = 4  # at distances below or at the threshold: must be found
FAR_PER_BASE = 2  # just above the threshold: must not be found


def flip_bits(words: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of one (4,) hash with ``count`` distinct random bits inverted."""
    bits = np.unpackbits(words.astype(">u8").view(np.uint8))
    bits[rng.choice(256, count, replace=False)] ^= 1
    return np.packbits(bits).view(">u8").astype(np.uint64)


Planted = dict[int, dict[int, int]]  # base row -> {planted row: Hamming distance}


def build_index(rows: int, rng: np.random.Generator) -> tuple[PdqIndex, Planted, float]:
    """Random index with planted neighbours; returns it, the plan, and build seconds."""
    hashes = rng.integers(0, 2**64, size=(rows, 4), dtype=np.uint64)
    slots = rng.choice(rows, PLANTED_BASES * (1 + NEAR_PER_BASE + FAR_PER_BASE), replace=False)
    planted: Planted = {}
    for base, *others in slots.reshape(PLANTED_BASES, -1).tolist():
        near = rng.integers(0, MATCH_DISTANCE + 1, NEAR_PER_BASE)
        far = rng.integers(MATCH_DISTANCE + 1, 41, FAR_PER_BASE)
        distances = dict(zip(others, np.concatenate([near, far]).tolist()))
        for row, distance in distances.items():
            hashes[row] = flip_bits(hashes[base], distance, rng)
        planted[base] = distances
    item_ids = [f"item-{i}" for i in range(rows)]
    artist_ids = [f"artist-{i % 50_000}" for i in range(rows)]
    uploaded_at = rng.integers(1_700_000_000, 1_800_000_000, rows)
    start = time.perf_counter()
    index = PdqIndex.from_arrays(hashes, np.full(rows, 100), item_ids, artist_ids, uploaded_at)
    return index, planted, time.perf_counter() - start


def check_planted(index: PdqIndex, planted: Planted) -> None:
    """Each base finds itself and its near rows at the planted distances, and nothing else."""
    for base, distances in planted.items():
        found = index.query(PdqHash(index.hashes[base].astype(">u8").tobytes(), 100))
        expected = {base: 0} | {row: d for row, d in distances.items() if d <= MATCH_DISTANCE}
        got = dict(zip(found.rows.tolist(), found.distances.tolist()))
        if got != expected:
            sys.exit(f"planted base {base}: expected {expected}, found {got}")


def time_queries(index: PdqIndex, query_rows: np.ndarray) -> tuple[float, float]:
    """Queries/s for one-at-a-time ``query`` and for ``query_many``."""
    hashes = np.ascontiguousarray(index.hashes[query_rows])
    queries = [PdqHash(words.astype(">u8").tobytes(), 100) for words in hashes]
    start = time.perf_counter()
    single = [index.query(query) for query in queries]
    single_rate = len(queries) / (time.perf_counter() - start)
    start = time.perf_counter()
    batch = index.query_many(hashes, np.full(len(queries), 100))
    batch_rate = len(queries) / (time.perf_counter() - start)
    if batch.rows.size != sum(found.rows.size for found in single):
        sys.exit("query_many and query disagree")
    return single_rate, batch_rate


def hashing_rates(count: int) -> tuple[float, float]:
    """Hashes/s on 1024x1024 RGB images: ``pdq_hash`` and raw full-size ``pdqhash.compute``."""
    rng = np.random.default_rng(1)
    images = []
    for _ in range(count):
        coarse = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        smooth = Image.fromarray(coarse).resize((1024, 1024), Image.Resampling.BICUBIC)
        smooth = np.asarray(smooth, np.int16)
        grain = rng.integers(-10, 11, smooth.shape)
        images.append(Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8)))
    pdq_hash(images[0])
    start = time.perf_counter()
    for image in images:
        pdq_hash(image)
    ours = count / (time.perf_counter() - start)
    arrays = [np.asarray(image) for image in images[: max(1, count // 4)]]
    start = time.perf_counter()
    for array in arrays:
        pdqhash.compute(array)
    full = len(arrays) / (time.perf_counter() - start)
    return ours, full


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    index, planted, build_s = build_index(args.rows, rng)
    check_planted(index, planted)
    ids = set(index.item_ids.tolist()) | set(index.artist_ids.tolist())
    strings = sum(sys.getsizeof(text) for text in ids)
    print(f"index: {len(index):,} hashes, built in {build_s:.2f} s")
    print(f"memory: hashes {index.hashes.nbytes / 1e6:.1f} MB, all arrays "
          f"{index.nbytes / 1e6:.1f} MB, plus {strings / 1e6:.1f} MB of id strings")
    print(f"planted near-duplicates: all {PLANTED_BASES * NEAR_PER_BASE} found at the planted "
          f"distance, none of the {PLANTED_BASES * FAR_PER_BASE} beyond {MATCH_DISTANCE}")

    others = rng.choice(args.rows, args.queries - len(planted), replace=False)
    query_rows = np.concatenate([list(planted), others])
    single_rate, batch_rate = time_queries(index, query_rows)
    print(f"query (one at a time): {single_rate:,.0f} queries/s ({1e3 / single_rate:.2f} ms each) "
          f"over {len(index):,} hashes")
    print(f"query_many ({len(query_rows)} queries): {batch_rate:,.0f} queries/s")

    ours, full = hashing_rates(args.images)
    print(f"hashing 1024x1024 RGB: pdq_hash {ours:,.0f} hashes/s (box-downscaled to 512); "
          f"pdqhash.compute at full size {full:,.0f} hashes/s")


if __name__ == "__main__":
    main()
