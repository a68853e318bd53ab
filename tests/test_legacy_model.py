"""A scorer registered by the flat layout (before the wings) still loads and scores identically."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from slopscore.batch.score_table import load_scorer
from slopscore.model.registry import configure_tracking

FIXTURE = Path(__file__).with_name("fixtures") / "legacy_flat_layout"


def _expected() -> tuple[pd.DataFrame, pd.DataFrame]:
    return (pd.read_parquet(FIXTURE / "features.parquet"),
            pd.read_parquet(FIXTURE / "expected_scores.parquet"))


def test_the_fixture_names_the_old_module_paths():
    pickled = (FIXTURE / "model" / "python_model.pkl").read_bytes()
    assert b"slopscore.tracking" in pickled
    estimators = (FIXTURE / "model" / "artifacts" / "scorer" / "scorer.joblib").read_bytes()
    assert b"slopscore.classifier" in estimators and b"slopscore.triage" in estimators


def test_a_registered_legacy_model_loads_by_alias_and_scores_identically(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = tmp_path / "mlruns"
    configure_tracking(store)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(FIXTURE / "model"), artifact_path="scorer")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/scorer", "slopscore-scorer")
    MlflowClient().set_registered_model_alias("slopscore-scorer", "champion", version.version)

    scorer = load_scorer("models:/slopscore-scorer@champion", store)
    features, expected = _expected()
    scored = scorer.score_frame(features)
    pd.testing.assert_frame_equal(scored, expected)
    assert type(scorer).__module__ == "slopscore.model.scorer"
    assert scored["reasons"].nunique() > 1 and scored["p_ai"].isna().sum() == 1
    mlflow.set_tracking_uri(None)


def test_plain_mlflow_loads_the_legacy_model_in_a_fresh_interpreter(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(FIXTURE / "model", model)
    code = (
        "import sys, mlflow, pandas as pd\n"
        f"model = mlflow.pyfunc.load_model({str(model)!r})\n"
        f"model.predict(pd.read_parquet({str(FIXTURE / 'features.parquet')!r}))"
        f".to_parquet({str(tmp_path / 'out.parquet')!r})\n"
        "assert 'slopscore.model.registry' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=tmp_path)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), _expected()[1])


def test_old_paths_resolve_to_the_modules_that_replaced_them_and_nothing_else():
    import slopscore.classifier
    import slopscore.model.detector
    import slopscore.tracking

    assert slopscore.classifier is slopscore.model.detector
    assert slopscore.model.detector.__spec__.name == "slopscore.model.detector"
    assert slopscore.tracking.ScorerPyfunc.__module__ == "slopscore.model.registry"
    result = subprocess.run([sys.executable, "-c", "import slopscore.images"], capture_output=True,
                            text=True)
    assert result.returncode != 0 and "No module named 'slopscore.images'" in result.stderr
