"""The benchmark's tables as text: the compact detector-vs-triage comparison and formatted estimates.

Shared by the HTML page and the command line, so both show the same numbers the same way.
"""

from __future__ import annotations

import pandas as pd

from slopscore.benchmark.measure import SCENARIO_ROWS
from slopscore.benchmark.processing import AS_IS, PROCESSED

__all__ = ["COMPARISON_HEADER", "DATA_NOTE", "comparison_rows", "estimate_text", "metric_lookup"]

#: Said by every output: the images are real, the platform around them is simulated.
DATA_NOTE = "real images, simulated timelines"
COMPARISON_HEADER = ("scenario", "processing", "positives / negatives", "AUROC detector", "AUROC triage",
                     "TPR@5%FPR detector", "TPR@5%FPR triage", "FPR@threshold detector",
                     "FPR@threshold triage", "triage - detector AUROC")


def estimate_text(row: pd.Series | dict | None, digits: int = 3) -> str:
    """``0.912 [0.850, 0.951]``, or the reason there is no number (``too few``, ``one class``...)."""
    if row is None:
        return "n/a"
    if row["status"] != "ok":
        return str(row["status"])
    return f"{row['value']:.{digits}f} [{row['low']:.{digits}f}, {row['high']:.{digits}f}]"


def metric_lookup(metrics: pd.DataFrame) -> dict[tuple, dict]:
    """``(fold_kind, processing, scenario, segment, model, metric) -> row``."""
    keys = ["fold_kind", "processing", "scenario", "segment", "model", "metric"]
    return {tuple(r[k] for k in keys): r for r in metrics.to_dict("records")}


def comparison_rows(metrics: pd.DataFrame, fold_kind: str, digits: int = 3) -> list[list[str]]:
    """Rows of :data:`COMPARISON_HEADER` for one fold kind: every scenario (and all) x processing."""
    lookup = metric_lookup(metrics)
    rows = []
    for scenario in SCENARIO_ROWS:
        for processing in (AS_IS, PROCESSED):
            def get(model: str, metric: str):
                return lookup.get((fold_kind, processing, scenario, "all", model, metric))

            auroc = get("detector", "auroc")
            if auroc is None:
                continue
            counts = f"{auroc['n_positive']} / {auroc['n_negative']}"
            cells = [get(model, metric) for metric in ("auroc", "tpr_at_fpr_5pct", "fpr_at_threshold")
                     for model in ("detector", "triage")]
            rows.append([scenario, processing, counts,
                         *(estimate_text(cell, digits) for cell in cells),
                         estimate_text(get("triage - detector", "auroc_difference"), digits)])
    return rows
