"""What ``benchmark.html`` and ``README.txt`` say: the sections, tables and notes of one run.

Numbers come from the metric table (:mod:`slopscore.benchmark.measure`) and are formatted by
:mod:`slopscore.benchmark.tables`; plots are drawn by :mod:`slopscore.benchmark.report`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from slopscore.benchmark.folds import SEEN, UNSEEN
from slopscore.benchmark.measure import BASE_RATE, MIN_COUNT, SCENARIO_ROWS
from slopscore.benchmark.processing import AS_IS, PROCESSED, PROCESSING_ID
from slopscore.benchmark.report import BenchmarkPage, Section, comparison_figure, roc_figure, segment_figure
from slopscore.benchmark.tables import COMPARISON_HEADER, DATA_NOTE, comparison_rows, estimate_text, metric_lookup
from slopscore.benchmark.timelines import HUMAN_ONLY, SCENARIOS
from slopscore.evaluation.report import save_figure

__all__ = ["build_page", "readme_lines"]

_PAIRING = ("Ranking metrics need both classes. A scenario without positives (the human-only ones: "
            f"{', '.join(HUMAN_ONLY)}) is paired with the AI uploads of the same folds' ai_burst; one "
            "without negatives (ai_burst) with the human uploads of the same folds' established. "
            "The triage target of ai_assisted_declared is 'a policy concern', which declared works are "
            "not, so its triage numbers pair those works (negatives) with ai_burst (positives); its "
            "detector target is 'is AI' (declared works are positives, established's humans negatives). "
            "The columns positives and negatives of metrics.csv say which uploads each row used.")


def _fmt_counts(row: dict | None) -> str:
    return "" if row is None else f"{row['n_positive']} / {row['n_negative']}"


def _rule_check(metrics: pd.DataFrame, kind: str) -> str:
    rows = metrics[(metrics["fold_kind"] == kind) & (metrics["segment"] == "all")
                   & (metrics["metric"] == "auroc_difference") & (metrics["status"] == "ok")
                   & (metrics["scenario"] != "ai_burst")]  # the same uploads as established
    worse = rows[rows["high"] < 0]
    better = rows[rows["low"] > 0]
    names = ", ".join(f"{r.scenario} ({r.processing})" for r in worse.itertuples()) or "none"
    return (f"Product rule (triage must rank at least as well as the detector alone): of {len(rows)} "
            f"scenario x processing cells with enough uploads, triage ranks clearly better in {len(better)} "
            f"and clearly worse (paired 95% interval of the AUROC difference below 0) in {len(worse)}: {names}.")


def _base_rate_rows(lookup: dict, kind: str) -> list[list[str]]:
    rows = []
    for scenario in SCENARIO_ROWS:
        for processing in (AS_IS, PROCESSED):
            def get(model: str, metric: str):
                return lookup.get((kind, processing, scenario, "all", model, metric))

            if get("detector", "ece_at_base_rate") is None:
                continue
            rows.append([scenario, processing, _fmt_counts(get("detector", "ece_at_base_rate")),
                         *(estimate_text(get(m, metric)) for metric in
                           ("ece_at_base_rate", "fpr_at_threshold_at_base_rate",
                            "precision_at_threshold_at_base_rate") for m in ("detector", "triage"))])
    return rows


def _segment_rows(lookup: dict, metrics: pd.DataFrame, kind: str, scenario: str,
                  columns: tuple[str, ...]) -> list[list[str]]:
    chosen = metrics[(metrics["fold_kind"] == kind) & (metrics["scenario"] == scenario) & (metrics["segment"] != "all")]
    rows = []
    for segment in sorted(chosen["segment"].unique()):
        for processing in (AS_IS, PROCESSED):
            first = lookup.get((kind, processing, scenario, segment, "detector", columns[0]))
            if first is None:
                continue
            rows.append([segment.split("=", 1)[-1], processing, _fmt_counts(first),
                         *(estimate_text(lookup.get((kind, processing, scenario, segment, m, metric)))
                           for metric in columns for m in ("detector", "triage"))])
    return rows


def _kind_section(metrics: pd.DataFrame, items: pd.DataFrame, kind: str, threshold: float, plots: Path) -> Section:
    lookup = metric_lookup(metrics)
    intro = ("Grouped K-fold by account/repository: the detector has seen these generator families in other "
             "groups." if kind == SEEN else
             "Leave one generator family out: the detector has never seen the family it is tested on.")
    section = Section(f"{kind.capitalize()}: detector vs triage", f"{intro} {_rule_check(metrics, kind)}")
    section.tables.append((f"Detector P(AI) and triage score side by side (95% account-bootstrap intervals; "
                           f"threshold {threshold:g}; positives / negatives are uploads)",
                           COMPARISON_HEADER, comparison_rows(metrics, kind)))
    section.tables.append((f"At a {100 * BASE_RATE:g}% base rate (AI uploads subsampled, repeated draws); FPR on "
                           "human works does not depend on the base rate, precision does",
                           ("scenario", "processing", "positives / negatives", "ECE detector", "ECE triage",
                            "FPR@threshold detector", "FPR@threshold triage", "precision@threshold detector",
                            "precision@threshold triage"), _base_rate_rows(lookup, kind)))
    section.tables.append(("Human works by style (all scenarios' human uploads; positives: ai_burst)",
                           ("style", "processing", "positives / negatives", "FPR@threshold detector",
                            "FPR@threshold triage", "AUROC detector", "AUROC triage"),
                           _segment_rows(lookup, metrics, kind, "human works", ("fpr_at_threshold", "auroc"))))
    section.tables.append(("AI bursts by generator family (negatives: established)",
                           ("family", "processing", "positives / negatives", "TPR@threshold detector",
                            "TPR@threshold triage", "TPR@5%FPR detector", "TPR@5%FPR triage"),
                           _segment_rows(lookup, metrics, kind, "ai_burst", ("tpr_at_threshold", "tpr_at_fpr_5pct"))))
    short = "seen" if kind == SEEN else "unseen"
    for name, caption, figure in (
        ("comparison", "detector vs triage per scenario, with 95% intervals", comparison_figure(metrics, kind)),
        ("roc", "ROC of all scored uploads", roc_figure(items, kind)),
        ("styles", "FPR at the review threshold by style (human works)",
         segment_figure(metrics, kind, "human works", "fpr_at_threshold", "FPR at threshold (lower is better)")),
        ("families", "TPR at the review threshold by generator family (ai_burst)",
         segment_figure(metrics, kind, "ai_burst", "tpr_at_threshold", "TPR at threshold (higher is better)")),
    ):
        if figure is not None:
            section.figures.append((caption, save_figure(figure, plots / f"{short}_{name}.png")))
    return section


def _fold_rows(context: dict) -> list[list[object]]:
    frame = context["corpus"].frame
    rows = []
    for record in context["records"]:
        fold = record.fold
        train, test = frame.iloc[fold.train], frame.iloc[fold.test]
        rows.append([fold.fold_id, fold.kind, fold.held_out_family or "-", record.processing,
                     f"{int(train['is_ai'].sum())} / {int((~train['is_ai']).sum())}",
                     f"{int(test['is_ai'].sum())} / {int((~test['is_ai']).sum())}", record.n_train,
                     record.triage_source[:120],
                     ", ".join(f"{k} {v}" for k, v in record.uploads.items())])
    return rows


def _summary(metrics: pd.DataFrame, items: pd.DataFrame, context: dict) -> list[tuple[str, str]]:
    corpus, backbone, settings = context["corpus"], context["backbone"], context["settings"]
    unscored = int((~items["p_ai"].notna()).sum())
    return [
        ("data", DATA_NOTE),
        ("manifests", ", ".join(context["manifests"])),
        ("corpus", ", ".join(f"{k} {v}" for k, v in corpus.counts().items())),
        ("left out", ", ".join(f"{k}: {v}" for k, v in corpus.skipped.items()) or "nothing"),
        ("corpus digest", corpus.digest),
        ("backbone", f"{backbone.backbone_id} — {backbone.description}" + ("" if backbone.is_clip else " (not CLIP)")),
        ("folds", f"{context['n_folds']} seen-generators folds, "
                  f"{sum(1 for r in context['records'] if r.fold.kind == UNSEEN) // 2} unseen-generator folds"),
        ("processing", f"{AS_IS} (files as they are) and {PROCESSED} ({PROCESSING_ID})"),
        ("review threshold", f"{settings.triage.review_threshold:g} (settings.triage.review_threshold)"),
        ("intervals", f"95%, {context['n_bootstrap']} account-bootstrap draws, seed {context['seed']}"),
        ("scored uploads", f"{len(items)} ({unscored} could not be embedded and are not measured)"),
        ("wall time", f"{context['seconds']:.0f} s"),
    ]


def build_page(metrics: pd.DataFrame, items: pd.DataFrame, context: dict) -> "BenchmarkPage":
    """The page of one run; ``context`` holds corpus, records, settings, backbone, seed, sizes and
    ``plots`` (the folder the figures are saved to)."""
    threshold = context["settings"].triage.review_threshold
    page = BenchmarkPage(f"slopscore benchmark on {len(context['corpus'].frame)} real images",
                         summary=_summary(metrics, items, context))
    page.notes = [
        "The images are real; the platform is not. Accounts, histories, upload times, bursts, reposts and "
        "declarations are simulated from the files of each fold's test side (see Scenarios).",
        _PAIRING,
        f"Below {MIN_COUNT} positives (or negatives, for rates on negatives) a number is not given: 'too few'. "
        "Rows are uploads, not files: one file can appear in several scenarios.",
        "As-is AI files often carry generator metadata; processed copies carry none, so the processed rows "
        "show what pixels alone achieve. Each processing has its own scorer, trained on the same processing.",
    ]
    page.sections.append(Section("Scenarios", "Built from each fold's test side, seeded and deterministic.",
                                 tables=[("scenario definitions", ("scenario", "what"),
                                          [[k, v] for k, v in SCENARIOS.items()])]))
    for kind in (SEEN, UNSEEN):
        if (items["fold_kind"] == kind).any():
            page.sections.append(_kind_section(metrics, items, kind, threshold, context["plots"]))
    page.sections.append(Section("Folds", "Files on each side (AI / human) and the scorer fitted on the training side.",
                                 tables=[("folds", ("fold", "kind", "held-out family", "processing",
                                                    "train AI / human", "test AI / human", "training rows",
                                                    "triage weights", "scored uploads"), _fold_rows(context))]))
    return page


def readme_lines(context: dict) -> list[str]:
    """The README beside the tables."""
    return [
        "The images are real files from public repositories; accounts, upload times, histories, bursts,",
        "reposts and declarations are simulated (see benchmark.html, Scenarios).",
        "",
        f"corpus digest: {context['corpus'].digest}",
        f"backbone: {context['backbone'].backbone_id}",
        f"folds: {context['n_folds']} (seen generators) + leave-one-generator-family-out; seed {context['seed']}; "
        f"{context['n_bootstrap']} account-bootstrap draws",
        "",
        "benchmark.html  the report (plots embedded)",
        "metrics.csv     one row per fold_kind x processing x scenario x segment x model x metric:",
        "                value, low, high (95% interval), n_positive, n_negative, accounts, status",
        f"                (value empty unless status is ok; 'too few' below {MIN_COUNT}), positives / negatives",
        "                (which uploads the row used). Metrics lie in [0, 1]; *_difference rows in [-1, 1].",
        "items.parquet   one row per scored upload: fold, scenario, processing, truth, every feature the",
        "                scorer read, p_ai, triage_score, reasons. All scores are out of fold. The same file",
        "                appears in several rows (scenarios, processings, folds of both kinds): group by",
        "                source_sha256 / source_group before fitting anything to it.",
        "plots/          the figures of benchmark.html as PNG files",
        "work/           the timeline manifests that were scored",
    ]
