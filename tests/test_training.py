"""Train → MLflow → score, end to end on a small generated platform with the tiny backbone."""

from __future__ import annotations

import json
import subprocess
import sys

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from slopscore.batch.score_table import score_uploads
from slopscore.model.registry import configure_tracking


def test_training_logs_metrics_plots_and_registers_the_model(trained):
    platform, settings, outcome, _ = trained
    client = MlflowClient(configure_tracking(settings.tracking.store_dir))  # the session's store
    run = client.get_run(outcome.registered.run_id)
    metrics = run.data.metrics
    assert "flip_rate_jpeg50" in metrics
    for model in ("detector", "triage"):
        counts = metrics[f"{model}_n_positive"], metrics[f"{model}_n_negative"]
        enough = min(counts) >= 20
        for key in ("auroc", "ece", "average_precision"):  # a number only from 20 of each class
            assert (f"{model}_{key}" in metrics) == enough
            if enough:
                assert metrics[f"{model}_{key}_low"] <= metrics[f"{model}_{key}"] <= metrics[f"{model}_{key}_high"]
    report = outcome.evaluation.report.read_text()
    assert "positives / negatives" in report and ("too few" in report) != (
        min(metrics["detector_n_positive"], metrics["detector_n_negative"]) >= 20)
    assert run.data.params["backbone"] == "test:tiny-clip/seed0"
    plots = {a.path for a in client.list_artifacts(outcome.registered.run_id, "plots")}
    assert "plots/detector_reliability.png" in plots
    report_files = {a.path for a in client.list_artifacts(outcome.registered.run_id, "report")}
    assert {"report/evaluation_report.html", "report/predictions.csv",
            "report/confusion_at_threshold.csv"} <= report_files
    # the run names its data and backbone; the model version carries a description and a signature
    assert run.info.run_name.startswith("train ") and "test:tiny-clip" in run.info.run_name
    assert run.data.tags["data_manifest"] == str(platform.history.resolve())
    assert len(run.data.tags["data_manifest_sha256"]) == 64 and run.data.tags["backbone"] == "test:tiny-clip"
    assert "held-out artists" in run.data.tags["mlflow.note.content"]
    registered = client.get_model_version(settings.tracking.model_name, outcome.registered.version)
    assert "calibrated P(AI) detector" in registered.description
    assert "@champion" in client.get_registered_model(settings.tracking.model_name).description
    from slopscore.model.registry import load_scorer_model

    signature = load_scorer_model(outcome.registered.alias_uri, settings.tracking.store_dir).metadata.signature
    assert signature.inputs.input_names()[0] == "embedding"
    assert {"p_ai", "triage_score", "reasons", "model_version"} <= set(signature.outputs.input_names())
    version = client.get_model_version_by_alias(settings.tracking.model_name, settings.tracking.candidate_alias)
    assert str(version.version) == outcome.registered.version


def test_no_artist_is_in_both_training_and_evaluation(trained):
    platform, _, outcome, _ = trained
    assert outcome.train_artists and outcome.test_artists
    assert outcome.train_artists.isdisjoint(outcome.test_artists)
    history = pd.read_csv(platform.history)
    labelled_artists = set(history["artist_id"])
    assert outcome.train_artists | outcome.test_artists <= labelled_artists
    report = outcome.evaluation.report.read_text()
    assert "held-out artists" in report and "False-positive rate" in report
    assert "Confusion at the review threshold" in report and "Highest-scored human works" in report
    assert "Lowest-scored AI slop" in report and "data:image/png;base64," in report
    predictions = pd.read_csv(outcome.evaluation.files["predictions"])
    assert len(predictions) == outcome.n_test and set(predictions["artist_id"]) <= outcome.test_artists


