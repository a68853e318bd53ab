"""Generate the synthetic demo art platform used by ``make demo`` and the tests.

Every image is procedurally generated (numpy + Pillow); nothing is downloaded.

Usage: python scripts/generate_demo_platform.py --out DIR [--seed N] [--scale F]
"""

from __future__ import annotations

import argparse
import sys

from slopscore.demo.platform import LABELS, generate_platform


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate the platform and print where it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True,
                        help="output folder: new, empty, or a previous demo platform (replaced)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiplies the number of artists and works (default 1.0)")
    args = parser.parse_args(argv)
    try:
        platform = generate_platform(args.out, seed=args.seed, scale=args.scale)
    except (FileExistsError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    counts = ", ".join(f"{label} {platform.counts[label]}" for label in LABELS)
    print(f"wrote a synthetic demo platform to {platform.root}")
    print(f"  {sum(platform.counts.values())} images: {counts}")
    print(f"  {platform.manifest}\n  {platform.history}\n  {platform.new_uploads}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
