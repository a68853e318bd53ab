"""MLflow: runs for training and evaluation, the scorer as a registered pyfunc model.

By default everything goes to a local store (``sqlite:///<store>/mlflow.db`` with
artifacts under ``<store>/artifacts``); ``MLFLOW_TRACKING_URI`` overrides. View it
with ``mlflow ui --backend-store-uri sqlite:///<store>/mlflow.db``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import metadata as importlib_metadata
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from slopscore.model.scorer import SIGNAL_COLUMNS, Scorer
from slopscore.model.store import (
    StoreInfo,
    load_pyfunc,
    local_store_uri,
    registered_version,
    require_local_store,
)

__all__ = ["RegisteredScorer", "ScorerPyfunc", "configure_tracking", "load_scorer_model",
           "log_evaluation_run", "log_scorer_run", "reading_store", "scorer_signature", "set_alias",
           "alias_version", "ui_command"]

DEFAULT_EXPERIMENT = "slopscore"
DEFAULT_MODEL_NAME = "slopscore-scorer"
_MODEL_DESCRIPTION = (
    "slopscore scorer: ranks art uploads for human review of likely low-effort AI imagery (never removes "
    "anything). predict(feature table) -> p_ai in [0, 1] (calibrated P(AI) at the stored base rate, higher = "
    "more likely AI) and triage_score in [0, 1] (estimated chance a reviewer confirms a concern, higher = "
    "review sooner), with reasons. Versions are registered as @candidate by `slopscore train`; "
    "`slopscore promote` moves @champion, which the daily job loads.")
_PINNED_FOR_SERVING = ("scikit-learn", "numpy", "pandas", "scipy", "joblib")


_local_uri = local_store_uri


# mlflow.set_tracking_uri() also exports MLFLOW_TRACKING_URI; URIs we set are not user overrides.
_SET_BY_US: set[str] = set()


def _user_tracking_uri() -> str | None:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    return None if uri in _SET_BY_US else uri


def configure_tracking(store_dir: str | os.PathLike[str]) -> str:
    """Point MLflow at ``MLFLOW_TRACKING_URI`` or the local store; return the URI used."""
    uri = _user_tracking_uri()
    if not uri:
        Path(store_dir).expanduser().resolve().mkdir(parents=True, exist_ok=True)
        uri = _local_uri(store_dir)
        _SET_BY_US.add(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def reading_store(store_dir: str | os.PathLike[str]) -> StoreInfo:
    """Point MLflow at the store to read models from, creating nothing.

    Raises
    ------
    slopscore.model.store.ModelNotFoundError
        The local store folder holds no MLflow database.
    """
    uri = _user_tracking_uri()
    if uri:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        return StoreInfo(uri, None)
    require_local_store(store_dir)
    return StoreInfo(configure_tracking(store_dir), Path(store_dir).expanduser().resolve())


def ui_command(store_dir: str | os.PathLike[str]) -> str:
    """The command that opens MLflow's UI on this store (loopback only)."""
    uri = _user_tracking_uri() or _local_uri(store_dir)
    return f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"