def test_registered_model_reproduces_scores_in_a_new_process(trained, tmp_path):
    platform, settings, outcome, root = trained
    queue = score_uploads(outcome.scorer, platform.new_uploads, settings, tmp_path / "s",
                          history=platform.history).scores
    manifest = pd.read_csv(platform.new_uploads)
    assert len(queue) == len(manifest)  # one row per input row
    assert queue["triage_score"].is_monotonic_decreasing
    assert set(queue["model_version"]) == {outcome.scorer.info.model_version}
    features = tmp_path / "features.pkl"
    from slopscore.batch.feature_pipeline import prepare_features

    frame = prepare_features(platform.new_uploads, settings, tmp_path / "f").frame
    frame.to_pickle(features)
    expected = outcome.scorer.score_frame(frame)
    code = (
        "import pandas as pd\n"
        "from slopscore.model.registry import load_scorer_model\n"
        f"m = load_scorer_model({outcome.registered.alias_uri!r}, {settings.tracking.store_dir!r})\n"
        f"m.predict(pd.read_pickle({str(features)!r})).to_pickle({str(tmp_path / 'out.pkl')!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "out.pkl"), expected)
    assert all(isinstance(json.loads(r), list) for r in expected["reasons"])


def test_evaluate_command_logs_an_evaluation_run(trained, tmp_path):
    from typer.testing import CliRunner

    from slopscore.cli.main import app

    platform, settings, outcome, root = trained
    result = CliRunner().invoke(app, [
        "evaluate", str(platform.new_uploads), "--model", outcome.registered.alias_uri,
        "--out", str(tmp_path / "eval"), "--mlflow-store", settings.tracking.store_dir,
        "--cache-dir", settings.cache.dir,
    ], env={"SLOPSCORE_ALLOW_TEST_BACKBONE": "1"})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "eval" / "evaluation_report.html").is_file()
    runs = mlflow.search_runs(experiment_names=[settings.tracking.experiment],
                              filter_string="tags.mlflow.runName = 'evaluate'")
    assert len(runs) == 1 and runs.iloc[0]["tags.model_uri"] == outcome.registered.alias_uri
    assert len(runs.iloc[0]["tags.dataset_digest"]) == 64
    row = runs.iloc[0]
    if min(row["metrics.detector_n_positive"], row["metrics.detector_n_negative"]) >= 20:
        assert row["metrics.detector_auroc_low"] <= row["metrics.detector_auroc"] <= row["metrics.detector_auroc_high"]
    else:
        assert pd.isna(row.get("metrics.detector_auroc")) and "too few" in result.output
    assert "positives / negatives" in result.output


def test_score_command_writes_one_row_per_input(trained, tmp_path):
    from typer.testing import CliRunner

    from slopscore.cli.main import app

    platform, settings, outcome, _ = trained
    manifest = pd.read_csv(platform.new_uploads)
    manifest["path"] = [str(platform.root / p) for p in manifest["path"]]
    broken = manifest.iloc[:1].assign(item_id="broken-1", path="images/does-not-exist.png")
    pd.concat([manifest, broken]).to_csv(tmp_path / "today.csv", index=False)
    (tmp_path / "images").mkdir()
    out = tmp_path / "scores.csv"
    scorer_dir = outcome.scorer.save(tmp_path / "scorer")
    result = CliRunner().invoke(app, [
        "score", "--model", str(scorer_dir), "--input", str(tmp_path / "today.csv"),
        "--history", str(platform.history), "--out", str(out), "--cache-dir", settings.cache.dir,
        "--queue", f"sqlite:///{tmp_path / 'queue.db'}",
    ], env={"SLOPSCORE_ALLOW_TEST_BACKBONE": "1"})
    assert result.exit_code == 0, result.output
    from slopscore.review.ingest import open_queue, pending_items

    queued = pending_items(open_queue(f"sqlite:///{tmp_path / 'queue.db'}"), limit=1000)
    assert len(queued) == len(manifest) + 1
    assert queued[0].triage_score == max(q.triage_score for q in queued if q.triage_score is not None)
    scores = pd.read_csv(out)
    assert len(scores) == len(manifest) + 1
    assert f"input {len(manifest) + 1} = scored {len(manifest)} + skipped 1" in result.output
    assert scores.set_index("item_id").loc["broken-1", "skip_reason"] == "missing"


def test_train_command_registers_a_model_and_prints_the_ui_command(trained, tmp_path):
    from typer.testing import CliRunner

    from slopscore.cli.main import app

    platform, settings, _, _ = trained
    store = tmp_path / "store"
    result = CliRunner().invoke(app, [
        "train", str(platform.history), "--out", str(tmp_path / "out"), "--backbone", "test:tiny-clip",
        "--cache-dir", settings.cache.dir, "--mlflow-store", str(store), "--no-download",
    ], env={"SLOPSCORE_ALLOW_TEST_BACKBONE": "1"})
    assert result.exit_code == 0, result.output
    assert "models:/slopscore-scorer@candidate" in result.output and "@champion is unchanged" in result.output
    assert f"mlflow ui --backend-store-uri sqlite:///{store.resolve()}" in result.output.replace("\n", "")
    assert (tmp_path / "out" / "evaluation_report.html").is_file()
