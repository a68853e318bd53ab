"""``slopscore promote``: compare a candidate version with ``@champion`` on one labelled
manifest, log the comparison to MLflow, and move ``@champion`` only when asked.

Both models score the same items with the evaluation code ``slopscore evaluate`` uses
(:func:`slopscore.evaluation.run.evaluate_scored`); each is judged at its own review
threshold. The rule behind ``if_better`` (:data:`RULE`), checked on the triage score:

1. AUROC (bootstrap over artists): the candidate's is not below the champion's 95% lower bound;
2. detection at the review threshold (share of confirmed AI slop flagged): the candidate's
   is not below the champion's Wilson 95% lower bound;
3. false-positive rate on human work at the review threshold (share of works labelled
   ``human`` flagged): the candidate's is not above the champion's Wilson 95% upper bound.

A check on fewer than :data:`~slopscore.evaluation.estimates.MIN_COUNT` items of a class
cannot pass: "too few" never promotes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from slopscore.batch.embed_job import open_encoder
from slopscore.batch.feature_pipeline import prepare_features
from slopscore.config import Settings
from slopscore.evaluation.estimates import MIN_COUNT, TOO_FEW, Estimate
from slopscore.evaluation.intervals import wilson_interval
from slopscore.evaluation.run import EvaluationOutcome, evaluate_scored
from slopscore.model.registry import alias_version, load_scorer_model, log_evaluation_run, set_alias
from slopscore.training.promotion_rule import RULE
from slopscore.training.train import evaluation_artifacts, file_digest, labelled_items

__all__ = ["RULE", "Check", "ModelResult", "PromotionError", "PromotionOutcome", "Rate", "comparison_lines",
           "promote"]

class PromotionError(ValueError):
    """A promotion that cannot be done as asked (the message says what to pass)."""


@dataclass(frozen=True)
class Rate:
    """A share of items flagged at the review threshold, with its Wilson 95% interval.

    ``value``, ``low``, ``high`` in [0, 1] (NaN when ``n < MIN_COUNT``); ``k`` of ``n`` flagged.
    """

    value: float
    low: float
    high: float
    k: int
    n: int

    @classmethod
    def of(cls, flagged: pd.Series) -> "Rate":
        k, n = int(flagged.sum()), len(flagged)
        if n < MIN_COUNT:
            nan = float("nan")
            return cls(nan, nan, nan, k, n)
        low, high = wilson_interval(k, n)
        return cls(k / n, float(low), float(high), k, n)

    @property
    def ok(self) -> bool:
        return self.n >= MIN_COUNT

    def text(self) -> str:
        if not self.ok:
            return f"{TOO_FEW} ({self.k}/{self.n}; {MIN_COUNT} needed)"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.k}/{self.n})"


@dataclass
class ModelResult:
    """One model's evaluation on the promotion manifest."""

    role: str
    version: str
    model_version: str
    outcome: EvaluationOutcome
    auroc: Estimate
    detection: Rate
    human_fpr: Rate


@dataclass(frozen=True)
class Check:
    """One line of the rule: both values, and whether the candidate passed (None: not checked)."""

    name: str
    candidate: str
    champion: str
    passed: bool | None
    why: str


