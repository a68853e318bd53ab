"""Draw the analyst report: matplotlib plots, one self-contained HTML file, CSV tables.

:mod:`.dismissals`, :mod:`.review_thresholds` and :mod:`.model_versions` compute; this module
formats and draws. Plots are PNG data URIs inside the HTML, so it opens offline; the Jinja2
template autoescapes every string (titles, tags and ids come from strangers). CSV cells that
a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``) are prefixed
with ``'`` (:mod:`slopscore.batch.csv_cells`).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from slopscore.analytics.dismissals import NOT_ENOUGH_DATA, Rate
from slopscore.analytics.model_versions import Drift
from slopscore.analytics.review_thresholds import Calibration
from slopscore.batch.csv_cells import defuse_cell
from slopscore.evaluation.estimates import MIN_COUNT, TOO_FEW

__all__ = ["Figure", "Link", "Table", "csv_paths", "draw_segments", "draw_weekly", "drift_figure",
           "legend_outside", "page_html", "png", "pyplot", "reliability_png", "segment_figure",
           "thin_ticks", "threshold_figure", "weekly_figure", "write_csv"]

_CSV_TEXT = ("item_id", "artist_id", "title", "tags", "value", "model_version", "week")


@dataclass(frozen=True)
class Link:
    """A table cell that links somewhere: ``text`` and ``href`` are escaped by the template."""

    text: str
    href: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Table:
    """A table as the page shows it: every cell already formatted as text (or a :class:`Link`)."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG (base64) with a caption that says what it shows."""

    png_base64: str
    caption: str


@dataclass
class Section:
    """One heading of the report: explanatory paragraphs, tables and figures."""

    title: str
    anchor: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


# ----------------------------------------------------------------------------- formatting


def pct(value: float | None, digits: int = 1) -> str:
    """``0.123`` -> ``"12.3%"``; empty for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{100 * value:.{digits}f}%"


def number(value: float | None, digits: int = 3) -> str:
    """A float with ``digits`` decimals; empty for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def interval(low: float | None, high: float | None, formatter=pct) -> str:
    """``"8.1% – 17.9%"``; empty when either bound is missing."""
    if low is None or high is None or any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        return ""
    return f"{formatter(low)} – {formatter(high)}"


def rate_cells(status: str, rate: float | None, low: float | None, high: float | None) -> list[str]:
    """Rate and interval cells, or "not enough data" in both (never 0% or 100%)."""
    if status != "ok":
        return [NOT_ENOUGH_DATA, NOT_ENOUGH_DATA]
    return [pct(rate), interval(low, high)]


def overall_table(rate: Rate) -> Table:
    """The overall dismissal rate with its counts."""
    cells = rate_cells(rate.status, rate.rate, rate.ci_low, rate.ci_high)
    return Table(["reviewed", "dismissed", "confirmed", "dismissal rate", "95% interval (Wilson)"],
                 [[str(rate.reviewed), str(rate.dismissed), str(rate.confirmed), *cells]])


def rates_table(frame: pd.DataFrame, keys: Sequence[tuple[str, str]], caption: str = "") -> Table:
    """Rows of a rates frame (weekly or segments): keys, counts, rate and interval."""
    header = [label for _, label in keys] + ["reviewed", "dismissed", "confirmed",
                                             "dismissal rate", "95% interval (Wilson)"]
    rows = []
    for row in frame.itertuples(index=False):
        values = row._asdict()
        rows.append([str(values[k]) for k, _ in keys]
                    + [str(values["reviewed"]), str(values["dismissed"]), str(values["confirmed"])]
                    + rate_cells(values["status"], values["dismissal_rate"], values["ci_low"],
                                 values["ci_high"]))
    return Table(header, rows, caption)


