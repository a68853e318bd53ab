"""MLflow: a real local store; the registered scorer reloads by URI in a new process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from slopscore.model.detector import AIDetector
from slopscore.model.registry import log_scorer_run
from slopscore.model.scorer import Scorer, ScorerInfo
from slopscore.model.triage import TriageModel


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    n, d = 300, 16
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    groups = np.array([f"a{i % 30}" for i in range(n)])
    frame = pd.DataFrame({
        "embedding": list(X.astype(np.float32)),
        "centroid_z": rng.normal(size=n),
        "portfolio_size": rng.integers(0, 50, n),
        "near_duplicates": rng.integers(0, 5, n),
        "file_says_ai": rng.random(n) < 0.1,
        "file_generator": [None] * n,
    })
    frame.loc[3, "embedding"] = None  # an item whose image could not be embedded
    return X, y, groups, frame


def _scorer(X, y, groups) -> Scorer:
    info = ScorerInfo(backbone="test:tiny-clip", backbone_id="test:tiny-clip/seed0",
                      preprocess_id="p", embed_dim=X.shape[1], training_digest="abc",
                      n_training_items=len(y))
    return Scorer(info, AIDetector().fit(X, y, groups), TriageModel())


def test_scorer_save_and_load_round_trip(tmp_path, features):
    X, y, groups, frame = features
    scorer = _scorer(X, y, groups)
    again = Scorer.load(scorer.save(tmp_path / "s"))
    pd.testing.assert_frame_equal(scorer.score_frame(frame), again.score_frame(frame))
    scored = scorer.score_frame(frame)
    assert np.isnan(scored.loc[3, "p_ai"]) and 0 < scored.loc[3, "triage_score"] < 1
    assert set(scored["model_version"]) == {"local"}


def test_registered_model_reloads_by_uri_in_a_new_process(tmp_path, features, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    X, y, groups, frame = features
    figure = tmp_path / "reliability.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    registered = log_scorer_run(
        _scorer(X, y, groups), store_dir=tmp_path / "mlruns", params={"C": 1.0},
        metrics={"auroc": 0.9, "ece": 0.05}, artifacts=[("plots", figure)],
        dataset=pd.DataFrame({"item_id": ["a", "b"], "label": ["human", "ai_slop"]}),
    )
    client = MlflowClient()
    run = client.get_run(registered.run_id)
    assert run.data.metrics == {"auroc": 0.9, "ece": 0.05}
    assert run.data.tags["training_digest"] == "abc"
    assert [a.path for a in client.list_artifacts(registered.run_id, "plots")] == ["plots/reliability.png"]
    assert str(client.get_model_version_by_alias("slopscore-scorer", "candidate").version) == registered.version
    assert "champion" not in client.get_registered_model("slopscore-scorer").aliases  # only promote moves it
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.artifact_location == (tmp_path / "mlruns" / "artifacts").resolve().as_uri()
    assert not (tmp_path / "mlruns" / "1").exists() and (tmp_path / "mlruns" / "artifacts").is_dir()

    expected = registered.scorer.score_frame(frame)
    assert set(expected["model_version"]) == {registered.scorer.info.model_version}
    frame.to_pickle(tmp_path / "frame.pkl")
    code = (
        "import sys, pandas as pd\n"
        "from slopscore.model.registry import load_scorer_model\n"
        f"model = load_scorer_model({registered.alias_uri!r}, {str(tmp_path / 'mlruns')!r})\n"
        f"model.predict(pd.read_pickle({str(tmp_path / 'frame.pkl')!r})).to_pickle({str(tmp_path / 'out.pkl')!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=tmp_path,
                   env={k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_TRACKING_URI"})
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "out.pkl"), expected)
    assert all(isinstance(json.loads(r), list) for r in expected["reasons"])
    mlflow.set_tracking_uri(None)


def test_each_store_is_used_and_a_user_uri_wins(tmp_path, monkeypatch):
    from slopscore.model.registry import configure_tracking, ui_command

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = configure_tracking(tmp_path / "a")
    second = configure_tracking(tmp_path / "b")  # mlflow exported the first URI; it must not stick
    assert first.endswith("/a/mlflow.db") and second.endswith("/b/mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'user.db'}")
    assert configure_tracking(tmp_path / "c") == f"sqlite:///{tmp_path / 'user.db'}"
    assert "user.db" in ui_command(tmp_path / "c")
    mlflow.set_tracking_uri(None)


def _tree(root: Path) -> dict[str, tuple]:
    """Every file and folder under ``root`` with its mode, size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_mode, p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))} | {".": (root.stat().st_mode, root.stat().st_mtime_ns)}


