"""Benchmark portfolio-consistency features on synthetic platforms.

Two shapes at D=512 by default: many small artists (200 x 50 works) and a few
prolific ones (5 x 5,000 works). Prints uploads/s (best of ``--repeat`` runs) with the
BLAS library's default threads and with one BLAS thread (the products are many and
thin, so on a busy machine extra threads mostly wait), and the peak memory numpy
allocated during one run beyond its inputs (tracemalloc, in a separate untimed run).

Cost per artist with n works: O(n^2 * D) for the similarity products plus O(n^2 * k)
for the running neighbour sums, in blocks of 128 works, so extra memory grows as
O(n * (D + 128)) rather than O(n^2).

    python scripts/bench_portfolio.py [--dim 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

from slopscore.signals.portfolio import portfolio_features

YEAR_S = 365 * 24 * 3600


def synthetic_platform(artists: int, works: int, dim: int, seed: int = 0) -> dict:
    """Each artist: a style direction plus noise, uploads spread over two years."""
    rng = np.random.default_rng(seed)
    styles = rng.standard_normal((artists, dim))
    vectors = np.repeat(styles, works, axis=0) + 1.5 * rng.standard_normal((artists * works, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {
        "embeddings": vectors.astype(np.float32),
        "artist_ids": np.repeat([f"artist-{a}" for a in range(artists)], works),
        "uploaded_at": 1_600_000_000 + rng.integers(0, 2 * YEAR_S, artists * works),
        "accepted": rng.random(artists * works) > 0.05,
    }


def best_seconds(platform: dict, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        portfolio_features(**platform)
        times.append(time.perf_counter() - start)
    return min(times)


def peak_traced_mib(platform: dict) -> float:
    tracemalloc.start()
    portfolio_features(**platform)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    for artists, works in ((200, 50), (5, 5_000)):
        platform = synthetic_platform(artists, works, args.dim)
        uploads = artists * works
        print(f"{artists} artists x {works} works, D={args.dim}:")
        for label, threads in (("default BLAS threads", None), ("1 BLAS thread", 1)):
            with threadpool_limits(threads, user_api="blas"):  # None: leave as is
                seconds = best_seconds(platform, args.repeat)
            print(f"  {label:>20}: {seconds:6.2f} s, {uploads / seconds:9,.0f} uploads/s")
        print(
            f"  {'peak extra memory':>20}: {peak_traced_mib(platform):6.1f} MiB "
            f"(embeddings themselves: {platform['embeddings'].nbytes / 2**20:.1f} MiB)"
        )
    max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {max_rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