@dataclass
class PromotionOutcome:
    """What ``promote`` compared, decided and did."""

    candidate_version: str
    champion_version: str | None
    decision: str
    moved: bool
    refused: bool = False
    results: list[ModelResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    run_id: str | None = None


def _evaluate(role: str, version: str, manifest: Path, settings: Settings, out_dir: Path,
              frames: dict, progress) -> ModelResult:
    uri = f"models:/{settings.tracking.model_name}/{version}"
    scorer = load_scorer_model(uri, settings.tracking.store_dir).unwrap_python_model().scorer
    model_settings = settings.with_backbone(scorer.info.backbone)
    key = (scorer.info.backbone, scorer.info.preprocess_id)
    if key not in frames:  # models on one backbone share the manifest's features
        _, encoder = open_encoder(model_settings)
        prepared = prepare_features(manifest, model_settings, out_dir / f"features-{role}", encoder=encoder,
                                    progress=progress)
        frames[key] = labelled_items(prepared.frame)
    frame = frames[key]
    outcome = evaluate_scored(frame, scorer.score_frame(frame), model_settings, out_dir / role,
                              title=f"{role} {uri} ({scorer.info.model_version}) on {len(frame)} items of {manifest.name}",
                              context=[("model version", scorer.info.model_version)], scorer=scorer)
    predictions = outcome.predictions
    return ModelResult(role, version, scorer.info.model_version, outcome, outcome.estimates["triage"]["auroc"],
                       Rate.of(predictions.loc[predictions["is_violation"] == 1, "flagged"]),
                       Rate.of(predictions.loc[predictions["label"] == "human", "flagged"]))


def _checks(candidate: ModelResult, champion: ModelResult) -> list[Check]:
    def check(name, cand_text, champ_text, enough, passed, why):
        return Check(name, cand_text, champ_text, bool(passed) if enough else False,
                     why if enough else f"{TOO_FEW} items to compare")

    a, b = candidate.auroc, champion.auroc
    enough = a.status == "ok" and b.status == "ok"
    return [
        check("triage AUROC", a.text(3), b.text(3), enough, enough and a.value >= b.low,
              "not below the champion's lower bound"),
        check("detection at review threshold", candidate.detection.text(), champion.detection.text(),
              candidate.detection.ok and champion.detection.ok,
              candidate.detection.value >= champion.detection.low, "not below the champion's lower bound"),
        check("human-work FPR at review threshold", candidate.human_fpr.text(), champion.human_fpr.text(),
              candidate.human_fpr.ok and champion.human_fpr.ok,
              candidate.human_fpr.value <= champion.human_fpr.high, "not above the champion's upper bound"),
    ]


def _metric_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower()[:200]


def _log(outcome: PromotionOutcome, manifest: Path, settings: Settings, out_dir: Path) -> str:
    """The comparison as one MLflow run: both models' metrics, intervals, counts and segment FPRs."""
    metrics: dict[str, float] = {}
    rows, segment_rows = [], []
    for result in outcome.results:
        role = result.role
        metrics.update({f"{role}_{k}": v for k, v in result.outcome.metrics.items()})
        metrics[f"{role}_review_threshold"] = result.outcome.threshold
        for name, rate in (("detection_at_review_threshold", result.detection),
                           ("human_fpr_at_review_threshold", result.human_fpr)):
            metrics.update({f"{role}_{name}_flagged": rate.k, f"{role}_{name}_items": rate.n})
            if rate.ok:
                metrics.update({f"{role}_{name}": rate.value, f"{role}_{name}_low": rate.low,
                                f"{role}_{name}_high": rate.high})
        for s in result.outcome.segments:
            segment_rows.append({"model": role, "version": result.version, "segment": s.segment,
                                 "value": s.value, "non_violations": s.n_negative, "flagged": s.n_flagged,
                                 "fpr": s.false_positive_rate, "ci_low": s.ci_low, "ci_high": s.ci_high,
                                 "status": s.status})
            if s.status != "not_enough_data":
                metrics[_metric_name(f"{role}_segment_fpr_{s.segment}_{s.value}")] = s.false_positive_rate
    for check in outcome.checks:
        rows.append({"check": check.name, "candidate": check.candidate, "champion": check.champion,
                     "passed": check.passed, "rule": check.why})
    comparison = out_dir / "comparison.csv"
    pd.DataFrame(rows, columns=["check", "candidate", "champion", "passed", "rule"]).to_csv(comparison, index=False)
    segments = out_dir / "segment_fpr.csv"
    pd.DataFrame(segment_rows).to_csv(segments, index=False)
    artifacts = [("comparison", comparison), ("comparison", segments)]
    for result in outcome.results:
        artifacts += [(f"{result.role}/{folder}", path) for folder, path in evaluation_artifacts(result.outcome)]
    return log_evaluation_run(
        store_dir=settings.tracking.store_dir,
        model_uri=f"models:/{settings.tracking.model_name}/{outcome.candidate_version}",
        model_version=outcome.results[0].model_version, metrics=metrics,
        dataset_digest=file_digest(manifest),
        artifacts=artifacts, experiment=settings.tracking.experiment, run_name="promote",
        tags={"candidate_version": outcome.candidate_version, "champion_version": outcome.champion_version or "",
              "decision": outcome.decision, "data_manifest": str(manifest.resolve())},
    )


def promote(
    candidate: str | int,
    settings: Settings,
    *,
    eval_manifest: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "slopscore-promote",
    apply: bool = False,
    if_better: bool = False,
    progress=None,
    log: Callable[[str], None] = print,
) -> PromotionOutcome:
    """Compare ``candidate`` with ``@champion`` on ``eval_manifest``; move ``@champion`` when asked.

    Parameters
    ----------
    candidate : str or int
        A version of ``tracking.model_name``.
    settings : Settings
    eval_manifest : path-like, optional
        Labelled manifest both models score. Needed whenever a champion exists; without a
        champion the first model may be promoted with ``apply`` and no comparison.
    out_dir : path-like
        Both evaluation reports, ``comparison.csv`` and ``segment_fpr.csv``.
    apply : bool
        Move ``@champion`` to the candidate after the comparison, whatever it shows.
    if_better : bool
        Move it only when the candidate passes :data:`RULE`.

    Raises
    ------
    PromotionError
        Both ``apply`` and ``if_better``, or a champion exists and no manifest was given.
    slopscore.model.store.ModelNotFoundError
        The candidate version (or the store) does not exist.
    """
    if apply and if_better:
        raise PromotionError("pass either --apply or --if-better, not both")
    name, alias = settings.tracking.model_name, settings.tracking.alias
    candidate = str(candidate)
    load_scorer_model(f"models:/{name}/{candidate}", settings.tracking.store_dir)  # it must exist
    champion = alias_version(settings.tracking.store_dir, name, alias)
    if champion == candidate:
        return PromotionOutcome(candidate, champion, f"version {candidate} already is @{alias}", False)
    if champion is None:
        if apply:
            set_alias(settings.tracking.store_dir, name, alias, candidate)
            return PromotionOutcome(candidate, None, f"no @{alias} yet: version {candidate} is now @{alias} "
                                                     "(first champion, no baseline to compare)", True)
        if if_better:
            return PromotionOutcome(candidate, None, f"not moved: no @{alias} to compare with; promote the "
                                                     "first model with --apply", False, refused=True)
        return PromotionOutcome(candidate, None, f"not moved: no @{alias} yet; pass --apply to promote", False)
    if eval_manifest is None:
        raise PromotionError(f"@{alias} is version {champion}: pass --eval MANIFEST (labelled) to compare "
                             f"version {candidate} with it")
    manifest, out_dir = Path(eval_manifest), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames: dict = {}
    log(f"scoring {manifest} with candidate version {candidate} and @{alias} version {champion}")
    results = [_evaluate("candidate", candidate, manifest, settings, out_dir, frames, progress),
               _evaluate("champion", champion, manifest, settings, out_dir, frames, progress)]
    checks = _checks(*results)
    better = all(check.passed for check in checks)
    if apply or (if_better and better):
        set_alias(settings.tracking.store_dir, name, alias, candidate)
        decision = (f"version {candidate} is now @{alias} (was {champion}); "
                    + ("it passed the rule" if better else "moved by --apply although it did not pass the rule"))
        moved, refused = True, False
    elif if_better:
        failed = ", ".join(c.name for c in checks if not c.passed)
        decision, moved, refused = f"not moved: worse than @{alias} version {champion} on {failed}", False, True
    else:
        decision = (f"not moved (pass --apply or --if-better); the candidate "
                    f"{'passes' if better else 'does not pass'} the rule")
        moved, refused = False, False
    outcome = PromotionOutcome(candidate, champion, decision, moved, refused, results, checks)
    outcome.run_id = _log(outcome, manifest, settings, out_dir)
    return outcome


def _verdict(check: Check) -> str:
    if check.passed:
        return "ok"
    return "FAILS" if check.why.startswith(TOO_FEW) else "WORSE"


def comparison_lines(outcome: PromotionOutcome) -> list[str]:
    """The side-by-side comparison and the decision, as plain lines for the terminal."""
    lines = []
    if outcome.checks:
        width = max(len(c.name) for c in outcome.checks)
        cand_width = max(len(c.candidate) for c in outcome.checks)
        lines.append(f"{'':{width}}  {'candidate v' + outcome.candidate_version:{cand_width}}  "
                     f"champion v{outcome.champion_version}")
        for c in outcome.checks:
            lines.append(f"{c.name:{width}}  {c.candidate:{cand_width}}  {c.champion}   "
                         f"{_verdict(c)}: {c.why}")
        for result in outcome.results:
            lines.append(f"{result.role} review threshold {result.outcome.threshold:.3f}; report "
                         f"{result.outcome.report}")
        segments = {}
        for result in outcome.results:
            for s in result.outcome.segments:
                text = ("not enough data" if s.status == "not_enough_data"
                        else f"{s.false_positive_rate:.1%} [{s.ci_low:.1%}, {s.ci_high:.1%}]")
                segments.setdefault((s.segment, str(s.value)), {})[result.role] = f"{text} of {s.n_negative}"
        if segments:
            lines.append("false-positive rate on non-violations at the review threshold, per segment "
                         "(candidate | champion):")
            for (segment, value), by in segments.items():
                lines.append(f"  {segment} = {value}: {by.get('candidate', '-')} | {by.get('champion', '-')}")
    lines.append(outcome.decision)
    if outcome.run_id:
        lines.append(f"MLflow run {outcome.run_id} (run name 'promote')")
    return lines