def _chmod_tree(root: Path, file_mode: int, dir_mode: int) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(dir_mode if path.is_dir() else file_mode)


def _read_only_mount_works(store: Path) -> bool:
    """Whether this machine lets us mount ``store`` read-only in a private mount namespace."""
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" '
                            '&& ! touch "$0/.probe" 2>/dev/null', str(store)], capture_output=True)
    return probe.returncode == 0 and not (store / ".probe").exists()


def test_loading_a_registered_model_writes_nothing_to_a_read_only_store(tmp_path, features, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    X, y, groups, frame = features
    store = tmp_path / "mlruns"
    registered = log_scorer_run(_scorer(X, y, groups), store_dir=store, params={}, metrics={"auroc": 0.9})
    mlflow.set_tracking_uri(None)
    expected = registered.scorer.score_frame(frame)
    frame.to_pickle(tmp_path / "frame.pkl")
    code = ("import sys, pandas as pd\n"
            "from slopscore.model.registry import load_scorer_model\n"
            f"model = load_scorer_model({registered.alias_uri!r}, {str(store)!r})\n"
            f"model.predict(pd.read_pickle({str(tmp_path / 'frame.pkl')!r})).to_pickle({str(tmp_path / 'out.pkl')!r})\n")
    command = [sys.executable, "-c", code]
    # The strongest read-only store this machine allows: a read-only mount (writes fail even for
    # root), else folders and files without write permission (root ignores those, so the
    # unchanged file tree below is then the proof).
    if os.geteuid() == 0 and _read_only_mount_works(store):
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"', str(store),
                   *command]
    _chmod_tree(store, 0o444, 0o555)
    before = _tree(store)
    try:
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                                env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"})
        after = _tree(store)
    finally:
        _chmod_tree(store, 0o644, 0o755)
    assert result.returncode == 0, result.stderr[-3000:]
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "out.pkl"), expected)
    assert after == before  # no registered_model_meta, no database write, nothing touched
    assert not list(store.rglob("registered_model_meta"))


def _checksums(root: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _score_in_new_process(uri: str, store: Path, frame_path: Path, out: Path) -> None:
    code = ("import pandas as pd\n"
            "from slopscore.model.registry import load_scorer_model\n"
            f"model = load_scorer_model({uri!r}, {str(store)!r})\n"
            f"model.predict(pd.read_pickle({str(frame_path)!r})).to_pickle({str(out)!r})\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=out.parent,
                            env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"})
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_copied_store_loads_and_scores_identically_and_loading_changes_no_file(tmp_path, features, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    X, y, groups, frame = features
    original = tmp_path / "original" / "mlruns"
    registered = log_scorer_run(_scorer(X, y, groups), store_dir=original, params={}, metrics={"auroc": 0.9})
    mlflow.set_tracking_uri(None)
    expected = registered.scorer.score_frame(frame)
    frame.to_pickle(tmp_path / "frame.pkl")
    moved = tmp_path / "elsewhere" / "copied-store"
    shutil.copytree(original, moved)
    shutil.rmtree(original)  # the recorded absolute artifact locations now point nowhere
    before = _checksums(moved)
    for uri in (registered.alias_uri, f"models:/slopscore-scorer/{registered.version}"):
        _score_in_new_process(uri, moved, tmp_path / "frame.pkl", tmp_path / "out.pkl")
        pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "out.pkl"), expected)
    assert _checksums(moved) == before  # every file's sha256 unchanged after load + score
    assert not original.exists()
