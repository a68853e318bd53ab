"""Compare two real-image benchmark runs cell by cell: did a change move a metric?

The int8 gate of the encoder (README, "Encoder runtimes"): run ``slopscore benchmark`` once
with fp32 embeddings and once with ``embedding.int8: true`` (same corpus, folds and seed),
then

    python scripts/compare_benchmarks.py test-artifacts/bench-fp32 test-artifacts/bench-int8 \
        [--metric auroc] [--model detector] [--max-change 0.005]

prints, for every fold kind x processing x scenario (segment ``all``), the metric in both runs
and its change, then whether every change and the change of the ``all undeclared`` rows stay
within ``--max-change``. Exit code 0 when every compared cell does, 1 otherwise, 2 when the
runs cannot be compared (missing files, different corpus or folds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

KEYS = ["fold_kind", "processing", "scenario", "segment", "model", "metric"]


def read_run(folder: Path) -> tuple[pd.DataFrame, str]:
    """The run's metrics table and the README line naming its corpus digest."""
    metrics, readme = folder / "metrics.csv", folder / "README.txt"
    if not metrics.is_file() or not readme.is_file():
        raise SystemExit(f"error: {folder} holds no benchmark run (metrics.csv and README.txt expected)")
    lines = readme.read_text(encoding="utf-8").splitlines()
    identity = " / ".join(line for line in lines if line.startswith(("corpus digest", "folds")))
    return pd.read_csv(metrics), identity


def compare(before: pd.DataFrame, after: pd.DataFrame, metric: str, model: str) -> pd.DataFrame:
    """Rows present in both runs with a value in both, segment ``all``, and their change."""
    pick = [(frame["metric"] == metric) & (frame["model"] == model) & (frame["segment"] == "all")
            for frame in (before, after)]
    merged = before[pick[0]].merge(after[pick[1]], on=KEYS, suffixes=("_before", "_after"))
    merged = merged.dropna(subset=["value_before", "value_after"])
    return merged.assign(change=merged["value_after"] - merged["value_before"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="benchmark output folder (e.g. fp32)")
    parser.add_argument("after", type=Path, help="benchmark output folder (e.g. int8)")
    parser.add_argument("--metric", default="auroc")
    parser.add_argument("--model", default="detector", choices=("detector", "triage"))
    parser.add_argument("--max-change", type=float, default=0.005)
    args = parser.parse_args(argv)
    (before, id_before), (after, id_after) = read_run(args.before), read_run(args.after)
    if id_before != id_after:
        print(f"error: the runs differ in corpus or folds:\n  {id_before}\n  {id_after}", file=sys.stderr)
        return 2
    rows = compare(before, after, args.metric, args.model)
    if rows.empty:
        print(f"error: no {args.model} {args.metric} values in both runs", file=sys.stderr)
        return 2
    print(f"{args.model} {args.metric}: {args.before} -> {args.after} ({id_before})")
    print(f"{'fold kind':<18}{'processing':<11}{'scenario':<22}{'before':>8}{'after':>8}{'change':>9}")
    for row in rows.itertuples():
        flag = "" if abs(row.change) < args.max_change else "  over"
        print(f"{row.fold_kind:<18}{row.processing:<11}{row.scenario:<22}{row.value_before:>8.4f}"
              f"{row.value_after:>8.4f}{row.change:>+9.4f}{flag}")
    overall = rows[rows["scenario"] == "all undeclared"]["change"].abs()
    worst = rows["change"].abs().max()
    print(f"largest change: {worst:.4f} over {len(rows)} cells; 'all undeclared' rows: "
          f"{overall.max():.4f} (limit {args.max_change})")
    return 0 if worst < args.max_change else 1


if __name__ == "__main__":
    sys.exit(main())
