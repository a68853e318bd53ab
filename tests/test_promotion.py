"""Model lifecycle: train registers @candidate, only ``slopscore promote`` moves @champion.

Real MLflow stores in tmp folders and the tiny test backbone; a worse candidate is made by
training on shuffled labels.
"""

from __future__ import annotations

from dataclasses import replace

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from slopscore.cli.main import app
from slopscore.config import load_settings
from slopscore.evaluation.estimates import MIN_COUNT
from slopscore.model.registry import configure_tracking, log_scorer_run
from slopscore.model.triage import FEATURES as TRIAGE_FEATURES
from slopscore.model.triage import TriageModel
from slopscore.training.promotion_rule import MIN_ITEMS, RULE
from slopscore.training.train import train

runner = CliRunner()
ENV = {"SLOPSCORE_ALLOW_TEST_BACKBONE": "1"}


def _settings(root, store):
    return load_settings(None, {
        "embedding.backbone": "test:tiny-clip", "embedding.num_workers": 0, "embedding.device": "cpu",
        "embedding.precision": "fp32", "cache.dir": str(root / "cache"), "tracking.store_dir": str(store),
        "training.segment_min_count": 3,
    })


def _absolute(manifest, root, out, shuffle_seed=None):
    """The manifest with absolute paths (and, with a seed, its labels shuffled)."""
    frame = pd.read_csv(manifest)
    frame["path"] = [str(root / p) for p in frame["path"]]
    if shuffle_seed is not None:
        frame["label"] = np.random.default_rng(shuffle_seed).permutation(frame["label"].to_numpy())
    frame.to_csv(out, index=False)
    return out


def _aliases(store, name="slopscore-scorer"):
    aliases = MlflowClient(configure_tracking(store)).get_registered_model(name).aliases
    return {alias: str(version) for alias, version in aliases.items()}


def _promote(store, settings, *args):
    return runner.invoke(app, ["promote", *args, "--mlflow-store", str(store), "--cache-dir", settings.cache.dir],
                         env=ENV)


def test_the_rule_in_the_help_matches_the_code():
    assert MIN_ITEMS == MIN_COUNT and "lower bound" in RULE
    result = runner.invoke(app, ["promote", "--help"], env={**ENV, "COLUMNS": "300"})
    assert result.exit_code == 0 and "--if-better" in result.output and "--apply" in result.output


