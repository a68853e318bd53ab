"""Draw the benchmark: comparison plots (matplotlib) and one self-contained HTML page (Jinja2).

The numbers come from :mod:`slopscore.benchmark.measure`; this module only draws them.
matplotlib is imported inside the drawing functions, which return figures; they are saved with
:func:`slopscore.evaluation.report.save_figure` and the page embeds the files. Plots are embedded as PNG data URIs and
every string is escaped (group names, styles and generator names come from manifests), so the
page opens offline and cannot be injected into.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from slopscore.benchmark.measure import SCENARIO_ROWS
from slopscore.benchmark.processing import AS_IS, PROCESSED
from slopscore.benchmark.tables import DATA_NOTE, metric_lookup
from slopscore.evaluation.report import pyplot

__all__ = ["BenchmarkPage", "Section", "comparison_figure", "roc_figure", "segment_figure", "write_page"]

_PROCESSINGS = (AS_IS, PROCESSED)
_COLOURS = {"detector": "tab:blue", "triage": "tab:orange"}


@dataclass
class Section:
    """A titled part of the page: an introduction, tables ``(caption, header, rows)``, figures."""

    title: str
    intro: str = ""
    tables: list[tuple[str, Sequence[str], Sequence[Sequence[object]]]] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)


@dataclass
class BenchmarkPage:
    """Everything ``benchmark.html`` shows."""

    title: str
    summary: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    banner: str = DATA_NOTE


def _estimates(lookup: dict, key: tuple) -> tuple[float, float, float]:
    row = lookup.get(key)
    if row is None or row["status"] != "ok":
        return np.nan, np.nan, np.nan
    return row["value"], row["low"], row["high"]


def _paired_bars(axis, labels: Sequence[str], values: dict[str, list[tuple[float, float, float]]],
                 metric: str) -> None:
    """Detector and triage side by side per label, with 95% intervals; missing values marked."""
    y = np.arange(len(labels))
    for offset, (model, estimates) in zip((-0.18, 0.18), values.items()):
        point, low, high = (np.array(v, dtype=float) for v in zip(*estimates)) if estimates else ([], [], [])
        shown = np.isfinite(point)
        axis.errorbar(point[shown], y[shown] + offset, xerr=[point[shown] - low[shown], high[shown] - point[shown]],
                      fmt="o", color=_COLOURS[model], label=model, capsize=3)
        for position in y[~shown]:
            axis.text(0.01, position + offset, f"{model}: too few / n/a", va="center", fontsize=7,
                      color=_COLOURS[model], transform=axis.get_yaxis_transform())
    axis.set_yticks(y, labels)
    axis.set_xlim(-0.02, 1.02)
    axis.set_ylim(len(labels) - 0.5, -0.5)  # first label on top (set, not toggled: the axes share y)
    axis.set_xlabel(metric)
    axis.grid(axis="x", alpha=0.3)


def _legend(fig, axes) -> None:
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize=8, ncol=2)


def comparison_figure(metrics: pd.DataFrame, fold_kind: str):
    """Detector vs triage per scenario: AUROC, TPR at 5% FPR and FPR at the review threshold (a figure)."""
    plt = pyplot()
    lookup = metric_lookup(metrics)
    scenarios = list(SCENARIO_ROWS)
    panels = (("auroc", "AUROC (higher is better)"), ("tpr_at_fpr_5pct", "TPR at 5% FPR (higher is better)"),
              ("fpr_at_threshold", "FPR at review threshold (lower is better)"))
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.2 * len(panels)), sharey=True, squeeze=False)
    for column, processing in enumerate(_PROCESSINGS):
        for row, (metric, label) in enumerate(panels):
            values = {m: [_estimates(lookup, (fold_kind, processing, s, "all", m, metric)) for s in scenarios]
                      for m in ("detector", "triage")}
            _paired_bars(axes[row][column], scenarios, values, label)
            axes[row][column].set_title(f"{processing}", fontsize=10)
    _legend(fig, axes)
    fig.suptitle(f"{fold_kind}: detector vs triage ({DATA_NOTE})", fontsize=11)
    fig.tight_layout()
    return fig


def segment_figure(metrics: pd.DataFrame, fold_kind: str, scenario: str, metric: str, label: str):
    """Detector vs triage per segment (style or generator family) of one scenario (a figure; None without
    segments)."""
    plt = pyplot()
    lookup = metric_lookup(metrics)
    chosen = metrics[(metrics["fold_kind"] == fold_kind) & (metrics["scenario"] == scenario)
                     & (metrics["segment"] != "all")]
    segments = sorted(chosen["segment"].unique())
    if not segments:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(segments) + 1.6), sharey=True, squeeze=False)
    for column, processing in enumerate(_PROCESSINGS):
        values = {m: [_estimates(lookup, (fold_kind, processing, scenario, s, m, metric)) for s in segments]
                  for m in ("detector", "triage")}
        _paired_bars(axes[0][column], [s.split("=", 1)[-1][:30] for s in segments], values, label)
        axes[0][column].set_title(processing, fontsize=10)
    _legend(fig, axes)
    fig.suptitle(f"{fold_kind}, {scenario}: {label}", fontsize=11)
    fig.tight_layout()
    return fig


def roc_figure(items: pd.DataFrame, fold_kind: str):
    """ROC curves of every scored upload of a fold kind (its ``all`` cell), detector vs triage (a figure;
    None without uploads)."""
    from sklearn.metrics import roc_curve

    plt = pyplot()
    chosen = items[(items["fold_kind"] == fold_kind) & np.isfinite(items["p_ai"])
                   & np.isfinite(items["triage_score"])]
    if chosen.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), squeeze=False)
    for column, processing in enumerate(_PROCESSINGS):
        axis, part = axes[0][column], chosen[chosen["processing"] == processing]
        for model, score, target in (("detector", "p_ai", "is_ai"), ("triage", "triage_score", "is_concern")):
            y = part[target].to_numpy(dtype=bool)
            if 0 < y.sum() < len(y):
                fpr, tpr, _ = roc_curve(y, part[score].to_numpy(dtype=float))
                axis.plot(fpr, tpr, color=_COLOURS[model], label=f"{model} (target: {target})")
        axis.plot([0, 1], [0, 1], linestyle="--", color="grey")
        axis.set_xlabel("false-positive rate")
        axis.set_ylabel("detection rate")
        axis.set_title(processing, fontsize=10)
        axis.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{fold_kind}: all scored uploads ({DATA_NOTE})", fontsize=11)
    fig.tight_layout()
    return fig


def write_page(page: BenchmarkPage, path: Path) -> Path:
    """Render ``page`` to one self-contained HTML file (images inlined, every string escaped)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(loader=PackageLoader("slopscore.benchmark", "templates"),
                              autoescape=select_autoescape(["html"]))
    images = [[(caption, base64.b64encode(Path(png).read_bytes()).decode("ascii")) for caption, png in section.figures]
              for section in page.sections]
    html = environment.get_template("benchmark.html").render(page=page, images=images)
    path.write_text(html, encoding="utf-8")
    return path
