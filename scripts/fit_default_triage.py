"""Fit the default triage weights on a real-image benchmark's out-of-fold items, and say how well they do.

    .venv/bin/python scripts/fit_default_triage.py BENCHMARK_DIR/items.parquet [--write configs/default.yaml]

``items.parquet`` comes from ``slopscore benchmark`` (see scripts/benchmark_real_images.sh):
every row is a new upload scored out of fold, on real images in simulated timelines. The
detector's evidence is recovered from each row's ``p_ai`` and the benchmark's base rate.

Only the weights that real files inform are fitted: the detector's evidence, what the file
says, the member's declaration and the offset. The images are real; the timelines are not,
so bursts, near-duplicates and portfolio distances in the benchmark follow from how its
scenarios were built, and their weights stay at the configured values (``--fit-context``
fits them too, for comparison only). The fit uses the same sign constraints and gate as
``TriageModel.fit``, on the "seen generators" folds, both processings, and is compared with
the configured defaults under account-grouped cross-validation. ``--write`` replaces the
weights block of a config file, citing this script, the items file's digest and the
comparison, and only when the fitted weights are better by the rule training applies
(``slopscore.training.triage_selection``).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

from slopscore.config import load_settings
from slopscore.model.base_rate import logit
from slopscore.model.scorer import signals_from_frame
from slopscore.model.triage import FEATURES, TriageModel, TriageSignals
from slopscore.model.triage_signals import CONTEXT_FEATURES
from slopscore.training.triage_selection import AUROC_TOLERANCE, MIN_LOG_LOSS_GAIN


def _signals(items: pd.DataFrame, base_rate: float) -> TriageSignals:
    p = items["p_ai"].to_numpy(dtype=float)
    return signals_from_frame(items.reset_index(drop=True), p, logit(p) - logit(base_rate))


def _subset(signals: TriageSignals, rows: np.ndarray) -> TriageSignals:
    return TriageSignals(**{k: None if v is None else np.asarray(v)[rows] for k, v in vars(signals).items()})


def _log_loss(y, p) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def compare(signals: TriageSignals, y: np.ndarray, groups: np.ndarray, defaults: TriageModel,
            usual: float, fixed: dict[str, float]) -> dict[str, float]:
    """Account-grouped 5-fold CV: held-out log loss and AUROC of fitted vs default weights."""
    share = float(y.mean())
    fitted = np.full(len(y), np.nan)
    for fit_rows, held_rows in GroupKFold(n_splits=5).split(y, y, groups):
        model = TriageModel.fit(_subset(signals, fit_rows), y[fit_rows], new_account_usual_uploads=usual,
                                fixed=fixed)
        fitted[held_rows] = model.score(_subset(signals, held_rows), share)
    default = defaults.score(signals, share)
    return {"log_loss_fitted": _log_loss(y, fitted), "log_loss_default": _log_loss(y, default),
            "auroc_fitted": float(roc_auc_score(y, fitted)), "auroc_default": float(roc_auc_score(y, default))}


def weights_block(model: TriageModel, citation: list[str]) -> str:
    lines = [f"  # {line}" for line in citation] + ["  weights:"]
    lines += [f"    {name}: {round(model.weights[name], 3)}" for name in ("intercept", *FEATURES)]
    return "\n".join(lines) + "\n"


def write_weights(config: Path, block: str) -> None:
    """Replace the ``weights:`` mapping of the ``triage:`` section (and a citation above it)."""
    text = config.read_text()
    pattern = re.compile(r"(?:  # fitted by scripts/fit_default_triage\.py[^\n]*\n(?:  # [^\n]*\n)*)?"
                         r"  weights:\n(?:    [a-z_]+: [^\n]*\n)+")
    if len(pattern.findall(text)) != 1:
        raise SystemExit(f"error: {config} has no single triage weights block to replace")
    config.write_text(pattern.sub(lambda _: block, text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("items", type=Path,
                        help="items.parquet written by slopscore benchmark, or the benchmark's folder")
    parser.add_argument("--config", type=Path, default=None, help="settings the benchmark ran with")
    parser.add_argument("--write", type=Path, default=None, help="config file whose weights to replace")
    parser.add_argument("--fit-context", action="store_true",
                        help="also fit the context weights (simulated in the benchmark; never written)")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    if args.items.is_dir():
        args.items = args.items / "items.parquet"
    if not args.items.is_file():
        print(f"error: {args.items} not found (run scripts/benchmark_real_images.sh first)", file=sys.stderr)
        return 2
    items = pd.read_parquet(args.items)
    items = items[(items["fold_kind"] == "seen generators") & items["p_ai"].notna()].reset_index(drop=True)
    if items.empty or items["is_concern"].nunique() < 2:
        print(f"error: {args.items} holds no scored 'seen generators' items of both kinds", file=sys.stderr)
        return 2
    y = items["is_concern"].to_numpy(dtype=bool)
    groups = (items["fold"].astype(str) + "/" + items["account"].astype(str)).to_numpy()
    usual = settings.triage.new_account_usual_uploads
    signals = _signals(items, settings.scoring.base_rate)
    defaults = TriageModel.from_config(settings.triage.weights, usual)
    fixed = {} if args.fit_context else {f: defaults.weights[f] for f in CONTEXT_FEATURES}
    fitted = TriageModel.fit(signals, y, new_account_usual_uploads=usual, fixed=fixed)
    result = compare(signals, y, groups, defaults, usual, fixed)
    digest = hashlib.sha256(args.items.read_bytes()).hexdigest()[:16]
    citation = [
        f"fitted by scripts/fit_default_triage.py on {len(items)} out-of-fold benchmark uploads",
        f"({int(y.sum())} concerns; items.parquet sha256 {digest}); account-grouped CV:",
        f"log loss {result['log_loss_fitted']:.3f} fitted vs {result['log_loss_default']:.3f} before, "
        f"AUROC {result['auroc_fitted']:.3f} vs {result['auroc_default']:.3f}",
    ]
    if fixed:
        citation.append(f"context weights held at their documented values: {', '.join(fixed)}")
    block = weights_block(fitted, citation)
    print(block, end="")
    better = (result["log_loss_fitted"] <= result["log_loss_default"] * (1 - MIN_LOG_LOSS_GAIN)
              and result["auroc_fitted"] >= result["auroc_default"] - AUROC_TOLERANCE)
    if not better:
        print("not better than the configured weights under grouped CV: nothing written")
    elif args.write and args.fit_context:
        print("context weights were fitted to simulated timelines: nothing written")
    elif args.write:
        write_weights(args.write, block)
        print(f"wrote the weights into {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