def test_train_twice_keeps_champion_until_promote_and_if_better_follows_the_rule(trained, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    platform, fixture_settings, _, root = trained
    store = tmp_path / "store"
    settings = _settings(root, store)
    evaluation = _absolute(platform.manifest, platform.root, tmp_path / "eval.csv")
    labels = pd.read_csv(evaluation)["label"]
    if min((labels == "human").sum(), (labels == "ai_slop").sum()) < MIN_COUNT:
        pytest.skip("the generated platform has too few works of a class for the rule")

    first = train(platform.history, settings, tmp_path / "real", log=lambda m: None)
    assert first.registered.alias_uri == "models:/slopscore-scorer@candidate"
    assert _aliases(store) == {"candidate": first.registered.version}

    refused = _promote(store, settings, "--candidate", first.registered.version, "--if-better")
    assert refused.exit_code == 1 and "--apply" in refused.output and "champion" not in _aliases(store)
    applied = _promote(store, settings, "--candidate", first.registered.version, "--apply")
    assert applied.exit_code == 0, applied.output
    assert _aliases(store)["champion"] == first.registered.version

    shuffled = _absolute(platform.history, platform.root, tmp_path / "shuffled.csv", shuffle_seed=1)
    second = train(shuffled, settings, tmp_path / "shuffled", log=lambda m: None)
    assert int(second.registered.version) == int(first.registered.version) + 1  # two versions
    assert _aliases(store) == {"champion": first.registered.version, "candidate": second.registered.version}

    # On the tiny random backbone the detector is weak and context signals carry the triage score,
    # so shuffled labels alone need not hurt; with its triage weights zeroed the scores are constant.
    flat = TriageModel(weights={k: 0.0 for k in ("intercept", *TRIAGE_FEATURES)})
    worst = log_scorer_run(replace(second.scorer, triage=flat), store_dir=store, params={}, metrics={})
    worse = _promote(store, settings, "--candidate", worst.version, "--eval", str(evaluation),
                     "--if-better", "--out", str(tmp_path / "p1"))
    assert worse.exit_code == 1, worse.output
    assert "WORSE" in worse.output and "not moved" in worse.output and "human-work FPR" in worse.output
    assert _aliases(store)["champion"] == first.registered.version
    for role in ("candidate", "champion"):
        assert (tmp_path / "p1" / role / "evaluation_report.html").is_file()
    runs = mlflow.search_runs(experiment_names=[settings.tracking.experiment],
                              filter_string="tags.mlflow.runName = 'promote'")
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["tags.candidate_version"] == worst.version
    assert run["tags.champion_version"] == first.registered.version
    for role in ("candidate", "champion"):
        assert run[f"metrics.{role}_triage_auroc_low"] <= run[f"metrics.{role}_triage_auroc"]
        assert run[f"metrics.{role}_human_fpr_at_review_threshold_items"] == (labels == "human").sum()
        assert any(c.startswith(f"metrics.{role}_segment_fpr_") for c in runs.columns)
    artifacts = {a.path for a in MlflowClient().list_artifacts(run["run_id"], "comparison")}
    assert {"comparison/comparison.csv", "comparison/segment_fpr.csv"} <= artifacts

    forced = _promote(store, settings, "--candidate", worst.version, "--eval", str(evaluation),
                      "--apply", "--out", str(tmp_path / "p2"))
    assert forced.exit_code == 0 and "did not pass" in forced.output
    assert _aliases(store)["champion"] == worst.version

    better = _promote(store, settings, "--candidate", first.registered.version, "--eval", str(evaluation),
                      "--if-better", "--out", str(tmp_path / "p3"))
    assert better.exit_code == 0, better.output
    assert "passed the rule" in better.output
    assert _aliases(store)["champion"] == first.registered.version

    no_eval = _promote(store, settings, "--candidate", second.registered.version, "--if-better")
    assert no_eval.exit_code == 2 and "--eval" in no_eval.output
    mlflow.set_tracking_uri(None)


@pytest.mark.parametrize("uri, expected", [
    ("models:/slopscore-scorer@nope", ["has no alias 'nope'", "aliases candidate -> 1"]),
    ("models:/slopscore-scorer/9", ["has no version '9'", "versions 1"]),
    ("models:/other@champion", ["no registered model 'other'", "'slopscore-scorer'"]),
    ("models:/slopscore-scorer@champion", ["has no alias 'champion'"]),
])
def test_a_wrong_model_uri_is_one_line_naming_the_store_and_what_it_holds(trained, tmp_path, uri, expected,
                                                                          monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    platform, settings, outcome, _ = trained
    store = settings.tracking.store_dir  # the fixture's store: version 1 is @candidate, no champion
    result = runner.invoke(app, ["score", "--model", uri, "--input", str(platform.new_uploads),
                                 "--out", str(tmp_path / "s.csv"), "--mlflow-store", store], env=ENV)
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1, line
    assert str(store) in line.replace("\n", "")
    for text in expected:
        assert text in line
    mlflow.set_tracking_uri(None)


def test_a_missing_store_is_one_line_and_is_not_created(trained, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    platform, _, _, _ = trained
    missing = tmp_path / "no-store"
    result = runner.invoke(app, ["evaluate", str(platform.new_uploads), "--model", "models:/slopscore-scorer@champion",
                                 "--mlflow-store", str(missing), "--out", str(tmp_path / "e")], env=ENV)
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1 and "no MLflow store at" in line
    assert not missing.exists()
    mlflow.set_tracking_uri(None)


def test_promoting_a_version_that_does_not_exist_is_one_line(trained, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _, settings, _, _ = trained
    result = _promote(settings.tracking.store_dir, settings, "--candidate", "9", "--apply")
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1 and "has no version '9'" in line
    assert "champion" not in _aliases(settings.tracking.store_dir)
    mlflow.set_tracking_uri(None)