# ----------------------------------------------------------------------------- plots


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig) -> str:
    """``fig`` as base64 PNG, cropped to what is drawn (legends outside the axes included)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


#: Most category labels drawn along an axis; with more, every k-th is shown.
MAX_TICK_LABELS = 16


def thin_ticks(axis, labels: Sequence[str], max_labels: int = MAX_TICK_LABELS) -> None:
    """Label positions 0..n-1 of the x axis with ``labels``, every k-th when there are many, rotated."""
    step = max(1, math.ceil(len(labels) / max_labels))
    positions = np.arange(0, len(labels), step)
    axis.set_xticks(positions, [labels[i] for i in positions], rotation=45, ha="right", fontsize=8)


def legend_outside(axis, fontsize: int = 8) -> None:
    """The legend to the right of the axes, where it cannot hide a point."""
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=fontsize)


def draw_weekly(weekly: pd.DataFrame, overall: Rate):
    """The matplotlib figure of weekly dismissal rates (see :func:`weekly_figure`)."""
    plt = pyplot()
    width = min(16.0, max(8.0, 0.3 * len(weekly)))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 4.6), height_ratios=(3, 1.3),
                                      sharex=True)
    x = np.arange(len(weekly))
    ok = (weekly["status"] == "ok").to_numpy()
    rate = weekly["dismissal_rate"].to_numpy(dtype=float)
    low, high = weekly["ci_low"].to_numpy(dtype=float), weekly["ci_high"].to_numpy(dtype=float)
    top.errorbar(x[ok], rate[ok], yerr=[rate[ok] - low[ok], high[ok] - rate[ok]], fmt="o",
                 capsize=4, color="tab:red", label="weekly dismissal rate (95% Wilson)")
    if overall.rate is not None:
        top.axhline(overall.rate, color="grey", linestyle="--", label=f"overall {pct(overall.rate)}")
    if (~ok).any():  # a grey mark, not text: text would collide when weeks are many
        top.plot(x[~ok], np.full((~ok).sum(), 0.5), "x", color="grey", label="not enough data")
    top.set_ylim(-0.03, 1.05)
    top.set_ylabel("dismissed / reviewed")
    top.set_title("False-positive (dismissal) rate by ISO week of the latest decision")
    legend_outside(top)
    confirmed = weekly["confirmed"].to_numpy(dtype=float)
    dismissed = weekly["dismissed"].to_numpy(dtype=float)
    bottom.bar(x, confirmed, color="tab:blue", label="confirmed")
    bottom.bar(x, dismissed, bottom=confirmed, color="tab:orange", label="dismissed")
    bottom.set_ylabel("reviewed")
    legend_outside(bottom, fontsize=7)
    thin_ticks(bottom, weekly["week"].tolist())
    fig.tight_layout()
    return fig


def weekly_figure(weekly: pd.DataFrame, overall: Rate) -> Figure:
    """Dismissal rate per week with Wilson intervals; bars give the reviewed counts."""
    return Figure(png(draw_weekly(weekly, overall)), "Top: weekly dismissal rate (dots) with 95% "
                  "Wilson intervals; weeks below the minimum are grey crosses ('not enough data'). "
                  "Bottom: reviewed items per week, split into confirmed and dismissed. With many "
                  "weeks, every k-th week is labelled.")


def draw_segments(segments: pd.DataFrame, overall: Rate, max_tags: int = 15, title: str | None = None):
    """The matplotlib forest plot of :func:`segment_figure`; None when no rate has enough data."""
    shown = segments[segments["status"] == "ok"]
    is_tag = shown["segment"] == "style/medium tag"
    shown = pd.concat([shown[is_tag].head(max_tags), shown[~is_tag]])
    if shown.empty:
        return None
    plt = pyplot()
    labels = [f"{s}: {v}" for s, v in zip(shown["segment"], shown["value"])]
    fig, axis = plt.subplots(figsize=(8, 1.2 + 0.28 * len(shown)))  # 0.28 in a row: labels never touch
    y = np.arange(len(shown))[::-1]
    rate = shown["dismissal_rate"].to_numpy(dtype=float)
    low, high = shown["ci_low"].to_numpy(dtype=float), shown["ci_high"].to_numpy(dtype=float)
    axis.errorbar(rate, y, xerr=[rate - low, high - rate], fmt="o", capsize=3, color="tab:red",
                  label="segment (95% Wilson)")
    if overall.rate is not None:
        axis.axvline(overall.rate, color="grey", linestyle="--", label=f"overall {pct(overall.rate)}")
    legend_outside(axis)
    axis.set_yticks(y, [f"{label[:50]} (n={n})" for label, n in zip(labels, shown["reviewed"])],
                    fontsize=8)
    axis.set_ylim(-0.7, len(shown) - 0.3)
    axis.set_xlim(-0.03, 1.03)
    axis.set_xlabel("dismissal rate (dismissed / reviewed) with 95% Wilson interval")
    axis.set_title(title or "False-positive (dismissal) rate by segment")
    fig.tight_layout()
    return fig


def segment_figure(segments: pd.DataFrame, overall: Rate, max_tags: int = 15,
                   title: str | None = None) -> Figure | None:
    """Forest plot of segment dismissal rates with enough data; None when there are none.

    Only the ``max_tags`` most-reviewed tags are drawn (``segments`` is ordered most
    reviewed first within each segment); the table and CSV list them all.
    """
    fig = draw_segments(segments, overall, max_tags, title)
    if fig is None:
        return None
    return Figure(png(fig), "Dismissal rate per segment value with 95% Wilson intervals, for "
                  f"segments with enough reviewed items (at most the {max_tags} most-reviewed "
                  "tags; the table lists the others). The dashed "
                  "line is the overall rate; a segment whose interval lies right of it has its "
                  "flagged work dismissed more often than average.")


def reliability_png(cal: Calibration) -> Figure | None:
    """The reliability diagram (drawn by :func:`slopscore.evaluation.report.reliability_figure`)."""
    if cal.curve is None:
        return None
    from slopscore.evaluation.report import reliability_figure

    pyplot()
    fig = reliability_figure(cal.shown_curve(), f"triage score vs confirmed (ECE {number(cal.ece)})")
    fig.axes[0].set_ylabel("observed confirmed rate")
    fig.axes[1].set_xlabel("triage score")
    table = cal.table()
    for row in table[(table["bin_status"] != "ok") & (table["items"] > 0)].itertuples(index=False):
        fig.axes[1].text((row.bin_low + row.bin_high) / 2, 0, "too\nfew", ha="center", va="bottom",
                         fontsize=6, color="grey")
    return Figure(png(fig), "Reliability diagram: for each score bin, the fraction of reviewed "
                  "items confirmed against their mean triage score. Points on the diagonal are "
                  "calibrated; below it the score over-states the chance of a confirmation. "
                  f"Bins with fewer than {MIN_COUNT} reviewed items are 'too few' and not drawn. "
                  "Bottom: reviewed items per bin.")


def threshold_figure(table: pd.DataFrame) -> Figure:
    """Per-day queue (median and p90) and expected confirmations and false positives per threshold."""
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(8, 4))
    t = table["threshold"].to_numpy(dtype=float)
    axis.plot(t, table["queue_per_day_median"], color="black", marker=".", label="queue, median day")
    axis.plot(t, table["queue_per_day_p90"], color="black", linestyle=":", label="queue, 90th percentile day")
    for column, colour, label in (("expected_confirmations", "tab:blue", "expected confirmations"),
                                  ("expected_false_positives", "tab:orange",
                                   "expected false positives")):
        axis.plot(t, table[f"{column}_per_day"], color=colour, marker=".", label=f"{label}, median day")
        axis.fill_between(t, table[f"{column}_band_low"].to_numpy(dtype=float),
                          table[f"{column}_band_high"].to_numpy(dtype=float), color=colour,
                          alpha=0.2, linewidth=0)
    fallback = (table["rate_source"] != "observed (reviewed items)").to_numpy() & (table["scored_at_or_above"] > 0).to_numpy()
    if fallback.any():
        axis.plot(t[fallback], table["expected_confirmations_per_day"].to_numpy()[fallback], "x",
                  color="tab:blue", label="from the model's estimate (few reviews)")
    axis.set_xlabel("review threshold (queue items with triage score ≥ threshold)")
    axis.set_ylabel("items per day")
    axis.set_title("What each threshold sends to moderators per day")
    legend_outside(axis)
    fig.tight_layout()
    return Figure(png(fig), "Queue size per day for each threshold (median and 90th percentile "
                  "day), split into expected confirmations and false positives on a median day. "
                  "Shaded bands: 10th–90th percentile days × the rate's Wilson 95% interval where "
                  "enough reviewed items lie above the threshold; crosses mark thresholds that use "
                  "the model's estimate (mean triage score) instead, whose band is per-day "
                  "variation only.")


def drift_figure(drift: Drift) -> Figure | None:
    """Reference vs current score histograms (as proportions) of one model version."""
    if drift.edges is None:
        return None
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(8, 3.2))
    widths = np.diff(drift.edges)
    left = drift.edges[:-1]
    reference = drift.reference_counts / drift.reference_counts.sum()
    total = drift.current_counts.sum()
    current = drift.current_counts / total if total else np.zeros_like(reference)
    axis.bar(left, reference, width=widths, align="edge", alpha=0.45, color="grey",
             label=f"reference (held-out evaluation, n={int(drift.reference_counts.sum())})")
    axis.step(np.append(left, drift.edges[-1]), np.append(current, current[-1]), where="post",
              color="tab:red", linewidth=2, label=f"scored items (n={drift.n})")
    axis.set_xlabel("triage score")
    axis.set_ylabel("share of items")
    psi = "not enough data" if drift.psi is None else f"PSI {drift.psi:.3f}"
    axis.set_title(f"Score distribution of {drift.model_version}, whole period: {psi}")
    legend_outside(axis)
    fig.tight_layout()
    return Figure(png(fig), f"Triage score distribution of {drift.model_version}'s scored items "
                  "(red line) against the reference distribution recorded for it at training "
                  "time (grey bars).")


# ----------------------------------------------------------------------------- files


def csv_paths(out_html: Path, names: Sequence[str]) -> dict[str, Path]:
    """``report.html`` -> ``{"fpr_weekly": report.fpr_weekly.csv, ...}`` beside it."""
    return {name: out_html.with_name(f"{out_html.stem}.{name}.csv") for name in names}


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as UTF-8 CSV: NaN as empty, timestamps ISO 8601, formulas defused."""
    frame = frame.copy()
    for column in frame.columns:
        if column in _CSV_TEXT:
            frame[column] = frame[column].astype(object).map(defuse_cell)
        elif isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].map(lambda v: "" if pd.isna(v) else v.isoformat())
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, na_rep="", lineterminator="\n")
    return path


def page_html(context: dict) -> str:
    """Render ``templates/analyst_report.html`` with autoescaping on."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(loader=PackageLoader("slopscore.analytics", "templates"),
                              autoescape=select_autoescape(["html"]))
    context = {"headline": "", **context}
    return environment.get_template("analyst_report.html").render(
        not_enough_data=NOT_ENOUGH_DATA, nodata_cells=(NOT_ENOUGH_DATA, TOO_FEW), **context)