def _experiment_id(name: str, store_dir: str | os.PathLike[str]) -> str:
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if mlflow.get_tracking_uri() == _local_uri(store_dir):  # our local store keeps artifacts beside it
        location = (Path(store_dir).expanduser().resolve() / "artifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


class ScorerPyfunc(mlflow.pyfunc.PythonModel):
    """Serves :meth:`Scorer.score_frame` through ``mlflow.pyfunc``."""

    def load_context(self, context) -> None:
        self.scorer = Scorer.load(context.artifacts["scorer"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.scorer.score_frame(model_input)


@dataclass(frozen=True)
class RegisteredScorer:
    """Where a training run put things."""

    run_id: str
    model_uri: str
    registered_name: str
    version: str
    alias: str
    alias_uri: str
    scorer: Scorer


def log_scorer_run(
    scorer: Scorer,
    *,
    store_dir: str | os.PathLike[str],
    params: Mapping[str, object],
    metrics: Mapping[str, float],
    artifacts: Sequence[tuple[str, str | os.PathLike[str]]] = (),
    dataset: pd.DataFrame | None = None,
    registered_name: str = DEFAULT_MODEL_NAME,
    alias: str = "candidate",
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> RegisteredScorer:
    """Log a training run, the scorer as a pyfunc model with its signature, register it and
    set ``alias`` (``candidate`` by default; ``@champion`` moves only by promotion).

    The scorer's ``model_version`` becomes ``NAME/run-<run id prefix>`` before it is
    saved, so every score it produces names the run that made it. ``description`` goes to
    the run and the model version; ``tags`` (the data and backbone) to the run.
    """
    configure_tracking(store_dir)
    with _quiet_mlflow():
        experiment_id = _experiment_id(experiment, store_dir)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        version_label = f"{registered_name}/run-{run.info.run_id[:8]}"
        scorer = replace(scorer, info=replace(scorer.info, model_version=version_label))
        mlflow.log_params({k: _short(v) for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.set_tags({"backbone_id": scorer.info.backbone_id,
                         "training_digest": scorer.info.training_digest,
                         "model_version": version_label, **(tags or {})})
        if description:
            mlflow.set_tag("mlflow.note.content", description)
        if dataset is not None:
            mlflow.log_input(mlflow.data.from_pandas(dataset, name="training-manifest"),
                             context="training")
        for folder, path in artifacts:
            mlflow.log_artifact(str(path), artifact_path=folder)
        with tempfile.TemporaryDirectory() as tmp, _quiet_mlflow():
            folder = scorer.save(Path(tmp) / "scorer")
            info = mlflow.pyfunc.log_model(
                name="scorer",
                python_model=ScorerPyfunc(),
                artifacts={"scorer": str(folder)},
                registered_model_name=registered_name,
                pip_requirements=_serving_requirements(),
                signature=scorer_signature(),
            )
    version = str(info.registered_model_version)
    client = MlflowClient()
    if description:
        client.update_model_version(registered_name, version, description=description)
    if not client.get_registered_model(registered_name).description:
        client.update_registered_model(registered_name, description=_MODEL_DESCRIPTION)
    client.set_registered_model_alias(registered_name, alias, version)
    return RegisteredScorer(run.info.run_id, info.model_uri, registered_name, version, alias,
                            f"models:/{registered_name}@{alias}", scorer)


def scorer_signature():
    """The pyfunc's inputs (the feature table's columns) and outputs (one row of scores each).

    ``embedding`` (a float sequence per row, None when the image was not embedded) is
    required; the signal columns are optional (missing signals). Outputs: ``p_ai`` and
    ``triage_score`` in [0, 1] (higher = more likely AI / review sooner), ``reasons`` and
    ``breakdown`` (JSON), ``model_version`` and ``backbone_id``.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    inputs = Schema([ColSpec(AnyType(), "embedding"),
                     *(ColSpec(AnyType(), column, required=False) for column in SIGNAL_COLUMNS)])
    outputs = Schema([ColSpec("double", "p_ai"), ColSpec("double", "triage_score"),
                      *(ColSpec("string", c) for c in ("reasons", "breakdown", "model_version", "backbone_id"))])
    return ModelSignature(inputs=inputs, outputs=outputs)


def set_alias(store_dir: str | os.PathLike[str], registered_name: str, alias: str, version: str) -> None:
    """Point ``alias`` of ``registered_name`` at ``version`` (which must exist).

    Raises
    ------
    slopscore.model.store.ModelNotFoundError
    """
    store = reading_store(store_dir)
    client = MlflowClient()
    registered_version(client, registered_name, version=str(version), store=store)
    client.set_registered_model_alias(registered_name, alias, str(version))


def alias_version(store_dir: str | os.PathLike[str], registered_name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the model or the alias does not exist."""
    from slopscore.model.store import ModelNotFoundError

    store = reading_store(store_dir)
    try:
        return str(registered_version(MlflowClient(), registered_name, alias=alias, store=store).version)
    except ModelNotFoundError:
        return None


@contextlib.contextmanager
def _quiet_mlflow():
    """Hide MLflow's notices that do not apply here (table creation, class pickling, signature)."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    progress = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    logger.setLevel(logging.ERROR)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        if progress is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = progress


def log_evaluation_run(
    *,
    store_dir: str | os.PathLike[str],
    model_uri: str,
    model_version: str,
    metrics: Mapping[str, float],
    dataset_digest: str,
    artifacts: Sequence[tuple[str, str | os.PathLike[str]]] = (),
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str = "evaluate",
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log an evaluation (or a comparison) of registered scorers; returns the run id."""
    configure_tracking(store_dir)
    with _quiet_mlflow():
        experiment_id = _experiment_id(experiment, store_dir)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags({"model_uri": model_uri, "model_version": model_version,
                         "dataset_digest": dataset_digest, **(tags or {})})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        for folder, path in artifacts:
            mlflow.log_artifact(str(path), artifact_path=folder)
    return run.info.run_id


def load_scorer_model(uri: str, store_dir: str | os.PathLike[str]):
    """Load a logged scorer as a pyfunc model by URI (``models:/NAME@ALIAS``, ``models:/NAME/V``,
    ``runs:/...``).

    Loading never writes to the store, so a read-only store (a shared mount, a released
    model's archive) works: the model's files are copied into a private temporary folder
    and loaded from there. Left alone, MLflow loads a local store's files in place and
    writes a ``registered_model_meta`` file beside them on every load. The scorer reads
    everything it needs while loading, so the copy is removed before this returns. A local
    store may have been moved or copied: its artifacts are found relative to the store.

    Raises
    ------
    slopscore.model.store.ModelNotFoundError
        No store, model, alias or version by that name (the message names the store
        searched and the versions and aliases it holds).
    """
    store = reading_store(store_dir)
    with _quiet_mlflow():
        return load_pyfunc(uri, store)


def _serving_requirements() -> list[str]:
    requirements = []
    for name in _PINNED_FOR_SERVING:
        try:
            requirements.append(f"{name}=={importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:
            continue
    return requirements


def _short(value: object) -> str:
    """MLflow caps parameter values; keep them readable."""
    text = str(value)
    return text if len(text) <= 500 else text[:497] + "..."
