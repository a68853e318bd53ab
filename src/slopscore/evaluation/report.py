"""Draw evaluation results: plots (matplotlib) and one self-contained HTML report (Jinja2).

The metric modules (:mod:`slopscore.evaluation.metrics`, ``calibration``, ``intervals``,
``verdicts``) compute; this module only draws. matplotlib is imported inside the drawing
functions, so importing this module is cheap. The HTML embeds every plot as a PNG data URI
and escapes every string, so it opens offline and untrusted titles or tags cannot inject
markup.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slopscore.evaluation.calibration import ReliabilityCurve

__all__ = ["EvaluationReport", "pyplot", "reliability_figure", "roc_pr_figure", "score_histogram_figure",
           "write_html_report"]


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, imported on first use (drawing only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reliability_figure(curve: ReliabilityCurve, title: str):
    """Reliability diagram: observed frequency vs mean predicted probability, with counts."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 5.5), height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    filled = curve.counts > 0
    top.plot(curve.mean_predicted[filled], curve.observed_frequency[filled], marker="o",
             label="model")
    top.set_ylabel("observed frequency")
    top.set_title(title)
    top.legend(loc="upper left")
    centres = (curve.bin_edges[:-1] + curve.bin_edges[1:]) / 2
    bottom.bar(centres, curve.counts, width=np.diff(curve.bin_edges) * 0.9, color="tab:blue")
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("items")
    fig.tight_layout()
    return fig


def roc_pr_figure(y_true: np.ndarray, score: np.ndarray, title: str):
    """ROC and precision-recall curves side by side."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    fpr, tpr, _ = roc_curve(y_true, score)
    left.plot(fpr, tpr)
    left.plot([0, 1], [0, 1], linestyle="--", color="grey")
    left.set_xlabel("false-positive rate (human work flagged)")
    left.set_ylabel("detection rate")
    left.set_title(f"{title}: ROC")
    precision, recall, _ = precision_recall_curve(y_true, score)
    right.plot(recall, precision)
    right.set_xlabel("recall")
    right.set_ylabel("precision")
    right.set_title(f"{title}: precision-recall")
    fig.tight_layout()
    return fig


def score_histogram_figure(scores: Mapping[str, np.ndarray], title: str):
    """Overlaid score distributions per label."""
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 26)
    for label, values in scores.items():
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            axis.hist(values, bins=bins, alpha=0.55, label=f"{label} (n={len(values)})")
    axis.set_xlabel("score")
    axis.set_ylabel("items")
    axis.set_title(title)
    axis.legend()
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | os.PathLike[str]) -> Path:
    """Write a figure as PNG and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


@dataclass
class EvaluationReport:
    """What the HTML report shows.

    Attributes
    ----------
    title : str
    summary : list of (str, str)
        Context lines (backbone, model version, data).
    metric_tables : dict of str to list of (str, str)
        Named tables of metric name → formatted value.
    tables : dict of str to (list of str, list of list)
        Named tables with a header row and data rows.
    figures : dict of str to path
        PNG files to embed, in order.
    galleries : dict of str to list of GalleryItem
        Named rows of works with re-encoded thumbnails (:mod:`slopscore.evaluation.items`).
    notes : list of str
    """

    title: str
    summary: list[tuple[str, str]] = field(default_factory=list)
    metric_tables: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    tables: dict[str, tuple[Sequence[str], Sequence[Sequence[object]]]] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    galleries: dict[str, list] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def write_html_report(report: EvaluationReport, path: str | os.PathLike[str]) -> Path:
    """Render ``report`` to one self-contained HTML file (images inlined, text escaped)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(loader=PackageLoader("slopscore.evaluation", "templates"),
                              autoescape=select_autoescape(["html"]))
    images = {name: base64.b64encode(Path(p).read_bytes()).decode("ascii")
              for name, p in report.figures.items()}
    html = environment.get_template("evaluation_report.html").render(report=report, images=images)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
