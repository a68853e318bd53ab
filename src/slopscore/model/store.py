"""Finding and loading a registered scorer in an MLflow store, without writing to it.

A local store (``<store>/mlflow.db`` with artifacts under ``<store>/artifacts``) is
relocatable: MLflow records absolute artifact locations, so a store copied or mounted
elsewhere would point at its old place. Locations under the old store's artifact root are
resolved against the store being read instead. A model URI that names nothing gives a
:class:`ModelNotFoundError` naming the store searched and what it holds.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["ModelNotFoundError", "StoreInfo", "describe_versions", "load_pyfunc", "local_store_uri",
           "model_folder", "registered_version", "require_local_store"]

_MODELS_URI = re.compile(r"^models:/(?P<name>[^@/]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))?$")


class ModelNotFoundError(LookupError):
    """A model URI, alias, version or store that does not exist; the message names the store
    searched and the registered models, versions and aliases it holds."""


def local_store_uri(store_dir: str | os.PathLike[str]) -> str:
    """``sqlite:///<store>/mlflow.db`` for a local store folder."""
    return f"sqlite:///{Path(store_dir).expanduser().resolve() / 'mlflow.db'}"


class StoreInfo:
    """The store an MLflow client reads: its URI and, for a local store, its folder."""

    def __init__(self, uri: str, folder: Path | None):
        self.uri, self.folder = uri, folder

    def __str__(self) -> str:
        return str(self.folder) if self.folder is not None else self.uri


def require_local_store(store_dir: str | os.PathLike[str]) -> None:
    """Refuse a local store folder without its database (never creating one).

    Raises
    ------
    ModelNotFoundError
    """
    database = Path(store_dir).expanduser().resolve() / "mlflow.db"
    if not database.is_file():
        raise ModelNotFoundError(
            f"no MLflow store at {database.parent} (no mlflow.db there); pass the folder "
            "`slopscore train` wrote with --mlflow-store, or set MLFLOW_TRACKING_URI")


def describe_versions(client, name: str) -> str:
    """``versions 1, 2; aliases champion -> 1, candidate -> 2`` for registered model ``name``."""
    versions = sorted((int(v.version) for v in client.search_model_versions(f"name = '{name}'")))
    try:
        aliases = client.get_registered_model(name).aliases or {}
    except Exception:  # noqa: BLE001 - no such model: no aliases
        aliases = {}
    alias_text = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
    return f"versions {', '.join(map(str, versions)) or 'none'}; aliases {alias_text}"


def _model_names(client) -> list[str]:
    return sorted(m.name for m in client.search_registered_models())


def registered_version(client, name: str, *, alias: str | None = None, version: str | None = None,
                       store: StoreInfo | str = ""):
    """The model version that ``alias`` (or ``version``) of registered model ``name`` points at.

    Raises
    ------
    ModelNotFoundError
        The model, alias or version does not exist (the message lists what does).
    """
    from mlflow.exceptions import MlflowException

    names = _model_names(client)
    if name not in names:
        raise ModelNotFoundError(f"no registered model {name!r} in the MLflow store {store}; "
                                 f"it holds {', '.join(map(repr, names)) or 'no registered models'}")
    try:
        if alias is not None:
            return client.get_model_version_by_alias(name, alias)
        if version == "latest":
            latest = max(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
            return latest
        return client.get_model_version(name, str(version))
    except (MlflowException, ValueError):
        what = f"alias {alias!r}" if alias is not None else f"version {version!r}"
        raise ModelNotFoundError(f"model {name!r} has no {what} in the MLflow store {store}; "
                                 f"it has {describe_versions(client, name)}") from None


def _relocated(location: str, old_root: str | None, store: StoreInfo) -> str:
    """``location`` moved from the store's recorded artifact root to where the store is now.

    A copy of a store reads its own files even while the original still exists.
    """
    path = Path(unquote(urlparse(location).path)) if location.startswith("file:") else Path(location)
    if store.folder is None or not old_root:
        return str(path)
    root = Path(unquote(urlparse(old_root).path)) if old_root.startswith("file:") else Path(old_root)
    try:
        here = store.folder / "artifacts" / path.relative_to(root)
    except ValueError:
        return str(path)
    return str(here if here.exists() or not path.exists() else path)


def model_folder(uri: str, store: StoreInfo):
    """The local folder holding the files of ``models:/...`` in a local store, relocated.

    Returns None for URIs this does not resolve (``runs:/``, remote stores): MLflow then
    loads them itself.

    Raises
    ------
    ModelNotFoundError
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    match = _MODELS_URI.match(uri)
    if store.folder is None or not match:
        return None
    client = MlflowClient(store.uri, registry_uri=store.uri)
    name, alias, version = match["name"], match["alias"], match["version"]
    if name.startswith("m-") and alias is None and version is None:  # a logged model's id
        model_id, source = name, None
    else:
        found = registered_version(client, name, alias=alias, version=version or "latest", store=store)
        source = found.source
        model_id = getattr(found, "model_id", None) or (
            source.removeprefix("models:/") if source.startswith("models:/m-") else None)
    if model_id is not None:
        try:
            logged = client.get_logged_model(model_id)
        except MlflowException:
            raise ModelNotFoundError(f"model {uri} names logged model {model_id}, which is not in the "
                                     f"MLflow store {store}") from None
        location, experiment_id = logged.artifact_location, logged.experiment_id
    elif source.startswith("file:") or source.startswith("/"):  # registered from a run's artifacts
        location = source
        experiment_id = client.get_run(found.run_id).info.experiment_id if found.run_id else None
    else:  # runs:/, remote artifact stores: MLflow resolves them
        return None
    root = client.get_experiment(experiment_id).artifact_location if experiment_id is not None else None
    folder = Path(_relocated(location, root, store))
    if not (folder / "MLmodel").is_file():
        raise ModelNotFoundError(f"model {uri}: its files are missing from the MLflow store {store} "
                                 f"(looked in {folder})")
    return folder


def load_pyfunc(uri: str, store: StoreInfo):
    """Load ``uri`` as a pyfunc model from a private copy of its files (the store is only read).

    Raises
    ------
    ModelNotFoundError
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", uri):
        raise ModelNotFoundError(f"{uri} is neither a saved scorer folder (no such folder) nor a model URI "
                                 "(models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/scorer)")
    with tempfile.TemporaryDirectory(prefix="slopscore-model-") as copy:
        folder = model_folder(uri, store)
        try:
            if folder is not None:
                target = Path(copy) / "model"
                shutil.copytree(folder, target)
                return mlflow.pyfunc.load_model(str(target))
            return mlflow.pyfunc.load_model(uri, dst_path=copy)
        except MlflowException as exc:
            first = (str(exc).strip().splitlines() or ["not found"])[0]
            raise ModelNotFoundError(f"cannot load model {uri} from the MLflow store {store}: {first}") from None
